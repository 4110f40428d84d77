//! Per-thread buffers that only grow, so that a kernel called again (the
//! next layer, the next forward pass) allocates nothing.

use std::cell::RefCell;
use std::thread::LocalKey;

thread_local! {
    /// The kernels' large per-call scratch on this thread (im2col matrices,
    /// blocked or transformed inputs, a dense layer's transposes) when the
    /// caller plans none, kept between calls so that every call does not
    /// allocate (and page in) a fresh multi-megabyte buffer.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `len` floats of this thread's kernel scratch (see
/// [`with_thread_buffer`]).
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_thread_buffer(&SCRATCH, len, f)
}

/// Runs `f` with `len` floats of this thread's buffer `key`, grown (never
/// shrunk) to at least `len`; a fresh buffer if the thread's is in use
/// (a caller running kernels inside its own rayon jobs on this thread).
/// The floats hold whatever the last user left: callers write before they
/// read.
pub(crate) fn with_thread_buffer<R>(
    key: &'static LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![0.0; len]),
    })
}
