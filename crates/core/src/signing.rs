//! The signing API's words, shaped like Signicat's Sign API v2: the grant that opens it, a
//! signing session's flow, its lifecycle state as the API client reads it, the stage its signer
//! has reached (ours), the events it emits, and how a signer is matched against the national
//! identification number a session names.

/// The grant an operator gives a production client so that it may use the signing API
/// (`passerelle client update ID --grant signing`); Signicat, too, makes signing "available on
/// request".
pub const GRANT: &str = "signing";

/// How a session's documents are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningFlow {
    /// itsme's Signing service: a qualified signature made with the person's certificate at
    /// itsme, through its CSC API (Signicat's `PKISIGNING` with the itsme provider).
    Qualified,
    /// Signicat's authentication-based signing: the person identifies with itsme, and
    /// Passerelle seals the documents, recording who signed (an advanced signature).
    Advanced,
}

impl SigningFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningFlow::Qualified => "qualified",
            SigningFlow::Advanced => "advanced",
        }
    }

    pub fn parse(s: &str) -> Option<SigningFlow> {
        match s {
            "qualified" => Some(SigningFlow::Qualified),
            "advanced" => Some(SigningFlow::Advanced),
            _ => None,
        }
    }

    /// Signicat's `signingFlow` name.
    pub fn api_name(self) -> &'static str {
        match self {
            SigningFlow::Qualified => "PKISIGNING",
            SigningFlow::Advanced => "AUTHENTICATION_BASED",
        }
    }

    pub fn from_api_name(s: &str) -> Option<SigningFlow> {
        match s {
            "PKISIGNING" => Some(SigningFlow::Qualified),
            "AUTHENTICATION_BASED" => Some(SigningFlow::Advanced),
            _ => None,
        }
    }
}

/// `lifecycle.state` of a signing session. `Blocked` is computed when it is read (a session it
/// is `subsequentTo` is not signed yet); the others are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Blocked,
    Ready,
    Rejected,
    Signed,
    /// Its `dueDate` passed unsigned.
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Blocked => "BLOCKED",
            State::Ready => "READY",
            State::Rejected => "REJECTED",
            State::Signed => "SIGNED",
            State::Expired => "EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [
            State::Blocked,
            State::Ready,
            State::Rejected,
            State::Signed,
            State::Expired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// `lifecycle.stateIsFinal`.
    pub fn is_final(self) -> bool {
        matches!(self, State::Rejected | State::Signed | State::Expired)
    }
}

/// Where a `READY` session's signer is. Each move is one conditional update from the stage
/// read, so two tabs or a replayed callback cannot both move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Nobody has confirmed yet (or a signer went back to the start).
    Waiting,
    /// Advanced: the signer was sent to identify with itsme.
    Identifying,
    /// Qualified: the signer was sent to itsme's first approval (the signing account).
    Account,
    /// Qualified: the signer was sent to itsme's second approval (these documents).
    Approving,
    /// A callback is signing right now.
    Signing,
    /// Nothing more happens (the state says how it ended).
    Done,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Waiting => "waiting",
            Stage::Identifying => "identifying",
            Stage::Account => "account",
            Stage::Approving => "approving",
            Stage::Signing => "signing",
            Stage::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        [
            Stage::Waiting,
            Stage::Identifying,
            Stage::Account,
            Stage::Approving,
            Stage::Signing,
            Stage::Done,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Whether a signer opening the session's page may (re)start from here: anything short of
    /// signing. A restart makes the previous attempt's callbacks worthless.
    pub fn may_restart(self) -> bool {
        matches!(
            self,
            Stage::Waiting | Stage::Identifying | Stage::Account | Stage::Approving
        )
    }
}

/// The events a signing session emits (`eventName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Created,
    Signed,
    Rejected,
    Expired,
    Deleted,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Created => "signing-session.created",
            Event::Signed => "signing-session.signed",
            Event::Rejected => "signing-session.rejected",
            Event::Expired => "signing-session.expired",
            Event::Deleted => "signing-session.deleted",
        }
    }
}

/// Whether the identifier a signer was verified with (a Belgian national number from itsme, the
/// `serialNumber` of their signing certificate, which may carry an ETSI prefix such as
/// `PNOBE-`) is the one the session names. They compare by their letters and digits, ignoring
/// case and punctuation (`89.11.24-335.18` is `89112433518`).
pub fn same_person(named: &str, verified: &str) -> bool {
    // Letters and digits only, upper case: "89.11.24-335.18" is "89112433518".
    fn norm(s: &str) -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect()
    }
    let named = norm(named);
    if named.is_empty() {
        return false;
    }
    // ETSI EN 319 412-1 §5.1.3 semantics identifier: "PNOBE-89112433518".
    let bare = match verified.trim().split_once('-') {
        Some((prefix, rest))
            if prefix.len() == 5 && prefix.chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            rest
        }
        _ => verified,
    };
    named == norm(verified) || named == norm(bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            State::Blocked,
            State::Ready,
            State::Rejected,
            State::Signed,
            State::Expired,
        ] {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        for s in [
            Stage::Waiting,
            Stage::Identifying,
            Stage::Account,
            Stage::Approving,
            Stage::Signing,
            Stage::Done,
        ] {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
        for f in [SigningFlow::Qualified, SigningFlow::Advanced] {
            assert_eq!(SigningFlow::parse(f.as_str()), Some(f));
            assert_eq!(SigningFlow::from_api_name(f.api_name()), Some(f));
        }
        assert_eq!(State::parse("ready"), None);
    }

    #[test]
    fn a_signer_is_matched_by_national_number() {
        assert!(same_person("89112433518", "89112433518"));
        assert!(same_person("89.11.24-335.18", "89112433518"));
        assert!(same_person("89112433518", "PNOBE-89112433518"));
        assert!(!same_person("89112433518", "89112433519"));
        assert!(!same_person("", "89112433518"));
        assert!(same_person("IDCFR-X4RTBPFW4", "IDCFR-x4rtbpfw4"));
        assert!(!same_person("IDCFR-X4RTBPFW4", "IDCFR-X4RTBPFW5"));
    }
}
