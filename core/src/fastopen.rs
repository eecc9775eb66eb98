//! Opening many envelopes to one key: RFC 9180 written out, with what does not change
//! between envelopes computed once.
//!
//! [`crate::seal::KeyPair::open`] goes through the `hpke` crate, which derives the recipient's
//! public key from the private key on every call (one more X25519 multiplication per
//! envelope) and recomputes the part of the key schedule that depends only on the study.
//! [`Opener`] does, for `DHKEM(X25519, HKDF-SHA256)`, `HKDF-SHA256`, `AES-256-GCM`, mode_base
//! (RFC 9180 sections 4.1, 5.1 and 5.2):
//!
//! ```text
//! dh            = X25519(skR, enc)                       (all zeros: refuse)
//! eae_prk       = LabeledExtract("", "eae_prk", dh)      with suite_id "KEM" || 0x0020
//! shared_secret = LabeledExpand(eae_prk, "shared_secret", enc || pkR, 32)
//! ksc           = 0x00 || LabeledExtract("", "psk_id_hash", "")
//!                      || LabeledExtract("", "info_hash", info)   (once per study)
//! secret        = LabeledExtract(shared_secret, "secret", "")
//! key           = LabeledExpand(secret, "key", ksc, 32)
//! base_nonce    = LabeledExpand(secret, "base_nonce", ksc, 12)
//! plaintext     = AES-256-GCM-Open(key, base_nonce, aad = "", ct)  (first message: seq 0)
//! ```
//!
//! with the key schedule's suite_id `"HPKE" || 0x0020 || 0x0001 || 0x0002`, and `info` as
//! envelope-v1 fixes it ([`crate::seal::info`]). The result is byte for byte what the `hpke`
//! crate gives: the tests check it on the committed vectors and on random keys, envelopes and
//! tampered bytes.
//!
//! The X25519 multiplication is the only costly step. It is x25519-dalek's by default; a
//! native caller may plug in a faster implementation of the same function
//! ([`Opener::with_dh`]). [`Opened::key`] is the AEAD key and nonce the envelope was sealed
//! under, so a caller that keeps it (encrypted) can later decrypt the same ciphertext with
//! AES-GCM alone ([`AeadKey::open`]).

use crate::envelope::Envelope;
use crate::error::Error;
use crate::seal::{info, KeyPair, KEY_LEN};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// RFC 9180 `"HPKE-v1"`, prefixed to every labelled input.
const HPKE_V1: &[u8] = b"HPKE-v1";
/// suite_id of the KEM: `"KEM" || I2OSP(0x0020, 2)` (DHKEM(X25519, HKDF-SHA256)).
const KEM_SUITE: &[u8] = b"KEM\x00\x20";
/// suite_id of the key schedule: `"HPKE" || kem_id || kdf_id || aead_id`.
const HPKE_SUITE: &[u8] = b"HPKE\x00\x20\x00\x01\x00\x02";
/// mode_base.
const MODE_BASE: u8 = 0x00;
/// AES-256-GCM key length (Nk).
pub const AEAD_KEY_LEN: usize = 32;
/// AES-256-GCM nonce length (Nn).
pub const AEAD_NONCE_LEN: usize = 12;
/// Length of a key-schedule context: mode and two SHA-256 outputs.
const KSC_LEN: usize = 1 + 32 + 32;

/// The message when authentication fails: the same words as [`KeyPair::open`].
const AUTH_FAILED: &str =
    "authentication failed: the envelope was altered, relabelled, or sealed to another key";

/// An X25519 function of the recipient: `DH(skR, pkE)`, the 32-byte shared value, or `None`
/// when the implementation refuses the input. Must equal RFC 7748 `X25519(skR, pkE)`.
pub type Dh = dyn Fn(&[u8; KEY_LEN]) -> Option<Zeroizing<[u8; KEY_LEN]>> + Send + Sync;

/// RFC 7748 X25519 of a private and a public key (x25519-dalek): the private key is clamped,
/// the top bit of the public value ignored.
pub fn x25519(secret: &[u8; KEY_LEN], public: &[u8; KEY_LEN]) -> Zeroizing<[u8; KEY_LEN]> {
    let point = curve25519_dalek::montgomery::MontgomeryPoint(*public);
    Zeroizing::new(point.mul_clamped(*secret).to_bytes())
}

