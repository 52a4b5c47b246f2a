//! `/v1/videos`: create, retrieve, list, delete, download, remix, edit, extend.

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::request::{data_url_bytes, Fields};
use super::AppState;
use crate::db::videos::VideoRow;
use crate::ids;
use crate::jobs::{self, JobParams};
use crate::storage::Variant;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest prompt accepted, in characters (OpenAI's limit).
pub const MAX_PROMPT_CHARS: usize = 32_000;

/// Model names OpenAI's SDKs send; they run the served model.
const OPENAI_MODELS: &[&str] = &["sora-2", "sora-2-pro"];

/// The `video` object.
pub fn video_json(v: &VideoRow) -> Value {
    let error = match (&v.error_code, &v.error_message) {
        (Some(code), msg) => json!({ "code": code, "message": msg.clone().unwrap_or_default() }),
        _ => Value::Null,
    };
    json!({
        "id": v.id,
        "object": "video",
        "model": v.model,
        "status": v.status,
        "progress": v.progress,
        "created_at": v.created_at,
        "completed_at": v.completed_at,
        "expires_at": v.expires_at,
        "prompt": v.prompt,
        "size": v.size,
        "seconds": v.seconds,
        "remixed_from_video_id": v.remixed_from_video_id,
        "error": error,
    })
}

fn video_response(state: &AppState, status: StatusCode, v: &VideoRow) -> Response {
    let mut resp = (status, Json(video_json(v))).into_response();
    if matches!(v.status.as_str(), "queued" | "in_progress") {
        if let Ok(h) = HeaderValue::from_str(&state.cfg.poll_after_ms.to_string()) {
            resp.headers_mut().insert("openai-poll-after-ms", h);
        }
    }
    resp
}

fn prompt(fields: &Fields, state: &AppState) -> ApiResult<String> {
    let p = fields
        .text("prompt")?
        .ok_or_else(|| ApiError::missing("prompt"))?;
    let chars = p.chars().count();
    if p.trim().is_empty() {
        return Err(ApiError::invalid("prompt", "The prompt is empty."));
    }
    if chars > MAX_PROMPT_CHARS {
        return Err(ApiError::invalid(
            "prompt",
            format!("The prompt is {chars} characters long; the limit is {MAX_PROMPT_CHARS}."),
        ));
    }
    if let Err(errors) = kino_prompt::parse(p) {
        return Err(ApiError::invalid(
            "prompt",
            format!("The prompt has errors: {errors}"),
        ));
    }
    if let Some(policy) = &state.policy {
        policy.check(p).map_err(ApiError::blocked)?;
    }
    Ok(p.to_string())
}

fn model(fields: &Fields, state: &AppState) -> ApiResult<String> {
    let served = &state.cfg.model.name;
    match fields.text("model")? {
        None => Ok(served.clone()),
        Some(m) if m == served || OPENAI_MODELS.iter().any(|o| m.starts_with(o)) => {
            Ok(m.to_string())
        }
        Some(m) => Err(ApiError::invalid(
            "model",
            format!("Invalid value for 'model': '{m}'. This server runs '{served}' (OpenAI's sora-2 names are accepted and run it too)."),
        )),
    }
}

fn seconds(fields: &Fields, state: &AppState) -> ApiResult<Option<u32>> {
    let max = state.cfg.model.max_seconds;
    match fields.text("seconds")? {
        None => Ok(None),
        Some(s) => match s.trim().trim_matches('"').parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::invalid(
                "seconds",
                format!("Invalid value for 'seconds': '{s}'. Supported values are whole seconds from 1 to {max} (e.g. '4', '8', '12')."),
            )),
        },
    }
}

/// The requested size: `(generate, deliver)`. OpenAI's four sizes are always accepted; when
/// the model cannot make one directly it is generated near the model's own resolution with
/// the same aspect and scaled up for delivery.
fn size(fields: &Fields, state: &AppState) -> ApiResult<Fitted> {
    let m = &state.cfg.model;
    let Some(s) = fields.text("size")? else {
        return Ok((m.size, None));
    };
    let bad = || {
        ApiError::invalid(
            "size",
            format!(
                "Invalid value for 'size': '{s}'. Use one of OpenAI's sizes (720x1280, 1280x720, 1024x1792, 1792x1024) or WIDTHxHEIGHT with both multiples of {} and at most {} (e.g. '{}x{}').",
                m.size_multiple, m.max_side, m.size.0, m.size.1
            ),
        )
    };
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    match fit_size(m, (w, h)) {
        (gen, None) => Ok((gen, None)),
        (gen, Some(out)) if jobs::OPENAI_SIZES.contains(&out) => Ok((gen, Some(out))),
        _ => Err(bad()),
    }
}

