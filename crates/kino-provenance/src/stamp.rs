//! The provenance every kino clip gets on its way out: an invisible watermark in the frames
//! (before encoding) and a signed C2PA manifest in the MP4 (after encoding).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut clip: kino_media::Clip = unimplemented!();
//! use kino_provenance::credentials::{Credentials, ProvenanceKey};
//! use kino_provenance::stamp;
//!
//! let (key, _new) = ProvenanceKey::load_or_init(std::path::Path::new("data/provenance"))?;
//! let credentials = Credentials::created("kino-tiny", "kino-twin-dit weights 1a2b3c");
//! let stamped = stamp::write(
//!     std::path::Path::new("clip.mp4"),
//!     &mut clip,
//!     &key,
//!     credentials,
//!     &kino_media::EncodeOptions::default(),
//! )?;
//! println!("clip id {}, watermark {}", stamped.watermark.clip_id, stamped.watermark.payload);
//! # Ok(()) }
//! ```
//!
//! **Watermark key scheme.** Every kino clip is marked with one fixed, public key
//! ([`kino_watermark_key`], id [`KINO_WATERMARK_KEY_ID`]) so that any copy of `kino verify`
//! can detect the mark without a secret. The price is that the key is known: someone who wants
//! to can forge or, with many clips, estimate and remove the mark. The watermark says "kino
//! made this" for the common case where a clip was re-encoded and its manifest stripped; the
//! signed manifest is what resists forgery. The payload is [`KINO_GENERATOR`] + the first
//! 32 bits of SHA-256 of the clip id, and the manifest records the clip id and payload
//! ([`crate::credentials::WatermarkClaim`]) so a verifier can check that the two belong
//! together.
//!
//! **Clip id.** By default the id is derived from the clip's content before marking
//! ([`clip_id`]): the same generation (same model, prompt, seed, options) gives the same id,
//! the same frames and so a reproducible file apart from the manifest's random identifiers.

use crate::credentials::{sign_mp4_bytes, Credentials, ProvenanceKey, Result, WatermarkClaim};
use crate::watermark::{
    check_claim, detect, embed_adaptive, identify, AdaptiveOptions, AdaptiveReport, ClaimCheck,
    DetectOptions, Detection, EmbedReport, Identification, Payload, WatermarkKey,
};
use kino_media::{AudioBuffer, Clip, EncodeOptions, Mp4Summary, VideoFrames, VideoQuality};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Generator id in the payload of every clip kino marks ("KI").
pub const KINO_GENERATOR: u16 = 0x4B49;
/// Id of the public kino watermark key, recorded in the manifest.
pub const KINO_WATERMARK_KEY_ID: &str = "kino-public-v1";
/// The passphrase behind the public key (SHA-256 of it is the key).
const KINO_WATERMARK_PASSPHRASE: &str = "kino public watermark key v1";

/// The fixed, public watermark key every kino clip is marked with.
pub fn kino_watermark_key() -> WatermarkKey {
    WatermarkKey::from_passphrase(KINO_WATERMARK_PASSPHRASE)
}

/// How kino marks a clip it delivers with `delivery`: the closed-loop strength
/// ([`embed_adaptive`]) from 3.0 up to 4.5 (about 35 dB PSNR), raised only where the mark
/// would not survive the clip's own delivery followed by a re-encode at 1/4 of its bitrate.
pub fn adaptive_options_for(delivery: VideoQuality) -> AdaptiveOptions {
    AdaptiveOptions {
        delivery,
        ..AdaptiveOptions::default()
    }
}

