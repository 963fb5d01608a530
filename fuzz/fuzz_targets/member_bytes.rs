//! Any bytes as a packed member state: no panic, and what decodes packs and
//! encodes again to an equal member (see `loyalty_fuzz::check_member_bytes`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| loyalty_fuzz::check_member_bytes(data));
