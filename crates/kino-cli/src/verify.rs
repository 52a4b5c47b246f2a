//! `kino verify FILE [--json]`: what a clip says about where it came from: its C2PA content
//! credentials and kino's invisible watermark, with an exit code a script can branch on.

use clap::Args;
use kino_provenance::credentials::{
    read_credentials_trusting, CredentialsReport, CredentialsState, TrustAnchors,
};
use kino_provenance::stamp;
use kino_provenance::watermark::Detection;
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
  7  both valid, but the watermark payload is not the one the manifest records
  8  with --trust: credentials valid (and the watermark agrees, if found), but the signer
     does not chain to any of the given trust anchors

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
                "content credentials and watermark disagree: the manifest records another clip"
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

/// The watermark side: detected, or why it could not be checked.
enum Mark {
    Checked(Detection),
    Unchecked(String),
}

impl Mark {
    fn found(&self) -> Option<&Detection> {
        match self {
            Mark::Checked(d) if d.found => Some(d),
            _ => None,
        }
    }
}

fn verdict(c2pa: &CredentialsReport, mark: &Mark) -> Verdict {
    let found = mark.found();
    match (&c2pa.state, found) {
        (CredentialsState::Invalid(_), _) => Verdict::CredentialsInvalid,
        (CredentialsState::Absent, Some(_)) => Verdict::WatermarkOnly,
        (CredentialsState::Absent, None) => Verdict::Nothing,
        (CredentialsState::Valid, None) => Verdict::CredentialsOnly,
        (CredentialsState::Valid, Some(d)) => match (&c2pa.watermark, d.payload) {
            (Some(claim), Some(p)) if claim.payload() != p => Verdict::Mismatch,
            _ => Verdict::Verified,
        },
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
    let mark = match kino_media::decode_mp4(&bytes, &name) {
        Ok(clip) => match stamp::detect_kino(&clip.video) {
            Ok(d) => Mark::Checked(d),
            Err(e) => Mark::Unchecked(format!("detection failed: {e}")),
        },
        Err(e) => Mark::Unchecked(format!("the video could not be decoded: {e}")),
    };
    let mut v = verdict(&c2pa, &mark);
    if anchors.is_some()
        && !c2pa.trusted
        && matches!(v, Verdict::Verified | Verdict::CredentialsOnly)
    {
        v = Verdict::Untrusted;
    }
    if args.json {
        println!("{}", to_json(&name, &c2pa, &mark, v));
    } else {
        print!("{}", to_text(&name, &c2pa, &mark, v));
    }
    ExitCode::from(v as u8)
}

fn short_source_type(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

fn to_text(name: &str, c: &CredentialsReport, mark: &Mark, v: Verdict) -> String {
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
        Mark::Checked(d) if d.found => {
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
        }
        Mark::Checked(d) if d.decodes > 0 => s.push_str(&format!(
            "Watermark: absent (best score {:.1} reached the decode threshold {:.2}, but no decoded payload passed its CRC)\n",
            d.score, d.threshold
        )),
        Mark::Checked(d) => s.push_str(&format!(
            "Watermark: absent (best score {:.1}, under the decode threshold {:.2})\n",
            d.score, d.threshold
        )),
    }
    s.push_str(&format!("Verdict:   {} (exit {})\n", v.text(), v as u8));
    s
}

fn to_json(name: &str, c: &CredentialsReport, mark: &Mark, v: Verdict) -> String {
    let mut c2pa = serde_json::to_value(c).unwrap_or_else(|_| json!({}));
    c2pa["state"] = json!(c.state.as_str());
    c2pa["reasons"] = json!(c.state.reasons());
    let watermark = match mark {
        Mark::Unchecked(why) => json!({ "checked": false, "found": false, "error": why }),
        Mark::Checked(d) => json!({
            "checked": true,
            "found": d.found,
            "payload": d.payload.map(|p| json!({
                "generator": p.generator,
                "clip_hash": p.clip_hash,
                "text": p.to_string(),
            })),
            "matches_manifest": match (&c.watermark, d.payload) {
                (Some(claim), Some(p)) => Some(claim.payload() == p),
                _ => None,
            },
            "score": d.score,
            "threshold": d.threshold,
            "p_value": d.p_value,
            "confidence": if d.found { Some(1.0 - d.p_value) } else { None },
            "coded_bit_errors": d.coded_bit_errors,
            "frames": d.frames,
        }),
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
