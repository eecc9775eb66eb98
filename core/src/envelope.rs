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
        self.json_with_ct(&b64_encode(&self.ct))
    }

    /// The envelope as JSON with `ct_text` as its `ct` member, the last one.
    fn json_with_ct(&self, ct_text: &str) -> Vec<u8> {
        serde_json::to_vec(&Wire {
            format: ENVELOPE_FORMAT.into(),
            study_id: self.study_id.as_str().into(),
            key_id: self.key_id.as_str().into(),
            enc: b64_encode(&self.enc).into(),
            ct: ct_text.into(),
        })
        .expect("strings always serialise")
    }
}

/// First byte of an envelope that a store keeps packed ([`Envelope::pack`]). A received
/// envelope is a JSON object (it starts with `{` or white space), so it never starts so.
const PACKED: u8 = 0x00;
/// Version of the packed form, its second byte.
const PACKED_V1: u8 = 0x01;

impl Envelope {
    /// The envelope as a store keeps it, when `bytes` (what was received) are exactly
    /// [`Envelope::to_json`] of it, as every envelope plp seals is: `0x00 0x01`, one byte
    /// with the length of `study_id`, `study_id`, the 16 digits of `key_id`, `enc` and `ct`
    /// as bytes. `None` for any other bytes (another encoder's spacing or member order):
    /// those are kept as received.
    ///
    /// Why: `ct` in base64 is a third larger than its bytes. A million of the bench's
    /// envelopes (2,988 bytes on average) make a store of 3.2 GB packed against 4.4 GB,
    /// and reading one back needs no JSON or base64. [`Envelope::from_stored`] reads
    /// either form, and [`received_bytes`] gives back the exact bytes received (their
    /// SHA-256 is the receipt).
    pub fn pack(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        // Only what `from_stored` reads back (ids of their own character sets, a `ct` no
        // shorter than its tag).
        if !is_study_id(&self.study_id)
            || !is_lower_hex(&self.key_id, 16)
            || self.ct.len() < TAG_LEN
        {
            return None;
        }
        let sid = u8::try_from(self.study_id.len()).ok()?;
        // `to_json` is this head, the base64 of `ct` (which JSON writes as it is) and
        // `"}`: compared a piece at a time, rather than writing the whole JSON out again.
        let empty = self.json_with_ct("");
        let head = &empty[..empty.len() - 2];
        let ct_text = bytes.strip_prefix(head)?.strip_suffix(b"\"}")?;
        if !is_base64_of(ct_text, &self.ct) {
            return None;
        }
        let mut out = Vec::with_capacity(3 + self.study_id.len() + 16 + ENC_LEN + self.ct.len());
        out.extend_from_slice(&[PACKED, PACKED_V1, sid]);
        out.extend_from_slice(self.study_id.as_bytes());
        out.extend_from_slice(self.key_id.as_bytes());
        out.extend_from_slice(&self.enc);
        out.extend_from_slice(&self.ct);
        debug_assert!(received_bytes(&out).is_ok_and(|b| b == bytes));
        Some(out)
    }

