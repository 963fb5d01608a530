//! Member handles: a member state kept inside the library between calls, so
//! a host that keeps its members in memory does not pay for decoding and
//! encoding the member's JSON on every event (about 35 µs of the 50 µs an
//! `apply` with JSON in and out costs; see BENCHMARKS.md).
//!
//! [`loyalty_member_from_json`] and [`loyalty_program_start_member`] create
//! a handle; [`loyalty_program_apply_member`] applies events to it in place
//! and [`loyalty_program_quote_member`] quotes for it;
//! [`loyalty_member_to_json`] writes its state for storage; and
//! [`loyalty_member_free`] frees it, exactly once. The JSON is the same as
//! the JSON functions' ([`Member::to_json`]), so a host can switch between
//! the two forms at any event.
//!
//! A handle is mutable: one thread at a time may use it (it may move
//! between threads). A call that panics inside the engine while applying to
//! a handle leaves it unusable (`LOYALTY_ERROR_PANIC` from then on, for
//! every call but [`loyalty_member_free`]): the state could be half-changed,
//! and the host reloads it from what it stored.
//!
//! ```
//! use loyalty::*;
//!
//! let program_text = br#"{"id":"p","currency":"EUR","time_zone":"UTC","categories":["x"],
//!     "earn":[{"id":"base","kind":"per_amount","points":1,"per":"1"}]}"#;
//! let mut program: *const loyalty_program = std::ptr::null();
//! let mut member: *mut loyalty_member = std::ptr::null_mut();
//! let (mut receipt, mut json): (*mut std::ffi::c_char, *mut std::ffi::c_char) = (std::ptr::null_mut(), std::ptr::null_mut());
//! let mut duplicate = false;
//! let enroll = br#"{"id":"e1","at":"2026-01-05T10:00:00Z","type":"enroll","member":"m-1"}"#;
//! let sale = br#"{"id":"s1","at":"2026-01-05T11:00:00Z","type":"purchase",
//!     "lines":[{"sku":"a","category":"x","quantity":"1","unit_price":"12.50"}]}"#;
//! unsafe {
//!     assert_eq!(loyalty_program_load(program_text.as_ptr().cast(), program_text.len(), LOYALTY_FORMAT_JSON, &mut program), LOYALTY_OK);
//!     assert_eq!(loyalty_program_start_member(program, enroll.as_ptr().cast(), enroll.len(), &mut member, &mut receipt), LOYALTY_OK);
//!     loyalty_string_free(receipt);
//!     assert_eq!(loyalty_program_apply_member(program, member, sale.as_ptr().cast(), sale.len(), &mut receipt, &mut duplicate), LOYALTY_OK);
//!     assert!(!duplicate);
//!     loyalty_string_free(receipt);
//!     // The state, for storage: 12 points earned.
//!     assert_eq!(loyalty_member_to_json(member, &mut json), LOYALTY_OK);
//!     let state = std::ffi::CStr::from_ptr(json).to_str().unwrap();
//!     assert_eq!(loyalty_core::Member::from_json_str(state).unwrap().balances().available, 12);
//!     loyalty_string_free(json);
//!     loyalty_member_free(member);
//!     loyalty_program_free(program);
//! }
//! ```
//!
//! [`Member::to_json`]: loyalty_core::Member::to_json

use std::ffi::c_char;

use loyalty_core::{Event, Member};

use crate::error::loyalty_result;
use crate::guard::{c_string, give, guard, input, live_program, non_null, non_null_out, Failure};
use crate::program::loyalty_program;

/// A member state held by the library: opaque and mutable.
///
/// Created by [`loyalty_member_from_json`] or
/// [`loyalty_program_start_member`], freed exactly once by
/// [`loyalty_member_free`]. One thread at a time may use a handle.
pub struct loyalty_member {
    member: Member,
    /// Set while an event is applied, cleared when the engine returns: still
    /// set after a panic, when the state may be half-changed.
    poisoned: bool,
}

// A handle may move between threads (one at a time uses it).
const _: () = {
    const fn movable<T: Send>() {}
    movable::<loyalty_member>()
};

/// Checks that `ptr` is a handle this library returned and did not free,
/// and that no panic left it half-changed.
fn live_member(ptr: *const loyalty_member) -> Result<(), Failure> {
    non_null(ptr, "member")?;
    if !crate::live::is_live(&crate::live::MEMBERS, ptr) {
        return Err(Failure::new(
            loyalty_result::LOYALTY_ERROR_INVALID_ARGUMENT,
            "member: not a live handle (freed already, or not from loyalty_member_from_json or \
             loyalty_program_start_member)",
        ));
    }
    // SAFETY: a live handle, per the check above and the caller's contract.
    if unsafe { (*ptr).poisoned } {
        return Err(Failure::new(
            loyalty_result::LOYALTY_ERROR_PANIC,
            "member: a panic inside the library left this handle's state unknown; free it and load the \
             state you stored",
        ));
    }
    Ok(())
}