fn number<T: std::str::FromStr>(
    fields: &Fields,
    name: &str,
    ok: impl Fn(&T) -> bool,
    what: &str,
) -> ApiResult<Option<T>> {
    match fields.text(name)? {
        None => Ok(None),
        Some(s) => match s.trim().parse::<T>() {
            Ok(v) if ok(&v) => Ok(Some(v)),
            _ => Err(ApiError::invalid(
                name,
                format!("Invalid value for '{name}': '{s}'. Expected {what}."),
            )),
        },
    }
}

fn input_reference(fields: &Fields) -> ApiResult<Option<Vec<u8>>> {
    let bytes = if let Some(b) = fields.file("input_reference") {
        b.to_vec()
    } else if let Some(url) = fields.text("input_reference[image_url]")? {
        data_url_bytes("input_reference", url)?
    } else if fields.has("input_reference[file_id]") {
        return Err(ApiError::invalid(
            "input_reference",
            "file_id references are not supported: kino has no Files API. Upload the image or send a data URL.",
        ));
    } else if let Some(url) = fields.text("input_reference")? {
        data_url_bytes("input_reference", url)?
    } else {
        return Ok(None);
    };
    image::load_from_memory(&bytes).map_err(|e| {
        ApiError::invalid(
            "input_reference",
            format!("input_reference is not a PNG, JPEG or WebP image kino can read: {e}"),
        )
    })?;
    Ok(Some(bytes))
}

/// Refuses, before anything is queued, what needs a model that starts a clip from an image
/// when the served one cannot (a text-to-video Wan folder): an `input_reference`, or a
/// cameo, whose likeness conditions the clip as its first frame.
fn image_model_check(state: &AppState, prompt: &str, input_image: bool) -> ApiResult<()> {
    let m = &state.cfg.model;
    if m.takes_image {
        return Ok(());
    }
    let (mut e, code) = if input_image {
        let e = ApiError::invalid(
            "input_reference",
            format!(
                "The model '{}' makes video from text only: it cannot start from an input_reference image. Leave the image out, or serve an image-to-video model.",
                m.name
            ),
        );
        (e, "image_input_unsupported")
    } else if let Some(id) = crate::characters::mentions(prompt).first() {
        let e = ApiError::invalid(
            "prompt",
            format!(
                "The prompt uses the character '{id}', but the model '{}' makes video from text only and cannot put a cameo's likeness in a clip (that needs an image-to-video model). Remove the mention, or serve an image-to-video model.",
                m.name
            ),
        );
        (e, "character_unsupported_by_model")
    } else {
        return Ok(());
    };
    e.code = Some(code.into());
    Err(e)
}

struct NewJob {
    kind: &'static str,
    model: String,
    prompt: String,
    size: (u32, u32),
    /// What the video object reports (an extension's stitched total).
    seconds_shown: u32,
    params: JobParams,
    source: Option<String>,
    input_image: Option<Vec<u8>>,
}

