//! Fuzz target `envelope`: see [`plp_fuzz::targets::envelope`].
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Err is a refusal, the expected outcome for almost every input; only a panic (or a
    // sanitizer report, or a timeout) is a finding.
    let _ = plp_fuzz::targets::envelope(data);
});
