//! Result codes, and the message of the last failure on the calling thread.
//!
//! Every fallible function returns a [`loyalty_result`]: [`LOYALTY_OK`]
//! (0), an error of the C boundary itself (1–99: a NULL argument, text that
//! is not UTF-8 or holds a NUL byte, an invalid argument, a panic caught
//! inside the library), or one code per kind of [`loyalty_core::Error`]
//! (100 and up: the engine refused the program, the event, the member
//! state…). The numbers are stable: codes are only ever added.
//!
//! Each failing call also records a message on the calling thread (a
//! thread-local): [`loyalty_last_error_message`] copies it into the
//! caller's buffer. A call that succeeds clears it. The message is for
//! people and names what is wrong, with line and column for text that does
//! not parse (`program: line 3, column 7: ...`).
//!
//! [`LOYALTY_OK`]: loyalty_result::LOYALTY_OK

use std::cell::RefCell;
use std::ffi::c_char;

use loyalty_core::Error;

/// The result of every fallible function of the library.
///
/// In C this is a `uint32_t` (`typedef uint32_t loyalty_result`) whose values
/// are the constants of `enum loyalty_result`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum loyalty_result {
    /// Success: the out-parameters are written.
    LOYALTY_OK = 0,
    /// A pointer argument was NULL.
    LOYALTY_ERROR_NULL_ARGUMENT = 1,
    /// A text argument is not valid UTF-8.
    LOYALTY_ERROR_INVALID_UTF8 = 2,
    /// A text argument holds a NUL byte within its length.
    LOYALTY_ERROR_EMBEDDED_NUL = 3,
    /// An argument is out of its range: an unknown program format, a length
    /// above `PTRDIFF_MAX`, an instant that is not RFC 3339.
    LOYALTY_ERROR_INVALID_ARGUMENT = 4,
    /// The library panicked (a bug in the library). The panic was caught:
    /// nothing unwound into the caller, no out-parameter was written, and
    /// the program handle is still usable.
    LOYALTY_ERROR_PANIC = 5,
    /// An engine error of a kind this release of the C ABI has no code for.
    LOYALTY_ERROR_OTHER = 6,
    /// The program text is not valid TOML or JSON, or does not fit the
    /// schema; the message names line and column.
    LOYALTY_ERROR_PROGRAM_SYNTAX = 100,
    /// The program parsed but breaks a rule of the schema.
    LOYALTY_ERROR_PROGRAM_INVALID = 101,
    /// A rule's script does not compile.
    LOYALTY_ERROR_SCRIPT_SYNTAX = 102,
    /// A rule's script failed while evaluating the event.
    LOYALTY_ERROR_SCRIPT = 103,
    /// An event or basket in JSON could not be decoded; the message names
    /// line and column.
    LOYALTY_ERROR_EVENT_SYNTAX = 104,
    /// An event decoded but one of its fields is not acceptable.
    LOYALTY_ERROR_INVALID_EVENT = 105,
    /// The member state could not be decoded or has an unreadable format.
    LOYALTY_ERROR_MEMBER_STATE = 106,
    /// The member belongs to another program.
    LOYALTY_ERROR_WRONG_PROGRAM = 107,
    /// An `enroll` event for an enrolled member, or a start from another event.
    LOYALTY_ERROR_ENROLLMENT = 108,
    /// The event id was already applied with a different payload.
    LOYALTY_ERROR_ID_REUSED_WITH_DIFFERENT_PAYLOAD = 109,
    /// The event id was already applied and its receipt is no longer kept.
    LOYALTY_ERROR_ALREADY_APPLIED = 110,
    /// The event is older than the program's late window allows.
    LOYALTY_ERROR_TOO_LATE = 111,
    /// A return, capture or void names something the member does not have.
    LOYALTY_ERROR_NOT_FOUND = 112,
    /// A return asks for more than is left of the purchase.
    LOYALTY_ERROR_RETURN_EXCEEDS_PURCHASE = 113,
    /// The return window of the purchase has closed.
    LOYALTY_ERROR_RETURN_WINDOW_CLOSED = 114,
    /// The hold was already captured, voided or released.
    LOYALTY_ERROR_HOLD_CLOSED = 115,
    /// More points were asked for than are available.
    LOYALTY_ERROR_INSUFFICIENT_POINTS = 116,
    /// A burn breaks a limit of its burn rule.
    LOYALTY_ERROR_BURN_REFUSED = 117,
    /// A reward cannot be taken, used or cancelled.
    LOYALTY_ERROR_REWARD_REFUSED = 118,
    /// The member's status does not allow the event.
    LOYALTY_ERROR_MEMBER_STATUS = 119,
    /// A sum or product left the range the engine represents exactly.
    LOYALTY_ERROR_OVERFLOW = 120,
}

use loyalty_result::*;