/// The characters a job uses, each checked against the caller's permission: those its
/// prompt mentions and those of the stored video it starts from (a remix, edit or extension
/// of a cameo carries the likeness on, so it is a use of the character too).
async fn characters_allowed(
    state: &AppState,
    caller: &Caller,
    prompt: &str,
    source: Option<&str>,
) -> ApiResult<Vec<String>> {
    let mut ids = crate::characters::mentions(prompt);
    let mentioned = ids.len();
    if let Some(source) = source {
        for id in state.db.video_characters(source).await? {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    for (i, id) in ids.iter().enumerate() {
        let (param, why) = if i < mentioned {
            ("prompt", "the prompt mentions it")
        } else {
            ("video", "the source video shows it")
        };
        let Some(c) = state.db.get_character(id).await? else {
            return Err(ApiError::invalid(
                param,
                format!("The character '{id}' does not exist ({why})."),
            ));
        };
        if !state.db.may_use(&c, &caller.0.id).await? {
            state
                .db
                .audit(&caller.0.id, "use.refused", Some(id), None, "")
                .await?;
            let mut e = ApiError::invalid(
                param,
                format!("You may not use the character '{id}' ({why}): its owner has not allowed it (or revoked it)."),
            );
            e.status = StatusCode::FORBIDDEN;
            e.kind = "permission_error";
            e.code = Some("character_permission_denied".into());
            return Err(e);
        }
    }
    Ok(ids)
}

async fn enqueue(state: &AppState, caller: &Caller, job: NewJob) -> ApiResult<Response> {
    let characters = characters_allowed(state, caller, &job.prompt, job.source.as_deref()).await?;
    if job.kind == jobs::CREATE {
        image_model_check(state, &job.prompt, job.input_image.is_some())?;
    }
    let key = &caller.0;
    if state.db.active_jobs(&key.id).await? >= key.max_concurrent_jobs {
        return Err(ApiError::rate_limited(
            format!(
                "This key already has {} videos queued or in progress (its limit). Wait for one to finish.",
                key.max_concurrent_jobs
            ),
            5,
        ));
    }
    let row = VideoRow {
        id: ids::new_id("video"),
        owner: key.id.clone(),
        kind: job.kind.to_string(),
        model: job.model,
        status: "queued".into(),
        progress: 0,
        created_at: ids::now(),
        completed_at: None,
        expires_at: None,
        prompt: job.prompt,
        size: format!("{}x{}", job.size.0, job.size.1),
        seconds: job.seconds_shown.to_string(),
        remixed_from_video_id: job.source.clone().filter(|_| job.kind != jobs::EXTEND),
        source_video_id: job.source,
        error_code: None,
        error_message: None,
        params: serde_json::to_string(&job.params).map_err(|e| ApiError::internal("params", &e))?,
        input_image: job.input_image,
        attempts: 0,
        content_deleted: 0,
    };
    state.db.insert_video(&row).await?;
    for c in &characters {
        state.db.link_video_character(&row.id, c).await?;
        state
            .db
            .audit(&key.id, "use.requested", Some(c), Some(&row.id), "")
            .await?;
    }
    Ok(video_response(state, StatusCode::OK, &row))
}

fn params(
    state: &AppState,
    fields: &Fields,
    size: (u32, u32),
    seconds: f64,
) -> ApiResult<JobParams> {
    Ok(JobParams {
        width: size.0,
        height: size.1,
        seconds,
        seed: number::<u64>(fields, "seed", |_| true, "a whole number")?.unwrap_or_else(|| {
            u64::from_le_bytes(ids::random_bytes(8).try_into().unwrap_or([0; 8])) >> 12
        }),
        steps: number::<usize>(fields, "steps", |s| (1..=100).contains(s), "1 to 100")?
            .unwrap_or(state.cfg.model.steps),
        strength: number::<f64>(
            fields,
            "strength",
            |s| *s > 0.0 && *s <= 1.0,
            "a number in (0, 1]",
        )?,
        output_size: None,
    })
}

/// `(generate, deliver)`: the size the model makes and, when different, the delivered one.
type Fitted = ((u32, u32), Option<(u32, u32)>);

/// `(generate, deliver)` for a size: as is when the model makes it, else generated near the
/// model's own resolution with the same aspect and scaled to the size for delivery.
fn fit_size(m: &super::ModelInfo, (w, h): (u32, u32)) -> Fitted {
    let native_ok = w > 0
        && h > 0
        && w % m.size_multiple == 0
        && h % m.size_multiple == 0
        && w <= m.max_side
        && h <= m.max_side;
    if native_ok {
        ((w, h), None)
    } else {
        (
            jobs::generation_size((w, h), m.size, m.size_multiple),
            Some((w, h)),
        )
    }
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let fields = Fields::read(&headers, body, state.cfg.max_body).await?;
    let prompt = prompt(&fields, &state)?;
    let model = model(&fields, &state)?;
    let seconds = seconds(&fields, &state)?.unwrap_or(4);
    let (size, output_size) = size(&fields, &state)?;
    let input_image = input_reference(&fields)?;
    let mut params = params(&state, &fields, size, seconds as f64)?;
    params.output_size = output_size;
    enqueue(
        &state,
        &caller,
        NewJob {
            kind: jobs::CREATE,
            model,
            prompt,
            size: output_size.unwrap_or(size),
            seconds_shown: seconds,
            params,
            source: None,
            input_image,
        },
    )
    .await
}

/// The completed source video a remix, edit or extension starts from.
async fn source(state: &AppState, caller: &Caller, id: &str, param: &str) -> ApiResult<VideoRow> {
    let Some(src) = state.db.get_video(id, Some(&caller.0.id)).await? else {
        return Err(
            ApiError::not_found(format!("Video with id '{id}' not found.")).with_param(param),
        );
    };
    if src.status != "completed" {
        return Err(ApiError::invalid(
            param,
            format!(
                "Video '{id}' is {}; only completed videos can be used as a source.",
                src.status
            ),
        ));
    }
    if src.content_deleted != 0 {
        return Err(ApiError::invalid(
            param,
            format!("Video '{id}' has expired; its files are gone."),
        ));
    }
    Ok(src)
}

fn parse_size(s: &str) -> (u32, u32) {
    s.split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((0, 0))
}

pub async fn remix(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let fields = Fields::read(&headers, body, state.cfg.max_body).await?;
    let src = source(&state, &caller, &id, "video_id").await?;
    from_source(
        state,
        caller,
        fields,
        Source::stored(&src),
        jobs::REMIX,
        None,
    )
    .await
}

/// Where an edit or extension starts: a completed video here, or an uploaded MP4.
struct Source {
    id: Option<String>,
    model: Option<String>,
    size: (u32, u32),
    seconds: u32,
    upload: Option<Vec<u8>>,
}

impl Source {
    fn stored(v: &VideoRow) -> Source {
        Source {
            id: Some(v.id.clone()),
            model: Some(v.model.clone()),
            size: parse_size(&v.size),
            seconds: v.seconds.parse().unwrap_or(4),
            upload: None,
        }
    }
}

/// Queues a job that starts from `src`: a remix or edit (same length), or an extension by
/// `more` seconds (the video object then reports the stitched total).
async fn from_source(
    state: AppState,
    caller: Caller,
    fields: Fields,
    src: Source,
    kind: &'static str,
    more: Option<u32>,
) -> ApiResult<Response> {
    let prompt = prompt(&fields, &state)?;
    let model = match &src.model {
        Some(m) => m.clone(),
        None => model(&fields, &state)?,
    };
    let (gen, output_size) = fit_size(&state.cfg.model, src.size);
    let generate_s = more.unwrap_or(src.seconds);
    let mut params = params(&state, &fields, gen, generate_s as f64)?;
    params.output_size = output_size;
    enqueue(
        &state,
        &caller,
        NewJob {
            kind,
            model,
            prompt,
            size: src.size,
            seconds_shown: src.seconds + more.unwrap_or(0),
            params,
            source: src.id,
            input_image: src.upload,
        },
    )
    .await
}

/// The `video` of an edit or extension: `video[id]` of a completed video, or an MP4 upload.
async fn video_source(state: &AppState, caller: &Caller, fields: &Fields) -> ApiResult<Source> {
    if let Some(bytes) = fields.file("video") {
        let info = kino_media::probe_bytes(bytes, "video").map_err(|e| {
            ApiError::invalid(
                "video",
                format!("The uploaded video is not an MP4 kino can read: {e}"),
            )
        })?;
        let v = info
            .streams
            .iter()
            .find(|s| s.kind == "video")
            .ok_or_else(|| ApiError::invalid("video", "The uploaded MP4 has no video track."))?;
        let (w, h) = (v.width.unwrap_or(0), v.height.unwrap_or(0));
        // Delivered at the upload's size (even sides, as H.264 wants), up to 1920.
        let fit = |x: u32| (x & !1).clamp(16, 1920);
        let seconds = info.duration_s.round().max(1.0) as u32;
        if info.duration_s > 60.0 {
            return Err(ApiError::invalid(
                "video",
                "The uploaded video is longer than 60 seconds.",
            ));
        }
        // What the worker will decode (it also counts the pictures as decoded, so a header
        // that understates the size fails the job there).
        let decoded = (w as usize * h as usize * 3 / 2).saturating_mul(v.samples);
        if decoded > kino_media::mp4_read::MAX_DECODED_BYTES {
            return Err(ApiError::invalid(
                "video",
                format!(
                    "The uploaded video is too large to decode: {} frames of {w}x{h} ({} MB decoded, at most {} MB). Send a shorter or smaller clip.",
                    v.samples,
                    decoded >> 20,
                    kino_media::mp4_read::MAX_DECODED_BYTES >> 20
                ),
            ));
        }
        return Ok(Source {
            id: None,
            model: None,
            size: (fit(w), fit(h)),
            seconds,
            upload: Some(bytes.to_vec()),
        });
    }
    let id = fields
        .text("video[id]")?
        .or(fields.text("video_id")?)
        .map(str::to_string)
        .ok_or_else(|| ApiError::missing("video"))?;
    Ok(Source::stored(&source(state, caller, &id, "video").await?))
}

pub async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let fields = Fields::read(&headers, body, state.cfg.max_body).await?;
    let src = video_source(&state, &caller, &fields).await?;
    from_source(state, caller, fields, src, jobs::EDIT, None).await
}

pub async fn extend(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let fields = Fields::read(&headers, body, state.cfg.max_body).await?;
    let src = video_source(&state, &caller, &fields).await?;
    let more = seconds(&fields, &state)?.ok_or_else(|| ApiError::missing("seconds"))?;
    from_source(state, caller, fields, src, jobs::EXTEND, Some(more)).await
}

async fn owned(state: &AppState, caller: &Caller, id: &str) -> ApiResult<VideoRow> {
    state
        .db
        .get_video(id, Some(&caller.0.id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Video with id '{id}' not found.")))
}

pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let v = owned(&state, &caller, &id).await?;
    Ok(video_response(&state, StatusCode::OK, &v))
}

#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    limit: Option<String>,
    order: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let limit = match q.limit.as_deref() {
        None => 20,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "limit",
                    format!("Invalid value for 'limit': '{s}'. Expected 1 to 100."),
                ))
            }
        },
    };
    let ascending = match q.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(o) => {
            return Err(ApiError::invalid(
                "order",
                format!("Invalid value for 'order': '{o}'. Expected 'asc' or 'desc'."),
            ))
        }
    };
    let page = state
        .db
        .list_videos(&caller.0.id, q.after.as_deref(), limit, ascending)
        .await?;
    let data: Vec<Value> = page.rows.iter().map(video_json).collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "first_id": page.rows.first().map(|r| r.id.clone()),
        "last_id": page.rows.last().map(|r| r.id.clone()),
        "has_more": page.has_more,
    }))
    .into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    // A cameo's deletion by its maker is in its characters' audit logs (as the owner's is).
    // Read before the row goes; used only once the delete shows the caller made it.
    let characters = state.db.video_characters(&id).await?;
    let Some(row) = state.db.delete_video(&id, &caller.0.id).await? else {
        return Err(ApiError::not_found(format!(
            "Video with id '{id}' not found."
        )));
    };
    for c in &characters {
        state
            .db
            .audit(
                &caller.0.id,
                "video.deleted_by_creator",
                Some(c),
                Some(&id),
                "",
            )
            .await?;
    }
    // The row is gone first: a crash here leaves files that the startup sweep removes.
    state.storage.delete_video(&row.id).await?;
    Ok(Json(json!({ "id": row.id, "object": "video.deleted", "deleted": true })).into_response())
}