/// The AEAD key and nonce of one envelope (the HPKE context's first message).
#[derive(Clone)]
pub struct AeadKey {
    bytes: Zeroizing<[u8; AEAD_KEY_LEN + AEAD_NONCE_LEN]>,
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey(<redacted>)")
    }
}

impl AeadKey {
    /// Length of [`AeadKey::to_bytes`]: key, then nonce.
    pub const LEN: usize = AEAD_KEY_LEN + AEAD_NONCE_LEN;

    /// Rebuilds a key from [`AeadKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8; Self::LEN]) -> Self {
        AeadKey {
            bytes: Zeroizing::new(*bytes),
        }
    }

    /// Key then nonce.
    pub fn to_bytes(&self) -> Zeroizing<[u8; Self::LEN]> {
        self.bytes.clone()
    }

    /// Decrypts and authenticates an envelope's `ct` (aad empty).
    pub fn open(&self, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let cipher = Aes256Gcm::new(
            &Key::<Aes256Gcm>::try_from(&self.bytes[..AEAD_KEY_LEN]).expect("32-byte key"),
        );
        let nonce = Nonce::try_from(&self.bytes[AEAD_KEY_LEN..]).expect("12-byte nonce");
        cipher
            .decrypt(&nonce, Payload { msg: ct, aad: b"" })
            .map(Zeroizing::new)
            .map_err(|_| Error::Open(AUTH_FAILED.into()))
    }
}

/// An opened envelope.
pub struct Opened {
    /// The payload bytes.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The AEAD key and nonce it was sealed under.
    pub key: AeadKey,
}

/// Opens envelopes sealed to one key pair; see the module documentation.
pub struct Opener {
    /// On the heap, as in [`KeyPair`]: moving an `Opener` leaves no copy of the key behind.
    secret: Box<Zeroizing<[u8; KEY_LEN]>>,
    public: [u8; KEY_LEN],
    key_id: String,
    study_id: String,
    /// Key-schedule context of `study_id`.
    ksc: [u8; KSC_LEN],
    dh: Option<Box<Dh>>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Opener {{ key_id: {}, study_id: {}, secret: <redacted> }}",
            self.key_id, self.study_id
        )
    }
}

/// `LabeledExtract(salt, label, ikm)` with the given suite_id.
fn labeled_extract(
    salt: &[u8],
    suite: &[u8],
    label: &[u8],
    ikm: &[u8],
) -> (Zeroizing<[u8; 32]>, hkdf::Hkdf<Sha256>) {
    let mut x = hkdf::HkdfExtract::<Sha256>::new(Some(salt));
    for part in [HPKE_V1, suite, label, ikm] {
        x.input_ikm(part);
    }
    let (prk, hkdf) = x.finalize();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&prk);
    (out, hkdf)
}

/// `LabeledExpand(prk, label, info, L)` with the given suite_id; `L` is `out.len()`.
fn labeled_expand(
    prk: &hkdf::Hkdf<Sha256>,
    suite: &[u8],
    label: &[u8],
    info: &[&[u8]],
    out: &mut [u8],
) {
    let len = u16::try_from(out.len())
        .expect("short output")
        .to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![&len, HPKE_V1, suite, label];
    parts.extend_from_slice(info);
    prk.expand_multi_info(&parts, out)
        .expect("at most 32 bytes, well within HKDF's limit");
}

/// The key-schedule context of mode_base without a PSK for `info`.
fn key_schedule_context(info: &[u8]) -> [u8; KSC_LEN] {
    let (psk_id_hash, _) = labeled_extract(b"", HPKE_SUITE, b"psk_id_hash", b"");
    let (info_hash, _) = labeled_extract(b"", HPKE_SUITE, b"info_hash", info);
    let mut ksc = [0u8; KSC_LEN];
    ksc[0] = MODE_BASE;
    ksc[1..33].copy_from_slice(&*psk_id_hash);
    ksc[33..].copy_from_slice(&*info_hash);
    ksc
}

impl Opener {
    /// An opener for envelopes sealed to `key` for `study_id` (others open too, a little
    /// slower). X25519 is x25519-dalek's until [`Opener::with_dh`] replaces it.
    pub fn new(key: &KeyPair, study_id: &str) -> Opener {
        let key_id = key.public().key_id().to_string();
        let mut secret = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        secret.copy_from_slice(key.secret());
        Opener {
            secret,
            public: *key.public().bytes(),
            ksc: key_schedule_context(&info(study_id, &key_id)),
            key_id,
            study_id: study_id.to_string(),
            dh: None,
        }
    }