impl loyalty_result {
    /// The code of an engine error.
    pub fn of(error: &Error) -> loyalty_result {
        match error {
            Error::ProgramSyntax { .. } => LOYALTY_ERROR_PROGRAM_SYNTAX,
            Error::ProgramInvalid { .. } => LOYALTY_ERROR_PROGRAM_INVALID,
            Error::ScriptSyntax { .. } => LOYALTY_ERROR_SCRIPT_SYNTAX,
            Error::Script { .. } => LOYALTY_ERROR_SCRIPT,
            Error::EventSyntax { .. } => LOYALTY_ERROR_EVENT_SYNTAX,
            Error::InvalidEvent { .. } => LOYALTY_ERROR_INVALID_EVENT,
            Error::MemberState { .. } => LOYALTY_ERROR_MEMBER_STATE,
            Error::WrongProgram { .. } => LOYALTY_ERROR_WRONG_PROGRAM,
            Error::Enrollment { .. } => LOYALTY_ERROR_ENROLLMENT,
            Error::IdReusedWithDifferentPayload { .. } => LOYALTY_ERROR_ID_REUSED_WITH_DIFFERENT_PAYLOAD,
            Error::AlreadyApplied { .. } => LOYALTY_ERROR_ALREADY_APPLIED,
            Error::TooLate { .. } => LOYALTY_ERROR_TOO_LATE,
            Error::NotFound { .. } => LOYALTY_ERROR_NOT_FOUND,
            Error::ReturnExceedsPurchase { .. } => LOYALTY_ERROR_RETURN_EXCEEDS_PURCHASE,
            Error::ReturnWindowClosed { .. } => LOYALTY_ERROR_RETURN_WINDOW_CLOSED,
            Error::HoldClosed { .. } => LOYALTY_ERROR_HOLD_CLOSED,
            Error::InsufficientPoints { .. } => LOYALTY_ERROR_INSUFFICIENT_POINTS,
            Error::BurnRefused { .. } => LOYALTY_ERROR_BURN_REFUSED,
            Error::RewardRefused { .. } => LOYALTY_ERROR_REWARD_REFUSED,
            Error::MemberStatus { .. } => LOYALTY_ERROR_MEMBER_STATUS,
            Error::Overflow { .. } => LOYALTY_ERROR_OVERFLOW,
            _ => LOYALTY_ERROR_OTHER,
        }
    }

    /// The code's name, as a NUL-terminated static string.
    fn name(code: u32) -> &'static str {
        const NAMES: &[(loyalty_result, &str)] = &[
            (LOYALTY_OK, "LOYALTY_OK\0"),
            (LOYALTY_ERROR_NULL_ARGUMENT, "LOYALTY_ERROR_NULL_ARGUMENT\0"),
            (LOYALTY_ERROR_INVALID_UTF8, "LOYALTY_ERROR_INVALID_UTF8\0"),
            (LOYALTY_ERROR_EMBEDDED_NUL, "LOYALTY_ERROR_EMBEDDED_NUL\0"),
            (LOYALTY_ERROR_INVALID_ARGUMENT, "LOYALTY_ERROR_INVALID_ARGUMENT\0"),
            (LOYALTY_ERROR_PANIC, "LOYALTY_ERROR_PANIC\0"),
            (LOYALTY_ERROR_OTHER, "LOYALTY_ERROR_OTHER\0"),
            (LOYALTY_ERROR_PROGRAM_SYNTAX, "LOYALTY_ERROR_PROGRAM_SYNTAX\0"),
            (LOYALTY_ERROR_PROGRAM_INVALID, "LOYALTY_ERROR_PROGRAM_INVALID\0"),
            (LOYALTY_ERROR_SCRIPT_SYNTAX, "LOYALTY_ERROR_SCRIPT_SYNTAX\0"),
            (LOYALTY_ERROR_SCRIPT, "LOYALTY_ERROR_SCRIPT\0"),
            (LOYALTY_ERROR_EVENT_SYNTAX, "LOYALTY_ERROR_EVENT_SYNTAX\0"),
            (LOYALTY_ERROR_INVALID_EVENT, "LOYALTY_ERROR_INVALID_EVENT\0"),
            (LOYALTY_ERROR_MEMBER_STATE, "LOYALTY_ERROR_MEMBER_STATE\0"),
            (LOYALTY_ERROR_WRONG_PROGRAM, "LOYALTY_ERROR_WRONG_PROGRAM\0"),
            (LOYALTY_ERROR_ENROLLMENT, "LOYALTY_ERROR_ENROLLMENT\0"),
            (LOYALTY_ERROR_ID_REUSED_WITH_DIFFERENT_PAYLOAD, "LOYALTY_ERROR_ID_REUSED_WITH_DIFFERENT_PAYLOAD\0"),
            (LOYALTY_ERROR_ALREADY_APPLIED, "LOYALTY_ERROR_ALREADY_APPLIED\0"),
            (LOYALTY_ERROR_TOO_LATE, "LOYALTY_ERROR_TOO_LATE\0"),
            (LOYALTY_ERROR_NOT_FOUND, "LOYALTY_ERROR_NOT_FOUND\0"),
            (LOYALTY_ERROR_RETURN_EXCEEDS_PURCHASE, "LOYALTY_ERROR_RETURN_EXCEEDS_PURCHASE\0"),
            (LOYALTY_ERROR_RETURN_WINDOW_CLOSED, "LOYALTY_ERROR_RETURN_WINDOW_CLOSED\0"),
            (LOYALTY_ERROR_HOLD_CLOSED, "LOYALTY_ERROR_HOLD_CLOSED\0"),
            (LOYALTY_ERROR_INSUFFICIENT_POINTS, "LOYALTY_ERROR_INSUFFICIENT_POINTS\0"),
            (LOYALTY_ERROR_BURN_REFUSED, "LOYALTY_ERROR_BURN_REFUSED\0"),
            (LOYALTY_ERROR_REWARD_REFUSED, "LOYALTY_ERROR_REWARD_REFUSED\0"),
            (LOYALTY_ERROR_MEMBER_STATUS, "LOYALTY_ERROR_MEMBER_STATUS\0"),
            (LOYALTY_ERROR_OVERFLOW, "LOYALTY_ERROR_OVERFLOW\0"),
        ];
        NAMES.iter().find(|(c, _)| *c as u32 == code).map_or("LOYALTY_ERROR_UNKNOWN\0", |(_, n)| n)
    }
}

