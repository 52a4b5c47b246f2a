//! `kino verify FILE [--json]`: what a clip says about where it came from: its C2PA content
//! credentials and kino's invisible watermark, with an exit code a script can branch on.

use clap::Args;
use kino_provenance::credentials::{
    read_credentials, read_credentials_trusting, CredentialsReport, CredentialsState, TrustAnchors,
};
use kino_provenance::stamp;
use kino_provenance::watermark::{ClaimCheck, Detection, Payload};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// What the exit codes mean; shown by `kino verify --help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  content credentials valid and the kino watermark found (and they agree)
  1  error: the file could not be read or is not a well-formed MP4
  2  usage error
  3  content credentials present but INVALID: the file was changed after signing, or the
     manifest is broken (whatever the watermark says)
  4  watermark only: no content credentials (stripped?), kino watermark found
  5  content credentials valid, no kino watermark found
  6  neither content credentials nor a kino watermark
  7  the watermark payload is not the one the (valid) manifest records, or not the
     one --clip-id or --original names
  8  with --trust: credentials valid (and the watermark agrees, if found), but the signer
     does not chain to any of the given trust anchors

When the payload cannot be read (a small clip re-encoded at a low bitrate), the watermark
is checked against a claimed clip instead: the manifest's own claim, --clip-id, or the
claim in --original's manifest. A confirmed claim counts as the watermark found (with
that clip's payload); its false-confirmation rate on unmarked video is at most 1e-6.

\"Valid\" means every C2PA check passed except trust: kino's own local key is self-signed
and on no trust list, so the signer is reported untrusted unless --trust names its root
(or the operator's CA).";

#[derive(Args, Debug)]
#[command(after_help = EXIT_CODES)]
pub struct VerifyArgs {
    /// The MP4 to check.
    pub file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Trust anchors: a PEM file of root certificates (your organisation's CA, or the root in
    /// a kino data dir's provenance/cert_chain.pem). A valid signer that does not chain to
    /// one of them exits 8.
    #[arg(long, value_name = "PEM")]
    pub trust: Option<PathBuf>,
    /// Check the watermark against this clip id (as a kino manifest records it, e.g.
    /// "kino-3f2a..."): is this file that clip, even where its payload cannot be read?
    #[arg(long, value_name = "ID", conflicts_with = "original")]
    pub clip_id: Option<String>,
    /// Check the watermark against the clip id recorded in this file's content credentials
    /// (the original kino MP4): is FILE a copy of it?
    #[arg(long, value_name = "MP4")]
    pub original: Option<PathBuf>,
}

/// The clip a watermark is checked against, and where its id came from.
#[derive(Clone)]
struct Claim {
    clip_id: String,
    payload: Payload,
    source: String,
}

/// The outcome, in exit-code order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Verified = 0,
    Error = 1,
    CredentialsInvalid = 3,
    WatermarkOnly = 4,
    CredentialsOnly = 5,
    Nothing = 6,
    Mismatch = 7,
    Untrusted = 8,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::Verified => "made by kino: valid content credentials and watermark",
            Verdict::Error => "error",
            Verdict::CredentialsInvalid => {
                "content credentials INVALID: the file was changed after it was signed"
            }
            Verdict::WatermarkOnly => {
                "kino watermark found but no content credentials (they may have been stripped)"
            }
            Verdict::CredentialsOnly => "valid content credentials, no kino watermark",
            Verdict::Nothing => "no content credentials and no kino watermark",
            Verdict::Mismatch => {
                "watermark mismatch: the frames carry another clip's mark than the one they \
                 were checked against"
            }
            Verdict::Untrusted => {
                "content credentials valid, but the signer is not one of the trusted anchors"
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::Error => "error",
            Verdict::CredentialsInvalid => "credentials_invalid",
            Verdict::WatermarkOnly => "watermark_only",
            Verdict::CredentialsOnly => "credentials_only",
            Verdict::Nothing => "nothing",
            Verdict::Mismatch => "mismatch",
            Verdict::Untrusted => "untrusted",
        }
    }
}

