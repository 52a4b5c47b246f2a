//! Metadata and the job queue: SQLite by default, PostgreSQL to scale out, one set of
//! queries (sqlx's `Any` driver; `$n` placeholders work in both).

pub mod characters;
pub mod keys;
pub mod videos;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use std::path::Path;

/// Which database is behind the pool (a few statements differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database URL '{0}': expected sqlite://PATH or postgres://...")]
    Url(String),
    #[error("database: {0}")]
    Query(#[from] sqlx::Error),
}

pub type Result<T> = std::result::Result<T, DbError>;

/// The pool plus what kind of database it talks to.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::Url(url.to_string()));
        };
        let url_full = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let max = match backend {
            // SQLite has one writer; a small pool avoids lock storms.
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        };
        let mut reopened = false;
        loop {
            let pool = AnyPoolOptions::new()
                .max_connections(max)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            use sqlx::Executor;
                            conn.execute("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
                                .await?;
                        }
                        Ok(())
                    })
                })
                .connect(&url_full)
                .await
                .map_err(|source| DbError::Connect {
                    url: redact(url),
                    source,
                })?;
            let db = Db { pool, backend };
            let added_columns = db.migrate().await?;
            if added_columns && backend == Backend::Sqlite && !reopened {
                // SQLite connections that read the schema before a column was added describe
                // `SELECT *` with the old columns: start again with fresh connections.
                db.pool.close().await;
                reopened = true;
                continue;
            }
            return Ok(db);
        }
    }

    /// SQLite database file in `dir`.
    pub fn sqlite_url(dir: &Path) -> String {
        format!("sqlite://{}", dir.join("kino.db").display())
    }

    /// Creates missing tables and adds missing columns; whether a column was added.
    async fn migrate(&self) -> Result<bool> {
        let blob = match self.backend {
            Backend::Sqlite => "BLOB",
            Backend::Postgres => "BYTEA",
        };
        let statements = [
            "CREATE TABLE IF NOT EXISTS api_keys (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                key_hash TEXT NOT NULL UNIQUE,
                prefix TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                revoked_at BIGINT,
                requests_per_minute BIGINT NOT NULL,
                max_concurrent_jobs BIGINT NOT NULL
            )"
            .to_string(),
            format!(
                "CREATE TABLE IF NOT EXISTS videos (
                id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                kind TEXT NOT NULL,
                model TEXT NOT NULL,
                status TEXT NOT NULL,
                progress BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                completed_at BIGINT,
                expires_at BIGINT,
                prompt TEXT NOT NULL,
                size TEXT NOT NULL,
                seconds TEXT NOT NULL,
                source_video_id TEXT,
                remixed_from_video_id TEXT,
                error_code TEXT,
                error_message TEXT,
                params TEXT NOT NULL,
                input_image {blob},
                attempts BIGINT NOT NULL,
                lease_owner TEXT,
                lease_until BIGINT,
                content_deleted BIGINT NOT NULL
            )"
            ),
            "CREATE INDEX IF NOT EXISTS videos_owner ON videos (owner, id)".to_string(),
            "CREATE INDEX IF NOT EXISTS videos_queue ON videos (status, id)".to_string(),
            format!(
                "CREATE TABLE IF NOT EXISTS characters (
                id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                name TEXT NOT NULL,
                permission TEXT NOT NULL,
                approved TEXT NOT NULL,
                reference_frame {blob} NOT NULL,
                created_at BIGINT NOT NULL,
                revoked_at BIGINT,
                consent_check TEXT
            )"
            ),
            "CREATE TABLE IF NOT EXISTS video_characters (
                video_id TEXT NOT NULL,
                character_id TEXT NOT NULL,
                PRIMARY KEY (video_id, character_id)
            )"
            .to_string(),
            "CREATE TABLE IF NOT EXISTS audit_log (
                id TEXT PRIMARY KEY,
                at BIGINT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                character_id TEXT,
                video_id TEXT,
                detail TEXT NOT NULL
            )"
            .to_string(),
            "CREATE TABLE IF NOT EXISTS webhook_deliveries (
                id TEXT PRIMARY KEY,
                video_id TEXT NOT NULL,
                event TEXT NOT NULL,
                payload TEXT NOT NULL,
                attempts BIGINT NOT NULL,
                next_attempt_at BIGINT NOT NULL,
                delivered_at BIGINT,
                last_error TEXT
            )"
            .to_string(),
        ];
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s))
                .execute(&self.pool)
                .await?;
        }
        self.make_audit_log_append_only().await?;
        // Columns added later: existing rows keep their data, the new column is NULL.
        let mut added = false;
        for (table, column, ty) in [("characters", "consent_check", "TEXT")] {
            added |= self.add_column(table, column, ty).await?;
        }
        Ok(added)
    }

    /// The audit log only grows: the database itself refuses to change or delete its rows
    /// (triggers), whatever code or hand-typed SQL tries.
    async fn make_audit_log_append_only(&self) -> Result<()> {
        const MESSAGE: &str = "audit_log is append-only";
        match self.backend {
            Backend::Sqlite => {
                for op in ["UPDATE", "DELETE"] {
                    let sql = format!(
                        "CREATE TRIGGER IF NOT EXISTS audit_log_no_{} BEFORE {op} ON audit_log \
                         BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
                        op.to_lowercase()
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&self.pool)
                        .await?;
                }
            }
            Backend::Postgres => {
                let present: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass \
                     AND tgname IN ('audit_log_append_only', 'audit_log_append_only_truncate')",
                )
                .fetch_one(&self.pool)
                .await?;
                if present == 2 {
                    return Ok(());
                }
                let function = format!(
                    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ \
                     BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$ LANGUAGE plpgsql"
                );
                let triggers = [
                    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log \
                     FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
                    "CREATE TRIGGER audit_log_append_only_truncate BEFORE TRUNCATE ON audit_log \
                     FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
                ];
                for sql in std::iter::once(function).chain(triggers.map(String::from)) {
                    match sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&self.pool)
                        .await
                    {
                        // Another process migrating at the same moment made it first.
                        Err(e) if e.to_string().contains("already exists") => {}
                        Err(e) if e.to_string().contains("concurrently updated") => {}
                        r => {
                            r?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `ALTER TABLE ... ADD COLUMN` unless the column exists (also when another process
    /// added it at the same time); whether it was added (Postgres: whether it may have been).
    async fn add_column(&self, table: &str, column: &str, ty: &str) -> Result<bool> {
        let sql = match self.backend {
            Backend::Postgres => {
                format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {ty}")
            }
            Backend::Sqlite => format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"),
        };
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.to_string().contains("duplicate column") => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// A database URL with any password removed, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://kino:secret@db:5432/kino"),
            "postgres://kino:***@db:5432/kino"
        );
        assert_eq!(super::redact("sqlite:///x/kino.db"), "sqlite:///x/kino.db");
    }
}
