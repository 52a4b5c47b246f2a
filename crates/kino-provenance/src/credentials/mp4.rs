//! The strict walk over an MP4's top-level boxes that runs before the C2PA library sees a
//! file, so that a truncated or foreign file gets a clear error (kino-media's walker, with
//! the file's name in the error).

use super::{CredentialsError, Result};

pub use kino_media::Mp4Box;

/// The top-level boxes of `bytes`, which must be an ISO BMFF file whose boxes exactly tile it
/// and start with `ftyp` ([`kino_media::top_level_boxes`]). `name` labels errors.
pub fn top_level_boxes(bytes: &[u8], name: &str) -> Result<Vec<Mp4Box>> {
    kino_media::top_level_boxes(bytes).map_err(|why| CredentialsError::Malformed {
        name: name.to_string(),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_file_in_errors() {
        let moov_only = [0, 0, 0, 8, b'm', b'o', b'o', b'v'];
        let e = top_level_boxes(&moov_only, "clip.mp4")
            .unwrap_err()
            .to_string();
        assert!(e.contains("clip.mp4") && e.contains("not an MP4"), "{e}");
    }
}