/// The watermark side: detected (and, where the payload was not read, checked against a
/// claim), or why it could not be checked.
enum Mark {
    Checked {
        detection: Detection,
        claim: Option<(Claim, ClaimCheck)>,
    },
    Unchecked(String),
}

impl Mark {
    /// The payload the frames carry: the one read, else a confirmed claim's.
    fn payload(&self) -> Option<Payload> {
        match self {
            Mark::Checked { detection, .. } if detection.found => detection.payload,
            Mark::Checked {
                claim: Some((_, c)),
                ..
            } if c.confirmed => Some(c.claim),
            _ => None,
        }
    }
}

fn verdict(c2pa: &CredentialsReport, mark: &Mark, named: Option<&Claim>) -> Verdict {
    let found = mark.payload();
    if let (Some(n), Some(p)) = (named, found) {
        if n.payload != p {
            return Verdict::Mismatch;
        }
    }
    match (&c2pa.state, found) {
        (CredentialsState::Invalid(_), _) => Verdict::CredentialsInvalid,
        (CredentialsState::Absent, Some(_)) => Verdict::WatermarkOnly,
        (CredentialsState::Absent, None) => Verdict::Nothing,
        (CredentialsState::Valid, None) => Verdict::CredentialsOnly,
        (CredentialsState::Valid, Some(p)) => match &c2pa.watermark {
            Some(claim) if claim.payload() != p => Verdict::Mismatch,
            _ => Verdict::Verified,
        },
    }
}

/// The clip named on the command line (`--clip-id`, or `--original`'s manifest claim).
fn named_claim(args: &VerifyArgs) -> Result<Option<Claim>, String> {
    if let Some(id) = &args.clip_id {
        if id.trim().is_empty() || id.len() > 256 {
            return Err(format!(
                "--clip-id: expected a clip id such as kino-3f2a... (1 to 256 bytes), got {} bytes",
                id.len()
            ));
        }
        return Ok(Some(Claim {
            clip_id: id.clone(),
            payload: Payload::from_clip_id(stamp::KINO_GENERATOR, id),
            source: "--clip-id".into(),
        }));
    }
    let Some(path) = &args.original else {
        return Ok(None);
    };
    let name = path.display().to_string();
    let report = read_credentials(path).map_err(|e| format!("--original: {e}"))?;
    match (&report.state, &report.watermark) {
        (CredentialsState::Valid, Some(c)) => Ok(Some(Claim {
            clip_id: c.clip_id.clone(),
            payload: c.payload(),
            source: name,
        })),
        (CredentialsState::Valid, None) => Err(format!(
            "--original: {name} has valid content credentials but no watermark claim (not a kino clip?)"
        )),
        (CredentialsState::Absent, _) => Err(format!(
            "--original: {name} has no content credentials, so no clip id to check against"
        )),
        (CredentialsState::Invalid(_), _) => Err(format!(
            "--original: {name}'s content credentials are invalid; its clip id cannot be trusted"
        )),
    }
}

pub fn run(args: &VerifyArgs) -> ExitCode {
    let name = args.file.display().to_string();
    let fail = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(Verdict::Error as u8)
    };
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => return fail(format!("reading {name}: {e}")),
    };
    let named = match named_claim(args) {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let anchors = match &args.trust {
        None => None,
        Some(path) => match TrustAnchors::from_file(path) {
            Ok(a) => Some(a),
            Err(e) => return fail(format!("--trust: {e}")),
        },
    };
    let c2pa = match read_credentials_trusting(&bytes, &name, anchors.as_ref()) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    // The claim to check when the payload cannot be read: the one named on the command
    // line, else the file's own (valid) manifest's.
    let claim = named
        .clone()
        .or_else(|| match (&c2pa.state, &c2pa.watermark) {
            (CredentialsState::Valid, Some(c)) => Some(Claim {
                clip_id: c.clip_id.clone(),
                payload: c.payload(),
                source: "the manifest".into(),
            }),
            _ => None,
        });
    let mark = match kino_media::decode_mp4(&bytes, &name) {
        Ok(clip) => match stamp::detect_kino(&clip.video) {
            Ok(detection) if detection.found => Mark::Checked {
                detection,
                claim: None,
            },
            Ok(detection) => match claim {
                None => Mark::Checked {
                    detection,
                    claim: None,
                },
                Some(claim) => match stamp::check_kino_claim(&clip.video, &claim.payload) {
                    Ok(check) => Mark::Checked {
                        detection,
                        claim: Some((claim, check)),
                    },
                    Err(e) => Mark::Unchecked(format!("the claim check failed: {e}")),
                },
            },
            Err(e) => Mark::Unchecked(format!("detection failed: {e}")),
        },
        Err(e) => Mark::Unchecked(format!("the video could not be decoded: {e}")),
    };
    let mut v = verdict(&c2pa, &mark, named.as_ref());
    if anchors.is_some()
        && !c2pa.trusted
        && matches!(v, Verdict::Verified | Verdict::CredentialsOnly)
    {
        v = Verdict::Untrusted;
    }
    if args.json {
        println!("{}", to_json(&name, &c2pa, &mark, named.as_ref(), v));
    } else {
        print!("{}", to_text(&name, &c2pa, &mark, named.as_ref(), v));
    }
    ExitCode::from(v as u8)
}

