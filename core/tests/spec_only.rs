//! Envelopes open "with the spec alone".
//!
//! The opener here is written from `envelope-v1` only: the `hpke` crate's raw RFC 9180 API,
//! SHA-256, base64url and a JSON parser, with the spec's constants spelt out. It calls no
//! `plp_core` function; core is used only to seal. The reverse direction seals with the raw
//! API and opens with core. Then tampering and a foreign key, and a property test.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use plp_core::envelope::Envelope;
use plp_core::seal::KeyPair;
use plp_core::Error;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

// ---- The spec, written out ------------------------------------------------------------

/// `format` of an envelope, and the first part of `info`.
const FORMAT: &str = "plp-envelope/1";
/// The members an envelope has, no more and no fewer.
const MEMBERS: [&str; 5] = ["format", "study_id", "key_id", "enc", "ct"];
/// Envelopes larger than this are refused before parsing.
const MAX_BYTES: usize = 256 * 1024;
/// HPKE's `aad`: empty.
const AAD: &[u8] = b"";

type PrivateKey = <X25519HkdfSha256 as Kem>::PrivateKey;
type PublicKey = <X25519HkdfSha256 as Kem>::PublicKey;
type EncappedKey = <X25519HkdfSha256 as Kem>::EncappedKey;

/// `key_id`: the first 8 bytes of SHA-256(public key), 16 lowercase hex digits.
fn spec_key_id(public_key: &[u8]) -> String {
    Sha256::digest(public_key)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `info` = "plp-envelope/1" || 0x00 || study_id || 0x00 || key_id.
fn spec_info(study_id: &str, key_id: &str) -> Vec<u8> {
    [
        FORMAT.as_bytes(),
        &[0],
        study_id.as_bytes(),
        &[0],
        key_id.as_bytes(),
    ]
    .concat()
}

fn spec_is_study_id(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn spec_public_key(private_key: &[u8; 32]) -> [u8; 32] {
    let sk = PrivateKey::from_bytes(private_key).expect("32 bytes");
    X25519HkdfSha256::sk_to_pk(&sk)
        .to_bytes()
        .as_slice()
        .try_into()
        .expect("32 bytes")
}

/// Opens an envelope as the spec describes, reporting what is wrong in words.
fn spec_open(envelope: &[u8], private_key: &[u8; 32]) -> Result<Vec<u8>, String> {
    if envelope.len() > MAX_BYTES {
        return Err("larger than 256 KiB".into());
    }
    let value: serde_json::Value =
        serde_json::from_slice(envelope).map_err(|e| format!("not JSON: {e}"))?;
    let obj = value.as_object().ok_or("not a JSON object")?;
    if obj.len() != MEMBERS.len() || !MEMBERS.iter().all(|m| obj.contains_key(*m)) {
        return Err("members are not exactly format, study_id, key_id, enc, ct".into());
    }
    let member = |m: &str| obj[m].as_str().ok_or(format!("`{m}` is not a string"));
    if member("format")? != FORMAT {
        return Err("wrong format".into());
    }
    let study_id = member("study_id")?;
    if !spec_is_study_id(study_id) {
        return Err("bad study_id".into());
    }
    let key_id = member("key_id")?;
    if key_id.len() != 16
        || !key_id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err("bad key_id".into());
    }
    let enc = URL_SAFE_NO_PAD
        .decode(member("enc")?)
        .map_err(|e| format!("`enc`: {e}"))?;
    let ct = URL_SAFE_NO_PAD
        .decode(member("ct")?)
        .map_err(|e| format!("`ct`: {e}"))?;
    if enc.len() != 32 {
        return Err("`enc` is not 32 bytes".into());
    }
    if ct.len() < 16 {
        return Err("`ct` is shorter than the tag".into());
    }
    if key_id != spec_key_id(&spec_public_key(private_key)) {
        return Err("sealed to another key".into());
    }
    let sk = PrivateKey::from_bytes(private_key).map_err(|e| e.to_string())?;
    let enc = EncappedKey::from_bytes(&enc).map_err(|e| e.to_string())?;
    hpke::single_shot_open::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &sk,
        &enc,
        &spec_info(study_id, key_id),
        &ct,
        AAD,
    )
    .map_err(|e| format!("HPKE open failed: {e}"))
}

/// Hands HPKE exactly the 32 given bytes: the IKM of the ephemeral `DeriveKeyPair`. Asking
/// for more fails the test.
struct FixedIkm {
    ikm: [u8; 32],
    drawn: usize,
}

