//! Per-thread buffers that only grow, so that a kernel called again (the
//! next layer, the next forward pass) allocates nothing.

use std::cell::RefCell;
use std::thread::LocalKey;

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
