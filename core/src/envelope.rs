//! The envelope: the JSON object that carries one sealed payload (envelope-v1, "Envelope").
//!
//! Parsing is strict because envelopes come from strangers: size first (256 KiB), then
//! exactly the five members, each in its exact format. Anything else is rejected with the
//! member named, before any cryptography runs.

use crate::error::Error;
use crate::hexfmt::is_lower_hex;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// The `format` member of every version-1 envelope.
pub const ENVELOPE_FORMAT: &str = "plp-envelope/1";
/// Envelopes larger than this are rejected before parsing.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;
/// Length of an X25519 encapsulated key.
pub const ENC_LEN: usize = 32;
/// Length of the AES-256-GCM tag; a ciphertext is at least this long.
pub const TAG_LEN: usize = 16;

/// A parsed envelope. `enc` and `ct` are the decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The study the payload was sealed for (bound into HPKE's `info`).
    pub study_id: String,
    /// The evaluator key it was sealed to (bound into HPKE's `info`).
    pub key_id: String,
    /// HPKE encapsulated key.
    pub enc: [u8; ENC_LEN],
    /// HPKE ciphertext, tag included.
    pub ct: Vec<u8>,
}

// `Cow` rather than `&str`: a member written with JSON escapes (such as `plp-envelope\/1`,
// as some encoders write `/`) is still valid JSON and must parse; `&str` can only borrow
// strings that contain no escapes.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    #[serde(borrow)]
    format: Cow<'a, str>,
    #[serde(borrow)]
    study_id: Cow<'a, str>,
    #[serde(borrow)]
    key_id: Cow<'a, str>,
    #[serde(borrow)]
    enc: Cow<'a, str>,
    #[serde(borrow)]
    ct: Cow<'a, str>,
}

/// Whether a study id has the form `^[a-z0-9][a-z0-9-]{0,62}$`.
pub fn is_study_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Decodes base64url without padding, rejecting padding and non-canonical trailing bits.
pub fn b64_decode(member: &'static str, s: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| Error::Envelope(format!("`{member}` is not base64url without padding: {e}")))
}

/// Encodes base64url without padding.
pub fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Envelope {
    /// Parses envelope bytes strictly.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(Error::TooLarge {
                what: "envelope",
                size: bytes.len(),
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::Envelope("it is not UTF-8 text".into()))?;
        // serde would also fill the struct from a JSON array of five strings.
        if !text
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{')
        {
            return Err(Error::Envelope("it is not a JSON object".into()));
        }
        let w: Wire<'_> = serde_json::from_str(text)
            .map_err(|e| Error::Envelope(format!("it is not an envelope-v1 JSON object: {e}")))?;
        if w.format != ENVELOPE_FORMAT {
            return Err(Error::Envelope(format!(
                "`format` is `{}`, expected `{ENVELOPE_FORMAT}`",
                w.format
            )));
        }
        if !is_study_id(&w.study_id) {
            return Err(Error::Envelope(
                "`study_id` must be 1-63 of a-z, 0-9 and -, starting with a letter or digit".into(),
            ));
        }
        if !is_lower_hex(&w.key_id, 16) {
            return Err(Error::Envelope(
                "`key_id` must be 16 lowercase hex digits".into(),
            ));
        }
        let enc = b64_decode("enc", &w.enc)?;
        let enc: [u8; ENC_LEN] = enc.try_into().map_err(|v: Vec<u8>| {
            Error::Envelope(format!("`enc` holds {} bytes, expected {ENC_LEN}", v.len()))
        })?;
        let ct = b64_decode("ct", &w.ct)?;
        if ct.len() < TAG_LEN {
            return Err(Error::Envelope(format!(
                "`ct` holds {} bytes, shorter than the {TAG_LEN}-byte tag",
                ct.len()
            )));
        }
        Ok(Envelope {
            study_id: w.study_id.into_owned(),
            key_id: w.key_id.into_owned(),
            enc,
            ct,
        })
    }

    /// The envelope as JSON bytes, members in the spec's order.
    pub fn to_json(&self) -> Vec<u8> {
        let enc = b64_encode(&self.enc);
        let ct = b64_encode(&self.ct);
        serde_json::to_vec(&Wire {
            format: ENVELOPE_FORMAT.into(),
            study_id: self.study_id.as_str().into(),
            key_id: self.key_id.as_str().into(),
            enc: enc.into(),
            ct: ct.into(),
        })
        .expect("strings always serialise")
    }
}

/// Everything a collection server checks of an envelope body without the private key, in
/// order: size and strict envelope-v1 syntax ([`Envelope::parse`]: [`Error::TooLarge`],
/// [`Error::Envelope`]), then that `study_id` ([`Error::WrongStudy`]) and `key_id`
/// ([`Error::WrongKey`]) are this study's. Pure, so `plp serve` and the fuzzer run the same
/// code.
pub fn check_framing(bytes: &[u8], study_id: &str, key_id: &str) -> Result<Envelope, Error> {
    let env = Envelope::parse(bytes)?;
    if env.study_id != study_id {
        return Err(Error::WrongStudy {
            envelope: env.study_id,
            ours: study_id.to_string(),
        });
    }
    if env.key_id != key_id {
        return Err(Error::WrongKey {
            envelope: env.key_id,
            ours: key_id.to_string(),
        });
    }
    Ok(env)
}

/// SHA-256 of envelope bytes, lowercase hex: the receipt a respondent can quote.
pub fn fingerprint(envelope_bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(envelope_bytes))
}

/// The first 20 hex digits of the fingerprint in groups of four (`1a2b-3c4d-...`), short
/// enough to read out over the phone.
pub fn short_receipt(envelope_bytes: &[u8]) -> String {
    let fp = fingerprint(envelope_bytes);
    fp.as_bytes()[..20]
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("hex is ASCII"))
        .collect::<Vec<_>>()
        .join("-")
}
