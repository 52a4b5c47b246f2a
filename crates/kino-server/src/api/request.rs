//! Request bodies as the OpenAI SDKs send them: JSON, or multipart/form-data with nested
//! objects flattened as `field[key]`. Both become one flat map of fields.

use super::error::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use base64::Engine;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub enum Field {
    Text(String),
    File {
        filename: Option<String>,
        content_type: Option<String>,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, Default)]
pub struct Fields(pub HashMap<String, Field>);

impl Fields {
    /// Reads a JSON or multipart body of at most `limit` bytes.
    pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Fields, ApiError> {
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| ApiError::too_large(limit))?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if content_type.starts_with("multipart/form-data") {
            let boundary = multer::parse_boundary(content_type).map_err(|e| {
                ApiError::bad_request(format!("multipart body: bad Content-Type boundary: {e}"))
            })?;
            Self::multipart(bytes, boundary).await
        } else if bytes.is_empty() {
            Ok(Fields::default())
        } else {
            let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::bad_request(format!(
                    "We could not parse the JSON body of your request: {e}. Send JSON or multipart/form-data."
                ))
            })?;
            let serde_json::Value::Object(map) = value else {
                return Err(ApiError::bad_request("The JSON body must be an object."));
            };
            let mut fields = Fields::default();
            for (k, v) in map {
                flatten(&mut fields.0, k, v);
            }
            Ok(fields)
        }
    }

    async fn multipart(bytes: bytes::Bytes, boundary: String) -> Result<Fields, ApiError> {
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
        let mut mp = multer::Multipart::new(stream, boundary);
        let mut fields = Fields::default();
        let bad = |e: multer::Error| ApiError::bad_request(format!("multipart body: {e}"));
        while let Some(field) = mp.next_field().await.map_err(bad)? {
            let Some(name) = field.name().map(str::to_string) else {
                continue;
            };
            let filename = field.file_name().map(str::to_string);
            let content_type = field.content_type().map(|m| m.to_string());
            let data = field.bytes().await.map_err(bad)?.to_vec();
            let value = if filename.is_some() {
                Field::File {
                    filename,
                    content_type,
                    bytes: data,
                }
            } else {
                Field::Text(String::from_utf8(data).map_err(|_| {
                    ApiError::invalid(&name, format!("'{name}' is not valid UTF-8 text"))
                })?)
            };
            fields.0.insert(name, value);
        }
        Ok(fields)
    }

    /// A text field (numbers in JSON count as text).
    pub fn text(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Field::Text(s)) => Ok(Some(s)),
            Some(Field::File { .. }) => Err(ApiError::invalid(
                name,
                format!("'{name}' must be a text field, not a file"),
            )),
        }
    }

    pub fn file(&self, name: &str) -> Option<&[u8]> {
        match self.0.get(name) {
            Some(Field::File { bytes, .. }) => Some(bytes),
            _ => None,
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

fn flatten(out: &mut HashMap<String, Field>, key: String, value: serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten(out, format!("{key}[{k}]"), v);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(key, Field::Text(s));
        }
        serde_json::Value::Null => {}
        other => {
            out.insert(key, Field::Text(other.to_string()));
        }
    }
}

/// The bytes of a `data:` URL (`data:image/png;base64,...`).
pub fn data_url_bytes(param: &str, url: &str) -> Result<Vec<u8>, ApiError> {
    if !url.starts_with("data:") {
        return Err(ApiError::invalid(
            param,
            "Only data: URLs are accepted here (kino never fetches remote URLs); upload the file or send data:image/...;base64,...",
        ));
    }
    let (meta, data) = url
        .split_once(',')
        .ok_or_else(|| ApiError::invalid(param, "The data URL has no ',' before its data."))?;
    if !meta.ends_with(";base64") {
        return Err(ApiError::invalid(
            param,
            "The data URL must be base64-encoded.",
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| ApiError::invalid(param, format!("The data URL's base64 is invalid: {e}")))
}
