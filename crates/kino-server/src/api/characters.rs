//! `/v1/videos/characters`: cameos. A person registers their likeness with a consent clip
//! and says who may use it; they can see and delete every video that uses it, and revoke it.

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::request::Fields;
use super::videos::video_json;
use super::AppState;
use crate::db::characters::{Character, Permission};
use crate::ids;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

fn character_json(c: &Character) -> Value {
    let consent_check = c
        .consent_check
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
        .unwrap_or(Value::Null);
    json!({
        "id": c.id,
        "object": "character",
        "created_at": c.created_at,
        "name": c.name,
        "permission": c.permission.as_str(),
        "approved": c.approved,
        "revoked_at": c.revoked_at,
        "consent_check": consent_check,
    })
}

/// Shortest consent clip when the consent check is off.
const MIN_SECONDS_UNCHECKED: f64 = 0.5;

/// Decodes the consent clip, runs the consent check (when on) and returns the middle frame
/// as PNG and the check's report (JSON).
fn examine_clip(
    mp4: &[u8],
    check: Option<&kino_safety::ConsentCheck>,
) -> ApiResult<(Vec<u8>, Option<String>)> {
    let clip = kino_media::decode_mp4(mp4, "video").map_err(|e| {
        ApiError::invalid(
            "video",
            format!("The consent clip is not an MP4 kino can read: {e}"),
        )
    })?;
    let v = &clip.video;
    let report = match check {
        Some(check) => {
            let report = consent_report(&clip, check);
            if let Some(message) = report.refusal_message() {
                let mut e = ApiError::invalid("video", message);
                e.code = Some("consent_check_failed".into());
                return Err(e);
            }
            Some(
                serde_json::to_string(&report)
                    .map_err(|e| ApiError::internal("consent check", &e))?,
            )
        }
        None => {
            if v.is_empty() || v.duration_s() < MIN_SECONDS_UNCHECKED {
                return Err(ApiError::invalid(
                    "video",
                    "The consent clip must show the person for at least half a second.",
                ));
            }
            None
        }
    };
    let rgb = v.frame_rgb(v.len() / 2).unwrap_or_default();
    let img = image::RgbImage::from_raw(v.width(), v.height(), rgb)
        .ok_or_else(|| ApiError::internal("consent frame", &"frame size mismatch"))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| ApiError::internal("consent frame", &e))?;
    Ok((png, report))
}

/// The consent check on a decoded clip: luma planes and mono sound.
fn consent_report(
    clip: &kino_media::Clip,
    check: &kino_safety::ConsentCheck,
) -> kino_safety::ConsentReport {
    let v = &clip.video;
    let (w, h) = (v.width() as usize, v.height() as usize);
    let yuv;
    let video = if v.format() == kino_media::PixelFormat::Yuv420p {
        v
    } else {
        yuv = v.to_format(kino_media::PixelFormat::Yuv420p);
        &yuv
    };
    // The Y plane comes first in a YUV 4:2:0 frame.
    let luma: Vec<&[u8]> = video.iter().map(|f| &f[..w * h]).collect();
    let mono = clip.audio.as_ref().map(|a| a.to_mono());
    let signals = kino_safety::ClipSignals {
        width: w,
        height: h,
        fps: v.fps().as_f64(),
        luma,
        sample_rate: mono.as_ref().map_or(0, |a| a.sample_rate()),
        audio: mono.as_ref().map_or(&[], |a| a.samples()),
    };
    check.check(&signals)
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let fields = Fields::read(&headers, body, state.cfg.max_body).await?;
    let name = fields
        .text("name")?
        .ok_or_else(|| ApiError::missing("name"))?
        .trim()
        .to_string();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::invalid(
            "name",
            "The name must be 1 to 80 characters.",
        ));
    }
    let video = fields
        .file("video")
        .ok_or_else(|| ApiError::missing("video"))?;
    let permission = match fields.text("permission")? {
        None => Permission::OnlyMe,
        Some(p) => Permission::parse(p).ok_or_else(|| {
            ApiError::invalid("permission", format!("Invalid value for 'permission': '{p}'. Expected only_me, approved, mutuals or everyone."))
        })?,
    };
    let approved: Vec<String> = fields
        .text("approved")?
        .map(|a| {
            a.split(',')
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let check = state.cfg.consent_check.clone();
    let clip = video.to_vec();
    let (frame, consent_check) =
        tokio::task::spawn_blocking(move || examine_clip(&clip, check.as_ref()))
            .await
            .map_err(|e| ApiError::internal("consent check", &e))??;
    let c = Character {
        id: ids::new_id("char"),
        owner: caller.0.id.clone(),
        name,
        permission,
        approved,
        reference_frame: frame,
        created_at: ids::now(),
        revoked_at: None,
        consent_check,
    };
    // The consent clip is kept as the record of consent, before the row that uses it.
    state.storage.put_consent(&c.id, video.to_vec()).await?;
    state.db.insert_character(&c).await?;
    Ok(Json(character_json(&c)).into_response())
}

/// The characters the caller registered (kino's addition; OpenAI has no list).
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let data: Vec<Value> = state
        .db
        .list_characters(&caller.0.id)
        .await?
        .iter()
        .map(character_json)
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })).into_response())
}

