//! The sandbox's signing service (itsme's CSC API v1, as the sandbox emulates it): persons'
//! signing credentials, which person a client's account is, and the Bearers and SADs it issued.
//! A credential is made by the first node that needs it (insert if absent, then read back the
//! winner); a SAD is spent with one conditional `UPDATE`, so two racing `signHash` calls cannot
//! both use it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use passerelle_core::csc::TokenKind;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Result, Store, corrupt, decode};

/// A person's signing credential: an RSA-2048 key and its certificate (both DER).
#[derive(Clone)]
pub struct SigningCredential {
    pub id: String,
    pub phone_number: String,
    pub key_pkcs8: Vec<u8>,
    pub cert_der: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub created_at: i64,
}

impl std::fmt::Debug for SigningCredential {
    // The private key stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCredential")
            .field("id", &self.id)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// A Bearer or a SAD of the sandbox's signing service (only the SHA-256 of its value is kept).
#[derive(Debug, Clone)]
pub struct SigningToken {
    pub token_hash: String,
    pub kind: TokenKind,
    pub client_id: String,
    /// The client's account (the `sub` of its account_token).
    pub account_id: String,
    pub phone_number: String,
    /// A SAD's credential.
    pub credential_id: Option<String>,
    /// The hashes a SAD authorizes, in the order approved.
    pub hashes: Vec<[u8; 32]>,
    pub created_at: i64,
    pub expires_at: i64,
}

const CREDENTIAL_COLUMNS: &str =
    "id, phone_number, key_pkcs8, cert_der, not_before, not_after, created_at";
const TOKEN_COLUMNS: &str = "token_hash, kind, client_id, account_id, phone_number, credential_id, hashes, created_at, expires_at";

fn bytes(r: &AnyRow, column: &str) -> Result<Vec<u8>> {
    let text: String = r.try_get(column)?;
    STANDARD
        .decode(text.as_bytes())
        .map_err(|_| corrupt("sandbox_signing_credentials", column, &text))
}

fn credential(r: &AnyRow) -> Result<SigningCredential> {
    Ok(SigningCredential {
        id: r.try_get("id")?,
        phone_number: r.try_get("phone_number")?,
        key_pkcs8: bytes(r, "key_pkcs8")?,
        cert_der: bytes(r, "cert_der")?,
        not_before: r.try_get("not_before")?,
        not_after: r.try_get("not_after")?,
        created_at: r.try_get("created_at")?,
    })
}

fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn token(r: &AnyRow) -> Result<SigningToken> {
    let hashes: Option<String> = r.try_get("hashes")?;
    let hashes = match hashes {
        None => Vec::new(),
        Some(text) => serde_json::from_str::<Vec<String>>(&text)
            .ok()
            .and_then(|list| list.iter().map(|h| unhex(h)).collect::<Option<Vec<_>>>())
            .ok_or_else(|| corrupt("sandbox_signing_tokens", "hashes", &text))?,
    };
    Ok(SigningToken {
        token_hash: r.try_get("token_hash")?,
        kind: decode(r, "sandbox_signing_tokens", "kind", TokenKind::parse)?,
        client_id: r.try_get("client_id")?,
        account_id: r.try_get("account_id")?,
        phone_number: r.try_get("phone_number")?,
        credential_id: r.try_get("credential_id")?,
        hashes,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

impl Store {
    /// The person's credential, if they have one that is still valid at `now`.
    pub async fn find_signing_credential(
        &self,
        phone: &str,
        now: i64,
    ) -> Result<Option<SigningCredential>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM sandbox_signing_credentials WHERE phone_number = $1 AND not_after > $2"
        )))
        .bind(phone)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(credential).transpose()
    }

    /// A credential by its id (whoever it belongs to; the caller checks).
    pub async fn find_signing_credential_by_id(
        &self,
        id: &str,
    ) -> Result<Option<SigningCredential>> {
        if id.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM sandbox_signing_credentials WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(credential).transpose()
    }