thread_local! {
    /// The message of the last failure on this thread; empty after a success.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records the message of a failure on this thread.
pub(crate) fn set_last_error(message: String) {
    // `try_with`: during thread teardown the slot may be gone; then there is
    // nobody left to read the message.
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = message;
        }
    });
}

/// Clears the message of the last failure on this thread.
pub(crate) fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            last.clear();
        }
    });
}

/// Copies the message of the last failure on the calling thread into `buf`.
///
/// Returns the message's full length in bytes, without the terminating NUL
/// (0 when the last call on this thread succeeded or nothing failed yet),
/// like `snprintf`. When `buf` is not NULL and `buf_len` is at least 1, writes
/// at most `buf_len - 1` bytes of the message — cut at a UTF-8 character
/// boundary, so what is written is always valid UTF-8 — and a terminating
/// NUL. A return value of `buf_len` or more means the message was cut: call
/// again with a buffer of the returned length plus one. Pass `buf = NULL` to
/// ask for the length only.
///
/// The message is the calling thread's own (a thread-local): another
/// thread's failures never change it. It stays until the next fallible call
/// on this thread; this function does not clear it.
///
/// # Safety
///
/// `buf`, when not NULL, must be valid for writes of `buf_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn loyalty_last_error_message(buf: *mut c_char, buf_len: usize) -> usize {
    std::panic::catch_unwind(|| {
        LAST_ERROR
            .try_with(|last| {
                let Ok(last) = last.try_borrow() else { return 0 };
                if !buf.is_null() && buf_len > 0 {
                    let mut n = last.len().min(buf_len - 1);
                    while !last.is_char_boundary(n) {
                        n -= 1;
                    }
                    // SAFETY: the caller gives `buf_len` writable bytes; `n < buf_len`.
                    unsafe {
                        std::ptr::copy_nonoverlapping(last.as_ptr(), buf.cast::<u8>(), n);
                        *buf.add(n) = 0;
                    }
                }
                last.len()
            })
            .unwrap_or(0)
    })
    .unwrap_or(0)
}

/// The name of a result code (`"LOYALTY_ERROR_NULL_ARGUMENT"`), or
/// `"LOYALTY_ERROR_UNKNOWN"` for a value that is no code. A static,
/// NUL-terminated string: never free it.
#[no_mangle]
pub extern "C" fn loyalty_result_name(result: u32) -> *const c_char {
    loyalty_result::name(result).as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_variants() {
        assert_eq!(loyalty_result::name(0), "LOYALTY_OK\0");
        assert_eq!(loyalty_result::name(109), "LOYALTY_ERROR_ID_REUSED_WITH_DIFFERENT_PAYLOAD\0");
        assert_eq!(loyalty_result::name(7), "LOYALTY_ERROR_UNKNOWN\0");
        for code in 0..200 {
            let name = loyalty_result::name(code);
            assert_eq!(name.matches('\0').count(), 1);
            assert!(name.ends_with('\0'));
        }
    }

    #[test]
    fn the_message_is_cut_at_a_character_boundary() {
        set_last_error("é1".to_owned());
        let mut buf = [0x55 as c_char; 8];
        // SAFETY: `buf` has 8 bytes.
        let n = unsafe { loyalty_last_error_message(buf.as_mut_ptr(), 2) };
        assert_eq!(n, 3);
        // 'é' takes 2 bytes and does not fit beside the NUL.
        assert_eq!(buf[0], 0);
        // SAFETY: `buf` has 8 bytes.
        let n = unsafe { loyalty_last_error_message(buf.as_mut_ptr(), 8) };
        assert_eq!(n, 3);
        assert_eq!(&buf[..4].iter().map(|&b| b as u8).collect::<Vec<_>>(), "é1\0".as_bytes());
        clear_last_error();
        // SAFETY: NULL asks for the length.
        assert_eq!(unsafe { loyalty_last_error_message(std::ptr::null_mut(), 0) }, 0);
    }
}
