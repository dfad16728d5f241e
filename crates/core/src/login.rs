//! The state machine of one login at the broker, the twin of [`crate::flow`] (an action at the
//! scheme).
//!
//! A login starts when a relying party's request is accepted, goes to the scheme, comes back
//! with the scheme's answer, and ends with an authorization code that the relying party redeems
//! once, or with a failure that says why. [`advance`] is the only way to move it:
//! `(state, event, now) -> (state, effects)`; an event that makes no sense in a state is a
//! [`LoginError`], never a panic. How the result reaches the relying party is the login's
//! [`Channel`], fixed when it starts.
//!
//! The invariant the store keeps with it: a login is answered at most once (the transition from
//! [`LoginState::AtScheme`] to [`LoginState::Answered`] is a conditional update that only one
//! request can make), a code is issued only for an answered login, and a code is redeemed at most
//! once.

use crate::oidc::ErrorCode;

/// The authenticator strength a login asks the scheme for (itsme's `acr_values`): `Basic` lets
/// the person approve with a fingerprint, their face or the itsme code (itsme's default);
/// `Advanced` demands the code. The level of assurance the relying party sees is eIDAS high
/// either way; what was used is told in `amr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Acr {
    Basic,
    Advanced,
}

impl Acr {
    /// The value a relying party puts in `acr_values` to demand the itsme code: itsme's own name
    /// for it, so that whoever knows itsme recognises it.
    pub const ADVANCED_URI: &'static str = "http://itsme.services/v2/claim/acr_advanced";
    /// itsme's name of the default.
    pub const BASIC_URI: &'static str = "http://itsme.services/v2/claim/acr_basic";

    pub fn as_str(self) -> &'static str {
        match self {
            Acr::Basic => "basic",
            Acr::Advanced => "advanced",
        }
    }

    pub fn parse(s: &str) -> Option<Acr> {
        match s {
            "basic" => Some(Acr::Basic),
            "advanced" => Some(Acr::Advanced),
            _ => None,
        }
    }

    /// The scheme's URI for this strength (its `acr_values` and its ID token's `acr`).
    pub fn uri(self) -> &'static str {
        match self {
            Acr::Basic => Acr::BASIC_URI,
            Acr::Advanced => Acr::ADVANCED_URI,
        }
    }

    /// The strength a scheme's `acr` URI names (itsme has written `v2` and `V2`).
    pub fn from_uri(uri: &str) -> Option<Acr> {
        let lower = uri.to_ascii_lowercase();
        if lower == Acr::BASIC_URI {
            Some(Acr::Basic)
        } else if lower == Acr::ADVANCED_URI {
            Some(Acr::Advanced)
        } else {
            None
        }
    }

    /// The strength a relying party's `acr_values` asks for: advanced when it names itsme's
    /// advanced URI, basic otherwise (`loa:*` and `idp:itsme` leave the choice to the person).
    pub fn requested_in(acr_values: Option<&str>) -> Acr {
        match acr_values {
            Some(v) if v.split(' ').any(|x| x == Acr::ADVANCED_URI) => Acr::Advanced,
            _ => Acr::Basic,
        }
    }
}

/// Which scheme vouches for the person: the sandbox this deployment runs, or the real itsme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sandbox,
    Production,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Sandbox => "sandbox",
            Scheme::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Option<Scheme> {
        match s {
            "sandbox" => Some(Scheme::Sandbox),
            "production" => Some(Scheme::Production),
            _ => None,
        }
    }
}

/// How the result of a login reaches the relying party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The browser is redirected (or form-posted) to the client's `redirect_uri`.
    Redirect,
    /// Decoupled (CIBA poll mode): the client polls the token endpoint.
    DecoupledPoll,
    /// Decoupled (CIBA ping mode): the client is notified, then fetches the tokens.
    DecoupledPing,
    /// A session of the Authentication REST API, read by the API client.
    RestSession,
    /// The identification of a signer of the signing API (an advanced signature): the result
    /// seals the session's documents.
    Signing,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Redirect,
        Channel::DecoupledPoll,
        Channel::DecoupledPing,
        Channel::RestSession,
        Channel::Signing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Redirect => "redirect",
            Channel::DecoupledPoll => "decoupled_poll",
            Channel::DecoupledPing => "decoupled_ping",
            Channel::RestSession => "rest_session",
            Channel::Signing => "signing",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Why a login ended without a code. Each maps to the OAuth error the relying party receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The person refused, cancelled, let the app time out or is blocked (`access_denied`).
    Denied,
    /// The scheme could not be reached or said it is unavailable (`temporarily_unavailable`).
    SchemeUnavailable,
    /// The scheme's answer was an error of its own, came without a code, or could not be
    /// verified (`server_error`).
    SchemeError,
    /// The client changed while the person was at the scheme and no longer may have what the
    /// login asked for (`invalid_scope`) or be served by this scheme (`unauthorized_client`).
    ClientChanged(ClientChange),
    /// Nobody came back before the login's lifetime ended.
    Expired,
    /// itsme answered for another person than the one the request's `id_token_hint` named
    /// (OIDC Core §3.1.2.1: `login_required`).
    AnotherPerson,
}

