//! Just enough ISO-BMFF box walking to finish muxide's audio track the way players expect.
//!
//! muxide writes every track at a 90 kHz timescale and no `edts`/`elst`, but an AAC track
//! needs an edit list: the encoder's priming samples must be skipped and the last frame's
//! padding cut, or audio is late by ~40 ms and runs long by up to one AAC frame. Players
//! (ffmpeg among them) read an AAC track's priming in samples, so the track is also retimed to
//! a timescale equal to its sample rate. This module does both, shifting the chunk offsets
//! that follow. It is hand-written because no maintained crate edits boxes in place; it
//! touches only `moov` and checks every size it reads.

/// One box inside a byte buffer.
#[derive(Debug, Clone, Copy)]
struct BoxRef {
    kind: [u8; 4],
    start: usize,
    header: usize,
    end: usize,
}

impl BoxRef {
    fn body(&self) -> std::ops::Range<usize> {
        self.start + self.header..self.end
    }
}

/// One top-level box of an MP4 file, as [`top_level_boxes`] finds it.
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

    /// The type as text (lossy), for messages.
    pub fn kind_str(&self) -> String {
        String::from_utf8_lossy(&self.kind).into_owned()
    }
}

/// The box whose header starts at `data[pos]` and which must end by `end` (its parent's end,
/// or the file's: `top_level` says which, for the errors). A size of 0 runs to `end`.
/// `pos < end <= data.len()`.
fn read_box(data: &[u8], pos: usize, end: usize, top_level: bool) -> Result<BoxRef, String> {
    let head = data
        .get(pos..pos + 8)
        .filter(|_| pos + 8 <= end)
        .ok_or_else(|| {
            format!(
                "{} stray byte(s) at byte {pos}, too few for a box header{}",
                end - pos,
                if top_level { " (truncated)" } else { "" }
            )
        })?;
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
    let kind = [head[4], head[5], head[6], head[7]];
    let name = String::from_utf8_lossy(&kind);
    let (size, header) = match size32 {
        0 => ((end - pos) as u64, 8),
        1 => {
            let large = data
                .get(pos + 8..pos + 16)
                .filter(|_| pos + 16 <= end)
                .ok_or_else(|| format!("box '{name}' at byte {pos}: truncated 64-bit size"))?;
            (u64::from_be_bytes(large.try_into().unwrap_or_default()), 16)
        }
        s => (s, 8),
    };
    if size < header as u64 {
        return Err(format!(
            "box '{name}' at byte {pos} claims {size} bytes, less than its {header}-byte header"
        ));
    }
    let left = (end - pos) as u64;
    if size > left {
        return Err(if top_level {
            format!(
                "box '{name}' at byte {pos} claims {size} bytes but only {left} remain: \
                 the file is truncated"
            )
        } else {
            format!("box '{name}' at byte {pos} has size {size}, past its parent's end")
        });
    }
    Ok(BoxRef {
        kind,
        start: pos,
        header,
        end: pos + size as usize,
    })
}

/// The boxes directly inside `data[range]`.
fn children(data: &[u8], range: std::ops::Range<usize>) -> Result<Vec<BoxRef>, String> {
    let mut out = Vec::new();
    let mut pos = range.start;
    while pos < range.end {
        let b = read_box(data, pos, range.end, false)?;
        pos = b.end;
        out.push(b);
    }
    Ok(out)
}

