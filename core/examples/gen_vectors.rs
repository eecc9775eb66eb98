//! Writes the envelope-v1 test vectors to standard output.
//!
//! The committed file was made once with
//!
//! ```sh
//! cargo run -p plp-core --example gen_vectors > core/tests/vectors/envelope-v1.json
//! ```
//!
//! and is checked by `core/tests/vectors.rs` (native) and `core/tests/wasm_vectors.rs`
//! (wasm32). Do not regenerate it to make a failing test pass: a changed vector means the
//! wire format changed, which breaks every envelope already sealed.

use plp_core::answers::{Answer, Answers};
use plp_core::envelope::{b64_encode, Envelope};
use plp_core::payload::{self, Consent, ResponsePayload, SurveyRef, WithdrawalPayload};
use plp_core::seal::{info, KeyPair};
use plp_core::withdrawal;
use serde::Serialize;

/// RFC 9180 appendix A.1 (DHKEM(X25519, HKDF-SHA256)): `ikmR`, the recipient's IKM.
const RFC9180_IKM_R: &str = "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037";
/// RFC 9180 appendix A.1: `ikmE`, the sender's ephemeral IKM.
const RFC9180_IKM_E: &str = "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234";

#[derive(Serialize)]
struct Description {
    about: &'static str,
    keys: &'static str,
    envelopes: &'static str,
    tags: &'static str,
    invalid_words: &'static str,
    invalid_envelopes: &'static str,
    not_stored: &'static str,
}

#[derive(Serialize)]
struct Suite {
    mode: u8,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    aad_hex: &'static str,
}

#[derive(Serialize)]
struct KeyCase {
    name: &'static str,
    note: &'static str,
    ikm_hex: String,
    private_key_hex: String,
    public_key_hex: String,
    public_key_b64url: String,
    key_id: String,
}

#[derive(Serialize)]
struct EnvelopeCase {
    name: &'static str,
    note: &'static str,
    study_id: &'static str,
    private_key_hex: String,
    public_key_hex: String,
    key_id: String,
    ephemeral_ikm_hex: String,
    info_hex: String,
    plaintext: String,
    expected_enc_b64url: String,
    expected_envelope: String,
}

#[derive(Serialize)]
struct TagCase {
    name: &'static str,
    study_id: &'static str,
    word: String,
    normalised: String,
    tag: String,
}

#[derive(Serialize)]
struct InvalidWord {
    name: &'static str,
    study_id: &'static str,
    word: String,
    expect_error_contains: String,
}

#[derive(Serialize)]
struct InvalidEnvelope {
    name: &'static str,
    /// `parse` when `Envelope::parse` must refuse it, `open` when it parses but must not open.
    stage: &'static str,
    /// The key to open with (stage `open` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_hex: Option<String>,
    envelope: String,
    expect_error_contains: &'static str,
}

#[derive(Serialize)]
struct Vectors {
    description: Description,
    spec: &'static str,
    suite: Suite,
    keys: Vec<KeyCase>,
    envelopes: Vec<EnvelopeCase>,
    tags: Vec<TagCase>,
    invalid_words: Vec<InvalidWord>,
    invalid_envelopes: Vec<InvalidEnvelope>,
}

fn ikm(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str)
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// 32 bytes counting up from `start`.
fn counting(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start.wrapping_add(i as u8))
}

