//! The program handle: loaded once from program text, shared by any number
//! of threads, freed once.

use std::ffi::c_char;

use loyalty_core::Program;

use crate::error::loyalty_result;
use crate::guard::{c_string, give, guard, input, live_program, non_null, non_null_out, Failure};

/// A loaded program: opaque, immutable and thread-safe.
///
/// Created by [`loyalty_program_load`], freed exactly once by
/// [`loyalty_program_free`]. Any number of threads may call the functions
/// that take a `const loyalty_program *` on the same handle at once; none may
/// still be using it when it is freed.
pub struct loyalty_program {
    pub(crate) program: Program,
}

// The handle is shared between threads: `Program` must stay `Send + Sync`.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<loyalty_program>()
};

/// `format` for [`loyalty_program_load`]: JSON when the first character
/// that is not white space is `{`, else TOML.
pub const LOYALTY_FORMAT_AUTO: u32 = 0;
/// `format` for [`loyalty_program_load`]: the text is TOML.
pub const LOYALTY_FORMAT_TOML: u32 = 1;
/// `format` for [`loyalty_program_load`]: the text is JSON.
pub const LOYALTY_FORMAT_JSON: u32 = 2;

/// Loads a program from its text: `text_len` bytes at `text` (no
/// terminating NUL needed), in the `format` given by one of
/// `LOYALTY_FORMAT_AUTO`, `LOYALTY_FORMAT_TOML`, `LOYALTY_FORMAT_JSON`.
///
/// On success writes a new handle to `*program_out`; free it with
/// [`loyalty_program_free`]. On failure returns the error's code
/// (`LOYALTY_ERROR_PROGRAM_SYNTAX` with the line and column in the message,
/// `LOYALTY_ERROR_PROGRAM_INVALID`, `LOYALTY_ERROR_SCRIPT_SYNTAX`, or an
/// argument error) and leaves `*program_out` as it was.
///
/// # Safety
///
/// `text` must be valid for reads of `text_len` bytes; `program_out` must be
/// valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn loyalty_program_load(
    text: *const c_char,
    text_len: usize,
    format: u32,
    program_out: *mut *const loyalty_program,
) -> loyalty_result {
    guard(|| {
        non_null(text, "text")?;
        non_null_out(program_out, "program_out")?;
        // SAFETY: per this function's contract.
        let source = unsafe { input(text, text_len, "text") }?;
        let json = match format {
            LOYALTY_FORMAT_AUTO => source.trim_start().starts_with('{'),
            LOYALTY_FORMAT_TOML => false,
            LOYALTY_FORMAT_JSON => true,
            other => {
                return Err(Failure::new(
                    loyalty_result::LOYALTY_ERROR_INVALID_ARGUMENT,
                    format!(
                        "format: {other} is not LOYALTY_FORMAT_AUTO (0), LOYALTY_FORMAT_TOML (1) or LOYALTY_FORMAT_JSON (2)"
                    ),
                ))
            }
        };
        let program = if json { Program::from_json_str(source)? } else { Program::from_toml_str(source)? };
        let handle = Box::into_raw(Box::new(loyalty_program { program }));
        crate::live::add(&crate::live::PROGRAMS, handle);
        // SAFETY: checked non-NULL above; writable per the contract.
        unsafe { program_out.write(handle) };
        Ok(())
    })
}

/// Frees a program handle. NULL is a no-op.
///
/// # Safety
///
/// `program` should be NULL or a handle from [`loyalty_program_load`] that
/// was not freed yet, and no other thread may be using it. A pointer that is
/// not a live handle (freed already, or never returned) is not freed: the
/// call does nothing but set this thread's last error message.
#[no_mangle]
pub unsafe extern "C" fn loyalty_program_free(program: *const loyalty_program) {
    crate::live::free(
        &crate::live::PROGRAMS,
        program.cast_mut(),
        "loyalty_program_free: not a live program handle",
        |p| {
            // SAFETY: a live handle from `loyalty_program_load`, per the contract.
            drop(unsafe { Box::from_raw(p) })
        },
    );
}

/// The program's lint warnings (see `Program::lint` in the Rust docs) as a
/// JSON array, sorted as the engine sorts them; `[]` when nothing was found.
/// Each warning is an object:
///
/// ```json
/// {"code": "dead-rule", "path": "earn[0].when.categories", "what": "rule",
///  "id": "wine-bonus", "message": "...", "text": "earn[0].when.categories (rule 'wine-bonus'): ... [dead-rule]"}
/// ```
///
/// `code` is stable, for machines; `id` is `null` when the warning names no
/// id; `text` is the warning as the Rust API displays it.
///
/// On success writes a new string to `*warnings_out`; free it with
/// `loyalty_string_free`.
///
/// # Safety
///
/// `program` must be NULL or a live handle; `warnings_out` must be valid for
/// a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn loyalty_program_lint(
    program: *const loyalty_program,
    warnings_out: *mut *mut c_char,
) -> loyalty_result {
    guard(|| {
        live_program(program)?;
        non_null_out(warnings_out, "warnings_out")?;
        // SAFETY: a live handle per the contract.
        let program = unsafe { &(*program).program };
        let json = lint_json(program);
        let json = c_string(json, "warnings")?;
        // SAFETY: checked non-NULL above.
        unsafe { give(warnings_out, json) };
        Ok(())
    })
}

/// The lint warnings of `program` as the JSON array [`loyalty_program_lint`] returns.
pub fn lint_json(program: &Program) -> String {
    #[derive(serde::Serialize)]
    struct Warning<'w> {
        code: &'w str,
        path: &'w str,
        what: &'w str,
        id: Option<&'w str>,
        message: &'w str,
        text: String,
    }
    let warnings = program.lint();
    let warnings: Vec<Warning<'_>> = warnings
        .iter()
        .map(|w| Warning {
            code: w.code,
            path: &w.path,
            what: w.what,
            id: w.id.as_deref(),
            message: &w.message,
            text: w.to_string(),
        })
        .collect();
    // Plain data into a String: cannot fail.
    serde_json::to_string(&warnings).unwrap_or_default()
}