/// The top-level boxes of `data`, which must be an ISO BMFF file whose boxes exactly tile it
/// and start with `ftyp`: the cheap structural check to run before handing a file to a
/// library (the C2PA reader) so that a truncated or foreign file gets a clear error. Only
/// the top level is walked; [`validate_structure`] checks the nesting too.
pub fn top_level_boxes(data: &[u8]) -> Result<Vec<Mp4Box>, String> {
    if data.is_empty() {
        return Err("the file is empty".into());
    }
    let mut boxes = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if let Some(kind) = data.get(pos + 4..pos + 8) {
            if !kind.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
                return Err(format!(
                    "no box type at byte {pos} (bytes {kind:02x?}): not an MP4, or corrupt"
                ));
            }
        }
        let b = read_box(data, pos, data.len(), true)?;
        boxes.push(Mp4Box {
            kind: b.kind,
            offset: b.start as u64,
            header: b.header as u64,
            size: (b.end - b.start) as u64,
        });
        pos = b.end;
    }
    match boxes.first() {
        Some(b) if &b.kind == b"ftyp" => Ok(boxes),
        Some(b) => Err(format!(
            "first box is '{}', not 'ftyp': not an MP4",
            b.kind_str()
        )),
        None => Err("no boxes".into()),
    }
}

/// Bytes that precede the child boxes of a container (a full box's version and flags, a
/// sample entry's fixed fields); `None` for boxes whose contents are not boxes. `body` is the
/// box's contents, for the boxes whose preamble length depends on them.
fn container_preamble(kind: &[u8; 4], body: &[u8]) -> Option<usize> {
    Some(match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"edts" | b"dinf" | b"udta" | b"mvex"
        | b"moof" | b"traf" | b"mfra" | b"ilst" | b"wave" => 0,
        // The iTunes metadata items re_mp4 reads (title, year, cover, description): each holds
        // `data` boxes.
        b"\xa9nam" | b"\xa9day" | b"covr" | b"desc" => 0,
        // A full box, except that QuickTime files may leave out the version and flags and
        // start with the `hdlr` box directly (re_mp4 accepts both).
        b"meta" => {
            if body.get(0..4).is_some_and(|v| v != [0; 4]) && body.get(4..8) == Some(&b"hdlr"[..]) {
                0
            } else {
                4
            }
        }
        b"stsd" | b"dref" => 8,
        // A QuickTime version 1 sound description has 16 more bytes before its boxes.
        b"mp4a" => match body.get(8..10) {
            Some([0, 1]) => 44,
            _ => 28,
        },
        b"avc1" | b"avc3" | b"hvc1" | b"hev1" | b"av01" | b"vp08" | b"vp09" | b"encv" => 78,
        _ => return None,
    })
}

/// A box type for messages: `'moov'` when printable, else its hex value (`0x00010000`).
fn kind_name(kind: &[u8; 4]) -> String {
    if kind.iter().all(|&b| b.is_ascii_graphic() || b == b' ') {
        format!("'{}'", String::from_utf8_lossy(kind))
    } else if kind[0] == 0xa9 && kind[1..].iter().all(u8::is_ascii_graphic) {
        format!("'©{}'", String::from_utf8_lossy(&kind[1..]))
    } else {
        format!("0x{:08x}", u32::from_be_bytes(*kind))
    }
}

