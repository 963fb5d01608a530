//! Strings the library returns, and how they are freed.
//!
//! Every `char *` the library writes to a `char **` out-parameter is a new,
//! NUL-terminated UTF-8 string owned by the caller, who frees it exactly once
//! with [`loyalty_string_free`] (not with `free()`: the library's allocator
//! may not be the C one). Static strings ([`crate::loyalty_version`],
//! [`crate::loyalty_result_name`]) are never freed.

use std::ffi::{c_char, CString};

/// Frees a string the library returned through a `char **` out-parameter.
/// NULL is a no-op. A pointer that is not a live string of this library (one
/// freed already, a static one of `loyalty_version` or
/// `loyalty_result_name`, or any other) is not freed: the call does nothing
/// but set this thread's last error message.
///
/// # Safety
///
/// `s` should be NULL or a string returned by this library and not freed
/// yet; other pointers are refused as above, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn loyalty_string_free(s: *mut c_char) {
    crate::live::free(&crate::live::STRINGS, s, "loyalty_string_free: not a string this library returned", |s| {
        // SAFETY: a string from `CString::into_raw` in this library, per the contract.
        drop(unsafe { CString::from_raw(s) })
    });
}
