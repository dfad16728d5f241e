//! The forms a client receives its ID tokens and userinfo answers in (OIDC Registration §2:
//! `id_token_encrypted_response_alg/enc`, `userinfo_signed_response_alg`,
//! `userinfo_encrypted_response_alg/enc`), and what its ID tokens carry — the per-client settings
//! Signicat's dashboard offers ("require encrypted ID tokens", "userinfo response type",
//! "ID-token user data").

use crate::oidc::IdTokenAlg;

/// A JWE key-management algorithm a client may ask its tokens to be encrypted with (RFC 7518
/// §4). RSA1_5 is not offered (RFC 8725 §3.2 and FAPI forbid it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyManagement {
    RsaOaep256,
    RsaOaep,
    EcdhEs,
}

impl KeyManagement {
    pub const ALL: [KeyManagement; 3] = [
        KeyManagement::RsaOaep256,
        KeyManagement::RsaOaep,
        KeyManagement::EcdhEs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyManagement::RsaOaep256 => "RSA-OAEP-256",
            KeyManagement::RsaOaep => "RSA-OAEP",
            KeyManagement::EcdhEs => "ECDH-ES",
        }
    }

    pub fn parse(s: &str) -> Option<KeyManagement> {
        KeyManagement::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The `kty` of the client key this algorithm encrypts to.
    pub fn key_type(self) -> &'static str {
        match self {
            KeyManagement::RsaOaep256 | KeyManagement::RsaOaep => "RSA",
            KeyManagement::EcdhEs => "EC",
        }
    }
}

/// A JWE content-encryption algorithm (RFC 7518 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncryption {
    /// The default when only the key-management algorithm is registered (OIDC Registration §2).
    A128CbcHs256,
    A256Gcm,
}

impl ContentEncryption {
    pub const ALL: [ContentEncryption; 2] =
        [ContentEncryption::A128CbcHs256, ContentEncryption::A256Gcm];

    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncryption::A128CbcHs256 => "A128CBC-HS256",
            ContentEncryption::A256Gcm => "A256GCM",
        }
    }

    pub fn parse(s: &str) -> Option<ContentEncryption> {
        ContentEncryption::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// How a token is encrypted to the client's key: a nested JWT, signed then encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encryption {
    pub alg: KeyManagement,
    pub enc: ContentEncryption,
}

/// Which claims the ID token carries besides the protocol's own (Signicat's "ID-token user
/// data"): claims asked for the ID token with the `claims` parameter go in either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IdTokenContents {
    /// The claims of the scopes marked `in_id_token` (Signicat's `StandardScopes`, the default):
    /// protected attributes such as the national number arrive at userinfo only.
    #[default]
    Standard,
    /// Every claim the login granted.
    All,
}

impl IdTokenContents {
    pub const ALL: [IdTokenContents; 2] = [IdTokenContents::Standard, IdTokenContents::All];

    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenContents::Standard => "standard",
            IdTokenContents::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<IdTokenContents> {
        IdTokenContents::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A client's registered token formats. The default is what every client had before they could
/// be chosen: a plain signed ID token with the standard contents, and userinfo as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenFormats {
    /// `id_token_encrypted_response_alg/enc`; `None`: signed only.
    pub id_token_encryption: Option<Encryption>,
    /// `userinfo_signed_response_alg`; `None`: JSON, unless encrypted (then signed with RS256
    /// inside, see [`TokenFormats::userinfo_signing`]).
    pub userinfo_signing: Option<IdTokenAlg>,
    /// `userinfo_encrypted_response_alg/enc`.
    pub userinfo_encryption: Option<Encryption>,
    pub id_token_claims: IdTokenContents,
}

/// What the userinfo endpoint answers a client with (OIDC Core §5.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserinfoForm {
    Json,
    Signed(IdTokenAlg),
    /// Encrypted JSON, without a signature.
    Encrypted(Encryption),
    SignedThenEncrypted(IdTokenAlg, Encryption),
}

