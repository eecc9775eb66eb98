//! Redaction of free text before it is exported: e-mail addresses, URLs and phone numbers
//! become `[email]`, `[url]` and `[phone]`. Names cannot be found reliably by pattern; the
//! export keeps free text in its own file so it can be reviewed by hand.

use regex_lite::Regex;
use std::borrow::Cow;
use std::sync::OnceLock;

fn patterns() -> &'static [(Regex, &'static str); 3] {
    static P: OnceLock<[(Regex, &'static str); 3]> = OnceLock::new();
    P.get_or_init(|| {
        [
            (
                Regex::new(r"(?i)[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+").expect("email pattern"),
                "[email]",
            ),
            (
                Regex::new(r"(?i)\b((https?|ftp)://|www\.)[^\s<>]+").expect("url pattern"),
                "[url]",
            ),
            (
                Regex::new(r"\+?\(?\d[\d\s().-]{7,}\d").expect("phone pattern"),
                "[phone]",
            ),
        ]
    })
}

/// Replaces e-mail addresses, URLs and phone numbers in `text` (borrowed back unchanged
/// when there is none, as in most answers).
///
/// regex-lite has no literal prefilter, and running its three patterns over every free-text
/// answer was half the time of an export. So each pattern runs only when `text` holds what
/// any match of it must contain (`may_match`, one pass over the bytes); the answer is the
/// same either way.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for ((re, with), may) in patterns().iter().zip(may_match(text)) {
        if may {
            if let Cow::Owned(replaced) = re.replace_all(&out, *with) {
                out = Cow::Owned(replaced);
            }
        }
    }
    out
}

/// Whether each pattern may match somewhere in `text`, from what any match must contain: an
/// `@` for an e-mail address; `://` or `www.` (any case) for a URL; for a phone number, a
/// run of at least 9 bytes from ASCII digits, ASCII white space and `().-` (the pattern's
/// `\d[\d\s().-]{7,}\d`: regex-lite's `\d` and `\s` are ASCII only). Text that a
/// replacement leaves cannot make a later pattern match where the original text could not:
/// `[email]` and `[url]` hold none of those characters.
fn may_match(text: &str) -> [bool; 3] {
    let b = text.as_bytes();
    let (mut email, mut url, mut phone) = (false, false, false);
    let mut run = 0u32;
    // One table lookup a byte: free text is most of an export's bytes, and this scan was
    // the most expensive single step of opening a respondent.
    for (i, &c) in b.iter().enumerate() {
        let class = BYTE_CLASS[usize::from(c)];
        if class & MARK != 0 {
            match c {
                b'@' => email = true,
                b':' => url |= b[i + 1..].starts_with(b"//"),
                b'w' | b'W' => url |= b.len() - i >= 4 && b[i..i + 4].eq_ignore_ascii_case(b"www."),
                _ => {}
            }
        }
        run = if class & PHONE != 0 { run + 1 } else { 0 };
        phone |= run >= 9;
    }
    [email, url, phone]
}

/// [`BYTE_CLASS`]: a byte a phone number's run may hold (ASCII digits, ASCII white space,
/// `().-`).
const PHONE: u8 = 1;
/// [`BYTE_CLASS`]: a byte that starts what an e-mail address or URL must contain (`@`,
/// `:`, `w`, `W`).
const MARK: u8 = 2;

/// What [`may_match`] needs to know of each byte.
static BYTE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_digit()
            || matches!(
                b,
                b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b'(' | b')' | b'.' | b'-'
            )
        {
            t[c] |= PHONE;
        }
        if matches!(b, b'@' | b':' | b'w' | b'W') {
            t[c] |= MARK;
        }
        c += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::{patterns, redact};
    use proptest::prelude::*;

    /// All three patterns, always: what `redact` must equal.
    fn redact_slowly(text: &str) -> String {
        let mut out = text.to_string();
        for (re, with) in patterns() {
            out = re.replace_all(&out, *with).into_owned();
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The prefilters never skip a match: texts built from the characters the patterns
        /// care about, and a few others, redact the same with and without them.
        #[test]
        fn prefilters_change_nothing(text in "[a-zA-Z0-9 @./:()+\\-wW\t\n\r\u{b}\u{c}\u{a0}\u{2003}\u{85}é]{0,40}") {
            prop_assert_eq!(redact(&text), redact_slowly(&text));
        }
    }

    #[test]
    fn redacts_contacts_and_keeps_the_rest() {
        assert_eq!(
            redact("mail me at jo.bloggs@nhs.net or ring 0115 969 1300 ext"),
            "mail me at [email] or ring [phone] ext"
        );
        assert_eq!(redact("see https://connect/x?y=1 now"), "see [url] now");
        assert_eq!(redact("www.example.org"), "[url]");
        assert_eq!(redact("+44 (0)115 123 4567"), "[phone]");
        assert_eq!(redact("we met 3 times in 2022"), "we met 3 times in 2022");
    }
}