/// Refuses sample counts that no file of `file_len` bytes can hold. re_mp4 builds one entry
/// per sample (about 50 bytes each) while reading the file, and bounds the count by the box
/// size only where the box lists every sample; a `stsz` with one size for all samples, or a
/// `trun` without per-sample fields, can claim 4 billion samples in 20 bytes, and re_mp4
/// then allocates until memory runs out (found by the read_mp4 fuzz target,
/// `fuzz/regressions/read_mp4-stsz-oom.mp4`). Every sample's data lies in the file, so
/// `count * size` (at least `count`) bytes must fit in it.
fn check_sample_count(kind: &[u8; 4], body: &[u8], file_len: usize) -> Result<(), String> {
    let u32_at = |at: usize| {
        body.get(at..at + 4)
            .map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    };
    let (count, size) = match kind {
        // version and flags, sample_size, sample_count
        b"stsz" => match (u32_at(4), u32_at(8)) {
            (Some(size), Some(count)) if size != 0 => (count, size),
            _ => return Ok(()),
        },
        // version and flags, sample_count; sizes come from the defaults or the table
        b"trun" => match u32_at(4) {
            Some(count) => (count, 1),
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    if count.saturating_mul(size) > file_len as u64 {
        return Err(format!(
            "{count} samples of {size} byte(s) or more do not fit in a file of {file_len} bytes"
        ));
    }
    Ok(())
}

/// Checks that every box a parser will descend into has a size that covers its header and
/// stays inside its parent, and that its parent holds nothing after its last child; a
/// top-level box may run past the end of the file (a truncated file, which the parser
/// reports), and its contents are checked as far as the file goes.
///
/// This runs before re_mp4 (0.5.1) sees the bytes because re_mp4 loops forever on some
/// boxes that break these rules. Its container parsers (moov, trak, mdia, minf, stbl, dinf,
/// udta, meta, ilst, mvex, moof, traf, and the child loops of avc1 and mp4a) all walk their
/// children the same way:
///
/// ```text
/// while current < end {
///     let BoxHeader { name, size: s } = BoxHeader::read(reader)?;  // s: the size field
///     match name { known => Known::read_box(reader, s)?, _ => skip_box(reader, s)? }
///     current = reader.stream_position()?;
/// }
/// ```
///
/// where `skip_box` (for the types it does not know, such as 0x00010000) and the readers of
/// most known leaf boxes end with `skip_bytes_to(box_start + s)` (avc1 and mp4a seek to
/// `current + s`). A child whose size field is 0 therefore sends the reader back to the start
/// of its own header, `current` never grows, and the same header is read again forever (a
/// 64-bit size of 0 lands on its own zero bytes and loops there); only the top-level loop
/// breaks on a zero size. re_mp4 checks only that
/// a child is not larger than its whole parent, which a size of 0 passes. 1 to 7 stray bytes
/// after a container's last child do the same: re_mp4 reads a header that straddles the
/// parent's end, and if those bytes are zero (a QuickTime-style terminator, or padding) that
/// header has size 0. The fuzz-found `fuzz/regressions/read_mp4-trak-hang.mp4` is such a
/// file: its `trak` holds a `tkhd` and then a box of type 0x00010000 with size 0. The old
/// check here stopped at the first top-level box running past the end of the file, and that
/// file's `moov` claims 219 bytes more than the file has, so the check never looked inside.
pub fn validate_structure(data: &[u8]) -> Result<(), String> {
    /// Checks the boxes in `data[start..end]`, the contents of `parent` (`None` at the top
    /// level); `end` may lie past the end of `data` when the file is truncated.
    fn walk(
        data: &[u8],
        start: usize,
        end: usize,
        parent: Option<(&[u8; 4], usize)>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > 16 {
            return Err("boxes nested more than 16 deep".into());
        }
        let mut pos = start;
        while pos < end {
            let Some(head) = data.get(pos..).and_then(|rest| rest.get(..8)) else {
                // The file ends inside this box: truncated, which the parser reports.
                return Ok(());
            };
            if pos + 8 > end {
                let (pkind, pstart) = parent.unwrap_or((b"file", 0));
                return Err(format!(
                    "box {} at byte {pstart} ends with {} stray byte(s) at byte {pos}, too \
                     few for a box header",
                    kind_name(pkind),
                    end - pos
                ));
            }
            let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            let kind = [head[4], head[5], head[6], head[7]];
            let name = kind_name(&kind);
            let inside = match parent {
                Some((pkind, pstart)) => format!(" inside {} at byte {pstart}", kind_name(pkind)),
                None => String::new(),
            };
            let (size, header) = match size {
                // Only a top-level box may run to the end of the file.
                0 if parent.is_none() => ((data.len() - pos) as u64, 8),
                1 => match data.get(pos + 8..pos + 16) {
                    Some(l) => (u64::from_be_bytes(l.try_into().unwrap_or_default()), 16),
                    None => return Ok(()), // truncated inside the 64-bit size
                },
                s => (u64::from(s), 8),
            };
            if size < header as u64 {
                return Err(format!(
                    "box {name} at byte {pos}{inside} has an impossible size {size} (a box \
                     with a {header}-byte header is at least {header} bytes)"
                ));
            }
            let box_end = (pos as u64).saturating_add(size);
            if box_end > end as u64 {
                if let Some((pkind, pstart)) = parent {
                    return Err(format!(
                        "box {name} at byte {pos} (size {size}) runs past the end of its \
                         parent {} at byte {pstart} (which ends at byte {end})",
                        kind_name(pkind)
                    ));
                }
                // A top-level box running past the end of the file: the file is truncated.
                // The parser reports that, but it still reads what is there, so the
                // contents are checked as far as they go.
            }
            let box_end = usize::try_from(box_end).unwrap_or(usize::MAX);
            let body = data
                .get(pos + header..box_end.min(data.len()))
                .unwrap_or(&[]);
            check_sample_count(&kind, body, data.len())
                .map_err(|e| format!("box {name} at byte {pos}{inside}: {e}"))?;
            if let Some(pre) = container_preamble(&kind, body) {
                let first = pos + header + pre;
                if first <= box_end {
                    walk(data, first, box_end, Some((&kind, pos)), depth + 1)?;
                }
            }
            pos = box_end;
        }
        Ok(())
    }
    walk(data, 0, data.len(), None, 0)
}

fn find(boxes: &[BoxRef], kind: &[u8; 4]) -> Option<BoxRef> {
    boxes.iter().copied().find(|b| &b.kind == kind)
}

fn handler_of(data: &[u8], trak: BoxRef) -> Result<Option<[u8; 4]>, String> {
    let mdia = match find(&children(data, trak.body())?, b"mdia") {
        Some(b) => b,
        None => return Ok(None),
    };
    let hdlr = match find(&children(data, mdia.body())?, b"hdlr") {
        Some(b) => b,
        None => return Ok(None),
    };
    // version/flags (4) + pre_defined (4) + handler_type (4)
    let at = hdlr.start + hdlr.header + 8;
    Ok(data.get(at..at + 4).map(|h| [h[0], h[1], h[2], h[3]]))
}

fn put_u32(data: &mut [u8], at: usize, v: u32) {
    data[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Adds `delta` to every chunk offset (`stco`/`co64`) under `range`.
fn shift_chunk_offsets(
    data: &mut [u8],
    range: std::ops::Range<usize>,
    delta: u64,
) -> Result<(), String> {
    for b in children(data, range)? {
        match &b.kind {
            b"trak" | b"mdia" | b"minf" | b"stbl" => shift_chunk_offsets(data, b.body(), delta)?,
            b"stco" | b"co64" => {
                let body = b.body();
                let count_at = body.start + 4;
                let count = data
                    .get(count_at..count_at + 4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
                    .ok_or("chunk offset table cut off")?;
                let width = if &b.kind == b"stco" { 4 } else { 8 };
                let table = count_at + 4;
                if table + count * width > body.end {
                    return Err("chunk offset table longer than its box".into());
                }
                for i in 0..count {
                    let at = table + i * width;
                    if width == 4 {
                        let v = u32::from_be_bytes(data[at..at + 4].try_into().unwrap_or_default());
                        let shifted = u64::from(v) + delta;
                        let shifted =
                            u32::try_from(shifted).map_err(|_| "chunk offset overflow")?;
                        put_u32(data, at, shifted);
                    } else {
                        let v = u64::from_be_bytes(data[at..at + 8].try_into().unwrap_or_default());
                        data[at..at + 8].copy_from_slice(&(v + delta).to_be_bytes());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn trak_with_handler(mp4: &[u8], handler: &[u8; 4]) -> Result<(BoxRef, BoxRef), String> {
    let top = children(mp4, 0..mp4.len())?;
    let moov = find(&top, b"moov").ok_or("no moov box")?;
    for t in children(mp4, moov.body())? {
        if &t.kind == b"trak" && handler_of(mp4, t)?.as_ref() == Some(handler) {
            return Ok((moov, t));
        }
    }
    Err("no track with that handler".into())
}

fn child(data: &[u8], parent: BoxRef, kind: &[u8; 4]) -> Result<BoxRef, String> {
    find(&children(data, parent.body())?, kind)
        .ok_or_else(|| format!("no {} box", String::from_utf8_lossy(kind)))
}

/// Rewrites the timing of the first `handler` track to `timescale` ticks per second with every
/// sample lasting `sample_duration` ticks (constant-duration audio such as AAC). The sample
/// table keeps its size: the shorter `stts` is followed by a `free` box.
pub fn retime_constant_duration(
    mp4: &mut [u8],
    handler: &[u8; 4],
    timescale: u32,
    sample_duration: u32,
) -> Result<(), String> {
    let (_, trak) = trak_with_handler(mp4, handler)?;
    let mdia = child(mp4, trak, b"mdia")?;
    let mdhd = child(mp4, mdia, b"mdhd")?;
    let stbl = child(mp4, child(mp4, mdia, b"minf")?, b"stbl")?;
    let stts = child(mp4, stbl, b"stts")?;
    if stts.header != 8 {
        return Err("large stts box".into());
    }
    let body = stts.body();
    let count_at = body.start + 4;
    let entries = mp4
        .get(count_at..count_at + 4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .ok_or("stts cut off")?;
    if count_at + 4 + entries * 8 > body.end {
        return Err("stts longer than its box".into());
    }
    let mut samples: u64 = 0;
    for i in 0..entries {
        let at = count_at + 4 + i * 8;
        samples += u64::from(u32::from_be_bytes(
            mp4[at..at + 4].try_into().unwrap_or_default(),
        ));
    }
    let total = samples * u64::from(sample_duration);
    // mdhd: version 0 has 32-bit times, version 1 64-bit.
    let m = mdhd.start + mdhd.header;
    match mp4.get(m) {
        Some(0) => {
            put_u32(mp4, m + 12, timescale);
            put_u32(
                mp4,
                m + 16,
                u32::try_from(total).map_err(|_| "duration overflow")?,
            );
        }
        Some(1) => {
            put_u32(mp4, m + 20, timescale);
            mp4[m + 24..m + 32].copy_from_slice(&total.to_be_bytes());
        }
        _ => return Err("unknown mdhd version".into()),
    }
    if entries == 0 {
        return Ok(());
    }
    // One entry: all samples, one duration; then a free box over the rest.
    let new_end = stts.start + 24;
    put_u32(mp4, stts.start, 24);
    put_u32(mp4, count_at, 1);
    put_u32(
        mp4,
        count_at + 4,
        u32::try_from(samples).map_err(|_| "too many samples")?,
    );
    put_u32(mp4, count_at + 8, sample_duration);
    let rest = stts.end - new_end;
    if rest > 0 {
        put_u32(mp4, new_end, rest as u32);
        mp4[new_end + 4..new_end + 8].copy_from_slice(b"free");
        mp4[new_end + 8..stts.end].fill(0);
    }
    Ok(())
}

/// Inserts an edit list into the first track whose handler is `handler` (e.g. `b"soun"`):
/// the track plays its media from `media_time` (media timescale) for `segment_duration`
/// (movie timescale). The track header's duration becomes `segment_duration`.
pub fn add_edit_list(
    mp4: &[u8],
    handler: &[u8; 4],
    media_time: u64,
    segment_duration: u64,
) -> Result<Vec<u8>, String> {
    let top = children(mp4, 0..mp4.len())?;
    let (moov, trak) = trak_with_handler(mp4, handler)?;
    let mdat_after_moov = top
        .iter()
        .any(|b| &b.kind == b"mdat" && b.start > moov.start);
    let trak_children = children(mp4, trak.body())?;
    if find(&trak_children, b"edts").is_some() {
        return Err("track already has an edit list".into());
    }
    let tkhd = find(&trak_children, b"tkhd").ok_or("track without tkhd")?;
    if moov.header != 8 || trak.header != 8 {
        return Err("64-bit moov/trak sizes are not supported".into());
    }

    // edts { elst v1 { 1 entry: segment_duration u64, media_time i64, rate 1.0 } }
    let mut edts = Vec::with_capacity(44);
    edts.extend_from_slice(&44u32.to_be_bytes());
    edts.extend_from_slice(b"edts");
    edts.extend_from_slice(&36u32.to_be_bytes());
    edts.extend_from_slice(b"elst");
    edts.extend_from_slice(&[1, 0, 0, 0]); // version 1, flags 0
    edts.extend_from_slice(&1u32.to_be_bytes());
    edts.extend_from_slice(&segment_duration.to_be_bytes());
    edts.extend_from_slice(&media_time.to_be_bytes());
    edts.extend_from_slice(&[0, 1, 0, 0]); // media_rate 1.0
    debug_assert_eq!(edts.len(), 44);
    let delta = edts.len();

    let mut out = Vec::with_capacity(mp4.len() + delta);
    out.extend_from_slice(&mp4[..tkhd.end]);
    out.extend_from_slice(&edts);
    out.extend_from_slice(&mp4[tkhd.end..]);

    // Grow the enclosing boxes.
    let grow = |out: &mut Vec<u8>, at: usize| -> Result<(), String> {
        let size = u32::from_be_bytes(out[at..at + 4].try_into().unwrap_or_default());
        let size = size.checked_add(delta as u32).ok_or("box size overflow")?;
        put_u32(out, at, size);
        Ok(())
    };
    grow(&mut out, moov.start)?;
    grow(&mut out, trak.start)?;

    // Track header duration (version 0: u32 at +20 of the body, version 1: u64 at +28).
    let tkhd_body = tkhd.start + tkhd.header;
    match out.get(tkhd_body) {
        Some(0) => put_u32(
            &mut out,
            tkhd_body + 20,
            u32::try_from(segment_duration).map_err(|_| "duration overflow")?,
        ),
        Some(1) => {
            out[tkhd_body + 28..tkhd_body + 36].copy_from_slice(&segment_duration.to_be_bytes())
        }
        _ => return Err("unknown tkhd version".into()),
    }

    if mdat_after_moov {
        let moov_end = moov.end + delta;
        shift_chunk_offsets(&mut out, moov.start + 8..moov_end, delta as u64)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{top_level_boxes, validate_structure};

    /// A box with a 32-bit size.
    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn top_level_walk_tiles_the_file_or_says_why_not() {
        let f = cat(&[
            bx(b"ftyp", b"isom\0\0\0\0"),
            bx(b"moov", &[1, 2, 3]),
            bx(b"mdat", &[9; 20]),
        ]);
        let b = top_level_boxes(&f).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(&b[2].kind, b"mdat");
        assert_eq!(b[1].offset, 16);
        assert_eq!(b[2].body(), (b[2].offset + 8)..f.len() as u64);
        let e = top_level_boxes(&f[..f.len() - 1]).unwrap_err();
        assert!(
            e.contains("'mdat' at byte 27") && e.contains("truncated"),
            "{e}"
        );
        let e = top_level_boxes(&f[..f.len() - 25]).unwrap_err();
        assert!(e.contains("too few for a box header"), "{e}");
        let e = top_level_boxes(b"hello world, not an mp4").unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let e = top_level_boxes(&[0xff; 16]).unwrap_err();
        assert!(e.contains("no box type"), "{e}");
        assert!(top_level_boxes(&[]).is_err());
        let e = top_level_boxes(&bx(b"moov", &[])).unwrap_err();
        assert!(e.contains("ftyp"), "{e}");
        // A 64-bit size, and a last box of size 0 running to the end of the file.
        let mut large = vec![0, 0, 0, 1];
        large.extend_from_slice(b"free");
        large.extend_from_slice(&20u64.to_be_bytes());
        large.extend_from_slice(&[7; 4]);
        let f = cat(&[
            bx(b"ftyp", b"isom"),
            large,
            vec![0, 0, 0, 0],
            b"mdat".to_vec(),
            vec![5; 9],
        ]);
        let b = top_level_boxes(&f).unwrap();
        assert_eq!(
            b.iter().map(|b| (b.header, b.size)).collect::<Vec<_>>(),
            [(8, 12), (16, 20), (8, 17)]
        );
    }

    fn tkhd() -> Vec<u8> {
        bx(b"tkhd", &[0; 84])
    }

    fn file(trak_body: &[u8]) -> Vec<u8> {
        let moov = bx(
            b"moov",
            &cat(&[bx(b"mvhd", &[0; 100]), bx(b"trak", trak_body)]),
        );
        cat(&[bx(b"ftyp", b"isom\0\0\0\0"), moov, bx(b"mdat", &[1; 16])])
    }

    #[test]
    fn well_formed_boxes_pass() {
        let mdia = bx(b"mdia", &bx(b"minf", &bx(b"stbl", &[])));
        assert_eq!(validate_structure(&file(&cat(&[tkhd(), mdia]))), Ok(()));
        // A truncated file is left to the parser to report.
        let f = file(&tkhd());
        assert_eq!(validate_structure(&f[..f.len() - 30]), Ok(()));
        // QuickTime `meta` without version and flags, and ISO `meta` with them.
        let hdlr = bx(b"hdlr", &[0; 25]);
        let qt_meta = bx(b"meta", &hdlr);
        let iso_meta = bx(b"meta", &cat(&[vec![0; 4], hdlr.clone()]));
        let udta = bx(b"udta", &cat(&[qt_meta, iso_meta]));
        assert_eq!(validate_structure(&file(&cat(&[tkhd(), udta]))), Ok(()));
        // A version 1 QuickTime sound description, with a `wave` box.
        let mut fields = vec![0u8; 44];
        fields[9] = 1;
        let wave = bx(b"wave", &cat(&[bx(b"frma", b"mp4a"), bx(b"\0\0\0\0", &[])]));
        let mp4a = bx(b"mp4a", &cat(&[fields, wave]));
        let stsd = bx(b"stsd", &cat(&[vec![0, 0, 0, 0, 0, 0, 0, 1], mp4a]));
        assert_eq!(validate_structure(&file(&cat(&[tkhd(), stsd]))), Ok(()));
    }

    /// The shape of `fuzz/regressions/read_mp4-trak-hang.mp4`: a size-0 box after the `tkhd`,
    /// in a `moov` that runs past the end of the file.
    #[test]
    fn zero_size_box_in_a_truncated_moov_is_refused() {
        let mut zero = vec![0, 0, 0, 0, 0, 1, 0, 0];
        zero.extend_from_slice(&[0; 40]);
        let f = file(&cat(&[tkhd(), zero]));
        let cut = &f[..f.len() - 28]; // moov now ends 4 bytes past the end of the file
        let err = validate_structure(cut).unwrap_err();
        assert!(err.contains("box 0x00010000 at byte"), "{err}");
        assert!(err.contains("impossible size 0"), "{err}");
        assert!(err.contains("inside 'trak'"), "{err}");
        // The same with a 64-bit size of 0.
        let mut large0 = vec![0, 0, 0, 1, b'f', b'r', b'e', b'e'];
        large0.extend_from_slice(&[0; 16]);
        let f = file(&cat(&[tkhd(), large0]));
        let err = validate_structure(&f[..f.len() - 28]).unwrap_err();
        assert!(
            err.contains("'free'") && err.contains("impossible size 0"),
            "{err}"
        );
    }

    #[test]
    fn stray_bytes_after_the_last_child_are_refused() {
        for stray in 1..8 {
            let f = file(&cat(&[tkhd(), vec![0; stray]]));
            let err = validate_structure(&f).unwrap_err();
            assert!(
                err.contains(&format!(
                    "'trak' at byte 132 ends with {stray} stray byte(s)"
                )),
                "{err}"
            );
        }
        // Inside a `wave` box, whose children re_mp4 reads as if they were mp4a's.
        let wave = bx(b"wave", &cat(&[bx(b"frma", b"mp4a"), vec![0; 4]]));
        let mp4a = bx(b"mp4a", &cat(&[vec![0; 28], wave]));
        let stsd = bx(b"stsd", &cat(&[vec![0, 0, 0, 0, 0, 0, 0, 1], mp4a]));
        let err = validate_structure(&file(&cat(&[tkhd(), stsd]))).unwrap_err();
        assert!(err.contains("'wave'") && err.contains("4 stray"), "{err}");
    }

    #[test]
    fn impossible_sample_counts_are_refused() {
        let stsz = |size: u32, count: u32| {
            let mut b = vec![0; 4];
            b.extend_from_slice(&size.to_be_bytes());
            b.extend_from_slice(&count.to_be_bytes());
            bx(b"stsz", &b)
        };
        let stbl = |stsz: Vec<u8>| bx(b"mdia", &bx(b"minf", &bx(b"stbl", &stsz)));
        let ok = file(&cat(&[tkhd(), stbl(stsz(4, 4))]));
        assert_eq!(validate_structure(&ok), Ok(()));
        // A table of sizes is bounded by its box, which re_mp4 checks itself.
        let table = file(&cat(&[tkhd(), stbl(stsz(0, 1_000_000))]));
        assert_eq!(validate_structure(&table), Ok(()));
        let err = validate_structure(&file(&cat(&[tkhd(), stbl(stsz(1, 1_000_000))]))).unwrap_err();
        assert!(
            err.contains("box 'stsz' at byte 256 inside 'stbl'"),
            "{err}"
        );
        assert!(err.contains("1000000 samples of 1 byte(s)"), "{err}");
        let err =
            validate_structure(&file(&cat(&[tkhd(), stbl(stsz(u32::MAX, u32::MAX))]))).unwrap_err();
        assert!(err.contains("do not fit in a file of"), "{err}");

        let trun = |count: u32| {
            let mut b = vec![0; 4];
            b.extend_from_slice(&count.to_be_bytes());
            bx(b"trun", &b)
        };
        let frag = |trun: Vec<u8>| {
            let moof = bx(b"moof", &bx(b"traf", &trun));
            cat(&[bx(b"ftyp", b"isom\0\0\0\0"), moof])
        };
        assert_eq!(validate_structure(&frag(trun(2))), Ok(()));
        let err = validate_structure(&frag(trun(4_000_000_000))).unwrap_err();
        assert!(err.contains("box 'trun' at byte 32 inside 'traf'"), "{err}");
    }

    #[test]
    fn children_past_their_parent_are_refused() {
        let mut long = bx(b"mdia", &[0; 8]);
        long[3] = 200;
        let f = file(&cat(&[tkhd(), long]));
        let err = validate_structure(&f).unwrap_err();
        assert!(
            err.contains("box 'mdia' at byte 232 (size 200) runs past"),
            "{err}"
        );
        // And huge sizes do not overflow.
        let mut huge = vec![0, 0, 0, 1, b'm', b'd', b'i', b'a'];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        let f = file(&cat(&[tkhd(), huge]));
        assert!(validate_structure(&f).unwrap_err().contains("runs past"));
        let mut top = vec![0, 0, 0, 1, b'm', b'o', b'o', b'v'];
        top.extend_from_slice(&u64::MAX.to_be_bytes());
        top.extend_from_slice(&bx(b"trak", &[0; 3]));
        assert_eq!(validate_structure(&top), Ok(()));
    }
}
