//! The worker: claims queued jobs, runs the engine under a lease, stores the files.
//!
//! A job is claimed with a lease (`lease_s`); the worker renews it with every progress
//! report. A worker that dies stops renewing, the lease runs out, and another worker (or
//! this one after a restart) claims the job again, up to `max_attempts` times.

use crate::db::videos::{Outcome, VideoRow};
use crate::db::Db;
use crate::jobs::{self, JobParams, ProgressMap};
use crate::storage::{Storage, Variant};
use crate::webhooks::Webhooks;
use kino_engine::pipeline::{EngineError, GenerateOptions, Generated, Pipeline, Progress};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A pipeline the worker can share with a blocking thread.
pub type SharedPipeline = Arc<dyn Pipeline + Send + Sync>;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in leases (host + pid + random by default).
    pub id: String,
    pub lease_s: i64,
    pub max_attempts: i64,
    /// How long to wait when the queue is empty.
    pub poll: Duration,
    /// Seconds a finished video's files are kept (None: forever).
    pub expire_after_s: Option<i64>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: format!(
                "worker-{}-{}",
                std::process::id(),
                &crate::ids::new_id("w")[2..]
            ),
            lease_s: 30,
            max_attempts: 3,
            poll: Duration::from_millis(250),
            expire_after_s: Some(7 * 24 * 3600),
        }
    }
}

/// Checks a generated clip and builds the finished file from it: the server passes the
/// output check and provenance here.
pub trait Publisher: Send + Sync {
    /// The content check on generated frames, before anything is stored: `Err(reason)`
    /// refuses the clip and the job fails with `moderation_blocked` and that reason.
    fn check_output(&self, video: &kino_media::VideoFrames) -> Result<(), String>;

    /// Encodes (and marks and signs) the clip; `source` is the parent clip for edits;
    /// `cameo` when it shows a registered character's likeness.
    fn publish(
        &self,
        video_id: &str,
        kind: &str,
        generated: &mut Generated,
        source: Option<&[u8]>,
        cameo: bool,
    ) -> anyhow::Result<Vec<u8>>;
}

/// Plain MP4 encoding, no provenance (tests of the queue only).
pub struct PlainMp4;

impl Publisher for PlainMp4 {
    fn check_output(&self, _video: &kino_media::VideoFrames) -> Result<(), String> {
        Ok(())
    }

    fn publish(
        &self,
        _video_id: &str,
        _kind: &str,
        generated: &mut Generated,
        _source: Option<&[u8]>,
        _cameo: bool,
    ) -> anyhow::Result<Vec<u8>> {
        let (bytes, _) = kino_media::encode_mp4(
            &generated.clip.video,
            generated.clip.audio.as_ref(),
            &kino_media::EncodeOptions::default(),
        )?;
        Ok(bytes)
    }
}

pub struct Worker {
    pub db: Db,
    pub storage: Storage,
    pub pipeline: SharedPipeline,
    pub publisher: Arc<dyn Publisher>,
    pub webhooks: Option<Webhooks>,
    pub cfg: WorkerConfig,
}

struct JobProgress {
    map: ProgressMap,
    percent: Arc<AtomicI64>,
    cancel: Arc<AtomicBool>,
}

