//! What the calls into librdkafka's C API share (the admin calls rdkafka 0.39 does not wrap:
//! IncrementalAlterConfigs, ListConsumerGroupOffsets): an owner that destroys each C object on
//! every path, and C strings copied out.

use std::ffi::{CStr, c_char};

/// Owns a librdkafka object and destroys it when dropped.
pub(crate) struct Owned<T> {
    pub(crate) pointer: *mut T,
    destroy: unsafe extern "C" fn(*mut T),
}

impl<T> Owned<T> {
    /// `None` for a null pointer (librdkafka could not make the object).
    pub(crate) fn new(pointer: *mut T, destroy: unsafe extern "C" fn(*mut T)) -> Option<Self> {
        (!pointer.is_null()).then_some(Owned { pointer, destroy })
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came non-null from librdkafka's matching constructor and is
        // destroyed exactly once, here.
        unsafe { (self.destroy)(self.pointer) }
    }
}

/// A C string owned by librdkafka, copied out (empty for null).
///
/// SAFETY: `text` is null or a NUL-terminated string that lives at least as long as this call.
pub(crate) unsafe fn copied(text: *const c_char) -> String {
    if text.is_null() {
        String::new()
    } else {
        // SAFETY: see the function's contract.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }
}