impl hpke::rand_core::TryRng for FixedIkm {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("HPKE draws bytes, not words")
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("HPKE draws bytes, not words")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert!(
            self.drawn + dst.len() <= 32,
            "HPKE asked for more than 32 bytes"
        );
        dst.copy_from_slice(&self.ikm[self.drawn..self.drawn + dst.len()]);
        self.drawn += dst.len();
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for FixedIkm {}

/// Seals as the spec describes and writes the envelope JSON by hand.
fn spec_seal(public_key: &[u8; 32], study_id: &str, plaintext: &[u8], ikm: [u8; 32]) -> String {
    let key_id = spec_key_id(public_key);
    let pk = PublicKey::from_bytes(public_key).expect("32 bytes");
    let mut rng = FixedIkm { ikm, drawn: 0 };
    let (enc, ct) = hpke::single_shot_seal_with_rng::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
        &OpModeS::Base,
        &pk,
        &spec_info(study_id, &key_id),
        plaintext,
        AAD,
        &mut rng,
    )
    .expect("seals");
    assert_eq!(
        rng.drawn, 32,
        "the ephemeral key uses exactly the 32 given bytes"
    );
    format!(
        r#"{{"format":"{FORMAT}","study_id":"{study_id}","key_id":"{key_id}","enc":"{}","ct":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(enc.to_bytes()),
        URL_SAFE_NO_PAD.encode(&ct)
    )
}

// ---- The vectors, read as plain JSON ----------------------------------------------------

const VECTORS: &str = include_str!("vectors/envelope-v1.json");