impl TokenFormats {
    /// The userinfo answer's form. Encrypted without a registered signing algorithm is encrypted
    /// JSON, as OIDC Core §5.3.2 allows ("signed, encrypted, or both").
    pub fn userinfo_form(&self) -> UserinfoForm {
        match (self.userinfo_signing, self.userinfo_encryption) {
            (None, None) => UserinfoForm::Json,
            (Some(alg), None) => UserinfoForm::Signed(alg),
            (None, Some(e)) => UserinfoForm::Encrypted(e),
            (Some(alg), Some(e)) => UserinfoForm::SignedThenEncrypted(alg, e),
        }
    }

    /// The encryptions this client needs a key of its own for.
    pub fn encryptions(&self) -> impl Iterator<Item = Encryption> {
        self.id_token_encryption
            .into_iter()
            .chain(self.userinfo_encryption)
    }
}

/// Why registered encryption metadata is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("{name} must be one of RSA-OAEP-256, RSA-OAEP, ECDH-ES")]
    UnknownAlg { name: &'static str },
    #[error("{name} must be A128CBC-HS256 or A256GCM")]
    UnknownEnc { name: &'static str },
    #[error("{name} needs {alg_name} (OIDC Registration §2)")]
    EncWithoutAlg {
        name: &'static str,
        alg_name: &'static str,
    },
}

/// Reads a registered `*_encrypted_response_alg` / `*_encrypted_response_enc` pair, `prefix`
/// being `id_token` or `userinfo`; `enc` defaults to A128CBC-HS256 when only `alg` is given.
pub fn parse_encryption(
    prefix: &'static str,
    alg: Option<&str>,
    enc: Option<&str>,
) -> Result<Option<Encryption>, FormatError> {
    let (alg_name, enc_name) = match prefix {
        "id_token" => (
            "id_token_encrypted_response_alg",
            "id_token_encrypted_response_enc",
        ),
        _ => (
            "userinfo_encrypted_response_alg",
            "userinfo_encrypted_response_enc",
        ),
    };
    let Some(alg) = alg else {
        return match enc {
            Some(_) => Err(FormatError::EncWithoutAlg {
                name: enc_name,
                alg_name,
            }),
            None => Ok(None),
        };
    };
    let alg = KeyManagement::parse(alg).ok_or(FormatError::UnknownAlg { name: alg_name })?;
    let enc = match enc {
        None => ContentEncryption::A128CbcHs256,
        Some(e) => ContentEncryption::parse(e).ok_or(FormatError::UnknownEnc { name: enc_name })?,
    };
    Ok(Some(Encryption { alg, enc }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enc_defaults_to_a128cbc_hs256_and_needs_alg() {
        assert_eq!(
            parse_encryption("id_token", Some("ECDH-ES"), None),
            Ok(Some(Encryption {
                alg: KeyManagement::EcdhEs,
                enc: ContentEncryption::A128CbcHs256
            }))
        );
        assert_eq!(parse_encryption("id_token", None, None), Ok(None));
        assert!(parse_encryption("userinfo", None, Some("A256GCM")).is_err());
        assert!(parse_encryption("userinfo", Some("RSA1_5"), None).is_err());
        assert!(parse_encryption("userinfo", Some("RSA-OAEP"), Some("A192GCM")).is_err());
    }

    #[test]
    fn userinfo_forms() {
        let e = Encryption {
            alg: KeyManagement::RsaOaep256,
            enc: ContentEncryption::A256Gcm,
        };
        let mut f = TokenFormats::default();
        assert_eq!(f.userinfo_form(), UserinfoForm::Json);
        f.userinfo_encryption = Some(e);
        assert_eq!(f.userinfo_form(), UserinfoForm::Encrypted(e));
        f.userinfo_signing = Some(IdTokenAlg::Es256);
        assert_eq!(
            f.userinfo_form(),
            UserinfoForm::SignedThenEncrypted(IdTokenAlg::Es256, e)
        );
    }
}
