#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sark_fuzz::check_request(data));
