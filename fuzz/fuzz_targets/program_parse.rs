//! Any bytes as a TOML and a JSON program: no panic, and a loaded program's
//! spec loads again (see `loyalty_fuzz::check_program_parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| loyalty_fuzz::check_program_parse(data));
