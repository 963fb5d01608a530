//! What every entry point shares: the `catch_unwind` guard that turns a
//! failure or a panic into a result code and a thread-local message, the
//! checks of pointer and text arguments, and the hand-over of output strings.

use std::any::Any;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{clear_last_error, loyalty_result, set_last_error};
use loyalty_result::*;

/// A failed call: its code and its message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: loyalty_result,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: loyalty_result, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }
}

impl From<loyalty_core::Error> for Failure {
    fn from(e: loyalty_core::Error) -> Self {
        Failure { code: loyalty_result::of(&e), message: e.to_string() }
    }
}

/// Runs the body of an entry point: clears the thread's last error, runs
/// `body` behind `catch_unwind`, and turns its failure (or a panic) into a
/// code and the thread's last error message. Nothing unwinds out of it.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> loyalty_result {
    clear_last_error();
    // AssertUnwindSafe: on a panic nothing the body touched is used again by
    // this call, and out-parameters are written only at the very end of a
    // successful body (see `Outputs`). The program handle is immutable.
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return LOYALTY_OK,
        Ok(Err(failure)) => failure,
        Err(payload) => {
            let message = format!("panic inside the loyalty library: {}", panic_message(&*payload));
            // Dropping the payload runs foreign code: keep a panic there inside too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            Failure::new(LOYALTY_ERROR_PANIC, message)
        }
    };
    let code = failure.code;
    // Formatting and storing the message allocates; should that ever
    // panic, the code still goes back.
    let _ = catch_unwind(AssertUnwindSafe(move || set_last_error(failure.message)));
    code
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Refuses a NULL pointer argument, naming it.
pub(crate) fn non_null<T>(ptr: *const T, name: &str) -> Result<(), Failure> {
    if ptr.is_null() {
        return Err(Failure::new(LOYALTY_ERROR_NULL_ARGUMENT, format!("{name} is NULL")));
    }
    Ok(())
}

/// Refuses a NULL out-parameter, naming it.
/// Checks that a program handle is one `loyalty_program_load` returned and
/// that was not freed.
pub(crate) fn live_program(ptr: *const crate::loyalty_program) -> Result<(), Failure> {
    non_null(ptr, "program")?;
    if !crate::live::is_live(&crate::live::PROGRAMS, ptr) {
        return Err(Failure::new(
            LOYALTY_ERROR_INVALID_ARGUMENT,
            "program: not a live handle (freed already, or not from loyalty_program_load)",
        ));
    }
    Ok(())
}

pub(crate) fn non_null_out<T>(ptr: *mut T, name: &str) -> Result<(), Failure> {
    non_null(ptr.cast_const(), name)
}

/// A text argument given as pointer and length: UTF-8 without NUL bytes.
///
/// # Safety
///
/// `ptr`, when not NULL, must be valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn input<'a>(ptr: *const c_char, len: usize, name: &str) -> Result<&'a str, Failure> {
    non_null(ptr, name)?;
    if len > isize::MAX as usize {
        return Err(Failure::new(
            LOYALTY_ERROR_INVALID_ARGUMENT,
            format!("{name}: a length of {len} bytes is more than PTRDIFF_MAX"),
        ));
    }
    // SAFETY: not NULL, at most isize::MAX bytes, readable per the caller's contract.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            LOYALTY_ERROR_INVALID_UTF8,
            format!("{name}: not valid UTF-8: invalid byte sequence at byte offset {}", e.valid_up_to()),
        )
    })?;
    // `contains` on bytes is a memchr; the position is looked for only on failure.
    if bytes.contains(&0) {
        let at = bytes.iter().position(|&b| b == 0).unwrap_or(0);
        return Err(Failure::new(LOYALTY_ERROR_EMBEDDED_NUL, format!("{name}: a NUL byte at byte offset {at}")));
    }
    Ok(text)
}

/// An owned, NUL-terminated copy of `s` for the caller, who frees it with
/// `loyalty_string_free`.
pub(crate) fn c_string(s: String, name: &str) -> Result<CString, Failure> {
    CString::new(s).map_err(|e| {
        Failure::new(LOYALTY_ERROR_OTHER, format!("{name}: the output holds a NUL byte at {}", e.nul_position()))
    })
}

/// Hands a string to the caller through a checked, non-NULL out-parameter.
///
/// # Safety
///
/// `out` must be valid for a write of a pointer.
pub(crate) unsafe fn give(out: *mut *mut c_char, s: CString) {
    let raw = s.into_raw();
    crate::live::add(&crate::live::STRINGS, raw);
    // SAFETY: checked non-NULL by the caller of `give`; writable per the C contract.
    unsafe { out.write(raw) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_code_and_a_message() {
        let code = guard(|| panic!("boom {}", 42));
        assert_eq!(code, LOYALTY_ERROR_PANIC);
        let mut buf = [0 as c_char; 128];
        // SAFETY: `buf` has 128 bytes.
        let n = unsafe { crate::loyalty_last_error_message(buf.as_mut_ptr(), buf.len()) };
        let message: Vec<u8> = buf[..n].iter().map(|&c| c as u8).collect();
        assert_eq!(String::from_utf8(message).unwrap(), "panic inside the loyalty library: boom 42");
        assert_eq!(guard(|| Ok(())), LOYALTY_OK);
        // SAFETY: NULL asks for the length.
        assert_eq!(unsafe { crate::loyalty_last_error_message(std::ptr::null_mut(), 0) }, 0);
    }

    #[test]
    fn text_is_utf8_without_nul() {
        let ok = b"{\"a\": 1}";
        // SAFETY: the slices are valid for their lengths.
        unsafe {
            assert_eq!(input(ok.as_ptr().cast(), ok.len(), "t").unwrap(), "{\"a\": 1}");
            assert_eq!(input(b"a\0b".as_ptr().cast(), 3, "t").unwrap_err().code, LOYALTY_ERROR_EMBEDDED_NUL);
            assert_eq!(input(b"a\xffb".as_ptr().cast(), 3, "t").unwrap_err().code, LOYALTY_ERROR_INVALID_UTF8);
            assert_eq!(input(std::ptr::null(), 0, "t").unwrap_err().code, LOYALTY_ERROR_NULL_ARGUMENT);
            assert_eq!(input(ok.as_ptr().cast(), usize::MAX, "t").unwrap_err().code, LOYALTY_ERROR_INVALID_ARGUMENT);
        }
    }
}
