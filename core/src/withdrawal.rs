//! Memorable words and withdrawal tags.
//!
//! The respondent's memorable word never leaves the browser; only
//! `SHA-256("plp-withdrawal/1" || 0x00 || study_id || 0x00 || normalise(word))` does
//! (envelope-v1, "Withdrawal tag"). The evaluator recomputes the tag from a word a
//! respondent quotes and finds the responses carrying it. The store keeps the tag only
//! under a keyed MAC (see the CLI's store), so a stolen database alone cannot be searched
//! with a dictionary.

use crate::error::Error;
use sha2::{Digest, Sha256};

/// Domain-separation label of the tag.
pub const TAG_LABEL: &[u8] = b"plp-withdrawal/1";
/// Fewest Unicode scalar values a normalised word may hold.
pub const WORD_MIN_CHARS: usize = 4;
/// Most Unicode scalar values a normalised word may hold.
pub const WORD_MAX_CHARS: usize = 64;

/// Unicode NFKC (UAX #15), then full lower-casing (`str::to_lowercase`).
#[cfg(not(all(target_arch = "wasm32", feature = "browser-builtins")))]
fn nfkc_lower(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    word.nfkc().collect::<String>().to_lowercase()
}

/// The same by the browser: `word.normalize("NFKC").toLowerCase()` (JavaScript's lower-casing
/// is Rust's, final sigma included), so the respondent app carries no Unicode tables for it.
#[cfg(all(target_arch = "wasm32", feature = "browser-builtins"))]
fn nfkc_lower(word: &str) -> String {
    js_sys::JsString::from(word)
        .normalize("NFKC")
        .to_lower_case()
        .into()
}

/// Normalises a memorable word: NFKC, full lower-casing, trim Unicode white space, and one
/// U+0020 for each inner run of white space. Errors when the result is not 4 to 64 chars.
pub fn normalise_word(word: &str) -> Result<String, Error> {
    let lower = nfkc_lower(word);
    let collapsed = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    let n = collapsed.chars().count();
    if n < WORD_MIN_CHARS {
        return Err(Error::MemorableWord(format!(
            "it has {n} characters; use at least {WORD_MIN_CHARS}"
        )));
    }
    if n > WORD_MAX_CHARS {
        return Err(Error::MemorableWord(format!(
            "it has {n} characters; use at most {WORD_MAX_CHARS}"
        )));
    }
    Ok(collapsed)
}

/// The withdrawal tag of a word in a study, as 32 bytes.
pub fn tag_bytes(study_id: &str, word: &str) -> Result<[u8; 32], Error> {
    let word = normalise_word(word)?;
    let mut h = Sha256::new();
    h.update(TAG_LABEL);
    h.update([0u8]);
    h.update(study_id.as_bytes());
    h.update([0u8]);
    h.update(word.as_bytes());
    Ok(h.finalize().into())
}

/// The withdrawal tag as 64 lowercase hex digits, as it travels in a payload.
pub fn tag(study_id: &str, word: &str) -> Result<String, Error> {
    Ok(hex::encode(tag_bytes(study_id, word)?))
}

/// Whether a string is a well-formed tag (64 lowercase hex digits).
pub fn is_tag(s: &str) -> bool {
    crate::hexfmt::is_lower_hex(s, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_follows_the_spec() {
        assert_eq!(normalise_word("  Sunflower  ").unwrap(), "sunflower");
        assert_eq!(normalise_word("Blue\t\u{a0} Moon").unwrap(), "blue moon");
        assert_eq!(normalise_word("\u{FB01}sh cake").unwrap(), "fish cake");
        assert_eq!(normalise_word("ÇAFÉ").unwrap(), "çafé");
        assert!(normalise_word(" ab ").is_err());
        assert!(normalise_word(&"x".repeat(65)).is_err());
        assert!(normalise_word(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn same_word_different_spelling_same_tag() {
        let a = tag("plp-2021", "  Blue  MOON ").unwrap();
        let b = tag("plp-2021", "blue moon").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, tag("other-study", "blue moon").unwrap());
        assert!(is_tag(&a));
    }
}