/// What changed in a client during a login (see [`Failure::ClientChanged`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientChange {
    /// Its grants no longer cover the scopes of the login.
    Scopes,
    /// The deployment no longer serves it with the scheme the login went to.
    Scheme,
    /// It was removed, or its redirect URI was.
    Gone,
}

impl Failure {
    pub const ALL: [Failure; 8] = [
        Failure::Denied,
        Failure::SchemeUnavailable,
        Failure::SchemeError,
        Failure::ClientChanged(ClientChange::Scopes),
        Failure::ClientChanged(ClientChange::Scheme),
        Failure::ClientChanged(ClientChange::Gone),
        Failure::Expired,
        Failure::AnotherPerson,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Denied => "denied",
            Failure::SchemeUnavailable => "scheme_unavailable",
            Failure::SchemeError => "scheme_error",
            Failure::ClientChanged(ClientChange::Scopes) => "client_scopes",
            Failure::ClientChanged(ClientChange::Scheme) => "client_scheme",
            Failure::ClientChanged(ClientChange::Gone) => "client_gone",
            Failure::Expired => "expired",
            Failure::AnotherPerson => "another_person",
        }
    }

    pub fn parse(s: &str) -> Option<Failure> {
        Failure::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The OAuth error the relying party receives (`None`: there is nobody to tell, the client
    /// or its redirect URI is gone, and the person gets a page).
    pub fn error_code(self) -> Option<ErrorCode> {
        Some(match self {
            Failure::Denied => ErrorCode::AccessDenied,
            Failure::SchemeUnavailable => ErrorCode::TemporarilyUnavailable,
            Failure::SchemeError => ErrorCode::ServerError,
            Failure::ClientChanged(ClientChange::Scopes) => ErrorCode::InvalidScope,
            Failure::ClientChanged(ClientChange::Scheme) => ErrorCode::UnauthorizedClient,
            Failure::ClientChanged(ClientChange::Gone) => return None,
            // CIBA Core §11: a decoupled login that ran out of time.
            Failure::Expired => ErrorCode::ExpiredToken,
            Failure::AnotherPerson => ErrorCode::LoginRequired,
        })
    }

    /// The failure an error from the scheme's redirect means.
    pub fn from_scheme_error(code: Option<ErrorCode>) -> Failure {
        match code {
            Some(ErrorCode::AccessDenied) => Failure::Denied,
            Some(ErrorCode::TemporarilyUnavailable) => Failure::SchemeUnavailable,
            _ => Failure::SchemeError,
        }
    }
}

/// Where a login stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginState {
    /// The relying party's request was accepted; nothing has gone to the scheme yet.
    Requested,
    /// The person is at the scheme (the browser was sent there, or the decoupled request made).
    AtScheme,
    /// The scheme's answer came back and is being redeemed and verified; nobody else can take
    /// it any more.
    Answered,
    /// An authorization code was issued to the relying party.
    CodeIssued,
    /// The relying party redeemed the code for tokens.
    Redeemed,
    /// Ended without a code.
    Failed(Failure),
}

