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
//! What a caller learns depends on what is theirs. Anyone learns whether the copy is this
//! server's and the watermark's own reading (which anyone can compute with the public key).
//! Only the owner of the matched video gets its id and the claim test's numbers: scores
//! against ids the caller cannot see would let anyone measure how close an edit has come to
//! erasing a mark. (The owner's numbers include how many videos were tested, so a user whose
//! own copy was identified this way learns the server's number of completed videos.)

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::request::Fields;
use super::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kino_media::VideoFrames;
use kino_provenance::stamp;
use kino_provenance::watermark::{Detection, Payload};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

/// The most decoded picture data examined, in bytes of I420 (about 200 million pixels, e.g.
/// 9 s of 1280x720 at 24 fps): the first frames of a longer copy are examined, which is
/// enough, since every frame carries the mark. Counted on the pictures as decoded.
pub const MAX_DECODED_BYTES: usize = 300_000_000;

/// Copies examined at once (each holds up to about twice [`MAX_DECODED_BYTES`]).
static EXAMINING: Semaphore = Semaphore::const_new(2);

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
    drop(fields);
    // The permit travels with the blocking work, so a client that hangs up cannot free it
    // while its decode still runs.
    let permit = EXAMINING
        .acquire()
        .await
        .map_err(|e| ApiError::internal("identifying a copy", &e))?;
    let blocking = |e: tokio::task::JoinError| ApiError::internal("identifying a copy", &e);
    // 1. Decode and read the payload.
    let (video, detection, permit) = tokio::task::spawn_blocking(move || {
        read_copy(&mp4).map(|(video, detection)| (video, detection, permit))
    })
    .await
    .map_err(blocking)??;
    let frames = video.len();
    let watermark = json!({
        "found": detection.found,
        "payload": detection.payload.filter(|_| detection.found).map(|p| hex(&p.to_bytes())),
        "score": detection.score,
        "threshold": detection.threshold,
    });
    // 2. The candidates: every completed video (the clips this server marked).
    let videos = state.db.completed_video_owners().await?;
    let mine = |id: &str| {
        videos
            .iter()
            .any(|(v, owner)| v == id && *owner == caller.0.id)
    };
    let (method, matched, claim) = match detection.payload.filter(|_| detection.found) {
        Some(p) => {
            let matched: Vec<String> = videos
                .iter()
                .filter(|(id, _)| Payload::from_clip_id(stamp::KINO_GENERATOR, id) == p)
                .map(|(id, _)| id.clone())
                .collect();
            (Some("payload"), matched, None)
        }
        None => {
            // 3. Test every id's payload.
            let ids: Vec<String> = videos.iter().map(|(id, _)| id.clone()).collect();
            let found = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                stamp::identify_kino(&video, &refs)
            })
            .await
            .map_err(blocking)?
            .map_err(|e| ApiError::internal("watermark", &e))?;
            let method = (!found.clip_ids.is_empty()).then_some("claim");
            (method, found.clip_ids, Some(found.identification))
        }
    };
    let matches: Vec<Value> = matched
        .iter()
        .map(|id| {
            let yours = mine(id);
            json!({ "id": if yours { Some(id) } else { None }, "yours": yours })
        })
        .collect();
    let owner = matched.iter().any(|id| mine(id));
    let claim = match claim {
        None => Value::Null,
        Some(i) if owner => json!({
            "confirmed": i.confirmed,
            "score": i.score,
            "runner_up": i.runner_up,
            "threshold": i.threshold,
            "p_value": i.p_value,
            "candidates": i.candidates,
        }),
        Some(i) => json!({ "confirmed": i.confirmed }),
    };
    Ok(Json(json!({
        "object": "provenance.identification",
        "identified": !matches.is_empty(),
        "method": method,
        "matches": matches,
        "watermark": watermark,
        "claim": claim,
        "frames": frames,
    }))
    .into_response())
}

/// Decodes the copy's first frames (within [`MAX_DECODED_BYTES`]) and runs `detect`.
fn read_copy(mp4: &[u8]) -> ApiResult<(VideoFrames, Detection)> {
    let video =
        kino_media::decode_mp4_video_prefix(mp4, "file", MAX_DECODED_BYTES).map_err(|e| {
            ApiError::invalid("file", format!("The file is not an MP4 kino can read: {e}"))
        })?;
    if video.is_empty() {
        return Err(ApiError::invalid("file", "The MP4 has no video frames."));
    }
    let detection = stamp::detect_kino(&video).map_err(|e| ApiError::internal("watermark", &e))?;
    Ok((video, detection))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