    /// Stores `candidate` as its person's credential unless they have one valid at `now` (an
    /// expired one is replaced); returns the person's credential as it is afterwards — the
    /// candidate, or the one another request or node stored first.
    pub async fn insert_signing_credential(
        &self,
        candidate: &SigningCredential,
        now: i64,
    ) -> Result<SigningCredential> {
        let key = STANDARD.encode(&candidate.key_pkcs8);
        let cert = STANDARD.encode(&candidate.cert_der);
        sqlx::query(
            "INSERT INTO sandbox_signing_credentials (id, phone_number, key_pkcs8, cert_der, not_before, not_after, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (phone_number) DO UPDATE SET id = excluded.id, key_pkcs8 = excluded.key_pkcs8, cert_der = excluded.cert_der, \
             not_before = excluded.not_before, not_after = excluded.not_after, created_at = excluded.created_at \
             WHERE sandbox_signing_credentials.not_after <= $8",
        )
        .bind(&candidate.id)
        .bind(&candidate.phone_number)
        .bind(&key)
        .bind(&cert)
        .bind(candidate.not_before)
        .bind(candidate.not_after)
        .bind(candidate.created_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM sandbox_signing_credentials WHERE phone_number = $1"
        )))
        .bind(&candidate.phone_number)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => credential(&r),
            None => Err(crate::StoreError::Corrupt(
                "a signing credential vanished as it was stored".into(),
            )),
        }
    }

    /// Records that `client_id`'s account `account_id` is the person with this phone number
    /// (the last service authorization approved for the account decides).
    pub async fn link_signing_account(
        &self,
        client_id: &str,
        account_id: &str,
        phone: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sandbox_signing_accounts (client_id, account_id, phone_number, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (client_id, account_id) DO UPDATE SET phone_number = excluded.phone_number, updated_at = excluded.updated_at",
        )
        .bind(client_id)
        .bind(account_id)
        .bind(phone)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The phone number of the person a client's account is, if a service authorization for it
    /// was ever approved.
    pub async fn find_signing_account(
        &self,
        client_id: &str,
        account_id: &str,
    ) -> Result<Option<String>> {
        if account_id.contains('\0') {
            return Ok(None);
        }
        Ok(sqlx::query_scalar(
            "SELECT phone_number FROM sandbox_signing_accounts WHERE client_id = $1 AND account_id = $2",
        )
        .bind(client_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn insert_signing_token(&self, t: &SigningToken) -> Result<()> {
        let hashes = match t.kind {
            TokenKind::Bearer => None,
            TokenKind::Sad => Some(
                serde_json::to_string(&t.hashes.iter().map(hex).collect::<Vec<_>>())
                    .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?,
            ),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO sandbox_signing_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )))
        .bind(&t.token_hash)
        .bind(t.kind.as_str())
        .bind(&t.client_id)
        .bind(&t.account_id)
        .bind(&t.phone_number)
        .bind(&t.credential_id)
        .bind(hashes)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live token of this kind: not expired, not revoked, and (a SAD) not spent.
    pub async fn find_signing_token(
        &self,
        token_hash: &str,
        kind: TokenKind,
        now: i64,
    ) -> Result<Option<SigningToken>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM sandbox_signing_tokens WHERE token_hash = $1 AND kind = $2 AND expires_at > $3 AND used_at IS NULL"
        )))
        .bind(token_hash)
        .bind(kind.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token).transpose()
    }

    /// Spends a SAD, once: `false` when it is unknown, expired, revoked or already spent.
    pub async fn spend_signing_sad(&self, token_hash: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE sandbox_signing_tokens SET used_at = $2 WHERE token_hash = $1 AND kind = 'sad' AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Revokes a Bearer and every SAD of its account (same client, account and person). Returns
    /// how many tokens went.
    pub async fn revoke_signing_bearer(&self, bearer: &SigningToken) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM sandbox_signing_tokens WHERE token_hash = $1 \
             OR (kind = 'sad' AND client_id = $2 AND account_id = $3 AND phone_number = $4)",
        )
        .bind(&bearer.token_hash)
        .bind(&bearer.client_id)
        .bind(&bearer.account_id)
        .bind(&bearer.phone_number)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Revokes one SAD of this client.
    pub async fn revoke_signing_sad(&self, token_hash: &str, client_id: &str) -> Result<bool> {
        let r = sqlx::query(
            "DELETE FROM sandbox_signing_tokens WHERE token_hash = $1 AND kind = 'sad' AND client_id = $2",
        )
        .bind(token_hash)
        .bind(client_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_survive_hex() {
        let h: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(29));
        assert_eq!(unhex(&hex(&h)), Some(h));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(&"é".repeat(32)), None);
    }
}
