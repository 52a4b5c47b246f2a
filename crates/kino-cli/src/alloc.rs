//! Allocator settings for training.
//!
//! A DiT training step allocates and frees hundreds of megabytes of short-lived tensors.
//! With glibc's defaults much of that memory goes back to the system when it is freed and
//! comes back on the next step as fresh pages that the kernel must fault in and zero: a
//! profile of a kino-tiny DiT step showed a third of its time in the kernel (session 14).
//! A trim threshold of 2 GiB and a heap grown in 512 MiB steps (which also fixes glibc's
//! mmap threshold at its 128 KiB default) cut the page faults of `kino bench dit --train
//! --batch 4 --seconds 2 --repeats 3` from 1.52 M to 0.37 M (`perf stat -e page-faults`;
//! an mmap threshold of 32 MiB on top changed nothing: 0.37 M) and the step's median from
//! 1.87 / 1.80 s to 1.52 / 1.59 s (two runs each, `--allocator-defaults` for the
//! defaults), peak RSS 1.50 -> 1.54 GB; a real `kino train` DiT step went from 4.0-4.2 s to
//! about 2.9 s (session 16, 2-core VM). `kino generate` did not change (`kino bench
//! generate`: 4.22 / 4.08 s -> 3.99 / 4.10 s), so only training and its benchmark ask for
//! it. Other platforms and C libraries keep their allocator's defaults.

/// Tells the C allocator to keep freed memory for reuse (see the module docs).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc malloc's tuning parameters; it is called before
    // any thread of ours starts and has no memory-safety preconditions.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 512 << 20);
    }
}
