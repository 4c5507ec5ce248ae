//! What the fuzz targets share.

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, refusing any single allocation above [`CappedAlloc::MAX_BYTES`].
///
/// An allocation that fails aborts a Rust process (there is no panic to catch), so a decoder
/// that reserves what a file claims is a way to kill the portal with one small upload. Linux
/// overcommits, so such a reservation may succeed here and fail only on a smaller server;
/// refusing it turns every one into a finding ("memory allocation of N bytes failed"), whatever
/// the machine. No upload Hark accepts (10 MiB, 60 s) needs anything near this much at once.
pub struct CappedAlloc;

impl CappedAlloc {
    pub const MAX_BYTES: usize = 256 * 1024 * 1024;
}

// SAFETY: every call is passed to `System` unchanged, or refused with a null pointer, which
// `GlobalAlloc` allows.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > Self::MAX_BYTES {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > Self::MAX_BYTES {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > Self::MAX_BYTES {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Silence the panic hook, for targets whose input reaches a decoder. Hark catches a panic
/// inside a demuxer or codec and refuses the file (see `hark_core::audio::decode`);
/// libFuzzer's hook would abort on it first. Panics that escape Hark's own code still abort
/// (libfuzzer-sys aborts on an unwinding target).
pub fn quiet_decoder_panics() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}
