//! Encrypting the respondent's unfinished answers while they are kept in the browser.
//!
//! A draft must survive a reload without anything readable being left on the device: the
//! browser keeps a random 256-bit key in `sessionStorage` (gone when the tab closes) and only
//! the ciphertext in `localStorage`. This module is the pure part, AES-256-GCM
//! (NIST SP 800-38D) with the key and nonce passed in:
//!
//! `sealed = nonce || AES-256-GCM-Encrypt(key, nonce, aad = "plp-draft/1" || 0x00 || study_id, plaintext)`
//!
//! The study id in the associated data means a draft kept for one study never opens in
//! another. A fresh random nonce is drawn for every save (the caller's job: core has no RNG);
//! with 96-bit random nonces a key can seal billions of drafts before a collision matters,
//! and a tab saves a few hundred at most.

use crate::error::Error;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use zeroize::Zeroizing;

/// Domain-separation label at the start of the associated data.
pub const DRAFT_LABEL: &[u8] = b"plp-draft/1";
/// Length of a draft key.
pub const DRAFT_KEY_LEN: usize = 32;
/// Length of the nonce that starts a sealed draft.
pub const DRAFT_NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag at the end of a sealed draft.
pub const DRAFT_TAG_LEN: usize = 16;

/// The associated data: `"plp-draft/1" || 0x00 || study_id`.
pub fn aad(study_id: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(DRAFT_LABEL.len() + 1 + study_id.len());
    v.extend_from_slice(DRAFT_LABEL);
    v.push(0);
    v.extend_from_slice(study_id.as_bytes());
    v
}

fn cipher(key: &[u8; DRAFT_KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(&key[..]).expect("a 32-byte key"))
}

/// Encrypts a draft: returns `nonce || ciphertext || tag`.
pub fn seal_draft(
    key: &[u8; DRAFT_KEY_LEN],
    nonce: [u8; DRAFT_NONCE_LEN],
    study_id: &str,
    plaintext: &[u8],
) -> Vec<u8> {
    let aad = aad(study_id);
    let ct = cipher(key)
        .encrypt(
            &Nonce::try_from(&nonce[..]).expect("a 12-byte nonce"),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("AES-GCM encrypts any draft shorter than 64 GiB");
    let mut out = Vec::with_capacity(DRAFT_NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Decrypts what [`seal_draft`] wrote. Fails when the bytes were cut or altered, when the
/// key is another one (a new tab draws a new key), or when the draft belongs to another
/// study.
pub fn open_draft(
    key: &[u8; DRAFT_KEY_LEN],
    study_id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if sealed.len() < DRAFT_NONCE_LEN + DRAFT_TAG_LEN {
        return Err(Error::Open("the saved draft is too short".into()));
    }
    let (nonce, ct) = sealed.split_at(DRAFT_NONCE_LEN);
    let nonce = Nonce::try_from(nonce).expect("a 12-byte nonce");
    let aad = aad(study_id);
    cipher(key)
        .decrypt(&nonce, Payload { msg: ct, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| {
            Error::Open(
                "the saved draft was altered, belongs to another study, or was saved under another key"
                    .into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [0x42; 32];
    const NONCE: [u8; 12] = [7; 12];

    #[test]
    fn round_trip() {
        let sealed = seal_draft(&KEY, NONCE, "plp-2026", b"{\"q3\":\"bme\"}");
        assert_eq!(
            sealed.len(),
            DRAFT_NONCE_LEN + 12 + DRAFT_TAG_LEN,
            "nonce, same-length ciphertext, tag"
        );
        assert_eq!(&sealed[..12], &NONCE);
        assert!(
            !sealed.windows(3).any(|w| w == b"bme"),
            "nothing readable is kept"
        );
        let opened = open_draft(&KEY, "plp-2026", &sealed).unwrap();
        assert_eq!(&opened[..], b"{\"q3\":\"bme\"}");
    }

    #[test]
    fn another_key_study_or_a_flipped_bit_fails() {
        let sealed = seal_draft(&KEY, NONCE, "plp-2026", b"answers");
        assert!(open_draft(&[0x43; 32], "plp-2026", &sealed).is_err());
        assert!(open_draft(&KEY, "plp-2027", &sealed).is_err());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open_draft(&KEY, "plp-2026", &bad).is_err(), "byte {i}");
        }
        assert!(open_draft(&KEY, "plp-2026", &sealed[..27]).is_err());
        assert!(open_draft(&KEY, "plp-2026", b"").is_err());
    }

    #[test]
    fn same_nonce_same_output_so_the_caller_must_draw_one_per_save() {
        assert_eq!(
            seal_draft(&KEY, NONCE, "s", b"x"),
            seal_draft(&KEY, NONCE, "s", b"x")
        );
        assert_ne!(
            seal_draft(&KEY, NONCE, "s", b"x"),
            seal_draft(&KEY, [8; 12], "s", b"x")
        );
    }
}
