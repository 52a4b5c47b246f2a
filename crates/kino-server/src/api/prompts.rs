//! `POST /v1/prompts/plan` (kino's addition): how kino reads a prompt before anything is
//! queued — the shot plan, the prompt language's warnings and errors, and the policy's verdict.
//! The web app's create page shows it as the user types.

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::request::Fields;
use super::videos::MAX_PROMPT_CHARS;
use super::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

fn diagnostic_json(d: &kino_prompt::Diagnostic) -> Value {
    json!({
        "severity": d.severity,
        "code": d.code,
        "line": d.span.line,
        "col": d.span.col,
        "message": d.message,
        "hint": d.hint,
        "text": d.to_string(),
    })
}

pub async fn plan(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let fields = Fields::read(&headers, body, state.cfg.max_body).await?;
    let prompt = fields
        .text("prompt")?
        .ok_or_else(|| ApiError::missing("prompt"))?;
    let chars = prompt.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(ApiError::invalid(
            "prompt",
            format!("The prompt is {chars} characters long; the limit is {MAX_PROMPT_CHARS}."),
        ));
    }
    let policy = match &state.policy {
        Some(p) if !prompt.trim().is_empty() => match p.check(prompt) {
            Ok(()) => json!({ "allowed": true }),
            Err(reason) => json!({ "allowed": false, "reason": reason }),
        },
        _ => json!({ "allowed": true }),
    };
    let body = match kino_prompt::parse(prompt) {
        Ok(parsed) => json!({
            "object": "prompt.plan",
            "ok": true,
            "plan": parsed.plan,
            "text": parsed.plan.to_pretty_text(),
            "errors": [],
            "warnings": parsed.warnings.iter().map(diagnostic_json).collect::<Vec<_>>(),
            "policy": policy,
        }),
        Err(e) => json!({
            "object": "prompt.plan",
            "ok": false,
            "plan": null,
            "text": null,
            "errors": e.errors.iter().map(diagnostic_json).collect::<Vec<_>>(),
            "warnings": e.warnings.iter().map(diagnostic_json).collect::<Vec<_>>(),
            "policy": policy,
        }),
    };
    Ok(Json(body).into_response())
}
