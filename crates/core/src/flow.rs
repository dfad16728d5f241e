//! The state machine of one action in the itsme app, as the sandbox emulates it.
//!
//! A transaction at the scheme starts when the browser arrives at the authorization endpoint,
//! waits for a phone number, then waits for the person in the app, and ends approved or rejected.
//! [`advance`] is the only way to move it: `(state, event, now) -> (state, effects)`; an event
//! that makes no sense in a state is a [`FlowError`], never a panic. Deadlines are compared with
//! the `now` passed in, so a deadline passes when the clock says so, not when a timer fires.

/// What a scripted persona does with an action, or `Manual` for a person at the app page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Approve,
    Refuse,
    Timeout,
    Blocked,
    Manual,
}

impl Behaviour {
    pub fn as_str(self) -> &'static str {
        match self {
            Behaviour::Approve => "approve",
            Behaviour::Refuse => "refuse",
            Behaviour::Timeout => "timeout",
            Behaviour::Blocked => "blocked",
            Behaviour::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Behaviour> {
        Some(match s {
            "approve" => Behaviour::Approve,
            "refuse" => Behaviour::Refuse,
            "timeout" => Behaviour::Timeout,
            "blocked" => Behaviour::Blocked,
            "manual" => Behaviour::Manual,
            _ => return None,
        })
    }
}

/// Why an action ended without approval. Each becomes `access_denied` with its own description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The person pressed "refuse" in the app.
    Refused,
    /// Nobody answered in the app before the deadline.
    TimedOut,
    /// The wrong itsme code was entered three times: the person's account is blocked.
    WrongCode,
    /// The person cancelled on the scheme's phone page.
    Cancelled,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Refused => "refused",
            Rejection::TimedOut => "timed_out",
            Rejection::WrongCode => "wrong_code",
            Rejection::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Rejection> {
        Some(match s {
            "refused" => Rejection::Refused,
            "timed_out" => Rejection::TimedOut,
            "wrong_code" => Rejection::WrongCode,
            "cancelled" => Rejection::Cancelled,
            _ => return None,
        })
    }

    /// The `error_description` that goes with `access_denied`.
    pub fn description(self) -> &'static str {
        match self {
            Rejection::Refused => "The user refused the request in the itsme app.",
            Rejection::TimedOut => "The user did not answer in the itsme app in time (timeout).",
            Rejection::WrongCode => {
                "The wrong itsme code was entered three times; the person's itsme account is blocked."
            }
            Rejection::Cancelled => "The user cancelled on the itsme page.",
        }
    }
}

/// How the person approved an action in the app: the itsme code, or (when the action allows
/// `acr_basic`) biometrics the phone checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Code,
    Fingerprint,
    Face,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Code => "code",
            Method::Fingerprint => "fingerprint",
            Method::Face => "face",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "code" => Method::Code,
            "fingerprint" => Method::Fingerprint,
            "face" => Method::Face,
            _ => return None,
        })
    }

    /// The RFC 8176 `amr` values of an approval: the method (`pin`, `fpt` or `face`), and `mfa`,
    /// since the enrolled phone is a second factor beside it.
    pub fn amr(self) -> [&'static str; 2] {
        match self {
            Method::Code => ["pin", "mfa"],
            Method::Fingerprint => ["fpt", "mfa"],
            Method::Face => ["face", "mfa"],
        }
    }
}

/// How many wrong codes in a row block a person's itsme account (counted per account, across
/// actions, by the caller's store: see [`ActionEvent::AccountBlocked`]).
pub const MAX_CODE_ATTEMPTS: u32 = 3;

/// Where an action stands. Times are Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionState {
    /// The phone page is shown; nobody is identified yet.
    AwaitingPhone,
    /// The app shows the action; `attempts` wrong codes typed for it so far (the account's own
    /// count, which decides the blocking, is kept by the caller).
    AwaitingApp { deadline: i64, attempts: u32 },
    /// Approved with the right code: the client may get an authorization code.
    Approved,
    /// Ended without approval.
    Rejected(Rejection),
    /// The authorization code was redeemed; nothing more can happen.
    Redeemed,
}

