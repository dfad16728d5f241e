//! The rules of itsme's signing service (CSC API v1, hash-signing variant; reference
//! `signing-and-channels.md` §1), no IO: shared by the client (`passerelle-itsme`'s `csc`) and
//! the sandbox that emulates the service, so that both refuse the same requests.
//!
//! One approval in the itsme app covers at most [`MAX_HASHES`] hashes (itsme's onboarding option,
//! §1.1); the `description` the app shows is at most [`MAX_DESCRIPTION`] characters of
//! ISO-8859-15 (a curly quote or a long dash aborts itsme's flow, §1.1). Hashes are SHA-256, sent
//! as base64url by the specification and as standard base64 in itsme's own example (§1.2), so
//! [`decode_hash`] reads both.

use base64::Engine as _;

/// The most hashes one credential authorization (and one `signHash`) may carry (§1.1).
pub const MAX_HASHES: usize = 70;
/// The longest `description`, in characters (§1.2).
pub const MAX_DESCRIPTION: usize = 255;
/// `sha256WithRSAEncryption`, the one `signAlgo` itsme's `signHash` takes (§1.2).
pub const SIGN_ALGO_SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
/// `rsaEncryption`: a `signAlgo` that needs a `hashAlgo` (CSC 1.0.4 §11.9).
pub const SIGN_ALGO_RSA: &str = "1.2.840.113549.1.1.1";
/// SHA-256, the only `hashAlgo` accepted with [`SIGN_ALGO_RSA`].
pub const HASH_ALGO_SHA256: &str = "2.16.840.1.101.3.4.2.1";

/// What a signing service's token is for: the service authorization's `Bearer` (dance 1), or a
/// credential authorization's `SAD` (dance 2, bound to the hashes the person approved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Bearer,
    Sad,
}

impl TokenKind {
    /// The name a store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Bearer => "bearer",
            TokenKind::Sad => "sad",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "bearer" => Some(TokenKind::Bearer),
            "sad" => Some(TokenKind::Sad),
            _ => None,
        }
    }

    /// The `token_type` of the token endpoint's answer (`Bearer` or `SAD`, §1.2).
    pub fn token_type(self) -> &'static str {
        match self {
            TokenKind::Bearer => "Bearer",
            TokenKind::Sad => "SAD",
        }
    }
}

/// Which of the two authorizations ("dances") an itsme action of the signing service is: the
/// person lets a client use their signing account (`scope=service`), or approves hashes to be
/// signed with their credential (`scope=credential`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dance {
    Service,
    Credential,
}

impl Dance {
    /// The name the sandbox keeps in an action's `service` column, next to OIDC's
    /// `authentication` and `identification`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dance::Service => "csc_service",
            Dance::Credential => "csc_credential",
        }
    }

    pub fn parse(s: &str) -> Option<Dance> {
        match s {
            "csc_service" => Some(Dance::Service),
            "csc_credential" => Some(Dance::Credential),
            _ => None,
        }
    }

    /// The `scope` parameter that asks for it.
    pub fn scope(self) -> &'static str {
        match self {
            Dance::Service => "service",
            Dance::Credential => "credential",
        }
    }
}

/// Why a signing request cannot go to the itsme app. The text of each starts with itsme's
/// reason code where it has one (§1.3), for the `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestProblem {
    #[error("at least one hash is required")]
    NoHash,
    #[error("BATCH_TOO_LARGE: at most 70 hashes per itsme action")]
    BatchTooLarge,
    #[error("description is longer than 255 characters")]
    DescriptionTooLong,
    #[error(
        "description must be text the itsme app can show: printable ISO-8859-15 characters, no line breaks (a curly quote or a long dash is not)"
    )]
    DescriptionNotShowable,
}

/// Checks the number of hashes of one approval: 1 to [`MAX_HASHES`].
pub fn check_batch(count: usize) -> Result<(), RequestProblem> {
    match count {
        0 => Err(RequestProblem::NoHash),
        n if n > MAX_HASHES => Err(RequestProblem::BatchTooLarge),
        _ => Ok(()),
    }
}

