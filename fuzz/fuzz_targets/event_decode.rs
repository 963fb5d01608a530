//! Any bytes as an event, a basket and a member state: no panic, and what
//! decodes re-encodes to an equal value (see `loyalty_fuzz::check_event_decode`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| loyalty_fuzz::check_event_decode(data));
