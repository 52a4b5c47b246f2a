//! Allocator settings for training.
//!
//! A DiT training step allocates and frees hundreds of megabytes of short-lived tensors.
//! With glibc's defaults, freed memory at the top of the heap goes back to the system and
//! comes back on the next step as fresh pages, which the kernel must fault in and zero: a
//! profile of a kino-tiny DiT step showed a third of its time in the kernel (session 14).
//! Keeping freed memory (a trim threshold of 2 GiB) and growing the heap in 512 MiB steps
//! made a step about 17% faster on the 2-core VM (`kino bench dit --train --batch 4
//! --seconds 2`: median 1.87 s -> 1.55 s, peak RSS 1.51 -> 1.54 GB; session 16), while
//! `kino generate` did not change (`kino bench generate`: 4.22/4.08 s -> 3.99/4.10 s), so
//! only training and its benchmark ask for it. Other platforms and C libraries keep their
//! allocator's defaults.

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
