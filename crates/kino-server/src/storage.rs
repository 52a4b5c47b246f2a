//! Where finished videos live: a local folder by default, S3-compatible storage to scale
//! out (object_store). Keys: `videos/<id>/{video.mp4, thumbnail.webp, spritesheet.jpg}`.

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage '{url}': {message}")]
    Config { url: String, message: String },
    #[error("storage: {0}")]
    Store(#[from] object_store::Error),
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// One stored file of a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Video,
    Thumbnail,
    Spritesheet,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Video, Variant::Thumbnail, Variant::Spritesheet];

    pub fn parse(s: &str) -> Option<Variant> {
        match s {
            "video" => Some(Variant::Video),
            "thumbnail" => Some(Variant::Thumbnail),
            "spritesheet" => Some(Variant::Spritesheet),
            _ => None,
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Variant::Video => "video.mp4",
            Variant::Thumbnail => "thumbnail.webp",
            Variant::Spritesheet => "spritesheet.jpg",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Variant::Video => "video/mp4",
            Variant::Thumbnail => "image/webp",
            Variant::Spritesheet => "image/jpeg",
        }
    }
}

/// A stored object's bytes (possibly a range of it) as a stream.
pub struct Download {
    pub total_size: u64,
    pub range: std::ops::Range<u64>,
    pub stream: futures_util::stream::BoxStream<'static, Result<Bytes>>,
}

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    pub description: String,
}

impl Storage {
    /// `file:///path`, a plain path, or `s3://bucket[/prefix]` (credentials, region and
    /// endpoint from the usual AWS_* environment variables, e.g. AWS_ENDPOINT for MinIO).
    pub fn open(url: &str) -> Result<Storage> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StorageError::Config {
                    url: url.into(),
                    message: "no bucket named".into(),
                });
            }
            let mut builder =
                object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
            if std::env::var("AWS_ENDPOINT")
                .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                .is_ok_and(|e| e.starts_with("http://"))
            {
                builder = builder.with_allow_http(true);
            }
            let s3 = builder.build().map_err(|e| StorageError::Config {
                url: url.into(),
                message: e.to_string(),
            })?;
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(
                    s3,
                    prefix.trim_end_matches('/'),
                ))
            };
            return Ok(Storage {
                store,
                description: url.to_string(),
            });
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        Self::local(Path::new(path))
    }

    /// A folder on this machine (created if missing).
    pub fn local(dir: &Path) -> Result<Storage> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Config {
            url: dir.display().to_string(),
            message: format!("cannot create the folder: {e}"),
        })?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
        Ok(Storage {
            store: Arc::new(fs),
            description: dir.display().to_string(),
        })
    }

    fn key(video_id: &str, variant: Variant) -> ObjectPath {
        ObjectPath::from(format!("videos/{video_id}/{}", variant.file_name()))
    }

    pub async fn put(&self, video_id: &str, variant: Variant, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&Self::key(video_id, variant), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The whole object in memory (source clips for remix/extend).
    pub async fn get_all(&self, video_id: &str, variant: Variant) -> Result<Vec<u8>> {
        let got = self.store.get(&Self::key(video_id, variant)).await?;
        Ok(got.bytes().await?.to_vec())
    }

    /// Streams `range` (all when `None`) of a stored file.
    pub async fn get(
        &self,
        video_id: &str,
        variant: Variant,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<Download> {
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let got = self
            .store
            .get_opts(&Self::key(video_id, variant), opts)
            .await?;
        let total_size = got.meta.size;
        let range = got.range.clone();
        let stream = got.into_stream().map_err(StorageError::from).boxed();
        Ok(Download {
            total_size,
            range,
            stream,
        })
    }

    /// Size of a stored file (for Range requests).
    pub async fn size(&self, video_id: &str, variant: Variant) -> Result<u64> {
        Ok(self.store.head(&Self::key(video_id, variant)).await?.size)
    }

    /// Deletes every file of a video (missing files are fine).
    pub async fn delete_video(&self, video_id: &str) -> Result<()> {
        for v in Variant::ALL {
            match self.store.delete(&Self::key(video_id, v)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Ids of every video that has files stored.
    pub async fn stored_video_ids(&self) -> Result<Vec<String>> {
        let listed = self
            .store
            .list_with_delimiter(Some(&ObjectPath::from("videos")))
            .await?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    /// Stores a character's consent clip (`characters/<id>/consent.mp4`).
    pub async fn put_consent(&self, character_id: &str, bytes: Vec<u8>) -> Result<()> {
        let key = ObjectPath::from(format!("characters/{character_id}/consent.mp4"));
        self.store.put(&key, PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// Whether a file exists.
    pub async fn exists(&self, video_id: &str, variant: Variant) -> Result<bool> {
        match self.store.head(&Self::key(video_id, variant)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
