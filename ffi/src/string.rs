//! Strings the library returns, and how they are freed.
//!
//! Every `char *` the library writes to a `char **` out-parameter is a new,
//! NUL-terminated UTF-8 string owned by the caller, who frees it exactly once
//! with [`loyalty_string_free`] (not with `free()`: the library's allocator
//! may not be the C one). Static strings ([`crate::loyalty_version`],
//! [`crate::loyalty_result_name`]) are never freed.

use std::ffi::{c_char, CString};

/// Frees a string the library returned through a `char **` out-parameter.
/// NULL is a no-op.
///
/// # Safety
///
/// `s` must be NULL or a string returned by this library and not freed yet.
/// Freeing a string twice, or freeing a string the library did not return
/// (including the static ones of `loyalty_version` and
/// `loyalty_result_name`), is the caller's bug and cannot be detected.
#[no_mangle]
pub unsafe extern "C" fn loyalty_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: a string from `CString::into_raw` in this library, per the contract.
        drop(unsafe { CString::from_raw(s) });
    });
}
