//! The envelope-v1 test vectors checked in wasm32, where the browser seals: the same checks
//! as `tests/vectors.rs` (shared in `tests/common`), run in Node by wasm-bindgen-test:
//!
//! ```sh
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!   cargo test -p plp-core --target wasm32-unknown-unknown --no-default-features --test wasm_vectors
//! ```
#![cfg(target_arch = "wasm32")]

mod common;

use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn keys_derive_to_the_listed_values() {
    common::check_keys(&common::vectors());
}

#[wasm_bindgen_test]
fn sealing_reproduces_each_envelope_and_it_opens() {
    common::check_envelopes(&common::vectors());
}

#[wasm_bindgen_test]
fn withdrawal_tags_match() {
    common::check_tags(&common::vectors());
}

#[wasm_bindgen_test]
fn invalid_envelopes_are_refused() {
    common::check_invalid_envelopes(&common::vectors());
}

#[wasm_bindgen_test]
fn envelopes_over_256_kib_are_refused_before_parsing() {
    common::check_size_limit(&common::vectors());
}

#[wasm_bindgen_test]
fn other_spellings_of_the_same_json_parse_the_same() {
    common::check_equivalent_spellings(&common::vectors());
}