/// A content-derived clip id: `kino-` + the first 128 bits (hex) of SHA-256 over the frame
/// size, rate, pixels and audio samples.
pub fn clip_id(video: &VideoFrames, audio: Option<&AudioBuffer>) -> String {
    let mut h = Sha256::new();
    h.update(b"kino clip id v1");
    h.update(video.width().to_be_bytes());
    h.update(video.height().to_be_bytes());
    h.update(format!("{:?}", video.fps()).as_bytes());
    h.update((video.len() as u64).to_be_bytes());
    for frame in video.iter() {
        h.update(frame);
    }
    if let Some(a) = audio {
        h.update(a.sample_rate().to_be_bytes());
        h.update(a.channels().to_be_bytes());
        for s in a.samples() {
            h.update(s.to_le_bytes());
        }
    }
    let d = h.finalize();
    format!(
        "kino-{}",
        d[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// What [`watermark`] embedded.
#[derive(Debug, Clone, PartialEq)]
pub struct Watermarked {
    pub clip_id: String,
    pub payload: Payload,
    /// The kept embedding (`adaptive.embed`).
    pub embed: EmbedReport,
    /// The strength search: strength chosen, tries, simulated detection.
    pub adaptive: AdaptiveReport,
}

impl Watermarked {
    /// The manifest assertion that records this watermark.
    pub fn claim(&self) -> WatermarkClaim {
        WatermarkClaim::new(&self.clip_id, self.payload, KINO_WATERMARK_KEY_ID)
    }
}

/// Marks `video` in place with the public kino key and the payload for `clip_id`, at the
/// closed-loop strength for kino's default delivery ([`VideoQuality::Auto`]).
pub fn watermark(video: &mut VideoFrames, clip_id: &str) -> Result<Watermarked> {
    watermark_for(video, clip_id, VideoQuality::default())
}

/// [`watermark`] for a clip that will be encoded with `delivery`.
pub fn watermark_for(
    video: &mut VideoFrames,
    clip_id: &str,
    delivery: VideoQuality,
) -> Result<Watermarked> {
    let payload = Payload::from_clip_id(KINO_GENERATOR, clip_id);
    let adaptive = embed_adaptive(
        video,
        &payload,
        &kino_watermark_key(),
        &adaptive_options_for(delivery),
    )?;
    Ok(Watermarked {
        clip_id: clip_id.to_string(),
        payload,
        embed: adaptive.embed,
        adaptive,
    })
}

/// Looks for the public kino watermark.
pub fn detect_kino(video: &VideoFrames) -> Result<Detection> {
    Ok(detect(
        video,
        &kino_watermark_key(),
        &DetectOptions::default(),
    )?)
}

/// Checks whether `video` carries kino's mark for `claim` (see
/// [`check_claim`](crate::watermark::check_claim)): for a clip whose payload [`detect_kino`]
/// cannot read any more, e.g. a small clip re-encoded at a low bitrate.
pub fn check_kino_claim(video: &VideoFrames, claim: &Payload) -> Result<ClaimCheck> {
    Ok(check_claim(
        video,
        &kino_watermark_key(),
        claim,
        &DetectOptions::default(),
    )?)
}

/// Which of `clip_ids` (clips kino marked, e.g. every clip a server made) `video` is, when
/// its payload cannot be read any more (see
/// [`identify`](crate::watermark::identify)): the ids' payloads are tested together, with a
/// threshold that grows with their number. Ids that share a payload (a 32-bit clip hash, so
/// rare but possible among many clips) are tested once and all named in
/// [`IdentifiedClip::clip_ids`]; `Identification::best` and `candidates` count the distinct
/// payloads tested, not `clip_ids`' positions.
pub fn identify_kino(video: &VideoFrames, clip_ids: &[&str]) -> Result<IdentifiedClip> {
    let mut payloads: Vec<Payload> = Vec::new();
    let mut ids: Vec<Vec<String>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for id in clip_ids {
        let p = Payload::from_clip_id(KINO_GENERATOR, id);
        let i = *index.entry(p).or_insert_with(|| {
            payloads.push(p);
            ids.push(Vec::new());
            payloads.len() - 1
        });
        ids[i].push((*id).to_string());
    }
    let identification = identify(
        video,
        &kino_watermark_key(),
        &payloads,
        &DetectOptions::default(),
    )?;
    let clip_ids = match identification.best {
        Some(i) if identification.confirmed => ids.swap_remove(i),
        _ => Vec::new(),
    };
    Ok(IdentifiedClip {
        clip_ids,
        identification,
    })
}

/// What [`identify_kino`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentifiedClip {
    /// The ids whose payload was confirmed (empty when none was; more than one only when
    /// several ids share a payload).
    pub clip_ids: Vec<String>,
    pub identification: Identification,
}

/// A stamped, encoded, signed clip.
#[derive(Debug, Clone)]
pub struct Stamped {
    /// The signed MP4.
    pub mp4: Vec<u8>,
    /// What the encoder wrote (its `bytes` are before signing; see `mp4.len()`).
    pub summary: Mp4Summary,
    pub watermark: Watermarked,
}

/// Watermarks `clip`'s frames (in place) for its content-derived [`clip_id`], encodes the
/// clip and signs the MP4 with `credentials` (to which the watermark claim is added).
pub fn encode(
    clip: &mut Clip,
    key: &ProvenanceKey,
    credentials: Credentials,
    opts: &EncodeOptions,
) -> Result<Stamped> {
    let id = clip_id(&clip.video, clip.audio.as_ref());
    encode_with_id(clip, &id, key, credentials, opts)
}

/// [`encode`] with a clip id of the caller's (e.g. a server's video id).
pub fn encode_with_id(
    clip: &mut Clip,
    id: &str,
    key: &ProvenanceKey,
    mut credentials: Credentials,
    opts: &EncodeOptions,
) -> Result<Stamped> {
    let marked = watermark_for(&mut clip.video, id, opts.video_quality)?;
    let (bytes, summary) = kino_media::encode_mp4(&clip.video, clip.audio.as_ref(), opts)?;
    credentials.watermark = Some(marked.claim());
    let mp4 = sign_mp4_bytes(key, &credentials, &bytes)?;
    Ok(Stamped {
        mp4,
        summary,
        watermark: marked,
    })
}

/// [`encode`], then writes the signed MP4 to `path` (whole or not at all).
pub fn write(
    path: &Path,
    clip: &mut Clip,
    key: &ProvenanceKey,
    credentials: Credentials,
    opts: &EncodeOptions,
) -> Result<Stamped> {
    let stamped = encode(clip, key, credentials, opts)?;
    kino_media::write_atomically(path, &stamped.mp4)?;
    Ok(stamped)
}
