//! Bearer API keys, per-key request rates (token bucket) and the caller extractor.

use super::error::ApiError;
use super::AppState;
use crate::db::keys::ApiKey;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The key a request was made with.
pub struct Caller(pub ApiKey);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let bearer = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .unwrap_or("");
        // The web app signs in once and sends the key as a SameSite=Strict, HttpOnly cookie,
        // so that <video> and <img> can load content with Range requests.
        let cookie = session_cookie(&parts.headers).unwrap_or_default();
        let secret = if bearer.is_empty() { &cookie } else { bearer };
        if secret.is_empty() {
            return Err(ApiError::unauthorized(
                "You didn't provide an API key. Send it in the Authorization header as 'Bearer KEY' (create one with `kino keys create`).",
            ));
        }
        let Some(key) = state.db.find_key(secret).await? else {
            return Err(ApiError::unauthorized("Incorrect API key provided."));
        };
        if let Err(wait) = state.limiter.take(&key.id, key.requests_per_minute) {
            return Err(ApiError::rate_limited(
                format!(
                    "Rate limit reached: {} requests per minute for this key. Try again in {wait} s.",
                    key.requests_per_minute
                ),
                wait,
            ));
        }
        Ok(Caller(key))
    }
}

/// Name of the web app's session cookie (it holds the API key).
pub const SESSION_COOKIE: &str = "kino_key";

/// The web app's session cookie, if the request carries one.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A token bucket per key: `per_minute` tokens, refilled continuously.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes a token; `Err(seconds to wait)` when the bucket is empty.
    pub fn take(&self, key: &str, per_minute: i64) -> Result<(), u64> {
        let cap = per_minute.max(1) as f64;
        let rate = cap / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bucket_empties_then_asks_to_wait() {
        let l = super::RateLimiter::default();
        for _ in 0..3 {
            assert!(l.take("k", 3).is_ok());
        }
        let wait = l.take("k", 3).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(l.take("other", 3).is_ok());
    }
}
