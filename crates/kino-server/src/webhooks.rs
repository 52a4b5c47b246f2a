//! `video.completed` / `video.failed` webhooks, signed the way OpenAI signs them (the
//! Standard Webhooks scheme): headers `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, where the
//! secret is the base64 after `whsec_`. Deliveries are rows in the database, so they survive
//! restarts, and are retried with exponential backoff.

use crate::db::Db;
use crate::ids;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::Row;
use std::time::Duration;

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 8;

#[derive(Clone)]
pub struct Webhooks {
    pub url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
#[error("webhook secret: {0}")]
pub struct SecretError(String);

impl Webhooks {
    /// `secret` is `whsec_<base64>` (as OpenAI issues them) or plain base64.
    pub fn new(url: &str, secret: &str) -> Result<Webhooks, SecretError> {
        let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
        let secret = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| SecretError(format!("expected whsec_<base64>: {e}")))?;
        if secret.len() < 16 {
            return Err(SecretError("shorter than 16 bytes".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| SecretError(e.to_string()))?;
        Ok(Webhooks {
            url: url.to_string(),
            secret,
            client,
        })
    }

    /// The `webhook-signature` value for a message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &str) -> String {
        sign(&self.secret, msg_id, timestamp, body)
    }

    /// Records an event for delivery (in the database: nothing is lost on a restart).
    pub async fn enqueue(&self, db: &Db, video_id: &str, event: &str) -> anyhow::Result<()> {
        let id = ids::new_id("evt");
        let payload = serde_json::json!({
            "id": id,
            "object": "event",
            "created_at": ids::now(),
            "type": event,
            "data": { "id": video_id },
        })
        .to_string();
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, video_id, event, payload, attempts, next_attempt_at, delivered_at, last_error)
             VALUES ($1, $2, $3, $4, 0, $5, NULL, NULL)",
        )
        .bind(&id)
        .bind(video_id)
        .bind(event)
        .bind(&payload)
        .bind(ids::now())
        .execute(&db.pool)
        .await?;
        Ok(())
    }

    /// Delivers what is due; returns how many were delivered.
    pub async fn deliver_due(&self, db: &Db) -> anyhow::Result<usize> {
        let now = ids::now();
        // Claim due deliveries by pushing their next attempt a minute out, so that two
        // server processes do not send the same one.
        let rows = sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = $1
             WHERE delivered_at IS NULL AND next_attempt_at <= $2 AND attempts < $3
             RETURNING id, payload, attempts",
        )
        .bind(now + 60)
        .bind(now)
        .bind(MAX_ATTEMPTS)
        .fetch_all(&db.pool)
        .await?;
        let mut delivered = 0;
        for r in rows {
            let id: String = r.try_get("id")?;
            let payload: String = r.try_get("payload")?;
            let attempts: i64 = r.try_get("attempts")?;
            let ts = ids::now();
            let sent = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", self.sign(&id, ts, &payload))
                .body(payload.clone())
                .send()
                .await;
            let error = match sent {
                Ok(resp) if resp.status().is_success() => None,
                Ok(resp) => Some(format!("HTTP {}", resp.status())),
                Err(e) => Some(e.to_string()),
            };
            match error {
                None => {
                    sqlx::query("UPDATE webhook_deliveries SET delivered_at = $1, attempts = $2 WHERE id = $3")
                        .bind(ids::now())
                        .bind(attempts + 1)
                        .bind(&id)
                        .execute(&db.pool)
                        .await?;
                    delivered += 1;
                }
                Some(err) => {
                    let backoff = backoff_s(attempts + 1);
                    tracing::warn!(event = %id, attempt = attempts + 1, "webhook delivery failed: {err}; retry in {backoff} s");
                    sqlx::query(
                        "UPDATE webhook_deliveries SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4",
                    )
                    .bind(attempts + 1)
                    .bind(ids::now() + backoff)
                    .bind(err)
                    .bind(&id)
                    .execute(&db.pool)
                    .await?;
                }
            }
        }
        Ok(delivered)
    }
}

/// Seconds before attempt `n + 1`: 2, 4, 8, ... capped at an hour.
pub fn backoff_s(attempts: i64) -> i64 {
    (1i64 << attempts.clamp(1, 12)).min(3600)
}

fn sign(secret: &[u8], msg_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    let sig = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(sig)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        // From the Standard Webhooks specification's reference libraries.
        let secret = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_s(1), 2);
        assert_eq!(backoff_s(3), 8);
        assert_eq!(backoff_s(40), 3600);
    }
}