impl LoginState {
    /// The name a store keeps (with [`Failure::as_str`] beside it for a failure).
    pub fn status(self) -> &'static str {
        match self {
            LoginState::Requested => "requested",
            LoginState::AtScheme => "at_scheme",
            LoginState::Answered => "answered",
            LoginState::CodeIssued => "code_issued",
            LoginState::Redeemed => "redeemed",
            LoginState::Failed(_) => "failed",
        }
    }

    /// The failure kept beside [`LoginState::status`].
    pub fn failure(self) -> Option<Failure> {
        match self {
            LoginState::Failed(f) => Some(f),
            _ => None,
        }
    }

    /// The state a store row holds; `None` for text no version of Passerelle writes.
    pub fn decode(status: &str, failure: Option<&str>) -> Option<LoginState> {
        Some(match (status, failure) {
            ("requested", None) => LoginState::Requested,
            ("at_scheme", None) => LoginState::AtScheme,
            ("answered", None) => LoginState::Answered,
            ("code_issued", None) => LoginState::CodeIssued,
            ("redeemed", None) => LoginState::Redeemed,
            ("failed", Some(f)) => LoginState::Failed(Failure::parse(f)?),
            _ => return None,
        })
    }

    /// `true` once nothing more can happen to the login.
    pub fn is_final(self) -> bool {
        matches!(self, LoginState::Redeemed | LoginState::Failed(_))
    }
}

/// Something that happened to a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginEvent {
    /// The request went to the scheme (browser redirect built, or decoupled request accepted).
    SentToScheme,
    /// The scheme's answer arrived (from the browser that started the login, for a redirect).
    SchemeAnswered,
    /// The answer was redeemed and verified, and a code issued for the relying party.
    CodeIssued,
    /// The login cannot give a code, for this reason.
    Failed(Failure),
    /// The relying party redeemed the code.
    CodeRedeemed,
    /// Somebody looked at the login: lets a passed lifetime take effect.
    Observed,
}

/// What the caller must do after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Deliver the code to the relying party through the login's channel.
    DeliverCode(Channel),
    /// Deliver the failure's error to the relying party through the login's channel (or show a
    /// page when [`Failure::error_code`] is `None`).
    DeliverError(Channel, Failure),
}

/// An event that is not allowed in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("this login was already sent to the scheme")]
    AlreadySent,
    #[error("this login is not waiting for the scheme's answer")]
    NotAtScheme,
    #[error("this login's answer is not being verified")]
    NotAnswered,
    #[error("this login has no code to redeem")]
    NoCode,
    #[error("this login has ended")]
    Ended,
}

/// A login: its state, how its result is delivered, and when it stops waiting (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login {
    pub state: LoginState,
    pub channel: Channel,
    pub expires_at: i64,
}