impl Progress for JobProgress {
    fn stage(&mut self, name: &str, total: u64) {
        self.map.stage(name, total);
        self.percent
            .fetch_max(self.map.percent(0), Ordering::Relaxed);
    }
    fn set(&mut self, done: u64) {
        self.percent
            .fetch_max(self.map.percent(done), Ordering::Relaxed);
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Why a job did not complete.
enum JobError {
    /// Someone else owns the job now (lease lost or video deleted): drop it silently.
    LostLease,
    Failed {
        code: &'static str,
        message: String,
    },
}

/// A job failed by the server's fault: the details go to the log, the user learns only what
/// failed.
fn internal_error(video_id: &str, what: &str, e: &dyn std::fmt::Display) -> JobError {
    tracing::error!(video = %video_id, "{what}: {e}");
    JobError::Failed {
        code: "internal_error",
        message: format!("{what} failed on the server"),
    }
}

impl Worker {
    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.cfg.id, "worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.run_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!("worker: {e:#}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.cfg.id, "worker stopped");
    }

    /// Claims and runs one job; false when the queue was empty.
    pub async fn run_one(&self) -> anyhow::Result<bool> {
        for id in self.db.fail_abandoned(self.cfg.max_attempts).await? {
            tracing::warn!(video = %id, "failed: interrupted too many times");
            if let Some(w) = &self.webhooks {
                w.enqueue(&self.db, &id, "video.failed").await?;
            }
        }
        let Some(row) = self
            .db
            .claim_job(&self.cfg.id, self.cfg.lease_s, self.cfg.max_attempts)
            .await?
        else {
            return Ok(false);
        };
        tracing::info!(video = %row.id, kind = %row.kind, attempt = row.attempts, "job claimed");
        match self.process(&row).await {
            Ok(()) => {
                tracing::info!(video = %row.id, "completed");
                if let Some(w) = &self.webhooks {
                    w.enqueue(&self.db, &row.id, "video.completed").await?;
                }
            }
            Err(JobError::LostLease) => {
                tracing::warn!(video = %row.id, "job taken away (deleted or lease expired)");
            }
            Err(JobError::Failed { code, message }) => {
                tracing::warn!(video = %row.id, %code, %message, "failed");
                let failed = Outcome::Failed {
                    code,
                    message: &message,
                };
                if self.db.finish_job(&row.id, &self.cfg.id, failed).await? {
                    if let Some(w) = &self.webhooks {
                        w.enqueue(&self.db, &row.id, "video.failed").await?;
                    }
                }
            }
        }
        Ok(true)
    }

    /// The characters a job uses: those its prompt mentions, those linked to it when it was
    /// queued, and those of the stored video it starts from (a remix of a cameo is a cameo).
    async fn characters_used(&self, row: &VideoRow) -> Result<Vec<String>, JobError> {
        let mut ids = crate::characters::mentions(&row.prompt);
        let mut videos = vec![row.id.as_str()];
        videos.extend(row.source_video_id.as_deref());
        for video in videos {
            let linked = self
                .db
                .video_characters(video)
                .await
                .map_err(|e| internal_error(&row.id, "reading the job's characters", &e))?;
            for id in linked {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    /// Each of `ids` if `row`'s owner may use it now; else the job fails (and the refusal
    /// is in the audit log).
    async fn check_characters(
        &self,
        row: &VideoRow,
        ids: &[String],
    ) -> Result<Vec<crate::db::characters::Character>, JobError> {
        let mut allowed = Vec::with_capacity(ids.len());
        for cid in ids {
            let internal =
                |e: &dyn std::fmt::Display| internal_error(&row.id, "checking a character", e);
            let character = match self.db.get_character(cid).await {
                Ok(Some(c)) => match self.db.may_use(&c, &row.owner).await {
                    Ok(true) => Some(c),
                    Ok(false) => None,
                    Err(e) => return Err(internal(&e)),
                },
                Ok(None) => None,
                Err(e) => return Err(internal(&e)),
            };
            let Some(c) = character else {
                let _ = self
                    .db
                    .audit(
                        &row.owner,
                        "use.refused_at_generation",
                        Some(cid),
                        Some(&row.id),
                        "",
                    )
                    .await;
                return Err(JobError::Failed {
                    code: "character_permission_revoked",
                    message: format!(
                        "the character {cid} may no longer be used (its owner revoked it or changed who may use it)"
                    ),
                });
            };
            allowed.push(c);
        }
        Ok(allowed)
    }

    async fn process(&self, row: &VideoRow) -> Result<(), JobError> {
        let internal = |what: &str, e: &dyn std::fmt::Display| internal_error(&row.id, what, e);
        let params: JobParams =
            serde_json::from_str(&row.params).map_err(|e| internal("reading the job", &e))?;
        let plan = match kino_prompt::parse(&row.prompt) {
            Ok(p) => p.plan,
            Err(errors) => {
                return Err(JobError::Failed {
                    code: "invalid_prompt",
                    message: errors.to_string(),
                })
            }
        };
        // The source clip of a remix, edit or extension.
        let source_bytes =
            match &row.source_video_id {
                Some(src) => Some(self.storage.get_all(src, Variant::Video).await.map_err(
                    |e| JobError::Failed {
                        code: "source_unavailable",
                        message: format!("the source video {src} could not be read: {e}"),
                    },
                )?),
                // An uploaded clip to edit or extend travels in the row.
                None if row.kind != jobs::CREATE => row.input_image.clone(),
                None => None,
            };
        let source = match &source_bytes {
            // Bounded by kino_media::MAX_DECODED_BYTES, counted on the decoded pictures.
            Some(bytes) => Some(kino_media::decode_mp4(bytes, "source video").map_err(|e| {
                JobError::Failed {
                    code: "invalid_source",
                    message: e.to_string(),
                }
            })?),
            None => None,
        };
        // Characters: the prompt's mentions and, for a remix, edit or extension of a stored
        // video, the characters that video uses (its likeness is in the source frames).
        // Permission is checked again now (a revocation beats a queued job) and once more
        // before anything is stored (a revocation during generation wins too); the first
        // character's reference frame carries the likeness into a created clip as its first
        // frame (an explicit input image takes its place).
        let mut character_frame = None;
        let mentioned = self.characters_used(row).await?;
        // The API refuses these before queueing; a job queued for another model (the server
        // restarted on a text-to-video folder) fails with the same codes.
        let text_only_create = row.kind == jobs::CREATE && !self.pipeline.supports_first_frame();
        if text_only_create && row.input_image.is_some() {
            return Err(JobError::Failed {
                code: "image_input_unsupported",
                message: format!(
                    "this worker's model ({}) makes video from text only: it cannot start from the input_reference image",
                    self.pipeline.name()
                ),
            });
        }
        for c in self.check_characters(row, &mentioned).await? {
            // Rather than make a clip without the likeness that would still be published as
            // a cameo.
            if text_only_create {
                return Err(JobError::Failed {
                    code: "character_unsupported_by_model",
                    message: format!(
                        "the character {}'s likeness cannot be used: this worker's model ({}) makes video from text only, and a cameo needs one that starts from an image",
                        c.id,
                        self.pipeline.name()
                    ),
                });
            }
            if character_frame.is_none() {
                character_frame = Some(c.reference_frame.clone());
            }
        }
        let cameo = !mentioned.is_empty();
        let first_frame = match row
            .input_image
            .as_ref()
            .or(character_frame.as_ref())
            .filter(|_| row.kind == jobs::CREATE)
        {
            Some(bytes) => Some(
                image::load_from_memory(bytes)
                    .map_err(|e| JobError::Failed {
                        code: "invalid_input_reference",
                        message: format!("input_reference is not a readable image: {e}"),
                    })?
                    .to_rgb8(),
            ),
            None => None,
        };

        let opts = GenerateOptions {
            seed: params.seed,
            steps: params.steps,
            size: Some((params.width, params.height)),
            seconds: (row.kind == jobs::CREATE).then_some(params.seconds),
            first_frame,
            ..Default::default()
        };
        let percent = Arc::new(AtomicI64::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        let mut progress = JobProgress {
            map: ProgressMap::new(plan.shots.len()),
            percent: percent.clone(),
            cancel: cancel.clone(),
        };
        let pipeline = self.pipeline.clone();
        let kind = row.kind.clone();
        let strength = params.strength.unwrap_or(0.6);
        let seconds = params.seconds;
        let mut task = tokio::task::spawn_blocking(move || match (kind.as_str(), source) {
            (jobs::EXTEND, Some(src)) => {
                pipeline.extend(&src, &plan, seconds, &opts, &mut progress)
            }
            (jobs::REMIX | jobs::EDIT, Some(src)) => {
                pipeline.remix(&src, &plan, strength, &opts, &mut progress)
            }
            _ => pipeline.generate(&plan, &opts, &mut progress),
        });
        // Renew the lease and publish progress while the engine works.
        let result = loop {
            tokio::select! {
                r = &mut task => break r,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    let p = percent.load(Ordering::Relaxed);
                    match self.db.heartbeat(&row.id, &self.cfg.id, p, self.cfg.lease_s).await {
                        Ok(true) => {}
                        Ok(false) => cancel.store(true, Ordering::Relaxed),
                        Err(e) => tracing::warn!(video = %row.id, "heartbeat: {e}"),
                    }
                }
            }
        };
        let mut generated = match result {
            Ok(Ok(g)) => g,
            Ok(Err(EngineError::Cancelled)) => return Err(JobError::LostLease),
            Ok(Err(EngineError::Invalid(message))) => {
                return Err(JobError::Failed {
                    code: "invalid_request",
                    message,
                })
            }
            Ok(Err(e)) => return Err(internal("generation", &e)),
            Err(e) => return Err(internal("the generation thread", &e)),
        };
        if cancel.load(Ordering::Relaxed) {
            return Err(JobError::LostLease);
        }
        // Revoked while the engine worked: nothing is stored.
        self.check_characters(row, &mentioned).await?;

        // One blocking task from here to the finished files: scale to the delivered size when
        // it differs from the generated one, run the output check before anything is stored,
        // then encode, mark and sign, and make the stills.
        let publisher = self.publisher.clone();
        let id = row.id.clone();
        let kind = row.kind.clone();
        let output_size = params.output_size;
        let files = tokio::task::spawn_blocking(move || -> Result<_, JobError> {
            let internal = |what: &str, e: &dyn std::fmt::Display| internal_error(&id, what, e);
            if let Some((w, h)) = output_size {
                let video = &generated.clip.video;
                if (video.width(), video.height()) != (w, h) {
                    generated.clip.video =
                        scale_video(video, w, h).map_err(|e| internal("scaling", &e))?;
                }
            }
            publisher
                .check_output(&generated.clip.video)
                .map_err(|message| JobError::Failed {
                    code: "moderation_blocked",
                    message,
                })?;
            let encoded = (|| -> anyhow::Result<_> {
                let mp4 = publisher.publish(
                    &id,
                    &kind,
                    &mut generated,
                    source_bytes.as_deref(),
                    cameo,
                )?;
                let video = &generated.clip.video;
                let thumb = kino_media::preview::thumbnail_webp(video, video.duration_s() / 2.0)?;
                let sheet = kino_media::preview::spritesheet_jpeg(video, &Default::default())?;
                Ok((mp4, thumb, sheet))
            })();
            encoded.map_err(|e| internal("encoding", &e))
        })
        .await
        .map_err(|e| internal("the publishing thread", &e))??;
        let (mp4, thumb, sheet) = files;
        let store = async {
            self.storage.put(&row.id, Variant::Thumbnail, thumb).await?;
            self.storage
                .put(&row.id, Variant::Spritesheet, sheet)
                .await?;
            // The video goes last: its presence means the set is complete.
            self.storage.put(&row.id, Variant::Video, mp4).await
        };
        if let Err(e) = store.await {
            let _ = self.storage.delete_video(&row.id).await;
            return Err(internal("storing the video", &e));
        }
        let expires_at = self.cfg.expire_after_s.map(|s| crate::ids::now() + s);
        match self
            .db
            .finish_job(&row.id, &self.cfg.id, Outcome::Completed { expires_at })
            .await
        {
            Ok(true) => {
                // Logged once the clip exists (a failed or refused job made no use).
                for cid in &mentioned {
                    let _ = self
                        .db
                        .audit(&row.owner, "use.generated", Some(cid), Some(&row.id), "")
                        .await;
                }
                Ok(())
            }
            Ok(false) => {
                // Deleted (or taken over) while we worked: leave nothing behind unless the
                // row still exists for another worker.
                if !self.db.video_exists(&row.id).await.unwrap_or(true) {
                    let _ = self.storage.delete_video(&row.id).await;
                }
                Err(JobError::LostLease)
            }
            Err(e) => Err(internal("recording the result", &e)),
        }
    }
}

/// Removes files no row refers to (a crash between delete and file removal) and the files
/// of expired videos.
pub async fn sweep_storage(db: &Db, storage: &Storage) -> anyhow::Result<(usize, usize)> {
    let mut orphans = 0;
    for id in storage.stored_video_ids().await? {
        if !db.video_exists(&id).await? {
            storage.delete_video(&id).await?;
            orphans += 1;
        }
    }
    let mut expired = 0;
    for id in db.expired_videos().await? {
        storage.delete_video(&id).await?;
        db.mark_content_deleted(&id).await?;
        expired += 1;
    }
    Ok((orphans, expired))
}

/// `video` scaled to `w`x`h` (Catmull-Rom), frame by frame.
pub fn scale_video(
    video: &kino_media::VideoFrames,
    w: u32,
    h: u32,
) -> anyhow::Result<kino_media::VideoFrames> {
    use image::{imageops, RgbImage};
    let mut out = kino_media::VideoFrames::new(w, h, video.fps(), kino_media::PixelFormat::Rgb8)?;
    for i in 0..video.len() {
        let rgb = video.frame_rgb(i).unwrap_or_default();
        let img = RgbImage::from_raw(video.width(), video.height(), rgb)
            .ok_or_else(|| anyhow::anyhow!("frame {i}: size does not match its data"))?;
        let scaled = imageops::resize(&img, w, h, imageops::FilterType::CatmullRom);
        out.push(scaled.as_raw())?;
    }
    Ok(out)
}
