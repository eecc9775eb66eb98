//! Redaction of free text before it is exported: e-mail addresses, URLs and phone numbers
//! become `[email]`, `[url]` and `[phone]`. Names cannot be found reliably by pattern; the
//! export keeps free text in its own file so it can be reviewed by hand.

use regex_lite::Regex;
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

/// Replaces e-mail addresses, URLs and phone numbers in `text`.
///
/// regex-lite has no literal prefilter, and running its three patterns over every free-text
/// answer was half the time of an export. So each pattern runs only when `text` holds what
/// any match of it must contain (`may_match`); the answer is the same either way.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for (i, (re, with)) in patterns().iter().enumerate() {
        if may_match(i, &out) {
            out = re.replace_all(&out, *with).into_owned();
        }
    }
    out
}

/// A necessary condition for pattern `i` to match somewhere in `text`: an `@` for an e-mail
/// address; `://` or `www.` (any case) for a URL; for a phone number, a run of at least 9
/// characters from digits, white space and `().-` (the pattern's `\d[\d\s().-]{7,}\d`).
fn may_match(i: usize, text: &str) -> bool {
    match i {
        0 => text.contains('@'),
        1 => {
            text.contains("://")
                || text
                    .as_bytes()
                    .windows(4)
                    .any(|w| w.eq_ignore_ascii_case(b"www."))
        }
        _ => {
            let mut run = 0;
            for c in text.chars() {
                if c.is_ascii_digit() || c.is_whitespace() || "().-".contains(c) {
                    run += 1;
                    if run >= 9 {
                        return true;
                    }
                } else {
                    run = 0;
                }
            }
            false
        }
    }
}

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
        fn prefilters_change_nothing(text in "[a-zA-Z0-9 @./:()+\\-wW\t\u{a0}\u{2003}é]{0,40}") {
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