/// Hands a new member handle to the caller through a checked out-parameter.
///
/// # Safety
///
/// `out` must be non-NULL and valid for a write of a pointer.
unsafe fn give_member(out: *mut *mut loyalty_member, member: Member) {
    let handle = Box::into_raw(Box::new(loyalty_member { member, poisoned: false }));
    crate::live::add(&crate::live::MEMBERS, handle);
    // SAFETY: per this function's contract.
    unsafe { out.write(handle) };
}

/// Decodes a member state (as `loyalty_member_to_json` or
/// `loyalty_program_apply` wrote it) into a new handle.
///
/// `json` is `json_len` bytes of the state. On success writes the handle to
/// `*member_out`; free it with `loyalty_member_free`. On failure
/// (`LOYALTY_ERROR_MEMBER_STATE` naming line, column and field) writes
/// nothing.
///
/// # Safety
///
/// `json` must be valid for reads of `json_len` bytes; `member_out` valid
/// for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn loyalty_member_from_json(
    json: *const c_char,
    json_len: usize,
    member_out: *mut *mut loyalty_member,
) -> loyalty_result {
    guard(|| {
        non_null(json, "json")?;
        non_null_out(member_out, "member_out")?;
        // SAFETY: per this function's contract.
        let member = Member::from_json_str(unsafe { input(json, json_len, "json")? })?;
        // SAFETY: checked non-NULL above; nothing can fail after this point.
        unsafe { give_member(member_out, member) };
        Ok(())
    })
}

/// Writes the member state of a handle as JSON (the same text
/// `loyalty_program_apply` returns) to `*json_out`, a new string to free
/// with `loyalty_string_free`.
///
/// # Safety
///
/// `member` must be a live handle; `json_out` valid for a write of a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn loyalty_member_to_json(
    member: *const loyalty_member,
    json_out: *mut *mut c_char,
) -> loyalty_result {
    guard(|| {
        live_member(member)?;
        non_null_out(json_out, "json_out")?;
        // SAFETY: a live handle, per the check and the contract.
        let json = c_string(unsafe { (*member).member.to_json() }, "member")?;
        // SAFETY: checked non-NULL above.
        unsafe { give(json_out, json) };
        Ok(())
    })
}

/// Frees a member handle. NULL is a no-op.
///
/// # Safety
///
/// `member` should be NULL or a handle from this library that was not
/// freed yet, and no other thread may be using it. A pointer that is not a
/// live handle (freed already, or never returned) is not freed: the call
/// does nothing but set this thread's last error message.
#[no_mangle]
pub unsafe extern "C" fn loyalty_member_free(member: *mut loyalty_member) {
    crate::live::free(&crate::live::MEMBERS, member, "loyalty_member_free: not a live member handle", |m| {
        // SAFETY: a live handle from `give_member`, per the contract.
        drop(unsafe { Box::from_raw(m) })
    });
}

/// Starts a member from an `enroll` event, as `loyalty_program_start` does,
/// into a new handle.
///
/// On success writes the handle to `*member_out` (free it with
/// `loyalty_member_free`) and the receipt to `*receipt_out` (a new JSON
/// string to free with `loyalty_string_free`). On failure writes nothing.
///
/// # Safety
///
/// `program` must be a live handle; `event_json` valid for reads of
/// `event_len` bytes; `member_out` and `receipt_out` valid for a write of a
/// pointer each.
#[no_mangle]
pub unsafe extern "C" fn loyalty_program_start_member(
    program: *const loyalty_program,
    event_json: *const c_char,
    event_len: usize,
    member_out: *mut *mut loyalty_member,
    receipt_out: *mut *mut c_char,
) -> loyalty_result {
    guard(|| {
        live_program(program)?;
        non_null(event_json, "event_json")?;
        non_null_out(member_out, "member_out")?;
        non_null_out(receipt_out, "receipt_out")?;
        // SAFETY: per this function's contract.
        let (member, receipt) = unsafe { crate::apply::started(program, event_json, event_len)? };
        // SAFETY: checked non-NULL above; nothing can fail after this point.
        unsafe {
            give_member(member_out, member);
            give(receipt_out, receipt);
        }
        Ok(())
    })
}

