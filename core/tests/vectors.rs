//! The envelope-v1 test vectors (`tests/vectors/envelope-v1.json`), checked natively. The
//! same checks run in wasm32 from `tests/wasm_vectors.rs`; both live in `tests/common`.

mod common;

#[test]
fn keys_derive_to_the_listed_values() {
    common::check_keys(&common::vectors());
}

#[test]
fn sealing_reproduces_each_envelope_and_it_opens() {
    common::check_envelopes(&common::vectors());
}

#[test]
fn withdrawal_tags_match() {
    common::check_tags(&common::vectors());
}

#[test]
fn invalid_envelopes_are_refused() {
    common::check_invalid_envelopes(&common::vectors());
}

#[test]
fn envelopes_over_256_kib_are_refused_before_parsing() {
    common::check_size_limit(&common::vectors());
}

#[test]
fn other_spellings_of_the_same_json_parse_the_same() {
    common::check_equivalent_spellings(&common::vectors());
}
