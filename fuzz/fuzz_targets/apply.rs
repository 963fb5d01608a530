//! Applies a sequence of JSON events (one per line) to a member of a sample
//! program, with the atomicity, invariant, idempotency and replay checks of
//! `loyalty_fuzz::check_apply`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    loyalty_fuzz::check_apply(data);
});
