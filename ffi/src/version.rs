//! The library's version.

use std::ffi::c_char;

/// The library's version (`"0.1.0"`): the version of the `loyalty` engine it
/// was built with, which is also this C ABI's version. A static,
/// NUL-terminated string: never free it.
#[no_mangle]
pub extern "C" fn loyalty_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
