//! The C ABI of the `loyalty` rules engine: `libloyalty.so` / `libloyalty.a`
//! and `include/loyalty.h`, so that any POS, in any language with a C FFI,
//! computes exactly what the Rust API computes.
//!
//! Everything crosses the boundary as JSON text: the program (TOML or JSON),
//! the member state, the event, the basket; the new member state, the
//! receipt, the quote and the lint warnings come back as JSON strings the
//! library allocates and the caller frees with [`loyalty_string_free`]. The
//! JSON is the Rust API's own encoding ([`Member::to_json`],
//! [`Receipt::to_json`], the serde form of [`Quote`]), byte for byte.
//!
//! [`Member::to_json`]: loyalty_core::Member::to_json
//! [`Receipt::to_json`]: loyalty_core::Receipt::to_json
//! [`Quote`]: loyalty_core::Quote
//!
//! # Conventions (after rustls-ffi)
//!
//! * One Rust file per exported concept: [`program`] (the handle, its load,
//!   free and lint), [`apply`] (start and apply), [`member`] (member
//!   handles), [`quote`], [`string`] (freeing returned strings), [`error`]
//!   (result codes and the last error message), [`version`].
//! * An opaque handle, [`loyalty_program`], is created by
//!   [`loyalty_program_load`] and freed exactly once by
//!   [`loyalty_program_free`]. It is immutable: any number of threads may use
//!   one handle at once, as long as none of them frees it meanwhile.
//! * A host that keeps members in memory may hold each in a
//!   [`loyalty_member`] handle instead of its JSON: events apply to it in
//!   place, without decoding and encoding the state each time, and
//!   [`loyalty_member_to_json`] writes the state when the host stores it.
//!   One thread at a time uses a member handle; it is freed exactly once by
//!   [`loyalty_member_free`].
//! * Every fallible function returns a [`loyalty_result`]; [`LOYALTY_OK`] is
//!   0. Out-parameters are written only on success; on failure they keep
//!   whatever the caller put there.
//! * Every pointer argument is checked: NULL gives
//!   [`LOYALTY_ERROR_NULL_ARGUMENT`]. Text comes in as a pointer and a
//!   length in bytes (no terminating NUL needed); text that is not UTF-8, or
//!   that holds a NUL byte, is refused ([`LOYALTY_ERROR_INVALID_UTF8`],
//!   [`LOYALTY_ERROR_EMBEDDED_NUL`]).
//! * Every entry point runs behind `catch_unwind`: a panic inside the engine
//!   becomes [`LOYALTY_ERROR_PANIC`], never an unwind across `extern "C"`
//!   nor an abort of the host. (The library must be built with the default
//!   `panic = "unwind"`.)
//! * The message of the last failure on the calling thread is kept in a
//!   thread-local and copied into a caller's buffer by
//!   [`loyalty_last_error_message`].
//! * Who frees what: strings returned through `char **` out-parameters belong
//!   to the caller, who frees each once with [`loyalty_string_free`];
//!   [`loyalty_version`] and [`loyalty_result_name`] return static strings
//!   that are never freed; the library never frees, keeps or writes through
//!   a pointer it was given, except the out-parameters it fills on success.
//!
//! ```
//! use loyalty::*;
//!
//! let text = br#"{"id":"p","currency":"EUR","time_zone":"UTC"}"#;
//! let mut program: *const loyalty_program = std::ptr::null();
//! let rc = unsafe { loyalty_program_load(text.as_ptr().cast(), text.len(), LOYALTY_FORMAT_AUTO, &mut program) };
//! assert_eq!(rc, LOYALTY_OK);
//! unsafe { loyalty_program_free(program) };
//! ```

#![deny(missing_docs)]
// Exported C names follow C conventions.
#![allow(non_camel_case_types)]

pub mod apply;
pub mod error;
pub mod member;
pub mod program;
pub mod quote;
pub mod string;
pub mod version;

mod guard;
mod live;

pub use apply::{loyalty_program_apply, loyalty_program_start};
pub use error::{loyalty_last_error_message, loyalty_result, loyalty_result::*, loyalty_result_name};
pub use member::{
    loyalty_member, loyalty_member_free, loyalty_member_from_json, loyalty_member_to_json,
    loyalty_program_apply_member, loyalty_program_quote_member, loyalty_program_start_member,
};
pub use program::{
    loyalty_program, loyalty_program_free, loyalty_program_lint, loyalty_program_load, LOYALTY_FORMAT_AUTO,
    LOYALTY_FORMAT_JSON, LOYALTY_FORMAT_TOML,
};
pub use quote::loyalty_program_quote;
pub use string::loyalty_string_free;
pub use version::loyalty_version;
