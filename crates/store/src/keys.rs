//! Keys and secrets. A secret has one row per purpose; a key that rotates has one row per
//! generation, with the times of its life cycle (see `migrations/0015_key_rotation.sql`). The
//! first node to need a purpose creates its first generation; a node that loses the race reads the
//! winner's, so all nodes sign with the same keys. Which generation is current is not stored: it
//! follows from the stored times and the clock (`passerelle_jose::keyring`), so every node computes
//! the same answer.

use sqlx::Row as _;

use crate::{Result, Store};

/// One generation of a key, as stored.
#[derive(Clone)]
pub struct StoredKey {
    pub purpose: String,
    pub generation: i64,
    pub kid: String,
    /// The private JWK (or the secret). Never logged: [`StoredKey`]'s `Debug` leaves it out.
    pub material: String,
    /// Published from then on.
    pub created_at: i64,
    /// Signs from then on, until a later generation's `activates_at` has come.
    pub activates_at: i64,
    /// Unpublished from then on.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("purpose", &self.purpose)
            .field("generation", &self.generation)
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "purpose, generation, kid, material, created_at, activates_at, retired_at";

fn stored_key(r: &sqlx::any::AnyRow) -> Result<StoredKey> {
    Ok(StoredKey {
        purpose: r.try_get("purpose")?,
        generation: r.try_get("generation")?,
        kid: r.try_get("kid")?,
        material: r.try_get("material")?,
        created_at: r.try_get("created_at")?,
        activates_at: r.try_get("activates_at")?,
        retired_at: r.try_get("retired_at")?,
    })
}

impl Store {
    /// Returns the `(kid, material)` stored for `purpose` (its newest unretired generation),
    /// inserting the candidate made by `make` as generation 1, active at once, if there is none
    /// yet. `make` runs only when the purpose is missing.
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
            "INSERT INTO keys (purpose, generation, kid, material, created_at, activates_at) VALUES ($1, 1, $2, $3, $4, $4) ON CONFLICT (purpose, generation) DO NOTHING",
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

    /// The `(kid, material)` of the newest unretired generation of `purpose`.
    pub async fn find_key(&self, purpose: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT kid, material FROM keys WHERE purpose = $1 AND retired_at IS NULL ORDER BY generation DESC LIMIT 1",
        )
        .bind(purpose)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("kid")?, r.try_get("material")?))),
            None => Ok(None),
        }
    }

    /// Every generation of the given purposes, retired ones included, by purpose and generation.
    pub async fn list_keys(&self, purposes: &[&str]) -> Result<Vec<StoredKey>> {
        if purposes.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=purposes.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM keys WHERE purpose IN ({}) ORDER BY purpose, generation",
            placeholders.join(", ")
        );
        // Only placeholders and constant column names are formatted in.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in purposes {
            query = query.bind(*p);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(stored_key).collect()
    }

    /// Adds the next generation of `purpose`, published at `now` and signing from
    /// `activates_at`. `None` when another rotation of the same purpose took that generation at
    /// the same moment (one statement decides: the primary key).
    pub async fn insert_key_generation(
        &self,
        purpose: &str,
        kid: &str,
        material: &str,
        now: i64,
        activates_at: i64,
    ) -> Result<Option<StoredKey>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO keys ({COLUMNS}) SELECT $1, COALESCE(MAX(generation), 0) + 1, $2, $3, $4, $5, NULL FROM keys WHERE purpose = $1 ON CONFLICT (purpose, generation) DO NOTHING RETURNING {COLUMNS}"
        )))
        .bind(purpose)
        .bind(kid)
        .bind(material)
        .bind(now)
        .bind(activates_at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let key = stored_key(&row)?;
        let event = crate::AuditEvent::new("key.rotated", "ok", now.saturating_mul(1_000_000))
            .detail(format!(
                "purpose={purpose} kid={kid} generation={} activates_at={activates_at}",
                key.generation
            ));
        crate::audit::insert(&mut *tx, &event).await?;
        tx.commit().await?;
        Ok(Some(key))
    }

    /// Unpublishes the key `kid` of `purpose` at `now`. False when it is unknown or already
    /// retired.
    pub async fn retire_key(
        &self,
        purpose: &str,
        kid: &str,
        now: i64,
        forced: bool,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE keys SET retired_at = $3 WHERE purpose = $1 AND kid = $2 AND retired_at IS NULL",
        )
        .bind(purpose)
        .bind(kid)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            let event = crate::AuditEvent::new("key.retired", "ok", now.saturating_mul(1_000_000))
                .detail(format!("purpose={purpose} kid={kid} forced={forced}"));
            crate::audit::insert(&mut *tx, &event).await?;
        }
        tx.commit().await?;
        Ok(done)
    }
}