/// Checks a `description`: at most [`MAX_DESCRIPTION`] characters, each one the itsme app can
/// show (printable ISO-8859-15). An empty description is allowed (the parameter is optional).
pub fn check_description(description: &str) -> Result<(), RequestProblem> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(RequestProblem::DescriptionTooLong);
    }
    if !description.chars().all(crate::ciba::is_showable) {
        return Err(RequestProblem::DescriptionNotShowable);
    }
    Ok(())
}

/// A SHA-256 hash sent as base64url or standard base64, padded or not; `None` for anything
/// else (other alphabets mixed in, another length).
pub fn decode_hash(text: &str) -> Option<[u8; 32]> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.is_empty() {
        return None;
    }
    let bytes = if body.contains(['+', '/']) {
        STANDARD_NO_PAD.decode(body).ok()?
    } else {
        URL_SAFE_NO_PAD.decode(body).ok()?
    };
    bytes.try_into().ok()
}

/// Whether two lists hold the same hashes, as many times each, in any order: what a SAD
/// authorizes against what `signHash` asks for.
pub fn same_hashes(approved: &[[u8; 32]], asked: &[[u8; 32]]) -> bool {
    if approved.len() != asked.len() {
        return false;
    }
    let mut a = approved.to_vec();
    let mut b = asked.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_approval_carries_one_to_seventy_hashes() {
        assert_eq!(check_batch(0), Err(RequestProblem::NoHash));
        assert_eq!(check_batch(1), Ok(()));
        assert_eq!(check_batch(70), Ok(()));
        assert_eq!(check_batch(71), Err(RequestProblem::BatchTooLarge));
        assert!(
            RequestProblem::BatchTooLarge
                .to_string()
                .starts_with("BATCH_TOO_LARGE")
        );
    }

    #[test]
    fn a_description_is_short_iso_8859_15_text() {
        assert_eq!(check_description(""), Ok(()));
        assert_eq!(
            check_description("Contrat de bail – signé"),
            Err(RequestProblem::DescriptionNotShowable),
            "a long dash"
        );
        assert_eq!(check_description("Contrat de bail - signé €5"), Ok(()));
        assert_eq!(
            check_description("l’acte"),
            Err(RequestProblem::DescriptionNotShowable),
            "a curly quote"
        );
        assert_eq!(
            check_description("two\nlines"),
            Err(RequestProblem::DescriptionNotShowable)
        );
        assert_eq!(check_description(&"é".repeat(255)), Ok(()));
        assert_eq!(
            check_description(&"a".repeat(256)),
            Err(RequestProblem::DescriptionTooLong)
        );
    }

    #[test]
    fn hashes_are_read_in_either_base64_alphabet() {
        let hash: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(250));
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let std = STANDARD.encode(hash);
        let url = URL_SAFE_NO_PAD.encode(hash);
        assert!(std.contains(['+', '/']) && std.ends_with('='));
        assert_eq!(decode_hash(&std), Some(hash));
        assert_eq!(decode_hash(&url), Some(hash));
        assert_eq!(decode_hash(std.trim_end_matches('=')), Some(hash));
        assert_eq!(decode_hash(&STANDARD.encode([1u8; 31])), None, "31 bytes");
        assert_eq!(decode_hash("not base64!"), None);
        assert_eq!(decode_hash(""), None);
        assert_eq!(decode_hash("===="), None);
    }

    #[test]
    fn the_same_hashes_in_another_order_are_the_same_request() {
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        assert!(same_hashes(&[a, b, c], &[c, a, b]));
        assert!(!same_hashes(&[a, b, c], &[a, b]));
        assert!(!same_hashes(&[a, b, b], &[a, a, b]));
        assert!(!same_hashes(&[a, b], &[a, c]));
    }

    #[test]
    fn closed_sets_read_back_what_they_write() {
        for k in [TokenKind::Bearer, TokenKind::Sad] {
            assert_eq!(TokenKind::parse(k.as_str()), Some(k));
        }
        for d in [Dance::Service, Dance::Credential] {
            assert_eq!(Dance::parse(d.as_str()), Some(d));
        }
        assert_eq!(TokenKind::parse("Bearer"), None);
        assert_eq!(Dance::parse("authentication"), None);
    }
}
