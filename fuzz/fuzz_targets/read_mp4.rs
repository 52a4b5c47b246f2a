//! Any bytes given to the MP4 reader give a clip or an error, never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kino_media::probe_bytes(data, "fuzz.mp4");
    let _ = kino_media::decode_mp4(data, "fuzz.mp4");
});
