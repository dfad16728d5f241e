//! Keys and secrets, one current value per purpose. The first node to need a purpose creates its
//! key; a node that loses the race reads the winner's, so all nodes sign with the same keys.

use sqlx::Row as _;

use crate::{Result, Store};

impl Store {
    /// Returns the `(kid, material)` stored for `purpose`, inserting the candidate made by `make`
    /// if there is none yet. `make` runs only when the purpose is missing.
    pub async fn find_or_insert_key(
        &self,
        purpose: &str,
        now: i64,
        make: impl FnOnce() -> std::result::Result<(String, String), String>,
    ) -> Result<(String, String)> {
        if let Some(found) = self.find_key(purpose).await? {
            return Ok(found);
        }
        let (kid, material) = make().map_err(crate::StoreError::Config)?;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO keys (purpose, kid, material, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (purpose) DO NOTHING",
        )
        .bind(purpose)
        .bind(&kid)
        .bind(&material)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            // The key's id only: its material never goes anywhere but its own row.
            let event = crate::AuditEvent::new("key.created", "ok", now.saturating_mul(1_000_000))
                .detail(format!("purpose={purpose} kid={kid}"));
            crate::audit::insert(&mut *tx, &event).await?;
        }
        tx.commit().await?;
        self.find_key(purpose)
            .await?
            .ok_or_else(|| crate::StoreError::Corrupt(format!("key {purpose} vanished")))
    }

    pub async fn find_key(&self, purpose: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query("SELECT kid, material FROM keys WHERE purpose = $1")
            .bind(purpose)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("kid")?, r.try_get("material")?))),
            None => Ok(None),
        }
    }
}
