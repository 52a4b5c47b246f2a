//! Videos and the job queue: one row per video, claimed by workers under a lease.

use super::{Backend, Db, Result};
use crate::ids;
use sqlx::Row;

/// A video row. `status` is queued | in_progress | completed | failed.
#[derive(Debug, Clone)]
pub struct VideoRow {
    pub id: String,
    /// Id of the API key that asked for it.
    pub owner: String,
    /// create | remix | edit | extend
    pub kind: String,
    pub model: String,
    pub status: String,
    pub progress: i64,
    pub created_at: i64,
    pub completed_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub prompt: String,
    pub size: String,
    pub seconds: String,
    /// The clip a remix/edit/extension starts from.
    pub source_video_id: Option<String>,
    pub remixed_from_video_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// Generation parameters (JSON, see `jobs::JobParams`).
    pub params: String,
    /// The upload a job starts from: the first frame of an image-to-video job (PNG, JPEG or
    /// WebP), or the MP4 an edit/extension of an uploaded clip starts from.
    pub input_image: Option<Vec<u8>>,
    pub attempts: i64,
    /// 1 once the stored files were removed (expired).
    pub content_deleted: i64,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<VideoRow> {
    Ok(VideoRow {
        id: r.try_get("id")?,
        owner: r.try_get("owner")?,
        kind: r.try_get("kind")?,
        model: r.try_get("model")?,
        status: r.try_get("status")?,
        progress: r.try_get("progress")?,
        created_at: r.try_get("created_at")?,
        completed_at: r.try_get("completed_at")?,
        expires_at: r.try_get("expires_at")?,
        prompt: r.try_get("prompt")?,
        size: r.try_get("size")?,
        seconds: r.try_get("seconds")?,
        source_video_id: r.try_get("source_video_id")?,
        remixed_from_video_id: r.try_get("remixed_from_video_id")?,
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        params: r.try_get("params")?,
        input_image: r.try_get("input_image")?,
        attempts: r.try_get("attempts")?,
        content_deleted: r.try_get("content_deleted")?,
    })
}

/// A page of videos.
pub struct Page {
    pub rows: Vec<VideoRow>,
    pub has_more: bool,
}

/// What a finished job looks like to `finish_job`.
pub enum Outcome<'a> {
    Completed { expires_at: Option<i64> },
    Failed { code: &'a str, message: &'a str },
}