fn hex32(v: &serde_json::Value) -> [u8; 32] {
    hex::decode(v.as_str().expect("string"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

fn vector_envelopes() -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(VECTORS).expect("parses");
    v["envelopes"].as_array().expect("array").clone()
}

// ---- Tests ----------------------------------------------------------------------------

#[test]
fn vector_envelopes_open_with_the_spec_alone() {
    for c in vector_envelopes() {
        let sk = hex32(&c["private_key_hex"]);
        let pk = spec_public_key(&sk);
        assert_eq!(hex::encode(pk), c["public_key_hex"], "{}", c["name"]);
        assert_eq!(spec_key_id(&pk), c["key_id"], "{}", c["name"]);
        let envelope = c["expected_envelope"].as_str().expect("string");
        let plaintext = spec_open(envelope.as_bytes(), &sk).expect("opens");
        assert_eq!(
            plaintext,
            c["plaintext"].as_str().expect("string").as_bytes()
        );
    }
}

#[test]
fn spec_sealing_reproduces_the_vector_envelopes() {
    for c in vector_envelopes() {
        let envelope = spec_seal(
            &hex32(&c["public_key_hex"]),
            c["study_id"].as_str().expect("string"),
            c["plaintext"].as_str().expect("string").as_bytes(),
            hex32(&c["ephemeral_ikm_hex"]),
        );
        assert_eq!(envelope, c["expected_envelope"], "{}", c["name"]);
    }
}

#[test]
fn envelopes_sealed_by_core_open_with_the_spec_alone() {
    let kp = KeyPair::derive([0x42; 32]);
    let sk = *kp.secret();
    for (i, study_id) in ["a", "plp-2026", &"z9-".repeat(21)].into_iter().enumerate() {
        let plaintext = format!("{{\"n\":{i},\"text\":\"héllo ✓\"}}").repeat(i * 50 + 1);
        let env = kp
            .public()
            .seal(study_id, plaintext.as_bytes(), [i as u8; 32])
            .expect("seals");
        let opened = spec_open(&env.to_json(), &sk).expect("opens");
        assert_eq!(opened, plaintext.as_bytes());
    }
}

#[test]
fn envelopes_sealed_with_the_spec_alone_open_in_core() {
    let kp = KeyPair::derive([0x17; 32]);
    for (i, plaintext) in [&b""[..], b"x", &[0u8; 1000], "ünï".as_bytes()]
        .into_iter()
        .enumerate()
    {
        let json = spec_seal(
            kp.public().bytes(),
            "study-7",
            plaintext,
            [0xa0 + i as u8; 32],
        );
        let env = Envelope::parse(json.as_bytes()).expect("core parses it");
        assert_eq!(env.key_id, kp.public().key_id());
        assert_eq!(kp.open(&env).expect("core opens it").as_slice(), plaintext);
        // Same bytes as core's own sealing with the same randomness.
        let ours = kp
            .public()
            .seal("study-7", plaintext, [0xa0 + i as u8; 32])
            .expect("seals");
        assert_eq!(ours.to_json(), json.as_bytes());
    }
}

/// Opens with core and with the spec-only opener; both must refuse.
fn both_refuse(kp: &KeyPair, env: &Envelope, what: &str) -> Error {
    let json = env.to_json();
    assert!(
        spec_open(&json, kp.secret()).is_err(),
        "spec opener accepted {what}"
    );
    let parsed = Envelope::parse(&json).unwrap_or_else(|e| panic!("{what}: {e}"));
    match kp.open(&parsed) {
        Ok(_) => panic!("core opened {what}"),
        Err(e) => {
            assert!(
                e.to_string().starts_with("envelope "),
                "{what}: unclear error {e}"
            );
            e
        }
    }
}

#[test]
fn tampering_with_any_part_fails_to_open() {
    let kp = KeyPair::derive([0x33; 32]);
    let plaintext = br#"{"format":"plp-withdrawal/1","note":"short enough to try every byte"}"#;
    let env = kp
        .public()
        .seal("plp-2026", plaintext, [0x44; 32])
        .expect("seals");
    assert!(spec_open(&env.to_json(), kp.secret()).is_ok());

    for i in 0..env.enc.len() {
        for bit in [0x01, 0x80] {
            let mut t = env.clone();
            t.enc[i] ^= bit;
            let e = both_refuse(&kp, &t, &format!("enc byte {i}"));
            assert!(matches!(e, Error::Open(_)), "enc byte {i}: {e:?}");
        }
    }
    for i in 0..env.ct.len() {
        let mut t = env.clone();
        t.ct[i] ^= 1 << (i % 8);
        let e = both_refuse(&kp, &t, &format!("ct byte {i}"));
        assert!(matches!(e, Error::Open(_)), "ct byte {i}: {e:?}");
    }
    let mut t = env.clone();
    t.ct.pop();
    both_refuse(&kp, &t, "truncated ct");
    let mut t = env.clone();
    t.ct.push(0);
    both_refuse(&kp, &t, "extended ct");

    // Every character of study_id and key_id, replaced by another allowed one.
    for i in 0..env.study_id.len() {
        let mut t = env.clone();
        let c = t.study_id.as_bytes()[i];
        let new = if c == b'a' { 'b' } else { 'a' };
        t.study_id.replace_range(i..=i, &new.to_string());
        let e = both_refuse(&kp, &t, &format!("study_id char {i}"));
        assert!(matches!(e, Error::Open(_)), "study_id char {i}: {e:?}");
    }
    for i in 0..env.key_id.len() {
        let mut t = env.clone();
        let c = t.key_id.as_bytes()[i];
        let new = if c == b'0' { '1' } else { '0' };
        t.key_id.replace_range(i..=i, &new.to_string());
        let e = both_refuse(&kp, &t, &format!("key_id char {i}"));
        assert!(
            matches!(e, Error::WrongKey { .. }),
            "key_id char {i}: {e:?}"
        );
        // The key id is bound into HPKE's info as well, not only compared: opening with the
        // right key but the altered label in `info` fails in the key schedule.
        let sk = PrivateKey::from_bytes(kp.secret()).expect("32 bytes");
        let enc = EncappedKey::from_bytes(&t.enc).expect("32 bytes");
        assert!(
            hpke::single_shot_open::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
                &OpModeR::Base,
                &sk,
                &enc,
                &spec_info(&t.study_id, &t.key_id),
                &t.ct,
                AAD,
            )
            .is_err()
        );
    }
}

#[test]
fn a_foreign_key_fails_with_wrong_key_or_open() {
    let ours = KeyPair::derive([0x01; 32]);
    let theirs = KeyPair::derive([0x02; 32]);
    let env = ours
        .public()
        .seal("plp-2026", b"for our eyes", [0x03; 32])
        .expect("seals");
    match theirs.open(&env) {
        Err(Error::WrongKey { envelope, ours: k }) => {
            assert_eq!(envelope, ours.public().key_id());
            assert_eq!(k, theirs.public().key_id());
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }
    assert!(spec_open(&env.to_json(), theirs.secret()).is_err());

    // Relabelled with the foreign key's id, it reaches HPKE and fails there.
    let mut relabelled = env.clone();
    relabelled.key_id = theirs.public().key_id().to_string();
    match theirs.open(&relabelled) {
        Err(Error::Open(msg)) => assert!(msg.contains("authentication failed"), "{msg}"),
        other => panic!("expected Open, got {other:?}"),
    }
    assert!(spec_open(&relabelled.to_json(), theirs.secret()).is_err());
}

fn study_id() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{0,62}"
}

proptest! {
    #[test]
    fn seal_then_open_round_trips(
        recipient in any::<[u8; 32]>(),
        ephemeral in any::<[u8; 32]>(),
        study_id in study_id(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let kp = KeyPair::derive(recipient);
        let env = kp.public().seal(&study_id, &plaintext, ephemeral).expect("seals");
        prop_assert_eq!(env.ct.len(), plaintext.len() + 16);
        let json = env.to_json();
        let parsed = Envelope::parse(&json).expect("parses");
        prop_assert_eq!(&parsed, &env);
        let opened = kp.open(&parsed).expect("opens");
        prop_assert_eq!(opened.as_slice(), &plaintext[..]);
        prop_assert_eq!(spec_open(&json, kp.secret()).expect("spec opens"), plaintext.clone());
        // Same randomness, same envelope; the raw API agrees byte for byte.
        let again = spec_seal(kp.public().bytes(), &study_id, &plaintext, ephemeral);
        prop_assert_eq!(again.as_bytes(), &json[..]);
    }
}
