//! The allocator settings of the `resnetc` process.
//!
//! glibc's allocator raises its trim threshold (up to 64 MiB) after the
//! program frees a large block, and from then on keeps that much free memory
//! at the top of each heap instead of returning it to the system. resnetc
//! frees large blocks on purpose (weights replaced by their packed form, the
//! tensors of the compile phase) before it allocates the workspace, so the
//! kept memory adds to the peak resident size of `run`, `bench` and `train`:
//! 4 MB on ResNet-50 at batch 8 (`resnetc bench --threads 2`, 212.9 → 208.9
//! MB, measured 2026-11-30; 8.5 MB before the convolutions' scratch moved
//! into the interpreter's workspace).
//! A fixed threshold (glibc's default of 128 KiB, no longer adjusted) gives
//! it back.

/// Sets the allocator's trim threshold to a fixed 128 KiB (glibc on Linux;
/// elsewhere nothing).
pub fn release_freed_memory_promptly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes a setting of glibc's allocator; it
        // has no preconditions and may be called at any time (here before
        // any thread starts). It returns 0 on failure, which leaves the
        // default behaviour: nothing to handle.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
        }
    }
}
