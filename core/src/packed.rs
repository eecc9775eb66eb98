//! Answers packed for the store: what an export reads instead of the payload's JSON.
//!
//! Ingest has already opened, parsed and validated every response. Reading the payload's
//! JSON again at export was a third of the export's time per respondent, so ingest also
//! keeps each response's answers in this compact form (sealed by the CLI under a key
//! derived from the study key, never in the clear). The format is private to plp's store:
//! it never travels, and a store without it falls back to opening the envelope.
//!
//! Layout, version 1 (`varint` is LEB128, unsigned, at most 10 bytes):
//!
//! ```text
//! 0x01                              version
//! varint n                          entries, keys in strictly increasing byte order
//! n x { varint len, key (UTF-8)     question id, or `<id>_other`
//!       0x00 varint zigzag(i64)     a rating
//!     | 0x01 varint len, UTF-8      a single choice or free text
//!     | 0x02 varint k, k x { varint len, UTF-8 }   a multiple choice }
//! ```
//!
//! Nothing may follow the last entry. [`unpack`] refuses anything else [`pack`] would not
//! write, and never allocates more than its input could describe.

use crate::answers::{Answer, Answers};
use crate::error::Error;
use crate::payload::MAX_ANSWERS;

/// The layout's version, its first byte.
pub const VERSION: u8 = 1;
const INT: u8 = 0;
const TEXT: u8 = 1;
const LIST: u8 = 2;

/// Answers in the packed form. The buffer is allocated once at its exact size, so no
/// partial copy of the answers is left behind in freed memory (the caller may zeroise the
/// one it gets).
pub fn pack(answers: &Answers) -> Vec<u8> {
    let mut out = Vec::with_capacity(packed_len(answers));
    out.push(VERSION);
    varint(&mut out, answers.len() as u64);
    for (key, answer) in answers {
        bytes(&mut out, key);
        match answer {
            Answer::Int(i) => {
                out.push(INT);
                varint(&mut out, ((*i << 1) ^ (*i >> 63)) as u64);
            }
            Answer::Text(s) => {
                out.push(TEXT);
                bytes(&mut out, s);
            }
            Answer::List(items) => {
                out.push(LIST);
                varint(&mut out, items.len() as u64);
                for s in items {
                    bytes(&mut out, s);
                }
            }
        }
    }
    out
}

