//! The HTTP API: OpenAI's Videos API under `/v1`, the same request and response shapes.

pub mod auth;
pub mod characters;
pub mod error;
pub mod prompts;
pub mod provenance;
pub mod request;
pub mod videos;

use crate::db::Db;
use crate::storage::Storage;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// What the API needs to know about the model it serves.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The model's own name (e.g. kino-tiny).
    pub name: String,
    /// Native size when a request names none.
    pub size: (u32, u32),
    /// Sizes must be multiples of this.
    pub size_multiple: u32,
    /// Largest width or height.
    pub max_side: u32,
    pub max_seconds: u32,
    pub steps: usize,
    /// The model can start a clip from an image (`Pipeline::supports_first_frame`): an
    /// `input_reference` and a cameo's likeness need it. A text-to-video Wan folder cannot.
    pub takes_image: bool,
}

/// Checks prompts before anything is queued: `Err(reason)` refuses.
pub trait PromptPolicy: Send + Sync {
    fn check(&self, prompt: &str) -> Result<(), String>;
}

#[derive(Clone)]
pub struct ApiConfig {
    pub model: ModelInfo,
    /// Largest request body in bytes (413 above).
    pub max_body: usize,
    /// Value of the `openai-poll-after-ms` header.
    pub poll_after_ms: u64,
    /// The liveness check of cameo consent clips (`None`: off).
    pub consent_check: Option<kino_safety::ConsentCheck>,
}

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub storage: Storage,
    pub cfg: Arc<ApiConfig>,
    pub limiter: Arc<auth::RateLimiter>,
    pub policy: Option<Arc<dyn PromptPolicy>>,
}

const OPENAPI: &str = include_str!("openapi.json");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/videos", post(videos::create).get(videos::list))
        .route("/v1/videos/edits", post(videos::edit))
        .route("/v1/prompts/plan", post(prompts::plan))
        .route("/v1/provenance/identify", post(provenance::identify))
        .route(
            "/v1/videos/characters",
            post(characters::create).get(characters::list),
        )
        .route("/v1/videos/characters/{id}", get(characters::retrieve))
        .route("/v1/videos/characters/{id}/videos", get(characters::videos))
        .route(
            "/v1/videos/characters/{id}/reference",
            get(characters::reference),
        )
        .route(
            "/v1/videos/characters/{id}/videos/{video_id}",
            axum::routing::delete(characters::delete_video),
        )
        .route(
            "/v1/videos/characters/{id}/revoke",
            post(characters::revoke),
        )
        .route("/v1/videos/characters/{id}/audit", get(characters::audit))
        .route("/v1/videos/extensions", post(videos::extend))
        .route(
            "/v1/videos/{id}",
            get(videos::retrieve).delete(videos::delete),
        )
        .route("/v1/videos/{id}/content", get(videos::content))
        .route("/v1/videos/{id}/remix", post(videos::remix))
        .route(
            "/v1/openapi.json",
            get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    OPENAPI,
                )
            }),
        )
        .route("/health", get(|| async { "ok" }))
        .merge(crate::web::routes())
        .fallback(|| async {
            error::ApiError {
                status: StatusCode::NOT_FOUND,
                message: "Unknown endpoint: see /v1/openapi.json for the routes kino serves."
                    .into(),
                kind: "invalid_request_error",
                param: None,
                code: Some("unknown_url".into()),
                retry_after_s: None,
            }
            .into_response()
        })
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}