impl ActionState {
    /// The name a store keeps (with [`ActionState::rejection`], the wrong codes of
    /// [`ActionState::attempts`] and the deadline beside it).
    pub fn status(self) -> &'static str {
        match self {
            ActionState::AwaitingPhone => "awaiting_phone",
            ActionState::AwaitingApp { .. } => "awaiting_app",
            ActionState::Approved => "approved",
            ActionState::Rejected(_) => "rejected",
            ActionState::Redeemed => "redeemed",
        }
    }

    pub fn rejection(self) -> Option<Rejection> {
        match self {
            ActionState::Rejected(r) => Some(r),
            _ => None,
        }
    }

    /// Wrong codes typed for the action while it waits in the app (0 in any other state).
    pub fn attempts(self) -> u32 {
        match self {
            ActionState::AwaitingApp { attempts, .. } => attempts,
            _ => 0,
        }
    }

    /// The state a store row holds; `None` for a combination no version of Passerelle writes.
    pub fn decode(
        status: &str,
        rejection: Option<&str>,
        attempts: i64,
        deadline: Option<i64>,
    ) -> Option<ActionState> {
        let attempts = u32::try_from(attempts).ok()?;
        Some(match (status, rejection, deadline) {
            ("awaiting_phone", None, _) => ActionState::AwaitingPhone,
            ("awaiting_app", None, Some(deadline)) => {
                ActionState::AwaitingApp { deadline, attempts }
            }
            ("approved", None, _) => ActionState::Approved,
            ("rejected", Some(r), _) => ActionState::Rejected(Rejection::parse(r)?),
            ("redeemed", None, _) => ActionState::Redeemed,
            _ => return None,
        })
    }

    /// `true` once the action can no longer change in the app (the waiting page may move on).
    pub fn is_decided(self) -> bool {
        !matches!(
            self,
            ActionState::AwaitingPhone | ActionState::AwaitingApp { .. }
        )
    }
}

/// Something that happened to an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionEvent {
    /// The phone number of a persona was submitted; scripted personas decide right away.
    PhoneSubmitted {
        behaviour: Behaviour,
        app_timeout_secs: i64,
    },
    /// A code was entered in the app and checked against the person's account: `correct` only
    /// when the account accepted it (it was right and the account is not blocked).
    CodeEntered { correct: bool },
    /// The person's account is blocked (this attempt was its third wrong code in a row, or it
    /// was blocked already): the action ends as after three wrong codes.
    AccountBlocked,
    /// The phone recognised the person's fingerprint or face; `allowed` when the action accepts
    /// biometrics (`acr_basic`). An action that demands the code refuses this event.
    BiometricsConfirmed { method: Method, allowed: bool },
    /// "Refuse" was pressed in the app.
    RefusePressed,
    /// "Cancel" was pressed on the phone page.
    CancelPressed,
    /// Somebody looked at the action: lets a passed deadline take effect.
    Observed,
    /// The client redeemed the authorization code.
    CodeRedeemed,
}

/// What the caller must do after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Wake the waiting pages of this action: it has been decided.
    WakeWaiters,
}

/// An event that is not allowed in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("this action is not waiting for a phone number")]
    NotAwaitingPhone,
    #[error("this action is no longer waiting in the app")]
    NotAwaitingApp,
    #[error("this action was not approved")]
    NotApproved,
    #[error("this action demands the itsme code")]
    CodeRequired,
}