fn key_case(name: &'static str, note: &'static str, seed: [u8; 32]) -> KeyCase {
    let kp = KeyPair::derive(seed);
    KeyCase {
        name,
        note,
        ikm_hex: hex::encode(seed),
        private_key_hex: hex::encode(kp.secret()),
        public_key_hex: hex::encode(kp.public().bytes()),
        public_key_b64url: b64_encode(kp.public().bytes()),
        key_id: kp.public().key_id().to_string(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    payload::sha256_hex(bytes)
}

fn answers(pairs: &[(&str, Answer)]) -> Answers {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn text(s: &str) -> Answer {
    Answer::Text(s.into())
}

fn list(v: &[&str]) -> Answer {
    Answer::List(v.iter().map(|s| s.to_string()).collect())
}

#[allow(clippy::too_many_arguments)]
fn response(
    study_id: &str,
    submission_id: [u8; 16],
    survey_bytes: &[u8],
    sheet_text: &str,
    code: &str,
    word: &str,
    date: &str,
    answers: Answers,
) -> String {
    let p = ResponsePayload {
        format: payload::RESPONSE_FORMAT.into(),
        submission_id: hex::encode(submission_id),
        survey: SurveyRef {
            id: "plp".into(),
            version: "1.0".into(),
            sha256: sha256_hex(survey_bytes),
        },
        consent: Consent {
            information_sheet_version: "1.0".into(),
            information_sheet_sha256: sha256_hex(sheet_text.as_bytes()),
            agreed: true,
            date: date.into(),
        },
        code: code.into(),
        withdrawal_tag: withdrawal::tag(study_id, word).expect("usable word"),
        answers,
    };
    let json = String::from_utf8(p.to_json()).expect("UTF-8");
    payload::parse(json.as_bytes()).expect("the payload parses");
    json
}

fn envelope_case(
    name: &'static str,
    note: &'static str,
    study_id: &'static str,
    recipient: [u8; 32],
    ephemeral: [u8; 32],
    plaintext: String,
) -> EnvelopeCase {
    let kp = KeyPair::derive(recipient);
    let env = kp
        .public()
        .seal(study_id, plaintext.as_bytes(), ephemeral)
        .expect("seals");
    let json = String::from_utf8(env.to_json()).expect("UTF-8");
    let opened = kp.open(&Envelope::parse(json.as_bytes()).expect("parses"));
    assert_eq!(opened.expect("opens").as_slice(), plaintext.as_bytes());
    EnvelopeCase {
        name,
        note,
        study_id,
        private_key_hex: hex::encode(kp.secret()),
        public_key_hex: hex::encode(kp.public().bytes()),
        key_id: kp.public().key_id().to_string(),
        ephemeral_ikm_hex: hex::encode(ephemeral),
        info_hex: hex::encode(info(study_id, kp.public().key_id())),
        plaintext,
        expected_enc_b64url: b64_encode(&env.enc),
        expected_envelope: json,
    }
}

fn tag_case(name: &'static str, study_id: &'static str, word: &str) -> TagCase {
    TagCase {
        name,
        study_id,
        word: word.into(),
        normalised: withdrawal::normalise_word(word).expect("usable word"),
        tag: withdrawal::tag(study_id, word).expect("usable word"),
    }
}

fn invalid_word(name: &'static str, word: String) -> InvalidWord {
    let err = withdrawal::tag("plp-2026", &word).expect_err("must be refused");
    InvalidWord {
        name,
        study_id: "plp-2026",
        word,
        expect_error_contains: err.to_string(),
    }
}

/// The members of an envelope as `(name, JSON value text)`, to rebuild it altered.
fn members(env: &Envelope) -> Vec<(String, String)> {
    vec![
        ("format".into(), "\"plp-envelope/1\"".into()),
        ("study_id".into(), format!("\"{}\"", env.study_id)),
        ("key_id".into(), format!("\"{}\"", env.key_id)),
        ("enc".into(), format!("\"{}\"", b64_encode(&env.enc))),
        ("ct".into(), format!("\"{}\"", b64_encode(&env.ct))),
    ]
}

fn object(members: &[(String, String)]) -> String {
    let inner: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn with_member(env: &Envelope, name: &str, value: String) -> String {
    let mut m = members(env);
    m.iter_mut().find(|(k, _)| k == name).expect("member").1 = value;
    object(&m)
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

fn invalid_envelopes(case: &EnvelopeCase, other_key: &KeyPair) -> Vec<InvalidEnvelope> {
    let env = Envelope::parse(case.expected_envelope.as_bytes()).expect("parses");
    let ours = Some(case.private_key_hex.clone());
    let theirs = Some(hex::encode(other_key.secret()));
    let parse = |name, envelope, expect| InvalidEnvelope {
        name,
        stage: "parse",
        private_key_hex: None,
        envelope,
        expect_error_contains: expect,
    };
    let open = |name, key: &Option<String>, envelope: Envelope, expect| InvalidEnvelope {
        name,
        stage: "open",
        private_key_hex: key.clone(),
        envelope: String::from_utf8(envelope.to_json()).expect("UTF-8"),
        expect_error_contains: expect,
    };
    let enc = b64_encode(&env.enc);
    let ct = b64_encode(&env.ct);

    let mut extra = members(&env);
    extra.push(("note".into(), "\"hello\"".into()));
    let mut missing = members(&env);
    missing.pop();
    let mut duplicate = members(&env);
    duplicate.push(("enc".into(), quoted(&enc)));

    // The last character of 32 bytes in base64 carries 4 data bits and 2 zero bits.
    let mut noncanonical = enc.clone();
    let last = noncanonical.pop().expect("non-empty");
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).expect("base64url");
    assert_eq!(idx & 3, 0, "canonical encoding");
    noncanonical.push(alphabet.as_bytes()[idx | 1] as char);

    let mut flipped_ct = env.clone();
    flipped_ct.ct[0] ^= 0x01;
    let mut flipped_tag = env.clone();
    *flipped_tag.ct.last_mut().expect("non-empty") ^= 0x80;
    let mut truncated = env.clone();
    truncated.ct.pop();
    let mut flipped_enc = env.clone();
    flipped_enc.enc[5] ^= 0x10;
    let mut other_study = env.clone();
    other_study.study_id = "plp-2027".into();
    let mut other_key_id = env.clone();
    other_key_id.key_id = "0123456789abcdef".into();
    let mut relabelled = env.clone();
    relabelled.key_id = other_key.public().key_id().into();

    vec![
        parse("extra-member", object(&extra), "unknown field `note`"),
        parse("missing-member", object(&missing), "missing field `ct`"),
        parse(
            "duplicate-member",
            object(&duplicate),
            "duplicate field `enc`",
        ),
        parse(
            "null-member",
            with_member(&env, "ct", "null".into()),
            "invalid type: null",
        ),
        parse(
            "number-member",
            with_member(&env, "key_id", "1234567890123456".into()),
            "invalid type: integer",
        ),
        parse(
            "not-an-object",
            format!("[{}]", case.expected_envelope),
            "not a JSON object",
        ),
        parse(
            "array-instead-of-object",
            format!(
                "[{}]",
                members(&env)
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            "not a JSON object",
        ),
        parse(
            "trailing-data",
            format!("{}{{}}", case.expected_envelope),
            "trailing characters",
        ),
        parse(
            "padding-in-base64",
            with_member(&env, "enc", quoted(&format!("{enc}="))),
            "`enc` is not base64url without padding",
        ),
        parse(
            "standard-base64-alphabet",
            with_member(&env, "ct", quoted(&format!("+/{}", &ct[2..]))),
            "`ct` is not base64url without padding",
        ),
        parse(
            "non-base64url-character",
            with_member(&env, "ct", quoted(&format!("{}*", &ct[..ct.len() - 1]))),
            "`ct` is not base64url without padding",
        ),
        parse(
            "non-canonical-base64",
            with_member(&env, "enc", quoted(&noncanonical)),
            "`enc` is not base64url without padding",
        ),
        parse(
            "wrong-format",
            with_member(&env, "format", quoted("plp-envelope/2")),
            "`format` is `plp-envelope/2`, expected `plp-envelope/1`",
        ),
        parse(
            "study-id-upper-case",
            with_member(&env, "study_id", quoted("PLP-2026")),
            "`study_id` must be 1-63 of a-z, 0-9 and -",
        ),
        parse(
            "study-id-leading-hyphen",
            with_member(&env, "study_id", quoted("-plp")),
            "`study_id` must be 1-63 of a-z, 0-9 and -",
        ),
        parse(
            "study-id-64-characters",
            with_member(&env, "study_id", quoted(&"a".repeat(64))),
            "`study_id` must be 1-63 of a-z, 0-9 and -",
        ),
        parse(
            "key-id-upper-case",
            with_member(&env, "key_id", quoted(&env.key_id.to_uppercase())),
            "`key_id` must be 16 lowercase hex digits",
        ),
        parse(
            "key-id-too-short",
            with_member(&env, "key_id", quoted(&env.key_id[..15])),
            "`key_id` must be 16 lowercase hex digits",
        ),
        parse(
            "enc-wrong-length",
            with_member(&env, "enc", quoted(&b64_encode(&env.enc[..31]))),
            "`enc` holds 31 bytes, expected 32",
        ),
        parse(
            "ct-shorter-than-tag",
            with_member(&env, "ct", quoted(&b64_encode(&env.ct[..15]))),
            "`ct` holds 15 bytes, shorter than the 16-byte tag",
        ),
        open(
            "flipped-byte-in-ct",
            &ours,
            flipped_ct,
            "envelope does not open: authentication failed",
        ),
        open(
            "flipped-byte-in-tag",
            &ours,
            flipped_tag,
            "envelope does not open: authentication failed",
        ),
        open(
            "truncated-ct",
            &ours,
            truncated,
            "envelope does not open: authentication failed",
        ),
        open(
            "flipped-byte-in-enc",
            &ours,
            flipped_enc,
            "envelope does not open: authentication failed",
        ),
        open(
            "changed-study-id",
            &ours,
            other_study,
            "envelope does not open: authentication failed",
        ),
        open(
            "changed-key-id",
            &ours,
            other_key_id,
            "envelope was sealed to key 0123456789abcdef",
        ),
        open(
            "wrong-recipient-key",
            &theirs,
            env.clone(),
            "envelope was sealed to key",
        ),
        open(
            "wrong-recipient-key-relabelled",
            &theirs,
            relabelled,
            "envelope does not open: authentication failed",
        ),
    ]
}

/// Escapes the characters that would be invisible or ambiguous in the file (non-ASCII
/// white space and format characters) as `\uXXXX`. They occur only inside JSON strings, so
/// the output stays the same JSON.
fn escape_invisible(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        let invisible = !c.is_ascii()
            && (c.is_whitespace()
                || matches!(
                    c,
                    '\u{00ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}'
                ));
        if invisible {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn main() {
    let keys = vec![
        key_case(
            "rfc9180-a1-recipient",
            "ikm is ikmR of RFC 9180 appendix A.1, so public_key_hex is pkRm there. \
             private_key_hex is skRm as SerializePrivateKey writes it for X25519: clamped \
             (RFC 9180 section 7.1.2), which changes bits X25519 ignores anyway.",
            ikm(RFC9180_IKM_R),
        ),
        key_case(
            "rfc9180-a1-ephemeral",
            "ikm is ikmE of RFC 9180 appendix A.1, so public_key_hex is pkEm there: the `enc` \
             of every envelope sealed with this ephemeral IKM.",
            ikm(RFC9180_IKM_E),
        ),
        key_case("counting", "ikm is the bytes 0x00 to 0x1f.", counting(0x00)),
    ];

    let survey_bytes = br#"{"survey":{"id":"plp","version":"1.0"}}"#;
    let sheet = "Information sheet, version 1.0.\nTaking part is voluntary.";
    let response_plp = response(
        "plp-2026",
        counting(0xa0)[..16].try_into().expect("16"),
        survey_bytes,
        sheet,
        "AB",
        "  Sunflower  ",
        "2026-03-14",
        answers(&[
            ("q3", text("bme")),
            ("q4", list(&["listening", "other"])),
            ("q4_other", text("Shadowing at board meetings")),
            ("q5", Answer::Int(4)),
            (
                "q12",
                text("We met every month; it changed how I chair meetings."),
            ),
        ]),
    );
    let response_unicode = response(
        "demo-1",
        counting(0x10)[..16].try_into().expect("16"),
        survey_bytes,
        sheet,
        "Q",
        "Ünïcode Straße",
        "2024-02-29",
        answers(&[
            ("q3", text("senior_leader")),
            ("q5", Answer::Int(0)),
            (
                "q12",
                text("Très utile — “quotes”, a \"backslash\\\" and 😀.\nNew line."),
            ),
        ]),
    );
    let withdrawal = String::from_utf8(
        WithdrawalPayload::build(
            "plp-2026",
            "^[A-Z]{1,2}$",
            Some(" ab "),
            "  Sunflower  ",
            "2026-04-01",
            counting(0x50)[..16].try_into().expect("16"),
        )
        .expect("builds")
        .to_json(),
    )
    .expect("UTF-8");
    payload::parse(withdrawal.as_bytes()).expect("parses");

    let envelopes = vec![
        envelope_case(
            "response-rfc9180-keys",
            "Recipient ikmR and ephemeral ikmE of RFC 9180 A.1, so expected_enc_b64url is \
             pkEm and the shared secret is the one A.1 lists (the key schedule differs: \
             other AEAD, other info).",
            "plp-2026",
            ikm(RFC9180_IKM_R),
            ikm(RFC9180_IKM_E),
            response_plp,
        ),
        envelope_case(
            "response-non-ascii",
            "A response whose free text holds non-ASCII characters and JSON escapes.",
            "demo-1",
            counting(0x00),
            counting(0x80),
            response_unicode,
        ),
        envelope_case(
            "withdrawal-request",
            "A plp-withdrawal/1 payload with a pair code, for the first envelope's study.",
            "plp-2026",
            ikm(RFC9180_IKM_R),
            counting(0xe0),
            withdrawal,
        ),
    ];

    let tags = vec![
        tag_case("surrounding-spaces", "plp-2026", "  sunflower  "),
        tag_case("mixed-case", "plp-2026", "SunFlower"),
        tag_case("other-study-same-word", "demo-1", "sunflower"),
        tag_case("inner-double-space", "plp-2026", "blue  moon"),
        tag_case("tab-and-no-break-space", "plp-2026", "Blue\t\u{a0} Moon"),
        tag_case("non-ascii-letters", "plp-2026", "Ünïcode Straße"),
        tag_case("nfkc-ligature-fi", "plp-2026", "\u{fb01}sh cake"),
        tag_case("nfkc-ligature-ffi-makes-4", "plp-2026", "\u{fb03}x"),
        tag_case(
            "nfkc-fullwidth-and-ideographic-space",
            "plp-2026",
            "ＰＬＰ\u{3000}ｗｏｒｄ",
        ),
        tag_case(
            "nfkc-before-lowercase-math-bold",
            "plp-2026",
            "\u{1d416}\u{1d428}\u{1d42b}\u{1d41d}",
        ),
        tag_case("full-lowercase-dotted-capital-i", "plp-2026", "İstanbul"),
        tag_case("lowercase-final-sigma", "plp-2026", "ΟΔΟΣ"),
        tag_case(
            "white-space-nel-and-ogham",
            "plp-2026",
            "\u{85}blue\u{1680}moon\u{85}",
        ),
        tag_case(
            "zero-width-space-is-not-white-space",
            "plp-2026",
            "blue\u{200b}moon",
        ),
        tag_case(
            "unit-separator-is-not-white-space",
            "plp-2026",
            "blue\u{1f}moon",
        ),
        tag_case(
            "byte-order-mark-is-not-white-space",
            "plp-2026",
            "\u{feff}blue moon",
        ),
        tag_case("exactly-4", "plp-2026", " abcd "),
        tag_case("exactly-64", "plp-2026", &"Xy".repeat(32)),
    ];

    let invalid_words = vec![
        invalid_word("too-short-after-trim", "  a b  ".into()),
        invalid_word("only-white-space", " \t\u{a0} ".into()),
        invalid_word("empty", String::new()),
        invalid_word("ligature-still-too-short", "\u{fb03}".into()),
        invalid_word("too-long", "x".repeat(65)),
        invalid_word(
            "too-long-after-nfkc",
            format!("{}{}", "x".repeat(60), "\u{fb03}\u{fb03}"),
        ),
    ];

    let other_key = KeyPair::derive(counting(0x40));
    let invalid = invalid_envelopes(&envelopes[0], &other_key);

    let doc = Vectors {
        description: Description {
            about:
                "Test vectors for envelope-v1 (the sealed response format; see docs/format.md). \
                    Made once by core/examples/gen_vectors.rs and checked by core/tests/vectors.rs \
                    (native) and core/tests/wasm_vectors.rs (wasm32). Hex is lowercase, base64url \
                    has no padding, all strings are UTF-8; a few invisible characters are written \
                    as JSON \\u escapes.",
            keys: "X25519 key pairs: private_key_hex and public_key_hex are what RFC 9180 \
                   DeriveKeyPair(ikm) gives for DHKEM(X25519, HKDF-SHA256) (private key as \
                   SerializePrivateKey writes it, clamped); public_key_b64url is how study.json \
                   carries the public key; key_id is the first 8 bytes of SHA-256(public key) \
                   as 16 hex digits.",
            envelopes:
                "Sealing: HPKE SealBase to public_key_hex with info = info_hex (\"plp-envelope/1\" \
                        0x00 study_id 0x00 key_id), aad empty, plaintext = the UTF-8 bytes of \
                        `plaintext`, and the ephemeral key pair DeriveKeyPair(ephemeral_ikm_hex), \
                        gives `enc` = expected_enc_b64url and exactly the bytes of \
                        expected_envelope (compact JSON, members in the spec's order). Opening \
                        expected_envelope with private_key_hex gives `plaintext` back.",
            tags: "Withdrawal tags: normalised = normalise(word) (NFKC, full lower-casing, trim \
                   Unicode White_Space, each inner run of White_Space to one U+0020) and tag = \
                   SHA-256(\"plp-withdrawal/1\" 0x00 study_id 0x00 normalised) in hex.",
            invalid_words: "Words that normalise to fewer than 4 or more than 64 Unicode scalar \
                            values; expect_error_contains is plp's message.",
            invalid_envelopes: "Envelopes that must be refused. stage `parse`: the strict parser \
                                refuses them before any cryptography; stage `open`: they parse, \
                                but opening with private_key_hex must fail. \
                                expect_error_contains is a part of plp's error message; another \
                                implementation checks only that it refuses.",
            not_stored: "Envelopes over 256 KiB (262144 bytes) must be refused before parsing; \
                         the tests build one (a valid envelope padded with trailing spaces to \
                         262145 bytes) rather than store it here, and check that the same \
                         envelope padded to exactly 262144 bytes is accepted.",
        },
        spec: "envelope-v1",
        suite: Suite {
            mode: 0,
            kem_id: 0x0020,
            kdf_id: 0x0001,
            aead_id: 0x0002,
            aad_hex: "",
        },
        keys,
        envelopes,
        tags,
        invalid_words,
        invalid_envelopes: invalid,
    };
    let json = serde_json::to_string_pretty(&doc).expect("serialises");
    println!("{}", escape_invisible(&json));
}
