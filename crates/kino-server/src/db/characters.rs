//! Characters (cameos): a person's likeness, usable only as they allow, and an append-only
//! audit log of every use and change.

use super::{Db, Result};
use crate::ids;
use serde::Serialize;
use sqlx::Row;

/// Who may use a character besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    OnlyMe,
    /// Keys the owner listed.
    Approved,
    /// Keys the owner listed that also listed the owner on one of their characters.
    Mutuals,
    Everyone,
}

impl Permission {
    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "only_me" => Some(Permission::OnlyMe),
            "approved" => Some(Permission::Approved),
            "mutuals" => Some(Permission::Mutuals),
            "everyone" => Some(Permission::Everyone),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::OnlyMe => "only_me",
            Permission::Approved => "approved",
            Permission::Mutuals => "mutuals",
            Permission::Everyone => "everyone",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Character {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub permission: Permission,
    /// Key ids the owner approved.
    pub approved: Vec<String>,
    /// A frame from the consent clip (PNG), the likeness generation conditions on.
    pub reference_frame: Vec<u8>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The consent clip check's report (JSON, `kino_safety::ConsentReport`); `None` for
    /// characters registered before the check existed or with it turned off.
    pub consent_check: Option<String>,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Character> {
    let approved: String = r.try_get("approved")?;
    let permission: String = r.try_get("permission")?;
    Ok(Character {
        id: r.try_get("id")?,
        owner: r.try_get("owner")?,
        name: r.try_get("name")?,
        permission: Permission::parse(&permission).unwrap_or(Permission::OnlyMe),
        approved: serde_json::from_str(&approved).unwrap_or_default(),
        reference_frame: r.try_get("reference_frame")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
        consent_check: r.try_get("consent_check")?,
    })
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub character_id: Option<String>,
    pub video_id: Option<String>,
    pub detail: String,
}

impl Db {
    pub async fn insert_character(&self, c: &Character) -> Result<()> {
        sqlx::query(
            "INSERT INTO characters (id, owner, name, permission, approved, reference_frame, created_at, revoked_at, consent_check)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)",
        )
        .bind(&c.id)
        .bind(&c.owner)
        .bind(&c.name)
        .bind(c.permission.as_str())
        .bind(serde_json::to_string(&c.approved).unwrap_or_else(|_| "[]".into()))
        .bind(&c.reference_frame)
        .bind(c.created_at)
        .bind(&c.consent_check)
        .execute(&self.pool)
        .await?;
        self.audit(
            &c.owner,
            "character.created",
            Some(&c.id),
            None,
            c.permission.as_str(),
        )
        .await
    }

    pub async fn get_character(&self, id: &str) -> Result<Option<Character>> {
        let row = sqlx::query("SELECT * FROM characters WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The characters `owner` registered, newest first.
    pub async fn list_characters(&self, owner: &str) -> Result<Vec<Character>> {
        let rows = sqlx::query(
            "SELECT * FROM characters WHERE owner = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Whether `caller` may use `c` now (revoked characters: nobody).
    pub async fn may_use(&self, c: &Character, caller: &str) -> Result<bool> {
        if c.revoked_at.is_some() {
            return Ok(false);
        }
        if c.owner == caller {
            return Ok(true);
        }
        Ok(match c.permission {
            Permission::OnlyMe => false,
            Permission::Everyone => true,
            Permission::Approved => c.approved.iter().any(|k| k == caller),
            Permission::Mutuals => {
                if !c.approved.iter().any(|k| k == caller) {
                    false
                } else {
                    let rows = sqlx::query(
                        "SELECT approved FROM characters WHERE owner = $1 AND revoked_at IS NULL",
                    )
                    .bind(caller)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().any(|r| {
                        r.try_get::<String, _>("approved")
                            .ok()
                            .and_then(|a| serde_json::from_str::<Vec<String>>(&a).ok())
                            .is_some_and(|a| a.contains(&c.owner))
                    })
                }
            }
        })
    }

    /// Revokes a character: queued jobs using it fail when they run; new uses are refused.
    pub async fn revoke_character(&self, id: &str, owner: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE characters SET revoked_at = $1 WHERE id = $2 AND owner = $3 AND revoked_at IS NULL",
        )
        .bind(ids::now())
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        let revoked = done.rows_affected() > 0;
        if revoked {
            self.audit(owner, "character.revoked", Some(id), None, "")
                .await?;
        }
        Ok(revoked)
    }

    pub async fn link_video_character(&self, video_id: &str, character_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO video_characters (video_id, character_id) VALUES ($1, $2)")
            .bind(video_id)
            .bind(character_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Characters a video uses.
    pub async fn video_characters(&self, video_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT character_id FROM video_characters WHERE video_id = $1")
            .bind(video_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("character_id")?))
            .collect()
    }

    /// Every video (of any owner, drafts included) that uses a character.
    pub async fn character_videos(&self, character_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT video_id FROM video_characters WHERE character_id = $1 ORDER BY video_id",
        )
        .bind(character_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("video_id")?))
            .collect()
    }

    /// Appends to the audit log (there is no way to change or remove an entry).
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        character_id: Option<&str>,
        video_id: Option<&str>,
        detail: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, character_id, video_id, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ids::new_id("audit"))
        .bind(ids::now())
        .bind(actor)
        .bind(action)
        .bind(character_id)
        .bind(video_id)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn character_audit(&self, character_id: &str) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE character_id = $1 ORDER BY id")
            .bind(character_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    character_id: r.try_get("character_id")?,
                    video_id: r.try_get("video_id")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Deletes a video row whoever owns it (a character's owner removing a use).
    pub async fn delete_video_any_owner(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM videos WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
