//! Reading and validating the C2PA manifest of an MP4.

use super::{
    mp4, CredentialsError, RenderClaim, Result, WatermarkClaim, RENDER_LABEL, WATERMARK_LABEL,
};
use c2pa::{Context, Reader, ValidationState};
use serde::Serialize;
use serde_json::Value;
use std::io::Cursor;
use std::path::Path;

/// The status code a self-signed (or otherwise unlisted) chain gets; kino does not count it as
/// a failure.
const UNTRUSTED: &str = "signingCredential.untrusted";

/// Does the file carry credentials, and do they hold?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialsState {
    /// A manifest whose signature, certificate profile and content hashes all check out (the
    /// signer may still be untrusted: see [`CredentialsReport::trusted`]).
    Valid,
    /// A manifest that fails a check; the reasons are C2PA status codes with explanations,
    /// e.g. `assertion.bmffHash.mismatch` when the media was changed after signing.
    Invalid(Vec<String>),
    /// No manifest.
    Absent,
}

impl CredentialsState {
    pub fn as_str(&self) -> &'static str {
        match self {
            CredentialsState::Valid => "valid",
            CredentialsState::Invalid(_) => "invalid",
            CredentialsState::Absent => "absent",
        }
    }

    pub fn reasons(&self) -> &[String] {
        match self {
            CredentialsState::Invalid(r) => r,
            _ => &[],
        }
    }
}

/// One action of the active manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionReport {
    /// e.g. "c2pa.created".
    pub action: String,
    /// IPTC digital source type URL, if given.
    pub digital_source_type: Option<String>,
    /// "name version" of the software agent, if given.
    pub software_agent: Option<String>,
    pub description: Option<String>,
}

/// One ingredient of the active manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngredientReport {
    pub title: Option<String>,
    /// "parentOf", "componentOf" or "inputTo".
    pub relationship: String,
    /// Label of the ingredient's own manifest, when it had one.
    pub manifest: Option<String>,
    /// "valid", "trusted" or "invalid" for an ingredient with a manifest.
    pub state: Option<String>,
}

/// What [`read_credentials`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialsReport {
    pub state: CredentialsState,
    /// The signer chains to a trust anchor (never for kino's local self-signed key).
    pub trusted: bool,
    /// Label of the active manifest.
    pub manifest: Option<String>,
    pub title: Option<String>,
    /// Organisation of the signing certificate.
    pub issuer: Option<String>,
    /// Common name of the signing certificate.
    pub common_name: Option<String>,
    /// When it was signed, if a time stamp says so.
    pub signed_at: Option<String>,
    /// The claim generator, e.g. "kino 0.1.0".
    pub generator: Option<String>,
    pub actions: Vec<ActionReport>,
    pub ingredients: Vec<IngredientReport>,
    /// kino's watermark assertion, when present.
    pub watermark: Option<WatermarkClaim>,
    /// kino's render assertion (what rendered a procedural clip), when present.
    pub render: Option<RenderClaim>,
    /// Every validation status code the reader logged for the active manifest (successes,
    /// informational and failures), for the curious.
    pub status_codes: Vec<String>,
}

impl CredentialsReport {
    fn empty(state: CredentialsState) -> Self {
        CredentialsReport {
            state,
            trusted: false,
            manifest: None,
            title: None,
            issuer: None,
            common_name: None,
            signed_at: None,
            generator: None,
            actions: Vec::new(),
            ingredients: Vec::new(),
            watermark: None,
            render: None,
            status_codes: Vec::new(),
        }
    }
}

/// Reads and validates the C2PA manifest of the MP4 at `path`.
///
/// Errors only when the file cannot be read or is not a well-formed MP4 (truncated, foreign);
/// a missing manifest is `Absent`, a broken or non-matching one `Invalid`.
pub fn read_credentials(path: &Path) -> Result<CredentialsReport> {
    let bytes = std::fs::read(path).map_err(|e| CredentialsError::io(path, e))?;
    read_credentials_bytes(&bytes, &path.display().to_string())
}

/// [`read_credentials`] over bytes in memory; `name` labels errors.
pub fn read_credentials_bytes(bytes: &[u8], name: &str) -> Result<CredentialsReport> {
    read_credentials_trusting(bytes, name, None)
}

/// Trust anchors for [`read_credentials_trusting`]: root certificates (a PEM bundle) whose
/// chains count as trusted, e.g. an operator's own CA or kino's local root.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    pem: String,
}

impl TrustAnchors {
    /// Reads a PEM bundle of one or more certificates; errors name the file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CredentialsError::io(path, e))?;
        Self::from_pem(&text).map_err(|why| CredentialsError::key(path, why))
    }

    /// A PEM bundle in memory.
    pub fn from_pem(pem: &str) -> std::result::Result<Self, String> {
        let mut count = 0;
        for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
            let block = block.map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
            if block.label != "CERTIFICATE" {
                return Err(format!(
                    "holds a {} block; trust anchors are certificates only",
                    block.label
                ));
            }
            block
                .parse_x509()
                .map_err(|e| format!("certificate {} does not parse: {e}", count + 1))?;
            count += 1;
        }
        if count == 0 {
            return Err("no certificate in it (expected -----BEGIN CERTIFICATE-----)".into());
        }
        Ok(TrustAnchors {
            pem: pem.to_string(),
        })
    }
}