    /// Uses `dh` for `X25519(skR, enc)`, the caller's implementation holding the same
    /// private key.
    pub fn with_dh(mut self, dh: Box<Dh>) -> Opener {
        self.dh = Some(dh);
        self
    }

    /// The key id of the key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Opens an envelope: the same result and errors as [`KeyPair::open`], plus the AEAD key.
    pub fn open(&self, env: &Envelope) -> Result<Opened, Error> {
        if env.key_id != self.key_id {
            return Err(Error::WrongKey {
                envelope: env.key_id.clone(),
                ours: self.key_id.clone(),
            });
        }
        let key = self.derive(env)?;
        let plaintext = key.open(&env.ct)?;
        Ok(Opened { plaintext, key })
    }

    /// Decap and the key schedule: the AEAD key and nonce of an envelope, not yet checked
    /// against its ciphertext.
    fn derive(&self, env: &Envelope) -> Result<AeadKey, Error> {
        let dh = match &self.dh {
            Some(f) => f(&env.enc).ok_or_else(|| Error::Open(AUTH_FAILED.into()))?,
            None => x25519(&self.secret, &env.enc),
        };
        // RFC 9180 section 7.1.4: the all-zero shared value (a small-order `enc`) is refused.
        if dh.iter().all(|&b| b == 0) {
            return Err(Error::Open(AUTH_FAILED.into()));
        }
        let (_, eae_prk) = labeled_extract(b"", KEM_SUITE, b"eae_prk", &*dh);
        let mut shared_secret = Zeroizing::new([0u8; 32]);
        labeled_expand(
            &eae_prk,
            KEM_SUITE,
            b"shared_secret",
            &[&env.enc, &self.public],
            &mut *shared_secret,
        );
        let other;
        let ksc = if env.study_id == self.study_id {
            &self.ksc
        } else {
            other = key_schedule_context(&info(&env.study_id, &env.key_id));
            &other
        };
        let (_, secret) = labeled_extract(&*shared_secret, HPKE_SUITE, b"secret", b"");
        let mut bytes = Zeroizing::new([0u8; AeadKey::LEN]);
        let (k, n) = bytes.split_at_mut(AEAD_KEY_LEN);
        labeled_expand(&secret, HPKE_SUITE, b"key", &[ksc], k);
        labeled_expand(&secret, HPKE_SUITE, b"base_nonce", &[ksc], n);
        let key = AeadKey { bytes };
        shared_secret.zeroize();
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VECTORS: &str = include_str!("../tests/vectors/envelope-v1.json");

    fn hex32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn opens_the_committed_vectors() {
        let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        let envs = v["envelopes"].as_array().unwrap();
        assert!(!envs.is_empty());
        for c in envs {
            let kp = KeyPair::from_secret(hex32(c["private_key_hex"].as_str().unwrap())).unwrap();
            let env = Envelope::parse(c["expected_envelope"].as_str().unwrap().as_bytes()).unwrap();
            for opener in [
                Opener::new(&kp, &env.study_id),
                Opener::new(&kp, "another-study"),
            ] {
                let opened = opener.open(&env).unwrap();
                assert_eq!(
                    opened.plaintext.as_slice(),
                    c["plaintext"].as_str().unwrap().as_bytes()
                );
                assert_eq!(opened.key.open(&env.ct).unwrap(), opened.plaintext);
            }
        }
    }

    #[test]
    fn refuses_what_the_hpke_crate_refuses_in_the_vectors() {
        let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        for c in v["invalid_envelopes"].as_array().unwrap() {
            if c["stage"] != "open" {
                continue;
            }
            let key = c["private_key_hex"]
                .as_str()
                .expect("open cases name a key");
            let kp = KeyPair::from_secret(hex32(key)).unwrap();
            let env = Envelope::parse(c["envelope"].as_str().unwrap().as_bytes()).unwrap();
            let want = kp.open(&env).map(|p| p.to_vec());
            let got = Opener::new(&kp, &env.study_id)
                .open(&env)
                .map(|o| o.plaintext.to_vec());
            assert!(got.is_err(), "{}", c["name"]);
            assert_eq!(
                got.unwrap_err().to_string(),
                want.unwrap_err().to_string(),
                "{}",
                c["name"]
            );
        }
    }

    #[test]
    fn small_order_enc_is_refused() {
        let kp = KeyPair::derive([3; 32]);
        let env = Envelope {
            study_id: "s".into(),
            key_id: kp.public().key_id().into(),
            enc: [0; 32],
            ct: vec![0; 32],
        };
        let e = Opener::new(&kp, "s").open(&env).err().unwrap();
        assert_eq!(e.to_string(), kp.open(&env).unwrap_err().to_string());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Sealed by the `hpke` crate (through `PublicKey::seal`): the same plaintext; then a
        /// byte flipped anywhere (enc or ct) or a relabelled study: both refuse alike.
        #[test]
        fn agrees_with_the_hpke_crate(
            ikm in any::<[u8; 32]>(),
            eph in any::<[u8; 32]>(),
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
            study in "[a-z0-9][a-z0-9-]{0,20}",
            flip in any::<(usize, u8)>(),
        ) {
            let kp = KeyPair::derive(ikm);
            let env = kp.public().seal(&study, &plaintext, eph).unwrap();
            let opener = Opener::new(&kp, &study);
            let opened = opener.open(&env).unwrap();
            prop_assert_eq!(opened.plaintext.to_vec(), kp.open(&env).unwrap().to_vec());
            prop_assert_eq!(opened.plaintext.as_slice(), plaintext.as_slice());
            let again = AeadKey::from_bytes(&opened.key.to_bytes()).open(&env.ct).unwrap();
            prop_assert_eq!(again.to_vec(), plaintext.clone());

            let mut bad = env.clone();
            let (at, x) = (flip.0 % (32 + bad.ct.len()), flip.1 | 1);
            if at < 32 { bad.enc[at] ^= x } else { bad.ct[at - 32] ^= x }
            let (a, b) = (opener.open(&bad).map(|o| o.plaintext.to_vec()), kp.open(&bad).map(|p| p.to_vec()));
            // Flipping the top bit of `enc` leaves X25519's input unchanged (RFC 7748 masks
            // it): then both open.
            prop_assert_eq!(a.as_ref().ok(), b.as_ref().ok());
            prop_assert_eq!(a.err().map(|e| e.to_string()), b.err().map(|e| e.to_string()));

            let mut moved = env.clone();
            moved.study_id = format!("{study}-x");
            prop_assert!(opener.open(&moved).is_err());
            prop_assert!(kp.open(&moved).is_err());
        }

        /// Arbitrary `enc` bytes (points on the curve, on the twist, of small order): the
        /// key derived is the one `hpke` derives, seen through a ciphertext sealed under it.
        #[test]
        fn derives_hpke_keys_for_any_enc(ikm in any::<[u8; 32]>(), enc in any::<[u8; 32]>()) {
            let kp = KeyPair::derive(ikm);
            let opener = Opener::new(&kp, "s");
            let env = Envelope { study_id: "s".into(), key_id: kp.public().key_id().into(), enc, ct: vec![0; 16] };
            match opener.derive(&env) {
                Err(e) => prop_assert_eq!(e.to_string(), kp.open(&env).unwrap_err().to_string()),
                Ok(key) => {
                    // Seal a message under the derived key and have hpke open it.
                    let k = key.to_bytes();
                    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(&k[..32]).unwrap());
                    let ct = cipher.encrypt(&Nonce::try_from(&k[32..]).unwrap(), Payload { msg: b"m", aad: b"" }).unwrap();
                    let sealed = Envelope { ct, ..env };
                    prop_assert_eq!(kp.open(&sealed).unwrap().to_vec(), b"m".to_vec());
                }
            }
        }

        /// A plugged-in X25519 is used, and a refusal from it is an authentication failure.
        #[test]
        fn plugged_in_dh_is_used(ikm in any::<[u8; 32]>(), eph in any::<[u8; 32]>()) {
            let kp = KeyPair::derive(ikm);
            let env = kp.public().seal("s", b"hello", eph).unwrap();
            let secret = *kp.secret();
            let good = Opener::new(&kp, "s").with_dh(Box::new(move |pk| Some(x25519(&secret, pk))));
            prop_assert_eq!(good.open(&env).unwrap().plaintext.to_vec(), b"hello".to_vec());
            let refusing = Opener::new(&kp, "s").with_dh(Box::new(|_| None));
            prop_assert!(matches!(refusing.open(&env), Err(Error::Open(_))));
        }
    }
}
