//! Quotes: what a basket would earn, and how much of it points could pay,
//! without changing anything (`Program::quote`).

use std::ffi::{c_char, CString};

use chrono::{DateTime, Utc};
use loyalty_core::{Basket, Member, Program};

use crate::error::loyalty_result;
use crate::guard::{c_string, give, guard, input, live_program, non_null, non_null_out, Failure};
use crate::program::loyalty_program;

/// Quotes a basket for a member at an instant.
///
/// `member_json` is the member state, `basket_json` a basket
/// (`{"lines": [...], "channel": ..., "store": ..., "partner": ...}`), `at` an
/// RFC 3339 instant (`2026-12-15T09:30:00Z`), each with its length in bytes.
/// On success writes to `*quote_out` the quote as JSON
/// (`{"points":..,"explanations":[..],"available":..,"max_burn":..,"max_burn_value":".."}`),
/// a new string to free with `loyalty_string_free`. On failure writes
/// nothing; a basket that does not decode gives `LOYALTY_ERROR_EVENT_SYNTAX`
/// with line and column, an `at` that is not RFC 3339
/// `LOYALTY_ERROR_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `program` must be a live handle; `member_json`, `basket_json` and `at`
/// valid for reads of their lengths; `quote_out` valid for a write of a
/// pointer.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn loyalty_program_quote(
    program: *const loyalty_program,
    member_json: *const c_char,
    member_len: usize,
    basket_json: *const c_char,
    basket_len: usize,
    at: *const c_char,
    at_len: usize,
    quote_out: *mut *mut c_char,
) -> loyalty_result {
    guard(|| {
        live_program(program)?;
        non_null(member_json, "member_json")?;
        non_null(basket_json, "basket_json")?;
        non_null(at, "at")?;
        non_null_out(quote_out, "quote_out")?;
        // SAFETY: per this function's contract.
        let (program, member, basket, at) = unsafe {
            (
                &(*program).program,
                input(member_json, member_len, "member_json")?,
                input(basket_json, basket_len, "basket_json")?,
                input(at, at_len, "at")?,
            )
        };
        let member = Member::from_json_str(member)?;
        let quote = quote_json(program, &member, basket, at)?;
        // SAFETY: checked non-NULL above.
        unsafe { give(quote_out, quote) };
        Ok(())
    })
}

/// The quote of a basket (JSON) at an instant (RFC 3339) for a member, as
/// JSON: what both quote functions return.
pub(crate) fn quote_json(program: &Program, member: &Member, basket: &str, at: &str) -> Result<CString, Failure> {
    let basket = decode_basket(basket)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|e| {
        Failure::new(
            loyalty_result::LOYALTY_ERROR_INVALID_ARGUMENT,
            format!("at: '{at}' is not an RFC 3339 instant: {e}"),
        )
    })?;
    let quote = program.quote(member, &basket, at.with_timezone(&Utc))?;
    // Plain data into a String: cannot fail.
    c_string(serde_json::to_string(&quote).unwrap_or_default(), "quote")
}

/// A basket from JSON; an error names line and column (in characters).
fn decode_basket(text: &str) -> Result<Basket, Failure> {
    serde_json::from_str(text).map_err(|e| {
        let line_start: usize = text.split_inclusive('\n').take(e.line().saturating_sub(1)).map(str::len).sum();
        let mut end = (line_start + e.column()).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let column = text.get(line_start..end).map_or(e.column(), |s| s.chars().count());
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full);
        Failure::new(
            loyalty_result::LOYALTY_ERROR_EVENT_SYNTAX,
            format!("basket: line {}, column {column}: {message}", e.line()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basket_errors_name_line_and_column() {
        let e = decode_basket("{\"lines\": [],\n \"é\": 1}").unwrap_err();
        assert_eq!(e.code, loyalty_result::LOYALTY_ERROR_EVENT_SYNTAX);
        assert!(e.message.starts_with("basket: line 2, column "), "{}", e.message);
        assert!(e.message.contains("unknown field `é`"), "{}", e.message);
    }
}