/// Advances an action by one event (see the module documentation).
pub fn advance(
    state: ActionState,
    event: ActionEvent,
    now: i64,
) -> Result<(ActionState, Vec<Effect>), FlowError> {
    use ActionEvent::*;
    use ActionState::*;
    // A passed deadline takes effect before anything else can happen in the app.
    let state = match state {
        AwaitingApp { deadline, .. } if now >= deadline => {
            if event == Observed {
                return Ok((Rejected(Rejection::TimedOut), vec![Effect::WakeWaiters]));
            }
            Rejected(Rejection::TimedOut)
        }
        s => s,
    };
    let decided = |s: ActionState| Ok((s, vec![Effect::WakeWaiters]));
    match (state, event) {
        (
            AwaitingPhone,
            PhoneSubmitted {
                behaviour,
                app_timeout_secs,
            },
        ) => match behaviour {
            Behaviour::Approve => decided(Approved),
            Behaviour::Refuse => decided(Rejected(Rejection::Refused)),
            Behaviour::Blocked => decided(Rejected(Rejection::WrongCode)),
            Behaviour::Timeout | Behaviour::Manual => Ok((
                AwaitingApp {
                    deadline: now + app_timeout_secs.max(1),
                    attempts: 0,
                },
                vec![],
            )),
        },
        (AwaitingPhone, CancelPressed) => decided(Rejected(Rejection::Cancelled)),
        (_, PhoneSubmitted { .. } | CancelPressed) => Err(FlowError::NotAwaitingPhone),
        (AwaitingApp { .. }, CodeEntered { correct: true }) => decided(Approved),
        (AwaitingApp { deadline, attempts }, CodeEntered { correct: false }) => Ok((
            AwaitingApp {
                deadline,
                attempts: attempts.saturating_add(1),
            },
            vec![],
        )),
        (AwaitingApp { .. }, BiometricsConfirmed { allowed: true, .. }) => decided(Approved),
        (AwaitingApp { .. }, BiometricsConfirmed { allowed: false, .. }) => {
            Err(FlowError::CodeRequired)
        }
        (AwaitingApp { .. }, AccountBlocked) => decided(Rejected(Rejection::WrongCode)),
        (AwaitingApp { .. }, RefusePressed) => decided(Rejected(Rejection::Refused)),
        (_, CodeEntered { .. } | RefusePressed | AccountBlocked | BiometricsConfirmed { .. }) => {
            Err(FlowError::NotAwaitingApp)
        }
        (s, Observed) => Ok((s, vec![])),
        (Approved, CodeRedeemed) => Ok((Redeemed, vec![])),
        (_, CodeRedeemed) => Err(FlowError::NotApproved),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000;

    fn submitted(b: Behaviour) -> ActionState {
        let ev = ActionEvent::PhoneSubmitted {
            behaviour: b,
            app_timeout_secs: 120,
        };
        advance(ActionState::AwaitingPhone, ev, T0)
            .expect("allowed")
            .0
    }

    #[test]
    fn scripted_personas_decide_at_once() {
        assert_eq!(submitted(Behaviour::Approve), ActionState::Approved);
        assert_eq!(
            submitted(Behaviour::Refuse),
            ActionState::Rejected(Rejection::Refused)
        );
        assert_eq!(
            submitted(Behaviour::Blocked),
            ActionState::Rejected(Rejection::WrongCode)
        );
        assert_eq!(
            submitted(Behaviour::Timeout),
            ActionState::AwaitingApp {
                deadline: T0 + 120,
                attempts: 0
            }
        );
    }

    #[test]
    fn wrong_codes_are_counted_and_a_blocked_account_ends_the_action() {
        let mut s = submitted(Behaviour::Manual);
        for n in 1..=5 {
            s = advance(s, ActionEvent::CodeEntered { correct: false }, T0 + 1)
                .expect("ok")
                .0;
            assert_eq!(
                s,
                ActionState::AwaitingApp {
                    deadline: T0 + 120,
                    attempts: n
                },
                "the action only counts; the account decides"
            );
        }
        let (s, fx) = advance(s, ActionEvent::AccountBlocked, T0 + 2).expect("ok");
        assert_eq!(s, ActionState::Rejected(Rejection::WrongCode));
        assert_eq!(fx, vec![Effect::WakeWaiters]);
        assert_eq!(
            advance(s, ActionEvent::CodeEntered { correct: true }, T0 + 3),
            Err(FlowError::NotAwaitingApp)
        );
        assert_eq!(
            advance(s, ActionEvent::AccountBlocked, T0 + 3),
            Err(FlowError::NotAwaitingApp)
        );
    }

    #[test]
    fn the_deadline_wins_over_a_late_code() {
        let s = submitted(Behaviour::Manual);
        assert_eq!(
            advance(s, ActionEvent::CodeEntered { correct: true }, T0 + 120),
            Err(FlowError::NotAwaitingApp)
        );
        let (s, _) = advance(s, ActionEvent::Observed, T0 + 121).expect("ok");
        assert_eq!(s, ActionState::Rejected(Rejection::TimedOut));
        let (s, _) = advance(
            submitted(Behaviour::Manual),
            ActionEvent::CodeEntered { correct: true },
            T0 + 119,
        )
        .expect("ok");
        assert_eq!(s, ActionState::Approved);
    }

    #[test]
    fn every_action_state_survives_the_store_and_nothing_else_is_read() {
        let states = [
            ActionState::AwaitingPhone,
            ActionState::AwaitingApp {
                deadline: T0,
                attempts: 2,
            },
            ActionState::Approved,
            ActionState::Rejected(Rejection::Refused),
            ActionState::Rejected(Rejection::WrongCode),
            ActionState::Redeemed,
        ];
        for s in states {
            let deadline = match s {
                ActionState::AwaitingApp { deadline, .. } => Some(deadline),
                _ => None,
            };
            let decoded = ActionState::decode(
                s.status(),
                s.rejection().map(Rejection::as_str),
                i64::from(s.attempts()),
                deadline,
            );
            assert_eq!(decoded, Some(s));
        }
        assert_eq!(ActionState::decode("awaiting_app", None, 0, None), None);
        assert_eq!(ActionState::decode("rejected", None, 0, None), None);
        assert_eq!(
            ActionState::decode("rejected", Some("bored"), 0, None),
            None
        );
        assert_eq!(
            ActionState::decode("approved", Some("refused"), 0, None),
            None
        );
        assert_eq!(
            ActionState::decode("awaiting_app", None, -1, Some(T0)),
            None
        );
        assert_eq!(ActionState::decode("Approved", None, 0, None), None);
    }

    #[test]
    fn biometrics_approve_only_an_action_that_allows_them() {
        let s = submitted(Behaviour::Manual);
        assert_eq!(
            advance(
                s,
                ActionEvent::BiometricsConfirmed {
                    method: Method::Fingerprint,
                    allowed: false
                },
                T0 + 1
            ),
            Err(FlowError::CodeRequired)
        );
        let (s, fx) = advance(
            s,
            ActionEvent::BiometricsConfirmed {
                method: Method::Face,
                allowed: true,
            },
            T0 + 1,
        )
        .expect("ok");
        assert_eq!(s, ActionState::Approved);
        assert_eq!(fx, vec![Effect::WakeWaiters]);
        assert_eq!(
            advance(
                s,
                ActionEvent::BiometricsConfirmed {
                    method: Method::Face,
                    allowed: true
                },
                T0 + 1
            ),
            Err(FlowError::NotAwaitingApp)
        );
        assert_eq!(
            advance(
                submitted(Behaviour::Manual),
                ActionEvent::BiometricsConfirmed {
                    method: Method::Face,
                    allowed: true
                },
                T0 + 120
            ),
            Err(FlowError::NotAwaitingApp),
            "a passed deadline wins over a late fingerprint"
        );
        for m in [Method::Code, Method::Fingerprint, Method::Face] {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
    }

    #[test]
    fn only_an_approved_action_is_redeemed_once() {
        let (s, _) = advance(ActionState::Approved, ActionEvent::CodeRedeemed, T0).expect("ok");
        assert_eq!(s, ActionState::Redeemed);
        assert_eq!(
            advance(s, ActionEvent::CodeRedeemed, T0),
            Err(FlowError::NotApproved)
        );
        assert_eq!(
            advance(ActionState::AwaitingPhone, ActionEvent::CodeRedeemed, T0),
            Err(FlowError::NotApproved)
        );
    }
}
