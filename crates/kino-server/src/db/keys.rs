//! API keys: created by `kino keys create`, stored as hashes, with per-key limits.

use super::{Db, Result};
use crate::ids;
use serde::Serialize;
use sqlx::Row;

/// A key as stored (never the secret itself).
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The first characters of the secret, to tell keys apart in lists.
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub requests_per_minute: i64,
    pub max_concurrent_jobs: i64,
}

/// Limits a new key gets unless told otherwise.
pub const DEFAULT_REQUESTS_PER_MINUTE: i64 = 600;
pub const DEFAULT_MAX_CONCURRENT_JOBS: i64 = 8;

fn from_row(r: &sqlx::any::AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
        requests_per_minute: r.try_get("requests_per_minute")?,
        max_concurrent_jobs: r.try_get("max_concurrent_jobs")?,
    })
}

impl Db {
    /// Creates a key; returns its record and the secret (shown once, never stored).
    pub async fn create_key(
        &self,
        name: &str,
        requests_per_minute: i64,
        max_concurrent_jobs: i64,
    ) -> Result<(ApiKey, String)> {
        let secret = ids::new_api_key();
        let key = ApiKey {
            id: ids::new_id("key"),
            name: name.to_string(),
            prefix: secret[..14].to_string(),
            created_at: ids::now(),
            revoked_at: None,
            requests_per_minute,
            max_concurrent_jobs,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, name, key_hash, prefix, created_at, revoked_at, requests_per_minute, max_concurrent_jobs)
             VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(ids::hash_key(&secret))
        .bind(&key.prefix)
        .bind(key.created_at)
        .bind(key.requests_per_minute)
        .bind(key.max_concurrent_jobs)
        .execute(&self.pool)
        .await?;
        Ok((key, secret))
    }

    /// The live (not revoked) key whose secret is `secret`.
    pub async fn find_key(&self, secret: &str) -> Result<Option<ApiKey>> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(ids::hash_key(secret))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query("SELECT * FROM api_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Revokes a key by id or name; returns whether one was revoked.
    pub async fn revoke_key(&self, id_or_name: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE (id = $2 OR name = $2) AND revoked_at IS NULL",
        )
        .bind(ids::now())
        .bind(id_or_name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