/// Applies one event to the member of a handle, in place, as
/// `loyalty_program_apply` does: all of it or, on error, nothing.
///
/// On success the handle holds the state after the event; writes to
/// `*receipt_out` the receipt (a new JSON string to free with
/// `loyalty_string_free`) and to `*duplicate_out` whether the event id was
/// applied before (a retry: the receipt is the original one and the state
/// is unchanged). On failure the handle's state is unchanged and nothing is
/// written.
///
/// # Safety
///
/// `program` and `member` must be live handles, `member` used by no other
/// thread meanwhile; `event_json` valid for reads of `event_len` bytes;
/// `receipt_out` and `duplicate_out` valid for one write each.
#[no_mangle]
pub unsafe extern "C" fn loyalty_program_apply_member(
    program: *const loyalty_program,
    member: *mut loyalty_member,
    event_json: *const c_char,
    event_len: usize,
    receipt_out: *mut *mut c_char,
    duplicate_out: *mut bool,
) -> loyalty_result {
    guard(|| {
        live_program(program)?;
        live_member(member)?;
        non_null(event_json, "event_json")?;
        non_null_out(receipt_out, "receipt_out")?;
        non_null_out(duplicate_out, "duplicate_out")?;
        // SAFETY: per this function's contract.
        let (program, handle, event) =
            unsafe { (&(*program).program, &mut *member, input(event_json, event_len, "event_json")?) };
        let event = Event::from_json_str(event)?;
        handle.poisoned = true;
        let applied = program.apply(&mut handle.member, &event);
        handle.poisoned = false;
        let applied = applied?;
        // A receipt holds no NUL byte (JSON escapes control characters).
        let receipt = c_string(applied.receipt.to_json(), "receipt")?;
        // SAFETY: checked non-NULL above; nothing can fail after this point.
        unsafe {
            give(receipt_out, receipt);
            duplicate_out.write(applied.duplicate);
        }
        Ok(())
    })
}

/// Quotes a basket for the member of a handle, as `loyalty_program_quote`
/// does (same basket, instant and quote JSON), changing nothing.
///
/// # Safety
///
/// `program` and `member` must be live handles; `basket_json` and `at` valid
/// for reads of their lengths; `quote_out` valid for a write of a pointer.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn loyalty_program_quote_member(
    program: *const loyalty_program,
    member: *const loyalty_member,
    basket_json: *const c_char,
    basket_len: usize,
    at: *const c_char,
    at_len: usize,
    quote_out: *mut *mut c_char,
) -> loyalty_result {
    guard(|| {
        live_program(program)?;
        live_member(member)?;
        non_null(basket_json, "basket_json")?;
        non_null(at, "at")?;
        non_null_out(quote_out, "quote_out")?;
        // SAFETY: per this function's contract.
        let (program, member, basket, at) = unsafe {
            (
                &(*program).program,
                &(*member).member,
                input(basket_json, basket_len, "basket_json")?,
                input(at, at_len, "at")?,
            )
        };
        let quote = crate::quote::quote_json(program, member, basket, at)?;
        // SAFETY: checked non-NULL above.
        unsafe { give(quote_out, quote) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty_result::*;

    /// A handle left half-changed by a panic is refused by every call but
    /// the free.
    #[test]
    fn a_poisoned_handle_is_refused() {
        let program_text = br#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#;
        let enroll = br#"{"id":"e1","at":"2026-01-05T10:00:00Z","type":"enroll","member":"m-1"}"#;
        let advance = br#"{"id":"a1","at":"2026-01-06T10:00:00Z","type":"advance"}"#;
        let mut program: *const loyalty_program = std::ptr::null();
        let mut member: *mut loyalty_member = std::ptr::null_mut();
        let (mut receipt, mut json) = (std::ptr::null_mut::<c_char>(), std::ptr::null_mut::<c_char>());
        let mut duplicate = false;
        // SAFETY: the texts are valid for their lengths; the out-parameters are
        // local; each handle and string is freed once.
        unsafe {
            let rc = crate::loyalty_program_load(
                program_text.as_ptr().cast(),
                program_text.len(),
                crate::LOYALTY_FORMAT_JSON,
                &mut program,
            );
            assert_eq!(rc, LOYALTY_OK);
            let rc =
                loyalty_program_start_member(program, enroll.as_ptr().cast(), enroll.len(), &mut member, &mut receipt);
            assert_eq!(rc, LOYALTY_OK);
            crate::loyalty_string_free(receipt);
            (*member).poisoned = true;
            let rc = loyalty_program_apply_member(
                program,
                member,
                advance.as_ptr().cast(),
                advance.len(),
                &mut receipt,
                &mut duplicate,
            );
            assert_eq!(rc, LOYALTY_ERROR_PANIC);
            assert_eq!(loyalty_member_to_json(member, &mut json), LOYALTY_ERROR_PANIC);
            assert!(json.is_null());
            loyalty_member_free(member);
            assert!(!crate::live::is_live(&crate::live::MEMBERS, member));
            crate::loyalty_program_free(program);
        }
    }
}
