//! Applying events: [`loyalty_program_start`] creates a member from an
//! `enroll` event, [`loyalty_program_apply`] applies any other event to a
//! member state. JSON in, JSON out, exactly as the Rust API computes it.

use std::ffi::c_char;

use loyalty_core::{Event, Member};

use crate::error::loyalty_result;
use crate::guard::{c_string, give, guard, input, live_program, non_null, non_null_out, Failure};
use crate::program::loyalty_program;

/// Starts a member from an `enroll` event (`Program::start`): no member
/// state comes in.
///
/// `event_json` is `event_len` bytes of one event in JSON (its `type` must be
/// `enroll`). On success writes to `*member_out` the new member state and to
/// `*receipt_out` the receipt, each a new JSON string to free with
/// `loyalty_string_free`. On failure writes nothing.
///
/// # Safety
///
/// `program` must be a live handle; `event_json` valid for reads of
/// `event_len` bytes; `member_out` and `receipt_out` valid for a write of a
/// pointer each.
#[no_mangle]
pub unsafe extern "C" fn loyalty_program_start(
    program: *const loyalty_program,
    event_json: *const c_char,
    event_len: usize,
    member_out: *mut *mut c_char,
    receipt_out: *mut *mut c_char,
) -> loyalty_result {
    guard(|| {
        live_program(program)?;
        non_null(event_json, "event_json")?;
        non_null_out(member_out, "member_out")?;
        non_null_out(receipt_out, "receipt_out")?;
        // SAFETY: per this function's contract.
        let (member, receipt) = unsafe { started(program, event_json, event_len)? };
        let member = c_string(member.to_json(), "member")?;
        // SAFETY: checked non-NULL above; nothing can fail after this point.
        unsafe {
            give(member_out, member);
            give(receipt_out, receipt);
        }
        Ok(())
    })
}

/// The member an `enroll` event starts, and the receipt as a C string: the
/// work of both start functions once their arguments are checked.
///
/// # Safety
///
/// `program` must be a live handle, `event_json` non-NULL and valid for
/// reads of `event_len` bytes.
pub(crate) unsafe fn started(
    program: *const loyalty_program,
    event_json: *const c_char,
    event_len: usize,
) -> Result<(Member, std::ffi::CString), Failure> {
    // SAFETY: per this function's contract.
    let (program, event) = unsafe { (&(*program).program, input(event_json, event_len, "event_json")?) };
    let event = Event::from_json_str(event)?;
    let (member, receipt) = program.start(&event)?;
    Ok((member, c_string(receipt.to_json(), "receipt")?))
}

/// Applies one event to a member (`Program::apply`): all of it or, on
/// error, nothing.
///
/// `member_json` is the member state (as returned by a previous call),
/// `event_json` one event, each in JSON with its length in bytes. On success
/// writes to `*member_out` the member state after the event and to
/// `*receipt_out` its receipt (new JSON strings to free with
/// `loyalty_string_free`), and to `*duplicate_out` whether the event id was
/// applied before (a retry: the receipt is the original one and the state is
/// unchanged). On failure writes nothing: the caller's stored state stays the
/// state of record.
///
/// Rewards with shared stock or a budget need the host's counters, which
/// this C ABI does not take yet: their events fail with
/// `LOYALTY_ERROR_REWARD_REFUSED`.
///
/// # Safety
///
/// `program` must be a live handle; `member_json` and `event_json` valid for
/// reads of `member_len` and `event_len` bytes; `member_out`, `receipt_out`
/// and `duplicate_out` valid for one write each.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn loyalty_program_apply(
    program: *const loyalty_program,
    member_json: *const c_char,
    member_len: usize,
    event_json: *const c_char,
    event_len: usize,
    member_out: *mut *mut c_char,
    receipt_out: *mut *mut c_char,
    duplicate_out: *mut bool,
) -> loyalty_result {
    guard(|| {
        live_program(program)?;
        non_null(member_json, "member_json")?;
        non_null(event_json, "event_json")?;
        non_null_out(member_out, "member_out")?;
        non_null_out(receipt_out, "receipt_out")?;
        non_null_out(duplicate_out, "duplicate_out")?;
        // SAFETY: per this function's contract.
        let (program, member, event) = unsafe {
            (
                &(*program).program,
                input(member_json, member_len, "member_json")?,
                input(event_json, event_len, "event_json")?,
            )
        };
        let mut member = Member::from_json_str(member)?;
        let event = Event::from_json_str(event)?;
        let applied = program.apply(&mut member, &event)?;
        let member = c_string(member.to_json(), "member")?;
        let receipt = c_string(applied.receipt.to_json(), "receipt")?;
        // SAFETY: checked non-NULL above; nothing can fail after this point.
        unsafe {
            give(member_out, member);
            give(receipt_out, receipt);
            duplicate_out.write(applied.duplicate);
        }
        Ok(())
    })
}