#[derive(Deserialize)]
pub struct ContentQuery {
    variant: Option<String>,
}

/// Parses a single `bytes=` range against a file of `size` bytes.
pub fn parse_range(h: &str, size: u64) -> Option<std::ops::Range<u64>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (size.saturating_sub(n), size)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size
        } else {
            b.parse::<u64>().ok()?.saturating_add(1).min(size)
        };
        (start, end)
    };
    (start < end && start < size).then_some(start..end)
}

pub async fn content(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ContentQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let variant = match q.variant.as_deref() {
        None => Variant::Video,
        Some(v) => Variant::parse(v).ok_or_else(|| {
            ApiError::invalid("variant", format!("Invalid value for 'variant': '{v}'. Expected 'video', 'thumbnail' or 'spritesheet'."))
        })?,
    };
    let v = owned(&state, &caller, &id).await?;
    if v.status != "completed" {
        let mut e = ApiError::bad_request(format!(
            "Video '{id}' is {}; its content is available once it has completed.",
            v.status
        ));
        e.code = Some("video_not_ready".into());
        return Err(e);
    }
    if v.content_deleted != 0 {
        return Err(ApiError::not_found(format!(
            "The content of video '{id}' has expired."
        )));
    }
    let size = state.storage.size(&id, variant).await?;
    let range = match headers.get(header::RANGE).and_then(|h| h.to_str().ok()) {
        None => None,
        Some(h) => match parse_range(h, size) {
            Some(r) => Some(r),
            None => {
                let mut resp = ApiError {
                    status: StatusCode::RANGE_NOT_SATISFIABLE,
                    message: format!("Range '{h}' cannot be served from {size} bytes."),
                    kind: "invalid_request_error",
                    param: None,
                    code: None,
                    retry_after_s: None,
                }
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(resp);
            }
        },
    };
    let partial = range.is_some();
    let dl = state.storage.get(&id, variant, range).await?;
    let mut resp = Response::new(Body::from_stream(dl.stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(variant.content_type()),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let len = dl.range.end - dl.range.start;
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if partial {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{}",
            dl.range.start,
            dl.range.end - 1,
            dl.total_size
        )) {
            h.insert(header::CONTENT_RANGE, v);
        }
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Some(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Some(90..100));
        assert_eq!(parse_range("bytes=95-200", 100), Some(95..100));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
