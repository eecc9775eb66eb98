//! Checks of `core/tests/vectors/envelope-v1.json`, shared by the native test
//! (`tests/vectors.rs`) and the wasm32 one (`tests/wasm_vectors.rs`). Each check panics with
//! the vector's name on the first mismatch.

use plp_core::envelope::{b64_encode, Envelope, MAX_ENVELOPE_BYTES};
use plp_core::error::Error;
use plp_core::payload::{self, Payload};
use plp_core::seal::{self, KeyPair, PublicKey};
use plp_core::withdrawal;
use serde::Deserialize;

/// The vector file, as committed.
pub const VECTORS_JSON: &str = include_str!("../vectors/envelope-v1.json");

#[derive(Deserialize)]
pub struct Vectors {
    pub spec: String,
    pub keys: Vec<KeyCase>,
    pub envelopes: Vec<EnvelopeCase>,
    pub tags: Vec<TagCase>,
    pub invalid_words: Vec<InvalidWord>,
    pub invalid_envelopes: Vec<InvalidEnvelope>,
}

#[derive(Deserialize)]
pub struct KeyCase {
    pub name: String,
    pub ikm_hex: String,
    pub private_key_hex: String,
    pub public_key_hex: String,
    pub public_key_b64url: String,
    pub key_id: String,
}

#[derive(Deserialize)]
pub struct EnvelopeCase {
    pub name: String,
    pub study_id: String,
    pub private_key_hex: String,
    pub public_key_hex: String,
    pub key_id: String,
    pub ephemeral_ikm_hex: String,
    pub info_hex: String,
    pub plaintext: String,
    pub expected_enc_b64url: String,
    pub expected_envelope: String,
}

#[derive(Deserialize)]
pub struct TagCase {
    pub name: String,
    pub study_id: String,
    pub word: String,
    pub normalised: String,
    pub tag: String,
}

#[derive(Deserialize)]
pub struct InvalidWord {
    pub name: String,
    pub study_id: String,
    pub word: String,
    pub expect_error_contains: String,
}

#[derive(Deserialize)]
pub struct InvalidEnvelope {
    pub name: String,
    pub stage: String,
    pub private_key_hex: Option<String>,
    pub envelope: String,
    pub expect_error_contains: String,
}

/// The parsed vector file.
pub fn vectors() -> Vectors {
    let v: Vectors = serde_json::from_str(VECTORS_JSON).expect("the vector file parses");
    assert_eq!(v.spec, "envelope-v1");
    assert!(!v.keys.is_empty() && !v.envelopes.is_empty() && !v.tags.is_empty());
    v
}

/// 32 bytes from 64 hex digits.
pub fn bytes32(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str)
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// Keys derive to the listed values, and rebuild from the private key alone.
pub fn check_keys(v: &Vectors) {
    for k in &v.keys {
        let kp = KeyPair::derive(bytes32(&k.ikm_hex));
        assert_eq!(hex::encode(kp.secret()), k.private_key_hex, "{}", k.name);
        assert_eq!(
            hex::encode(kp.public().bytes()),
            k.public_key_hex,
            "{}",
            k.name
        );
        assert_eq!(
            b64_encode(kp.public().bytes()),
            k.public_key_b64url,
            "{}",
            k.name
        );
        assert_eq!(kp.public().key_id(), k.key_id, "{}", k.name);

        let again = KeyPair::from_secret(bytes32(&k.private_key_hex)).expect("valid key");
        assert_eq!(again.public(), kp.public(), "{}", k.name);
        let public = PublicKey::from_bytes(bytes32(&k.public_key_hex)).expect("valid key");
        assert_eq!(public.key_id(), k.key_id, "{}", k.name);
        assert_eq!(seal::key_id(public.bytes()), k.key_id, "{}", k.name);
    }
}

/// Sealing with the fixed ephemeral IKM reproduces each envelope byte for byte, and the
/// envelope opens to the plaintext, which is a well-formed payload.
pub fn check_envelopes(v: &Vectors) {
    for c in &v.envelopes {
        let n = &c.name;
        let kp = KeyPair::from_secret(bytes32(&c.private_key_hex)).expect("valid key");
        assert_eq!(hex::encode(kp.public().bytes()), c.public_key_hex, "{n}");
        assert_eq!(kp.public().key_id(), c.key_id, "{n}");
        assert_eq!(
            hex::encode(seal::info(&c.study_id, &c.key_id)),
            c.info_hex,
            "{n}"
        );

        let sealed = kp
            .public()
            .seal(
                &c.study_id,
                c.plaintext.as_bytes(),
                bytes32(&c.ephemeral_ikm_hex),
            )
            .expect("seals");
        assert_eq!(b64_encode(&sealed.enc), c.expected_enc_b64url, "{n}: enc");
        let json = sealed.to_json();
        assert_eq!(
            String::from_utf8(json).expect("UTF-8"),
            c.expected_envelope,
            "{n}: envelope bytes"
        );

        let parsed = Envelope::parse(c.expected_envelope.as_bytes()).expect("parses");
        assert_eq!(parsed, sealed, "{n}");
        assert_eq!(parsed.to_json(), c.expected_envelope.as_bytes(), "{n}");
        let opened = kp.open(&parsed).expect("opens");
        assert_eq!(opened.as_slice(), c.plaintext.as_bytes(), "{n}: plaintext");

        match payload::parse(&opened).expect("a well-formed payload") {
            Payload::Response(p) => assert_eq!(p.to_json(), c.plaintext.as_bytes(), "{n}"),
            Payload::Withdrawal(p) => assert_eq!(p.to_json(), c.plaintext.as_bytes(), "{n}"),
        }
    }
}