/// The exact length [`pack`] writes.
fn packed_len(answers: &Answers) -> usize {
    let varint_len = |v: u64| (64 - (v | 1).leading_zeros() as usize).div_ceil(7);
    let bytes_len = |s: &str| varint_len(s.len() as u64) + s.len();
    1 + varint_len(answers.len() as u64)
        + answers
            .iter()
            .map(|(key, answer)| {
                bytes_len(key)
                    + 1
                    + match answer {
                        Answer::Int(i) => varint_len(((*i << 1) ^ (*i >> 63)) as u64),
                        Answer::Text(s) => bytes_len(s),
                        Answer::List(items) => {
                            varint_len(items.len() as u64)
                                + items.iter().map(|s| bytes_len(s)).sum::<usize>()
                        }
                    }
            })
            .sum::<usize>()
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Answers from the packed form, or an error naming what is wrong with it.
pub fn unpack(packed: &[u8]) -> Result<Answers, Error> {
    let mut r = Reader { rest: packed };
    let version = r.byte()?;
    if version != VERSION {
        return Err(bad(format!("unknown version {version}")));
    }
    let n = r.count(Some(MAX_ANSWERS), "entries")?;
    // An entry takes at least 3 bytes (key length, type, value).
    let mut entries: Vec<(String, Answer)> = Vec::with_capacity(n.min(r.rest.len() / 3));
    for _ in 0..n {
        let key = r.string()?;
        if entries.last().is_some_and(|(last, _)| *last >= key) {
            return Err(bad(format!("key `{key}` is out of order or repeated")));
        }
        let answer = match r.byte()? {
            INT => {
                let z = r.varint()?;
                Answer::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            TEXT => Answer::Text(r.string()?),
            LIST => {
                // Each item takes at least its length byte.
                let k = r.count(None, "list items")?;
                let mut items = Vec::with_capacity(k);
                for _ in 0..k {
                    items.push(r.string()?);
                }
                Answer::List(items)
            }
            t => return Err(bad(format!("unknown answer type {t}"))),
        };
        entries.push((key, answer));
    }
    if !r.rest.is_empty() {
        return Err(bad(format!("{} bytes follow the last entry", r.rest.len())));
    }
    // Sorted and unique (checked above): building the map is a linear pass.
    Ok(entries.into_iter().collect())
}

fn bad(what: String) -> Error {
    Error::Payload(format!("packed answers: {what}"))
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, Error> {
        let (&b, rest) = self
            .rest
            .split_first()
            .ok_or_else(|| bad("they end early".into()))?;
        self.rest = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(bad("a number overflows 64 bits".into()));
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    // pack writes every number in its shortest form, so unpack reads only that.
                    return Err(bad("a number has a needless zero byte".into()));
                }
                return Ok(v);
            }
        }
        Err(bad("a number is longer than 10 bytes".into()))
    }

    /// A count or length of at most `limit`, or (`None`) at most the bytes left after it.
    fn count(&mut self, limit: Option<usize>, what: &str) -> Result<usize, Error> {
        let n = self.varint()?;
        let limit = limit.unwrap_or(self.rest.len());
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= limit)
            .ok_or_else(|| bad(format!("{n} {what}, over the limit of {limit}")))
    }

    fn string(&mut self) -> Result<String, Error> {
        let len = self.count(None, "bytes of text")?;
        let (s, rest) = self.rest.split_at(len);
        self.rest = rest;
        String::from_utf8(s.to_vec()).map_err(|_| bad("a text is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Answers {
        serde_json::from_str(r#"{"q1": 3, "q2": "opt_b", "q3": ["a", "bé"], "q4": [], "q5": -1}"#)
            .unwrap()
    }

    /// The vector pins the layout: version, count, then key, type and value per entry.
    #[test]
    fn vector() {
        let expected = [
            "01 05",                         // version 1, 5 entries
            "02 7131 00 06",                 // "q1": Int 3 (zigzag 6)
            "02 7132 01 05 6f70745f62",      // "q2": Text "opt_b"
            "02 7133 02 02 01 61 03 62c3a9", // "q3": List ["a", "bé"]
            "02 7134 02 00",                 // "q4": List []
            "02 7135 00 01",                 // "q5": Int -1 (zigzag 1)
        ]
        .concat()
        .replace(' ', "");
        assert_eq!(hex::encode(pack(&sample())), expected);
        assert_eq!(unpack(&hex::decode(expected).unwrap()).unwrap(), sample());
    }

    /// One entry `"q1"`, a rating whose varint is `hex`.
    fn int_bytes(hex: &str) -> Vec<u8> {
        hex::decode(format!("010102713100{hex}")).unwrap()
    }

    #[test]
    fn refuses_what_pack_would_not_write() {
        let good = pack(&sample());
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "end early"),
            (vec![2, 0], "unknown version 2"),
            ([&good[..], &[0]].concat(), "1 bytes follow"),
            (good[..good.len() - 1].to_vec(), "end early"),
            // "q2" before "q1".
            (
                hex::decode("0102027132000202713100").unwrap(),
                "out of order",
            ),
            (
                hex::decode("0102027131000202713100").unwrap(),
                "out of order",
            ),
            (
                hex::decode("010102713103").unwrap(),
                "unknown answer type 3",
            ),
            (hex::decode("01010271310102ffff").unwrap(), "not UTF-8"),
            (
                hex::decode("01010271310105616263").unwrap(),
                "bytes of text",
            ),
            (hex::decode("0101027131028080808001").unwrap(), "list items"),
            (
                int_bytes(&format!("{}01", "80".repeat(10))),
                "longer than 10",
            ),
            (int_bytes(&format!("{}02", "80".repeat(9))), "overflows"),
            (int_bytes("8000"), "needless zero"),
            (hex::decode("01d20f").unwrap(), "over the limit of 2000"),
        ];
        for (bytes, why) in cases {
            let e = unpack(&bytes).expect_err(why).to_string();
            assert!(e.contains(why), "{}: {e}", hex::encode(&bytes));
        }
    }

    fn answer() -> impl Strategy<Value = Answer> {
        prop_oneof![
            any::<i64>().prop_map(Answer::Int),
            ".{0,40}".prop_map(Answer::Text),
            prop::collection::vec("[a-z_0-9é]{0,8}", 0..6).prop_map(Answer::List),
        ]
    }

    proptest! {
        #[test]
        fn round_trips(a in prop::collection::btree_map("[a-z0-9_é]{0,12}", answer(), 0..40)) {
            let packed = pack(&a);
            prop_assert_eq!(packed.len(), packed_len(&a));
            prop_assert_eq!(packed.capacity(), packed.len());
            prop_assert_eq!(unpack(&packed).unwrap(), a);
        }

        /// Packed answers with one byte changed or cut short: an error or answers that pack
        /// back to the same bytes, never a panic.
        #[test]
        fn damaged_bytes_unpack_or_fail_cleanly(
            a in prop::collection::btree_map("[a-z0-9_é]{0,12}", answer(), 1..20),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let mut b = pack(&a);
            let i = at.index(b.len());
            if cut { b.truncate(i) } else { b[i] = byte }
            if let Ok(back) = unpack(&b) {
                prop_assert_eq!(pack(&back), b);
            }
        }

        /// Any bytes: an error or answers that pack back to the same bytes, never a panic.
        #[test]
        fn any_bytes_unpack_or_fail_cleanly(b in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut b = b;
            if let Some(first) = b.first_mut() { *first = VERSION; }
            if let Ok(a) = unpack(&b) {
                prop_assert_eq!(pack(&a), b);
            }
        }
    }
}
