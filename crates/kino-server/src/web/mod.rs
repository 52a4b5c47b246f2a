//! The web app: a feed of your clips, a create page that shows how kino reads the prompt as
//! you type, a page per clip (watch, download, remix, extend, delete) and a cameo page
//! (register your likeness with a consent clip, see and delete every video that uses it,
//! revoke it).
//!
//! Pages are small HTML shells; `app.js` fills them from the same `/v1` API that SDKs use, so
//! the web app can do nothing an API client cannot. Signing in stores the API key in an
//! HttpOnly, SameSite=Strict cookie that the API accepts like a Bearer header (so `<video>`
//! streams with Range requests). No inline script: the pages send a strict CSP.

use crate::api::auth::{session_cookie, SESSION_COOKIE};
use crate::api::AppState;
use crate::jobs::OPENAI_SIZES;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const ICON_SVG: &str = include_str!("assets/icon.svg");

/// How long the sign-in cookie lasts (30 days).
const SESSION_MAX_AGE_S: u64 = 30 * 24 * 3600;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(feed_page))
        .route("/create", get(create_page))
        .route("/cameos", get(cameos_page))
        .route("/videos/{id}", get(watch))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/web/session", get(session))
        .route(
            "/assets/app.js",
            get(|| asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/assets/app.css",
            get(|| asset(APP_CSS, "text/css; charset=utf-8")),
        )
        .route("/assets/icon.svg", get(|| asset(ICON_SVG, "image/svg+xml")))
}

async fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Minimal HTML escaping for the few values the server puts into pages.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(status: StatusCode, title: &str, page: &str, data: &str, body: &str) -> Response {
    let doc = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · kino</title>
<link rel="icon" href="/assets/icon.svg">
<link rel="stylesheet" href="/assets/app.css">
<script defer src="/assets/app.js"></script>
</head>
<body data-page="{page}" {data}>
<header class="top">
  <a class="brand" href="/"><img src="/assets/icon.svg" alt="" width="22" height="22"> kino</a>
  <nav>
    <a href="/" data-nav="feed">Feed</a>
    <a href="/create" data-nav="create">Create</a>
    <a href="/cameos" data-nav="cameos">Cameos</a>
  </nav>
  <span class="who" id="who"></span>
</header>
<main id="app">{body}</main>
</body>
</html>
"#,
        title = escape(title),
    );
    let mut resp = (status, doc).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
             style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The key behind the request's session cookie, if it is valid.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<crate::db::keys::ApiKey> {
    let secret = session_cookie(headers)?;
    state.db.find_key(&secret).await.ok().flatten()
}

/// `s` percent-encoded for a query value (only unreserved path characters stay).
fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn to_signin(next: &str) -> Response {
    Redirect::to(&format!("/signin?next={}", query_value(next))).into_response()
}

async fn feed_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    page(&state, &headers, "feed", "Feed", "/").await
}

async fn create_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    page(&state, &headers, "create", "Create", "/create").await
}

async fn cameos_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    page(&state, &headers, "cameos", "Cameos", "/cameos").await
}

/// A signed-in page shell that `app.js` fills; signed-out visitors go to sign-in first.
async fn page(
    state: &AppState,
    headers: &HeaderMap,
    name: &'static str,
    title: &'static str,
    path: &str,
) -> Response {
    if signed_in(state, headers).await.is_none() {
        return to_signin(path);
    }
    html(
        StatusCode::OK,
        title,
        name,
        "",
        r#"<p class="loading">Loading…</p>"#,
    )
}

async fn watch(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/videos/{id}");
    if signed_in(&state, &headers).await.is_none() {
        return to_signin(&path);
    }
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return html(
            StatusCode::NOT_FOUND,
            "Not found",
            "missing",
            "",
            r#"<p class="error">No such video.</p>"#,
        );
    }
    html(
        StatusCode::OK,
        "Video",
        "watch",
        &format!(r#"data-video="{}""#, escape(&id)),
        r#"<p class="loading">Loading…</p>"#,
    )
}

#[derive(Deserialize)]
struct SigninQuery {
    next: Option<String>,
    error: Option<String>,
}

/// Only same-site paths: no `//host` or scheme, so sign-in cannot redirect elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

async fn signin_page(axum::extract::Query(q): axum::extract::Query<SigninQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    let error = if q.error.is_some() {
        r#"<p class="error" role="alert">That key is not valid on this server.</p>"#
    } else {
        ""
    };
    let body = format!(
        r#"<section class="signin card-panel">
<h1>Sign in</h1>
<p>Use an API key of this server. An operator creates one with <code>kino keys create NAME</code>.</p>
{error}
<form method="post" action="/signin">
  <input type="hidden" name="next" value="{next}">
  <label>API key <input type="password" name="key" autocomplete="current-password" required autofocus></label>
  <button type="submit">Sign in</button>
</form>
</section>"#,
        next = escape(&next),
    );
    html(StatusCode::OK, "Sign in", "signin", "", &body)
}

#[derive(Deserialize)]
struct SigninForm {
    key: String,
    next: Option<String>,
}

async fn signin(State(state): State<AppState>, Form(f): Form<SigninForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    let key = f.key.trim();
    // Keys are URL-safe; anything else cannot be one and must not reach a cookie header.
    let plausible = !key.is_empty()
        && key.len() <= 200
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let valid = plausible && matches!(state.db.find_key(key).await, Ok(Some(_)));
    if !valid {
        return Redirect::to(&format!("/signin?error=1&next={}", query_value(&next)))
            .into_response();
    }
    let mut resp = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_MAX_AGE_S}"
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn signout() -> Response {
    let mut resp = Redirect::to("/signin").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        ))
        .expect("static cookie"),
    );
    resp
}

/// Who is signed in and what the served model can do (for the create page's choices).
async fn session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(key) = signed_in(&state, &headers).await else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "message": "Not signed in.", "type": "invalid_request_error" } })),
        )
            .into_response();
    };
    let m = &state.cfg.model;
    let mut sizes: Vec<String> = vec![format!("{}x{}", m.size.0, m.size.1)];
    for (w, h) in OPENAI_SIZES {
        let s = format!("{w}x{h}");
        if !sizes.contains(&s) {
            sizes.push(s);
        }
    }
    Json(json!({
        "key": { "id": key.id, "name": key.name, "prefix": key.prefix },
        "model": {
            "name": m.name,
            "size": format!("{}x{}", m.size.0, m.size.1),
            "sizes": sizes,
            "max_seconds": m.max_seconds,
            "steps": m.steps,
            "takes_image": m.takes_image,
        },
        "policy": state.policy.is_some(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::{escape, query_value, safe_next};

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/videos/video_1")), "/videos/video_1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/\r\nSet-Cookie: x=1")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            query_value("/videos/a?b=c&d#e"),
            "/videos/a%3Fb%3Dc%26d%23e"
        );
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