/// Words normalise and tag as listed; unusable words are refused with the listed message.
pub fn check_tags(v: &Vectors) {
    for t in &v.tags {
        let n = &t.name;
        assert_eq!(
            withdrawal::normalise_word(&t.word).expect("usable"),
            t.normalised,
            "{n}"
        );
        assert_eq!(
            withdrawal::tag(&t.study_id, &t.word).expect("usable"),
            t.tag,
            "{n}"
        );
        assert_eq!(
            hex::encode(withdrawal::tag_bytes(&t.study_id, &t.normalised).expect("usable")),
            t.tag,
            "{n}: normalising is idempotent"
        );
        assert!(withdrawal::is_tag(&t.tag), "{n}");
    }
    for w in &v.invalid_words {
        let err = withdrawal::tag(&w.study_id, &w.word).expect_err(&w.name);
        assert!(
            matches!(err, Error::MemorableWord(_)),
            "{}: {err:?}",
            w.name
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&w.expect_error_contains),
            "{}: `{msg}` does not contain `{}`",
            w.name,
            w.expect_error_contains
        );
    }
}

/// Each invalid envelope fails at the listed stage with the listed message.
pub fn check_invalid_envelopes(v: &Vectors) {
    assert!(!v.invalid_envelopes.is_empty());
    for c in &v.invalid_envelopes {
        let n = &c.name;
        let parsed = Envelope::parse(c.envelope.as_bytes());
        let err = match c.stage.as_str() {
            "parse" => parsed.expect_err(n),
            "open" => {
                let env = parsed.unwrap_or_else(|e| panic!("{n}: should parse, got {e}"));
                let key = c.private_key_hex.as_deref().expect("open cases name a key");
                let kp = KeyPair::from_secret(bytes32(key)).expect("valid key");
                match kp.open(&env) {
                    Ok(_) => panic!("{n}: opened"),
                    Err(e) => {
                        assert!(
                            matches!(e, Error::Open(_) | Error::WrongKey { .. }),
                            "{n}: {e:?}"
                        );
                        e
                    }
                }
            }
            other => panic!("{n}: unknown stage {other}"),
        };
        let msg = err.to_string();
        assert!(
            msg.contains(&c.expect_error_contains),
            "{n}: `{msg}` does not contain `{}`",
            c.expect_error_contains
        );
    }
}

/// An envelope over 256 KiB is refused before parsing; one of exactly 256 KiB is not.
pub fn check_size_limit(v: &Vectors) {
    let c = &v.envelopes[0];
    let kp = KeyPair::from_secret(bytes32(&c.private_key_hex)).expect("valid key");
    let pad = |len: usize| {
        let mut s = c.expected_envelope.clone().into_bytes();
        s.resize(len, b' ');
        s
    };
    let at_limit = pad(MAX_ENVELOPE_BYTES);
    let env = Envelope::parse(&at_limit).expect("exactly 256 KiB is accepted");
    assert_eq!(
        kp.open(&env).expect("opens").as_slice(),
        c.plaintext.as_bytes()
    );

    let over = pad(MAX_ENVELOPE_BYTES + 1);
    match Envelope::parse(&over) {
        Err(e @ Error::TooLarge { .. }) => {
            assert!(e.to_string().contains("over the limit of 262144"), "{e}")
        }
        other => panic!("oversized envelope: {other:?}"),
    }
    // Refused on size alone, whatever the bytes are.
    assert!(matches!(
        Envelope::parse(&vec![0xff; MAX_ENVELOPE_BYTES + 1]),
        Err(Error::TooLarge { .. })
    ));
}

/// Other valid spellings of the same JSON object parse to the same envelope: members in
/// another order, white space, and JSON escapes (such as `\/`, which some encoders write).
pub fn check_equivalent_spellings(v: &Vectors) {
    for c in &v.envelopes {
        let want = Envelope::parse(c.expected_envelope.as_bytes()).expect("parses");
        let enc = b64_encode(&want.enc);
        let ct = b64_encode(&want.ct);
        let spellings = [
            format!(
                "{{\"ct\":\"{ct}\",\"enc\":\"{enc}\",\"key_id\":\"{}\",\"study_id\":\"{}\",\"format\":\"plp-envelope/1\"}}",
                want.key_id, want.study_id
            ),
            format!(
                " \r\n{{ \"format\" : \"plp-envelope/1\" ,\n\t\"study_id\": \"{}\", \"key_id\": \"{}\", \"enc\": \"{enc}\", \"ct\": \"{ct}\" }}\n",
                want.study_id, want.key_id
            ),
            c.expected_envelope.replace("plp-envelope/1", "plp-envelope\\/1"),
            c.expected_envelope
                .replace("\"format\"", "\"\\u0066ormat\"")
                .replace(&c.study_id, &c.study_id.replace('p', "\\u0070")),
        ];
        for s in &spellings {
            let got = Envelope::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(got, want, "{s}");
        }
    }
}
