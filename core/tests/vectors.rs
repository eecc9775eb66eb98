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

/// Each vector's envelope, as a store keeps it (packed), reads back as the same envelope
/// and gives back its exact bytes.
#[test]
fn each_envelope_packs_and_reads_back_byte_for_byte() {
    use plp_core::envelope::{received_bytes, Envelope};
    let v = common::vectors();
    assert!(!v.envelopes.is_empty());
    for c in &v.envelopes {
        let bytes = c.expected_envelope.as_bytes();
        let env = Envelope::parse(bytes).expect("parses");
        let packed = env.pack(bytes).expect("plp's bytes pack");
        // The packed form is pinned here, written out by hand: stores already hold it.
        let expected = [
            &[0x00, 0x01, c.study_id.len() as u8][..],
            c.study_id.as_bytes(),
            c.key_id.as_bytes(),
            &env.enc,
            &env.ct,
        ]
        .concat();
        assert_eq!(packed, expected, "{}", c.name);
        assert_eq!(
            Envelope::from_stored(&packed).expect("reads"),
            env,
            "{}",
            c.name
        );
        assert_eq!(
            received_bytes(&packed).expect("unpacks").as_ref(),
            bytes,
            "{}",
            c.name
        );
    }
}