/// The character's reference frame (PNG), for its owner and those who may use it.
pub async fn reference(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let c = visible(&state, &caller, &id).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/png"),
            (axum::http::header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        c.reference_frame,
    )
        .into_response())
}

/// The character, if `caller` owns it or may use it.
async fn visible(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Character> {
    match state.db.get_character(id).await? {
        Some(c) if c.owner == caller.0.id || state.db.may_use(&c, &caller.0.id).await? => Ok(c),
        _ => Err(ApiError::not_found(format!(
            "Character with id '{id}' not found."
        ))),
    }
}

/// The character, if `caller` owns it.
async fn owned(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Character> {
    match state.db.get_character(id).await? {
        Some(c) if c.owner == caller.0.id => Ok(c),
        _ => Err(ApiError::not_found(format!(
            "Character with id '{id}' not found."
        ))),
    }
}

pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let c = visible(&state, &caller, &id).await?;
    Ok(Json(character_json(&c)).into_response())
}

/// Every video that uses the character, whoever made it (owner only).
pub async fn videos(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let c = owned(&state, &caller, &id).await?;
    let mut data = Vec::new();
    for vid in state.db.character_videos(&c.id).await? {
        if let Some(v) = state.db.get_video(&vid, None).await? {
            data.push(video_json(&v));
        }
    }
    Ok(Json(json!({ "object": "list", "data": data })).into_response())
}

/// The character's owner deletes a video that uses it, whoever made it.
pub async fn delete_video(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, video_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let c = owned(&state, &caller, &id).await?;
    if !state.db.character_videos(&c.id).await?.contains(&video_id) {
        return Err(ApiError::not_found(format!(
            "Video '{video_id}' does not use character '{id}'."
        )));
    }
    let existed = state.db.delete_video_any_owner(&video_id).await?;
    state.storage.delete_video(&video_id).await?;
    state
        .db
        .audit(
            &caller.0.id,
            "video.deleted_by_owner",
            Some(&c.id),
            Some(&video_id),
            "",
        )
        .await?;
    Ok(
        Json(json!({ "id": video_id, "object": "video.deleted", "deleted": existed }))
            .into_response(),
    )
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let c = owned(&state, &caller, &id).await?;
    state.db.revoke_character(&c.id, &caller.0.id).await?;
    let c = owned(&state, &caller, &id).await?;
    Ok(Json(character_json(&c)).into_response())
}

pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let c = owned(&state, &caller, &id).await?;
    let entries = state.db.character_audit(&c.id).await?;
    Ok(Json(json!({ "object": "list", "data": entries })).into_response())
}
