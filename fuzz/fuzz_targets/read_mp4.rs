//! Any bytes given to the MP4 reader give a clip or an error, never a crash.
//!
//! kino-media runs the third-party container parser (re_mp4) under `catch_unwind` and turns
//! its panics into errors (fuzzing found arithmetic overflows in it). libfuzzer-sys's panic
//! hook would abort even on those contained panics, so the hook is silenced here: a panic
//! that escapes `decode_mp4` still aborts the run (libfuzzer-sys catches it and aborts) and is
//! reported as a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let _ = kino_media::probe_bytes(data, "fuzz.mp4");
    let _ = kino_media::decode_mp4(data, "fuzz.mp4");
});