/// Advances a login by one event (see the module documentation). A login still waiting when
/// `now` reaches `expires_at` fails as [`Failure::Expired`] before anything else can happen; an
/// answer already taken is being verified and is allowed to finish.
pub fn advance(
    login: Login,
    event: LoginEvent,
    now: i64,
) -> Result<(Login, Vec<Effect>), LoginError> {
    use LoginEvent as E;
    use LoginState as S;
    let channel = login.channel;
    let to = |state: S, effects: Vec<Effect>| Ok((Login { state, ..login }, effects));
    let waiting = matches!(login.state, S::Requested | S::AtScheme);
    if waiting && now >= login.expires_at {
        let expired = S::Failed(Failure::Expired);
        return match event {
            E::Observed | E::Failed(_) | E::SchemeAnswered | E::SentToScheme => to(
                expired,
                vec![Effect::DeliverError(channel, Failure::Expired)],
            ),
            E::CodeIssued => Err(LoginError::NotAnswered),
            E::CodeRedeemed => Err(LoginError::NoCode),
        };
    }
    match (login.state, event) {
        (S::Requested, E::SentToScheme) => to(S::AtScheme, vec![]),
        (_, E::SentToScheme) => Err(LoginError::AlreadySent),
        (S::AtScheme, E::SchemeAnswered) => to(S::Answered, vec![]),
        (_, E::SchemeAnswered) => Err(LoginError::NotAtScheme),
        (S::Answered, E::CodeIssued) => to(S::CodeIssued, vec![Effect::DeliverCode(channel)]),
        (_, E::CodeIssued) => Err(LoginError::NotAnswered),
        (S::Requested | S::AtScheme | S::Answered, E::Failed(f)) => {
            to(S::Failed(f), vec![Effect::DeliverError(channel, f)])
        }
        (_, E::Failed(_)) => Err(LoginError::Ended),
        (S::CodeIssued, E::CodeRedeemed) => to(S::Redeemed, vec![]),
        (_, E::CodeRedeemed) => Err(LoginError::NoCode),
        (_, E::Observed) => to(login.state, vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000;

    fn login(state: LoginState) -> Login {
        Login {
            state,
            channel: Channel::Redirect,
            expires_at: T0 + 600,
        }
    }

    fn step(state: LoginState, event: LoginEvent) -> Result<LoginState, LoginError> {
        advance(login(state), event, T0).map(|(l, _)| l.state)
    }

    #[test]
    fn a_login_goes_from_request_to_redeemed_code() {
        let mut l = login(LoginState::Requested);
        let mut effects = Vec::new();
        for e in [
            LoginEvent::SentToScheme,
            LoginEvent::SchemeAnswered,
            LoginEvent::CodeIssued,
            LoginEvent::CodeRedeemed,
        ] {
            let (next, fx) = advance(l, e, T0 + 1).expect("allowed");
            l = next;
            effects.extend(fx);
        }
        assert_eq!(l.state, LoginState::Redeemed);
        assert_eq!(effects, vec![Effect::DeliverCode(Channel::Redirect)]);
    }

    #[test]
    fn an_answer_is_taken_once_and_a_code_redeemed_once() {
        assert_eq!(
            step(LoginState::Answered, LoginEvent::SchemeAnswered),
            Err(LoginError::NotAtScheme)
        );
        assert_eq!(
            step(LoginState::CodeIssued, LoginEvent::SchemeAnswered),
            Err(LoginError::NotAtScheme)
        );
        assert_eq!(
            step(LoginState::Redeemed, LoginEvent::CodeRedeemed),
            Err(LoginError::NoCode)
        );
        assert_eq!(
            step(LoginState::AtScheme, LoginEvent::CodeIssued),
            Err(LoginError::NotAnswered)
        );
        assert_eq!(
            step(
                LoginState::Failed(Failure::Denied),
                LoginEvent::CodeRedeemed
            ),
            Err(LoginError::NoCode)
        );
    }

    #[test]
    fn failures_end_a_login_and_are_delivered_through_its_channel() {
        for channel in Channel::ALL {
            let l = Login {
                channel,
                ..login(LoginState::AtScheme)
            };
            let (l, fx) = advance(l, LoginEvent::Failed(Failure::Denied), T0).expect("ok");
            assert_eq!(l.state, LoginState::Failed(Failure::Denied));
            assert_eq!(fx, vec![Effect::DeliverError(channel, Failure::Denied)]);
            assert_eq!(
                advance(l, LoginEvent::Failed(Failure::SchemeError), T0),
                Err(LoginError::Ended)
            );
            assert_eq!(
                advance(l, LoginEvent::CodeIssued, T0),
                Err(LoginError::NotAnswered)
            );
        }
    }

    #[test]
    fn a_waiting_login_expires_but_a_taken_answer_may_finish() {
        let late = T0 + 600;
        let (l, fx) = advance(
            login(LoginState::AtScheme),
            LoginEvent::SchemeAnswered,
            late,
        )
        .expect("ok");
        assert_eq!(l.state, LoginState::Failed(Failure::Expired));
        assert_eq!(
            fx,
            vec![Effect::DeliverError(Channel::Redirect, Failure::Expired)]
        );
        let (l, _) =
            advance(login(LoginState::Answered), LoginEvent::CodeIssued, late).expect("ok");
        assert_eq!(l.state, LoginState::CodeIssued);
        let (l, _) =
            advance(login(LoginState::AtScheme), LoginEvent::Observed, late - 1).expect("ok");
        assert_eq!(l.state, LoginState::AtScheme);
    }

    #[test]
    fn every_state_survives_the_store_and_nothing_else_is_read() {
        let mut states = vec![
            LoginState::Requested,
            LoginState::AtScheme,
            LoginState::Answered,
            LoginState::CodeIssued,
            LoginState::Redeemed,
        ];
        states.extend(Failure::ALL.map(LoginState::Failed));
        for s in states {
            let failure = s.failure().map(Failure::as_str);
            assert_eq!(LoginState::decode(s.status(), failure), Some(s));
        }
        assert_eq!(LoginState::decode("failed", None), None);
        assert_eq!(LoginState::decode("failed", Some("bored")), None);
        assert_eq!(LoginState::decode("at_scheme", Some("denied")), None);
        assert_eq!(LoginState::decode("AT_SCHEME", None), None);
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        assert_eq!(Channel::parse("carrier_pigeon"), None);
    }
}