impl Db {
    /// Queues a new video (status queued, progress 0) in one statement.
    pub async fn insert_video(&self, v: &VideoRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO videos (id, owner, kind, model, status, progress, created_at, completed_at,
                expires_at, prompt, size, seconds, source_video_id, remixed_from_video_id,
                error_code, error_message, params, input_image, attempts, lease_owner, lease_until,
                content_deleted)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8, $9, $10, $11, $12, NULL, NULL,
                $13, $14, 0, NULL, NULL, 0)",
        )
        .bind(&v.id)
        .bind(&v.owner)
        .bind(&v.kind)
        .bind(&v.model)
        .bind(&v.status)
        .bind(v.progress)
        .bind(v.created_at)
        .bind(&v.prompt)
        .bind(&v.size)
        .bind(&v.seconds)
        .bind(&v.source_video_id)
        .bind(&v.remixed_from_video_id)
        .bind(&v.params)
        .bind(&v.input_image)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The video `id` if `owner` may see it (`owner = None`: any owner, for workers).
    pub async fn get_video(&self, id: &str, owner: Option<&str>) -> Result<Option<VideoRow>> {
        let row = match owner {
            Some(o) => {
                sqlx::query("SELECT * FROM videos WHERE id = $1 AND owner = $2")
                    .bind(id)
                    .bind(o)
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM videos WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        row.as_ref().map(from_row).transpose()
    }

    /// `limit` videos of `owner` after the id `after`, newest first unless `ascending`.
    pub async fn list_videos(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: i64,
        ascending: bool,
    ) -> Result<Page> {
        let (cmp, order) = if ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        let sql = match after {
            Some(_) => format!(
                "SELECT * FROM videos WHERE owner = $1 AND id {cmp} $2 ORDER BY id {order} LIMIT $3"
            ),
            None => format!("SELECT * FROM videos WHERE owner = $1 ORDER BY id {order} LIMIT $2"),
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner);
        if let Some(a) = after {
            q = q.bind(a);
        }
        let rows = q.bind(limit + 1).fetch_all(&self.pool).await?;
        let mut rows = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        Ok(Page { rows, has_more })
    }

    /// Deletes the row; returns it if it existed (the caller then deletes its files).
    pub async fn delete_video(&self, id: &str, owner: &str) -> Result<Option<VideoRow>> {
        let Some(row) = self.get_video(id, Some(owner)).await? else {
            return Ok(None);
        };
        let done = sqlx::query("DELETE FROM videos WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok((done.rows_affected() > 0).then_some(row))
    }

    /// Videos of `owner` that are queued or running (for the concurrent-jobs quota).
    pub async fn active_jobs(&self, owner: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM videos WHERE owner = $1 AND status IN ('queued', 'in_progress')",
        )
        .bind(owner)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Claims the oldest runnable job for `worker`: a queued one, or one whose worker's
    /// lease ran out (it died) and that has attempts left. Safe with any number of workers.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease_s: i64,
        max_attempts: i64,
    ) -> Result<Option<VideoRow>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            // SQLite runs one writer at a time: the UPDATE is atomic on its own.
            Backend::Sqlite => "",
        };
        let now = ids::now();
        let sql = format!(
            "UPDATE videos SET status = 'in_progress', lease_owner = $1, lease_until = $2,
                attempts = attempts + 1
             WHERE id = (SELECT id FROM videos
                WHERE (status = 'queued' OR (status = 'in_progress' AND lease_until < $3))
                  AND attempts < $4
                ORDER BY id LIMIT 1{lock})
             RETURNING id"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(now + lease_s)
            .bind(now)
            .bind(max_attempts)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => {
                let id: String = r.try_get("id")?;
                self.get_video(&id, None).await
            }
            None => Ok(None),
        }
    }

    /// Records progress and extends the lease. False when the job is no longer this
    /// worker's (deleted, or its lease expired and another worker took it).
    pub async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        progress: i64,
        lease_s: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE videos SET progress = $1, lease_until = $2
             WHERE id = $3 AND lease_owner = $4 AND status = 'in_progress'",
        )
        .bind(progress)
        .bind(ids::now() + lease_s)
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Marks a job finished. False when it is no longer this worker's.
    pub async fn finish_job(&self, id: &str, worker: &str, outcome: Outcome<'_>) -> Result<bool> {
        let now = ids::now();
        let done = match outcome {
            Outcome::Completed { expires_at } => {
                sqlx::query(
                    "UPDATE videos SET status = 'completed', progress = 100, completed_at = $1,
                    expires_at = $2, lease_owner = NULL, lease_until = NULL
                 WHERE id = $3 AND lease_owner = $4 AND status = 'in_progress'",
                )
                .bind(now)
                .bind(expires_at)
                .bind(id)
                .bind(worker)
                .execute(&self.pool)
                .await?
            }
            Outcome::Failed { code, message } => {
                sqlx::query(
                    "UPDATE videos SET status = 'failed', completed_at = $1, error_code = $2,
                    error_message = $5, lease_owner = NULL, lease_until = NULL
                 WHERE id = $3 AND lease_owner = $4 AND status = 'in_progress'",
                )
                .bind(now)
                .bind(code.to_string())
                .bind(id)
                .bind(worker)
                .bind(message.to_string())
                .execute(&self.pool)
                .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    /// Fails jobs whose worker died on their last attempt; returns their ids.
    pub async fn fail_abandoned(&self, max_attempts: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE videos SET status = 'failed', completed_at = $1, error_code = 'worker_lost',
                error_message = 'the job was interrupted too many times', lease_owner = NULL
             WHERE status = 'in_progress' AND lease_until < $1 AND attempts >= $2
             RETURNING id",
        )
        .bind(ids::now())
        .bind(max_attempts)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("id")?))
            .collect()
    }

    /// Completed videos whose files expired and are still stored.
    pub async fn expired_videos(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM videos WHERE status = 'completed' AND content_deleted = 0
                AND expires_at IS NOT NULL AND expires_at < $1",
        )
        .bind(ids::now())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("id")?))
            .collect()
    }

    pub async fn mark_content_deleted(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE videos SET content_deleted = 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every completed video's id and owner (the clips this server marked), oldest first:
    /// the candidates `POST /v1/provenance/identify` tests a copy against.
    pub async fn completed_video_owners(&self) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT id, owner FROM videos WHERE status = 'completed' ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("owner")?)))
            .collect()
    }

    /// Whether a row with this id exists (for the orphan-file sweep).
    pub async fn video_exists(&self, id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT id FROM videos WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}