    /// Reads an envelope as a store keeps it: packed ([`Envelope::pack`]) or as received
    /// ([`Envelope::parse`]). A packed one whose form is broken is refused as damaged;
    /// damage inside `enc` or `ct` is found when it is opened (authentication fails), as
    /// for an envelope kept as received.
    pub fn from_stored(stored: &[u8]) -> Result<Envelope, Error> {
        if stored.first() != Some(&PACKED) {
            return Envelope::parse(stored);
        }
        if stored.len() > MAX_ENVELOPE_BYTES {
            return Err(Error::TooLarge {
                what: "stored envelope",
                size: stored.len(),
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        let bad = |what: &str| Error::Envelope(format!("the stored envelope is damaged: {what}"));
        let rest = match stored {
            [PACKED, PACKED_V1, rest @ ..] => rest,
            [PACKED] => return Err(bad("it ends early")),
            _ => return Err(bad("unknown packed version")),
        };
        let (&sid_len, rest) = rest.split_first().ok_or_else(|| bad("it ends early"))?;
        let sid_len = usize::from(sid_len);
        if rest.len() < sid_len + 16 + ENC_LEN + TAG_LEN {
            return Err(bad("it ends early"));
        }
        let (sid, rest) = rest.split_at(sid_len);
        let (kid, rest) = rest.split_at(16);
        let (enc, ct) = rest.split_at(ENC_LEN);
        let study_id = std::str::from_utf8(sid)
            .ok()
            .filter(|s| is_study_id(s))
            .ok_or_else(|| bad("its study id is malformed"))?;
        let key_id = std::str::from_utf8(kid)
            .ok()
            .filter(|k| is_lower_hex(k, 16))
            .ok_or_else(|| bad("its key id is malformed"))?;
        Ok(Envelope {
            study_id: study_id.to_string(),
            key_id: key_id.to_string(),
            enc: enc.try_into().expect("ENC_LEN bytes"),
            ct: ct.to_vec(),
        })
    }
}

/// Whether `text` is the base64url (no padding) of `data`, encoded a piece at a time.
fn is_base64_of(text: &[u8], data: &[u8]) -> bool {
    // 768 bytes (a multiple of 3) encode to 1,024 characters with nothing carried over.
    let mut buf = [0u8; 1024];
    base64::encoded_len(data.len(), false) == Some(text.len())
        && data.chunks(768).zip(text.chunks(1024)).all(|(d, t)| {
            URL_SAFE_NO_PAD
                .encode_slice(d, &mut buf)
                .is_ok_and(|n| &buf[..n] == t)
        })
}

/// The bytes of an envelope as received, from what a store keeps ([`Envelope::pack`]):
/// borrowed when it was kept as received.
pub fn received_bytes(stored: &[u8]) -> Result<Cow<'_, [u8]>, Error> {
    if stored.first() == Some(&PACKED) {
        Ok(Cow::Owned(Envelope::from_stored(stored)?.to_json()))
    } else {
        Ok(Cow::Borrowed(stored))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Source, SplitMix64};

    /// A random envelope of the given study, with a `ct` of `ct_len` bytes.
    fn random(rng: &mut SplitMix64, study_id: &str, ct_len: usize) -> Envelope {
        let mut bytes = |n: usize| (0..n).map(|_| rng.next() as u8).collect::<Vec<u8>>();
        Envelope {
            study_id: study_id.to_string(),
            key_id: hex::encode(bytes(8)),
            enc: bytes(ENC_LEN).try_into().expect("32 bytes"),
            ct: bytes(ct_len),
        }
    }

    /// An envelope as plp writes it packs smaller, reads back as itself, and gives back
    /// the exact bytes received; the bytes as received read the same.
    #[test]
    fn packed_envelopes_read_back_as_received() {
        let mut rng = SplitMix64(7);
        let longest = "a".repeat(63);
        for (i, study) in ["s", "mentoring-2026", longest.as_str()].iter().enumerate() {
            for ct_len in [
                TAG_LEN,
                TAG_LEN + 1,
                100,
                767,
                768,
                769,
                1_535,
                1_536,
                3_001 + i,
            ] {
                let env = random(&mut rng, study, ct_len);
                let bytes = env.to_json();
                let packed = env.pack(&bytes).expect("plp's own bytes pack");
                assert!(packed.len() < bytes.len(), "{study} {ct_len}");
                assert_eq!(packed[0], PACKED);
                assert_eq!(Envelope::from_stored(&packed).expect("reads"), env);
                assert_eq!(received_bytes(&packed).expect("unpacks"), bytes.as_slice());
                assert_eq!(Envelope::from_stored(&bytes).expect("reads"), env);
                assert!(matches!(received_bytes(&bytes), Ok(Cow::Borrowed(b)) if b == bytes));
            }
        }
    }

    /// Bytes that are the same envelope written otherwise (spacing, member order, an
    /// escaped `/`) are valid but are not packed: packing them would lose how they were
    /// written, and with it their SHA-256.
    #[test]
    fn other_encodings_are_kept_as_received() {
        let env = random(&mut SplitMix64(9), "study-1", 40);
        let json = String::from_utf8(env.to_json()).expect("UTF-8");
        let spaced = json.replace("\":\"", "\": \"").replace("\",\"", "\", \"");
        let escaped = json.replace("plp-envelope/1", "plp-envelope\\/1");
        let reordered = format!(
            "{{\"study_id\":\"{}\",{}",
            env.study_id,
            json[1..].replace(&format!(",\"study_id\":\"{}\"", env.study_id), "")
        );
        let ct_escaped = {
            let at = json.find("\"ct\":\"").expect("ct") + 6;
            let c = char::from(json.as_bytes()[at]);
            format!("{}\\u{:04x}{}", &json[..at], u32::from(c), &json[at + 1..])
        };
        let study_escaped = json.replace("\"study-1\"", "\"study\\u002d1\"");
        for other in [
            spaced,
            escaped,
            reordered,
            ct_escaped,
            study_escaped,
            format!(" {json}"),
            format!("{json}\n"),
        ] {
            assert_ne!(other, json);
            let parsed = Envelope::parse(other.as_bytes()).expect("valid envelope");
            assert_eq!(parsed, env, "{other}");
            assert_eq!(parsed.pack(other.as_bytes()), None, "{other}");
        }
        // And bytes of another envelope never pack as this one, whichever piece differs.
        let long = random(&mut SplitMix64(10), "study-1", 2_000);
        let long_json = long.to_json();
        for at in [0, 767, 768, 1_999] {
            let mut tampered = long.clone();
            tampered.ct[at] ^= 1;
            assert_eq!(tampered.pack(&long_json), None, "{at}");
        }
        let mut shorter = long.clone();
        shorter.ct.pop();
        assert_eq!(shorter.pack(&long_json), None);
    }

    /// A packed envelope whose form is broken is refused with the reason. (Damage that
    /// leaves the form whole is found when the envelope is opened: see `from_stored`.)
    #[test]
    fn damaged_packed_envelopes_are_refused() {
        let env = random(&mut SplitMix64(11), "study-1", 64);
        let packed = env.pack(&env.to_json()).expect("packs");
        let mut cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![PACKED], "ends early"),
            (packed[..2].to_vec(), "ends early"),
            (
                [&packed[..2], &[0u8][..], &packed[3..]].concat(),
                "study id",
            ),
            (
                [&packed[..2], &[255u8][..], &packed[3..]].concat(),
                "ends early",
            ),
            (packed[..packed.len() - 49].to_vec(), "ends early"),
            (
                [&[PACKED, 0x02], &packed[2..]].concat(),
                "unknown packed version",
            ),
        ];
        let mut bad_study = packed.clone();
        bad_study[3] = b'A';
        cases.push((bad_study, "study id"));
        let mut bad_key = packed.clone();
        bad_key[3 + env.study_id.len()] = b'G';
        cases.push((bad_key, "key id"));
        for (bytes, why) in cases {
            let e = Envelope::from_stored(&bytes).expect_err(why).to_string();
            assert!(e.contains("damaged") && e.contains(why), "{why}: {e}");
            assert!(received_bytes(&bytes).is_err(), "{why}");
        }
    }
}
