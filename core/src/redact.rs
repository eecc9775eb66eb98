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
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for (re, with) in patterns() {
        out = re.replace_all(&out, *with).into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

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
