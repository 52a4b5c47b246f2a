//! A strict walk over an MP4's top-level boxes: the cheap structural check that runs before
//! the C2PA library sees a file, so that a truncated or foreign file gets a clear error.

use super::{CredentialsError, Result};

/// One top-level ISO BMFF box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4Box {
    /// Four-character type, e.g. `*b"mdat"`.
    pub kind: [u8; 4],
    /// Offset of the box header in the file.
    pub offset: u64,
    /// Size of the header (8, or 16 for a 64-bit size).
    pub header: u64,
    /// Size of the whole box, header included.
    pub size: u64,
}

impl Mp4Box {
    /// The payload's byte range in the file.
    pub fn body(&self) -> std::ops::Range<u64> {
        self.offset + self.header..self.offset + self.size
    }

    pub fn kind_str(&self) -> String {
        String::from_utf8_lossy(&self.kind).into_owned()
    }
}

/// The top-level boxes of `bytes`, which must be an ISO BMFF file whose boxes exactly tile it
/// and start with `ftyp`. `name` labels errors.
pub fn top_level_boxes(bytes: &[u8], name: &str) -> Result<Vec<Mp4Box>> {
    let bad = |why: String| CredentialsError::Malformed {
        name: name.to_string(),
        why,
    };
    let len = bytes.len() as u64;
    if len == 0 {
        return Err(bad("the file is empty".into()));
    }
    let mut boxes = Vec::new();
    let mut at = 0u64;
    while at < len {
        let rest = &bytes[at as usize..];
        if rest.len() < 8 {
            return Err(bad(format!(
                "{} stray bytes at offset {at} (truncated box header)",
                rest.len()
            )));
        }
        let size32 = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let kind = [rest[4], rest[5], rest[6], rest[7]];
        let shown = String::from_utf8_lossy(&kind).into_owned();
        if !kind.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
            return Err(bad(format!(
                "no box type at offset {at} (bytes {kind:02x?}): not an MP4, or corrupt"
            )));
        }
        let (header, size) = match size32 {
            0 => (8, len - at),
            1 => {
                if rest.len() < 16 {
                    return Err(bad(format!(
                        "box '{shown}' at offset {at}: truncated header"
                    )));
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&rest[8..16]);
                (16, u64::from_be_bytes(b))
            }
            s => (8, u64::from(s)),
        };
        if size < header {
            return Err(bad(format!(
                "box '{shown}' at offset {at} claims {size} bytes, less than its header"
            )));
        }
        if size > len - at {
            return Err(bad(format!(
                "box '{shown}' at offset {at} claims {size} bytes but only {} remain: the file is truncated",
                len - at
            )));
        }
        boxes.push(Mp4Box {
            kind,
            offset: at,
            header,
            size,
        });
        at += size;
    }
    match boxes.first() {
        Some(b) if &b.kind == b"ftyp" => Ok(boxes),
        Some(b) => Err(bad(format!(
            "first box is '{}', not 'ftyp': not an MP4",
            b.kind_str()
        ))),
        None => Err(bad("no boxes".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn walks_and_rejects() {
        let mut f = bx(b"ftyp", b"isom\0\0\0\0");
        f.extend(bx(b"moov", &[1, 2, 3]));
        f.extend(bx(b"mdat", &[9; 20]));
        let b = top_level_boxes(&f, "t").unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(&b[2].kind, b"mdat");
        assert_eq!(b[2].body(), (b[2].offset + 8)..f.len() as u64);
        let e = top_level_boxes(&f[..f.len() - 1], "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
        assert!(top_level_boxes(b"hello world, not an mp4", "t").is_err());
        assert!(top_level_boxes(&[], "t").is_err());
        let e = top_level_boxes(&bx(b"moov", &[]), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ftyp"), "{e}");
    }
}