/// [`read_credentials_bytes`], counting a signer as trusted when its chain ends at one of
/// `anchors` ([`CredentialsReport::trusted`]).
pub fn read_credentials_trusting(
    bytes: &[u8],
    name: &str,
    anchors: Option<&TrustAnchors>,
) -> Result<CredentialsReport> {
    mp4::top_level_boxes(bytes, name)?;
    let context = match anchors {
        None => Context::new(),
        Some(a) => Context::new()
            .with_settings(serde_json::json!({ "trust": { "user_anchors": a.pem } }))
            .map_err(|e| CredentialsError::C2pa(format!("trust anchors: {e}")))?,
    };
    // The context and reader are new and dropped here, so no broken state outlives a caught
    // panic.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        Reader::from_context(context).with_stream("video/mp4", Cursor::new(bytes))
    }));
    let reader = match read {
        Err(_) => {
            return Err(CredentialsError::Malformed {
                name: name.to_string(),
                why: "the C2PA reader failed on this file".into(),
            })
        }
        Ok(Err(c2pa::Error::JumbfNotFound | c2pa::Error::ProvenanceMissing)) => {
            return Ok(CredentialsReport::empty(CredentialsState::Absent))
        }
        Ok(Err(e)) => {
            return Ok(CredentialsReport::empty(CredentialsState::Invalid(vec![
                format!("the manifest could not be read: {e}"),
            ])))
        }
        Ok(Ok(r)) => r,
    };
    Ok(report(&reader))
}

fn report(reader: &Reader) -> CredentialsReport {
    let mut failures = Vec::new();
    let mut status_codes = Vec::new();
    if let Some(results) = reader.validation_results() {
        if let Some(active) = results.active_manifest() {
            for s in active
                .success()
                .iter()
                .chain(active.informational())
                .chain(active.failure())
            {
                status_codes.push(s.code().to_string());
            }
            for s in active.failure() {
                if s.code() != UNTRUSTED {
                    failures.push(describe(s.code(), s.explanation()));
                }
            }
        }
        for delta in results.ingredient_deltas().into_iter().flatten() {
            for s in delta.validation_deltas().failure() {
                if s.code() != UNTRUSTED {
                    failures.push(format!(
                        "ingredient {}: {}",
                        delta.ingredient_assertion_uri(),
                        describe(s.code(), s.explanation())
                    ));
                }
            }
        }
    }
    let validation = reader.validation_state();
    let state = match validation {
        ValidationState::Valid | ValidationState::Trusted => CredentialsState::Valid,
        ValidationState::Invalid => {
            if failures.is_empty() {
                failures.push("the claim signature was not validated".into());
            }
            CredentialsState::Invalid(failures)
        }
    };
    let mut out = CredentialsReport::empty(state);
    out.trusted = validation == ValidationState::Trusted;
    out.status_codes = status_codes;
    let Some(m) = reader.active_manifest() else {
        return out;
    };
    out.manifest = m.label().map(str::to_string);
    out.title = m.title().map(str::to_string);
    if let Some(sig) = m.signature_info() {
        out.issuer = sig.issuer.clone();
        out.common_name = sig.common_name.clone();
        out.signed_at = sig.time.clone();
    }
    out.generator = m
        .claim_generator_info
        .as_ref()
        .and_then(|g| g.first())
        .map(|g| match &g.version {
            Some(v) => format!("{} {v}", g.name),
            None => g.name.clone(),
        })
        .or_else(|| m.claim_generator().map(str::to_string));
    for a in m.assertions() {
        if a.label().starts_with("c2pa.actions") {
            if let Ok(v) = a.value() {
                out.actions.extend(actions_of(v));
            }
        } else if a.label() == WATERMARK_LABEL {
            out.watermark = a.to_assertion::<WatermarkClaim>().ok();
        } else if a.label() == RENDER_LABEL {
            out.render = a.to_assertion::<RenderClaim>().ok();
        }
    }
    for i in m.ingredients() {
        out.ingredients.push(IngredientReport {
            title: i.title().map(str::to_string),
            relationship: serde_json::to_value(i.relationship())
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{:?}", i.relationship())),
            manifest: i.active_manifest().map(str::to_string),
            state: i.validation_results().map(|r| match r.validation_state() {
                ValidationState::Valid => "valid".to_string(),
                ValidationState::Trusted => "trusted".to_string(),
                ValidationState::Invalid => "invalid".to_string(),
            }),
        });
    }
    out
}

fn describe(code: &str, explanation: Option<&str>) -> String {
    match explanation {
        Some(e) if !e.is_empty() => format!("{code}: {e}"),
        _ => code.to_string(),
    }
}

fn actions_of(v: &Value) -> Vec<ActionReport> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let Some(list) = v.get("actions").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|a| ActionReport {
            action: text(a.get("action")).unwrap_or_default(),
            digital_source_type: text(a.get("digitalSourceType")),
            software_agent: match a.get("softwareAgent") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(o @ Value::Object(_)) => {
                    let name = text(o.get("name")).unwrap_or_default();
                    Some(match text(o.get("version")) {
                        Some(ver) => format!("{name} {ver}"),
                        None => name,
                    })
                }
                _ => None,
            },
            description: text(a.get("description")),
        })
        .collect()
}
