//! `POST /v1/provenance/identify` (kino's addition): which of this server's clips is this
//! copy?
//!
//! Every clip the server publishes carries kino's invisible watermark with its video id's
//! payload (`kino_provenance::stamp`). A copy found elsewhere may have lost its C2PA
//! manifest (stripped, re-encoded) and, small and re-encoded at a low bitrate, even the
//! readable payload. The server knows every id it marked, so it can ask the watermark a
//! yes/no question per id instead of reading 48 bits:
//!
//! 1. `detect`: a readable kino payload names the clip exactly (`method: "payload"`); the
//!    ids whose payload it is are the matches (none: a kino clip, but not this server's).
//! 2. Otherwise `identify` tests the payloads of all the server's completed videos at once
//!    (`method: "claim"`), with a threshold that grows with their number so that an unmarked
//!    clip matches any of them with probability at most 1e-6.
//!
//! A match the caller does not own is reported without its id (`"id": null, "yours":
//! false`): the copy is this server's, the clip is someone else's.

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::request::Fields;
use super::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kino_provenance::stamp;
use kino_provenance::watermark::Payload;
use serde_json::{json, Value};

/// Largest decoded copy examined, in pixels over all frames (about 1.2 GB of RGB): 30 s of
/// 1280x720 at 24 fps is 663 million.
pub const MAX_DECODED_PIXELS: u64 = 400_000_000;

pub async fn identify(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let fields = Fields::read(&headers, body, state.cfg.max_body).await?;
    let mp4 = fields
        .file("file")
        .ok_or_else(|| ApiError::missing("file"))?
        .to_vec();
    let videos = state.db.completed_video_owners().await?;
    let ids: Vec<String> = videos.iter().map(|(id, _)| id.clone()).collect();
    let outcome = tokio::task::spawn_blocking(move || examine(&mp4, &ids))
        .await
        .map_err(|e| ApiError::internal("identifying a copy", &e))??;
    let matches: Vec<Value> = outcome
        .matched
        .iter()
        .map(|id| {
            let yours = videos
                .iter()
                .any(|(v, owner)| v == id && *owner == caller.0.id);
            json!({ "id": if yours { Some(id) } else { None }, "yours": yours })
        })
        .collect();
    Ok(Json(json!({
        "object": "provenance.identification",
        "identified": !matches.is_empty(),
        "method": outcome.method,
        "matches": matches,
        "watermark": outcome.watermark,
        "claim": outcome.claim,
        "candidates": videos.len(),
        "frames": outcome.frames,
    }))
    .into_response())
}

struct Examined {
    method: Option<&'static str>,
    matched: Vec<String>,
    watermark: Value,
    claim: Value,
    frames: usize,
}

fn examine(mp4: &[u8], ids: &[String]) -> ApiResult<Examined> {
    let unreadable = |e: &dyn std::fmt::Display| {
        ApiError::invalid("file", format!("The file is not an MP4 kino can read: {e}"))
    };
    let info = kino_media::probe_bytes(mp4, "file").map_err(|e| unreadable(&e))?;
    let pixels: u64 = info
        .streams
        .iter()
        .filter(|s| s.kind == "video")
        .map(|s| {
            u64::from(s.width.unwrap_or(0)) * u64::from(s.height.unwrap_or(0)) * s.samples as u64
        })
        .sum();
    if pixels > MAX_DECODED_PIXELS {
        return Err(ApiError::invalid(
            "file",
            format!(
                "The video is too large to examine: {pixels} pixels over all frames, at most {MAX_DECODED_PIXELS}. Send a shorter or smaller copy (a few seconds are enough)."
            ),
        ));
    }
    let clip = kino_media::decode_mp4(mp4, "file").map_err(|e| unreadable(&e))?;
    let video = &clip.video;
    if video.is_empty() {
        return Err(ApiError::invalid("file", "The MP4 has no video frames."));
    }
    let internal = |e: &dyn std::fmt::Display| ApiError::internal("watermark", e);
    let d = stamp::detect_kino(video).map_err(|e| internal(&e))?;
    let watermark = json!({
        "found": d.found,
        "payload": d.payload.map(|p| hex(&p.to_bytes())),
        "score": d.score,
        "threshold": d.threshold,
    });
    if let Some(p) = d.payload.filter(|_| d.found) {
        let matched = ids
            .iter()
            .filter(|id| Payload::from_clip_id(stamp::KINO_GENERATOR, id) == p)
            .cloned()
            .collect();
        return Ok(Examined {
            method: Some("payload"),
            matched,
            watermark,
            claim: Value::Null,
            frames: video.len(),
        });
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let found = stamp::identify_kino(video, &refs).map_err(|e| internal(&e))?;
    let i = &found.identification;
    Ok(Examined {
        method: (!found.clip_ids.is_empty()).then_some("claim"),
        matched: found.clip_ids.clone(),
        watermark,
        claim: json!({
            "confirmed": i.confirmed,
            "score": i.score,
            "runner_up": i.runner_up,
            "threshold": i.threshold,
            "p_value": i.p_value,
            "candidates": i.candidates,
        }),
        frames: video.len(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
