//! The evaluator's private key at rest: passphrase → Argon2id → AES-256-GCM.
//!
//! Losing this file or its passphrase loses every response, so `plp init` says so and
//! `plp key check --file BACKUP` proves a backup opens. The AAD binds the format and key id,
//! so a key file cannot be swapped for another study's without failing to decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context, Result};
use plp_core::envelope::{b64_decode, b64_encode};
use plp_core::seal::KeyPair;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::{Zeroize, Zeroizing};

const FORMAT: &str = "plp-key/1";
/// Argon2id cost: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option).
const M_COST_KIB: u32 = 64 * 1024;
const T_COST: u32 = 3;
const P_COST: u32 = 1;
/// Shortest passphrase accepted when creating a key.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    key_id: String,
    kdf: Kdf,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    algorithm: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
}

fn derive(passphrase: &[u8], kdf: &Kdf) -> Result<Zeroizing<[u8; 32]>> {
    let salt = b64_decode("salt", &kdf.salt)?;
    let params = argon2::Params::new(kdf.m_cost_kib, kdf.t_cost, kdf.p_cost, Some(32))
        .map_err(|e| anyhow::anyhow!("key file has unusable Argon2 parameters: {e}"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, &salt, &mut *out)
        .map_err(|e| anyhow::anyhow!("cannot derive the key-file key: {e}"))?;
    Ok(out)
}

/// AES-256-GCM under a key, borrowed: `Key::from(*kek)` would leave a copy of the key on
/// the stack that nothing zeroises.
pub fn cipher(kek: &Zeroizing<[u8; 32]>) -> Aes256Gcm {
    Aes256Gcm::new_from_slice(&kek[..]).expect("AES-256 takes a 32-byte key")
}

/// A key for one purpose, derived from the study key: HMAC-SHA256(private key, label).
/// Only someone holding the private key can recompute it.
pub fn subkey(key: &KeyPair, label: &[u8]) -> Zeroizing<[u8; 32]> {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.secret())
        .expect("HMAC takes any key length");
    mac.update(label);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// Encrypts a key pair under a passphrase and returns the file's bytes.
pub fn seal(key: &KeyPair, passphrase: &str) -> Result<Vec<u8>> {
    let kdf = Kdf {
        algorithm: "argon2id".into(),
        m_cost_kib: M_COST_KIB,
        t_cost: T_COST,
        p_cost: P_COST,
        salt: b64_encode(&crate::study::random::<16>()),
    };
    let kek = derive(passphrase.as_bytes(), &kdf)?;
    let nonce = crate::study::random::<12>();
    let key_id = key.public().key_id().to_string();
    let aad = format!("{FORMAT}\0{key_id}");
    let cipher = cipher(&kek);
    let ct = cipher
        .encrypt(
            &Nonce::try_from(&nonce[..]).expect("12-byte nonce"),
            Payload {
                msg: key.secret(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| anyhow::anyhow!("cannot encrypt the private key"))?;
    let file = KeyFile {
        format: FORMAT.into(),
        key_id,
        kdf,
        nonce: b64_encode(&nonce),
        ciphertext: b64_encode(&ct),
    };
    Ok(serde_json::to_vec_pretty(&file)?)
}

/// Reads and decrypts a key file. Errors are one line each: missing, corrupted, wrong
/// passphrase, or a key from another study.
pub fn open(path: &Path, passphrase: &str, expected_key_id: &str) -> Result<KeyPair> {
    let bytes = std::fs::read(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the key file {}: {e} (restore it from your backup)",
            path.display()
        )
    })?;
    let file: KeyFile = serde_json::from_slice(&bytes).map_err(|_| {
        anyhow::anyhow!(
            "key file {} is corrupted (not a plp key file); restore it from your backup",
            path.display()
        )
    })?;
    if file.format != FORMAT || file.kdf.algorithm != "argon2id" {
        bail!(
            "key file {} has format {} / {}, expected {FORMAT} / argon2id",
            path.display(),
            file.format,
            file.kdf.algorithm
        );
    }
    if file.key_id != expected_key_id {
        bail!(
            "key file {} holds key {}, but this study uses key {expected_key_id}: it belongs to another study",
            path.display(),
            file.key_id
        );
    }
    let kek = derive(passphrase.as_bytes(), &file.kdf)?;
    let nonce = b64_decode("nonce", &file.nonce).context("key file is corrupted")?;
    let ct = b64_decode("ciphertext", &file.ciphertext).context("key file is corrupted")?;
    if nonce.len() != 12 {
        bail!("key file {} is corrupted (bad nonce)", path.display());
    }
    let aad = format!("{FORMAT}\0{}", file.key_id);
    let cipher = cipher(&kek);
    let mut secret = Zeroizing::new(
        cipher
            .decrypt(
                &Nonce::try_from(&nonce[..]).expect("12-byte nonce"),
                Payload {
                    msg: &ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "wrong passphrase for {} (or the file is corrupted)",
                    path.display()
                )
            })?,
    );
    let mut arr: [u8; 32] = secret
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("key file {} is corrupted (bad length)", path.display()))?;
    secret.zeroize();
    let key = KeyPair::from_secret(arr);
    arr.zeroize();
    let key = key?;
    if key.public().key_id() != expected_key_id {
        bail!("key file {} does not match its own key id", path.display());
    }
    Ok(key)
}

/// The passphrase: `PLP_PASSPHRASE` when set, otherwise asked without echo (twice when
/// `confirm`).
pub fn passphrase(confirm: bool) -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var("PLP_PASSPHRASE") {
        return check_strength(Zeroizing::new(p), confirm);
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("Passphrase for the study key: ")
            .context("cannot read the passphrase (set PLP_PASSPHRASE when not on a terminal)")?,
    );
    if confirm {
        let second = Zeroizing::new(rpassword::prompt_password("Type it again: ")?);
        if *first != *second {
            bail!("the two passphrases differ; nothing was created");
        }
    }
    check_strength(first, confirm)
}

fn check_strength(p: Zeroizing<String>, creating: bool) -> Result<Zeroizing<String>> {
    if creating && p.chars().count() < MIN_PASSPHRASE_CHARS {
        bail!("the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters");
    }
    Ok(p)
}