fn short_source_type(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

fn to_text(
    name: &str,
    c: &CredentialsReport,
    mark: &Mark,
    named: Option<&Claim>,
    v: Verdict,
) -> String {
    let mut s = format!("{name}\n");
    match &c.state {
        CredentialsState::Absent => s.push_str("C2PA:      absent (no content credentials)\n"),
        state => {
            let trust = if c.trusted {
                "trusted signer"
            } else {
                "signer not on a trust list"
            };
            s.push_str(&format!("C2PA:      {} ({trust})\n", state.as_str()));
            for r in state.reasons() {
                s.push_str(&format!("  failure:     {r}\n"));
            }
            let who = match (&c.issuer, &c.common_name) {
                (Some(i), Some(cn)) => format!("{i} ({cn})"),
                (Some(i), None) => i.clone(),
                (None, Some(cn)) => cn.clone(),
                (None, None) => "-".into(),
            };
            s.push_str(&format!("  issuer:      {who}\n"));
            if let Some(g) = &c.generator {
                s.push_str(&format!("  generator:   {g}\n"));
            }
            if let Some(t) = &c.signed_at {
                s.push_str(&format!("  signed at:   {t}\n"));
            }
            for a in &c.actions {
                let mut line = a.action.clone();
                if let Some(t) = &a.digital_source_type {
                    line.push_str(&format!(" [{}]", short_source_type(t)));
                }
                if let Some(agent) = &a.software_agent {
                    line.push_str(&format!(" by {agent}"));
                }
                s.push_str(&format!("  action:      {line}\n"));
            }
            if let Some(r) = &c.render {
                s.push_str(&format!(
                    "  rendered:    by {}, seed {}\n",
                    r.renderer, r.seed
                ));
            }
            for i in &c.ingredients {
                s.push_str(&format!(
                    "  ingredient:  {} ({}{}{})\n",
                    i.title.as_deref().unwrap_or("untitled"),
                    i.relationship,
                    if i.manifest.is_some() {
                        ", with its own manifest"
                    } else {
                        ", no manifest"
                    },
                    i.state
                        .as_deref()
                        .map(|st| format!(", {st}"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    match mark {
        Mark::Unchecked(why) => s.push_str(&format!("Watermark: not checked: {why}\n")),
        Mark::Checked { detection: d, .. } if d.found => {
            let p = d.payload.map(|p| p.to_string()).unwrap_or_default();
            s.push_str(&format!(
                "Watermark: found: {p} (score {:.1}, threshold {:.2}, p <= {:.1e})\n",
                d.score, d.threshold, d.p_value
            ));
            if let (Some(claim), Some(p)) = (&c.watermark, d.payload) {
                s.push_str(&if claim.payload() == p {
                    format!("  matches the manifest (clip id {})\n", claim.clip_id)
                } else {
                    format!(
                        "  does NOT match the manifest, which records {} (clip id {})\n",
                        claim.payload(),
                        claim.clip_id
                    )
                });
            }
            if let (Some(n), Some(p)) = (named, d.payload) {
                s.push_str(&if n.payload == p {
                    format!("  matches clip id {} (from {})\n", n.clip_id, n.source)
                } else {
                    format!(
                        "  does NOT match clip id {} (from {}), whose payload is {}\n",
                        n.clip_id, n.source, n.payload
                    )
                });
            }
        }
        Mark::Checked {
            detection: d,
            claim,
        } => {
            s.push_str(&if d.decodes > 0 {
                format!(
                    "Watermark: payload not read (best score {:.1} reached the decode threshold {:.2}, but no decoded payload passed its CRC)\n",
                    d.score, d.threshold
                )
            } else {
                format!(
                    "Watermark: payload not read (best score {:.1}, under the decode threshold {:.2})\n",
                    d.score, d.threshold
                )
            });
            match claim {
                Some((claim, check)) => s.push_str(&format!(
                    "  claim check: clip id {} (from {}): {} (score {:.1}, threshold {:.2}, {}/{} coded bits agree, p <= {:.1e})\n",
                    claim.clip_id,
                    claim.source,
                    if check.confirmed {
                        "CONFIRMED, the frames carry this clip's mark"
                    } else {
                        "not confirmed"
                    },
                    check.score,
                    check.threshold,
                    check.agreeing_bits,
                    check.tested_bits,
                    check.p_value
                )),
                None => s.push_str(
                    "  no claim to check it against (--clip-id ID or --original MP4 names one)\n",
                ),
            }
        }
    }
    // Say which clip the frames were checked against: the one named, else the manifest's.
    let against = match (v, named) {
        (Verdict::Mismatch, Some(n)) => format!(" ({}: {})", n.source, n.clip_id),
        (Verdict::Mismatch, None) => " (the clip the content credentials record)".into(),
        _ => String::new(),
    };
    s.push_str(&format!(
        "Verdict:   {}{against} (exit {})\n",
        v.text(),
        v as u8
    ));
    s
}

fn to_json(
    name: &str,
    c: &CredentialsReport,
    mark: &Mark,
    named: Option<&Claim>,
    v: Verdict,
) -> String {
    let mut c2pa = serde_json::to_value(c).unwrap_or_else(|_| json!({}));
    c2pa["state"] = json!(c.state.as_str());
    c2pa["reasons"] = json!(c.state.reasons());
    let watermark = match mark {
        Mark::Unchecked(why) => json!({ "checked": false, "found": false, "error": why }),
        Mark::Checked {
            detection: d,
            claim,
        } => {
            let payload = mark.payload();
            json!({
                "checked": true,
                "found": payload.is_some(),
                "read": d.found,
                "payload": payload.map(|p| json!({
                    "generator": p.generator,
                    "clip_hash": p.clip_hash,
                    "text": p.to_string(),
                })),
                "matches_manifest": match (&c.watermark, payload) {
                    (Some(claim), Some(p)) => Some(claim.payload() == p),
                    _ => None,
                },
                "matches_clip_id": match (named, payload) {
                    (Some(n), Some(p)) => Some(n.payload == p),
                    _ => None,
                },
                "score": d.score,
                "threshold": d.threshold,
                "p_value": d.p_value,
                "confidence": if d.found { Some(1.0 - d.p_value) } else { claim.as_ref().filter(|(_, k)| k.confirmed).map(|(_, k)| 1.0 - k.p_value) },
                "coded_bit_errors": d.coded_bit_errors,
                "frames": d.frames,
                "claim_check": claim.as_ref().map(|(claim, k)| json!({
                    "clip_id": claim.clip_id,
                    "source": claim.source,
                    "confirmed": k.confirmed,
                    "score": k.score,
                    "threshold": k.threshold,
                    "p_value": k.p_value,
                    "agreeing_bits": k.agreeing_bits,
                    "tested_bits": k.tested_bits,
                })),
            })
        }
    };
    let out = json!({
        "file": name,
        "c2pa": c2pa,
        "watermark": watermark,
        "verdict": v.name(),
        "exit_code": v as u8,
    });
    serde_json::to_string_pretty(&out).unwrap_or_else(|_| out.to_string())
}
