//! Sealing and opening payloads with HPKE (RFC 9180), as envelope-v1 fixes it.
//!
//! `HPKE.SealBase(pk_recip, info, aad = "", plaintext)` with DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256 and AES-256-GCM, single shot, where
//! `info = "plp-envelope/1" || 0x00 || study_id || 0x00 || key_id`. Binding study and key in
//! `info` means a relabelled envelope fails to open.
//!
//! Core stays pure: the 32 bytes of ephemeral randomness are passed in, and the browser or
//! CLI draws them from the operating system.

use crate::envelope::{Envelope, ENVELOPE_FORMAT};
use crate::error::Error;
use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

type Suite = X25519HkdfSha256;

/// Length of public and private keys.
pub const KEY_LEN: usize = 32;

/// The `key_id` of a public key: the first 8 bytes of its SHA-256, as 16 lowercase hex digits.
pub fn key_id(public_key: &[u8; KEY_LEN]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

/// HPKE `info` for a study and key.
pub fn info(study_id: &str, key_id: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(ENVELOPE_FORMAT.len() + study_id.len() + key_id.len() + 2);
    v.extend_from_slice(ENVELOPE_FORMAT.as_bytes());
    v.push(0);
    v.extend_from_slice(study_id.as_bytes());
    v.push(0);
    v.extend_from_slice(key_id.as_bytes());
    v
}

/// Hands HPKE the caller's randomness. HPKE draws exactly 32 bytes for the X25519
/// ephemeral key (the IKM of `DeriveKeyPair`); any further draw is stretched with SHA-256 so
/// the output stays a deterministic function of the seed.
struct GivenRandomness {
    seed: Zeroizing<[u8; 32]>,
    used: usize,
    counter: u64,
}

impl hpke::rand_core::TryRng for GivenRandomness {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst.iter_mut() {
            if self.used < 32 {
                *byte = self.seed[self.used];
                self.used += 1;
            } else {
                let mut h = Sha256::new();
                h.update(*self.seed);
                h.update(self.counter.to_le_bytes());
                self.counter += 1;
                *byte = h.finalize()[0];
            }
        }
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for GivenRandomness {}

/// An evaluator's public key, as the browser knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; KEY_LEN],
    key_id: String,
}

impl PublicKey {
    /// Wraps 32 public-key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, Error> {
        <Suite as Kem>::PublicKey::from_bytes(&bytes)
            .map_err(|_| Error::Key("not a valid X25519 public key".into()))?;
        Ok(PublicKey {
            key_id: key_id(&bytes),
            bytes,
        })
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `plaintext` for `study_id` with the given 32 bytes of ephemeral randomness.
    pub fn seal(
        &self,
        study_id: &str,
        plaintext: &[u8],
        ephemeral_randomness: [u8; 32],
    ) -> Result<Envelope, Error> {
        if !crate::envelope::is_study_id(study_id) {
            return Err(Error::Envelope(format!(
                "study id `{study_id}` is malformed"
            )));
        }
        let pk = <Suite as Kem>::PublicKey::from_bytes(&self.bytes)
            .map_err(|_| Error::Key("not a valid X25519 public key".into()))?;
        let mut rng = GivenRandomness {
            seed: Zeroizing::new(ephemeral_randomness),
            used: 0,
            counter: 0,
        };
        let (enc, ct) = hpke::single_shot_seal_with_rng::<AesGcm256, HkdfSha256, Suite>(
            &OpModeS::Base,
            &pk,
            &info(study_id, &self.key_id),
            plaintext,
            b"",
            &mut rng,
        )
        .map_err(|e| Error::Seal(e.to_string()))?;
        let mut enc_bytes = [0u8; 32];
        enc_bytes.copy_from_slice(&enc.to_bytes());
        Ok(Envelope {
            study_id: study_id.to_string(),
            key_id: self.key_id.clone(),
            enc: enc_bytes,
            ct,
        })
    }
}

/// An evaluator's key pair. The private half is zeroised on drop.
///
/// Both private halves live on the heap, so moving a `KeyPair` (returning it, putting it in
/// a `Result`) moves two pointers and leaves no copy of the key behind on the stack.
pub struct KeyPair {
    secret: Box<Zeroizing<[u8; KEY_LEN]>>,
    /// hpke's X25519 private key zeroises itself on drop.
    sk: Box<<Suite as Kem>::PrivateKey>,
    public: PublicKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyPair {{ key_id: {}, secret: <redacted> }}",
            self.public.key_id
        )
    }
}

impl KeyPair {
    /// Derives a key pair from 32 bytes of fresh randomness (RFC 9180 `DeriveKeyPair`).
    pub fn derive(mut ikm: [u8; 32]) -> Self {
        let (sk, _) = Suite::derive_keypair(&ikm);
        ikm.zeroize();
        // Written straight into the zeroising buffer: `to_bytes` would leave a copy.
        let mut secret = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        sk.write_exact(&mut secret[..]);
        Self::from_boxed(secret).expect("a derived key is valid")
    }

    /// Rebuilds a key pair from its 32-byte private key. The argument is zeroised once
    /// copied (the caller's own copies are the caller's to zeroise).
    pub fn from_secret(mut secret_bytes: [u8; KEY_LEN]) -> Result<Self, Error> {
        let mut secret = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        secret.copy_from_slice(&secret_bytes);
        secret_bytes.zeroize();
        Self::from_boxed(secret)
    }

    fn from_boxed(secret: Box<Zeroizing<[u8; KEY_LEN]>>) -> Result<Self, Error> {
        let sk = Box::new(
            <Suite as Kem>::PrivateKey::from_bytes(&secret[..])
                .map_err(|_| Error::Key("not a valid X25519 private key".into()))?,
        );
        let pk = Suite::sk_to_pk(&sk);
        let mut pk_bytes = [0u8; KEY_LEN];
        pk_bytes.copy_from_slice(&pk.to_bytes());
        Ok(KeyPair {
            secret,
            sk,
            public: PublicKey::from_bytes(pk_bytes)?,
        })
    }

    /// The private key bytes, for writing the encrypted key file.
    pub fn secret(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Opens an envelope sealed to this key. The envelope's own `study_id` and `key_id` go
    /// into `info`, so a relabelled envelope fails here.
    pub fn open(&self, env: &Envelope) -> Result<Zeroizing<Vec<u8>>, Error> {
        if env.key_id != self.public.key_id {
            return Err(Error::WrongKey {
                envelope: env.key_id.clone(),
                ours: self.public.key_id.clone(),
            });
        }
        let enc = <Suite as Kem>::EncappedKey::from_bytes(&env.enc)
            .map_err(|_| Error::Open("`enc` is not a valid X25519 public value".into()))?;
        hpke::single_shot_open::<AesGcm256, HkdfSha256, Suite>(
            &OpModeR::Base,
            &self.sk,
            &enc,
            &info(&env.study_id, &env.key_id),
            &env.ct,
            b"",
        )
        .map(Zeroizing::new)
        .map_err(|_| {
            Error::Open(
                "authentication failed: the envelope was altered, relabelled, or sealed to another key"
                    .into(),
            )
        })
    }
}
