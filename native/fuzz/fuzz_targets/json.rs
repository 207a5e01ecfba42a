#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sark_fuzz::json(data));
