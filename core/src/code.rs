//! Pair codes: the letter both partners of a pair enter.
//!
//! Spec (envelope-v1, "Pair code"): trim surrounding white space, upper-case ASCII letters,
//! then match the study's pattern in full. The pattern is the survey's `code_pattern`.

use crate::error::Error;

/// Trims and upper-cases ASCII letters. Does not check the pattern; see [`normalise_and_check`].
pub fn normalise(raw: &str) -> String {
    raw.trim().to_ascii_uppercase()
}

/// A compiled pair-code pattern.
#[derive(Debug, Clone)]
pub struct CodePattern {
    source: String,
    re: regex_lite::Regex,
}

impl CodePattern {
    /// Compiles a pattern; it is anchored at both ends whatever the author wrote.
    pub fn new(pattern: &str) -> Result<Self, Error> {
        let anchored = format!(
            "^(?:{})$",
            pattern.trim_start_matches('^').trim_end_matches('$')
        );
        let re = regex_lite::Regex::new(&anchored).map_err(|e| Error::CodePattern {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })?;
        Ok(CodePattern {
            source: pattern.to_string(),
            re,
        })
    }

    /// Whether an already-normalised code matches.
    pub fn matches(&self, code: &str) -> bool {
        self.re.is_match(code)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Normalises a code and checks it against the pattern.
pub fn normalise_and_check(raw: &str, pattern: &CodePattern) -> Result<String, Error> {
    let code = normalise(raw);
    if code.is_empty() {
        return Err(Error::PairCode {
            code,
            reason: "it is empty".into(),
        });
    }
    if !pattern.matches(&code) {
        return Err(Error::PairCode {
            reason: format!("it does not match the study's pattern {}", pattern.as_str()),
            code,
        });
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_uppercases() {
        assert_eq!(normalise("  ab \n"), "AB");
        assert_eq!(normalise("é"), "é", "only ASCII letters change case");
    }

    #[test]
    fn default_pattern_takes_one_or_two_letters() {
        let p = CodePattern::new(crate::survey::DEFAULT_CODE_PATTERN).unwrap();
        assert_eq!(normalise_and_check(" q ", &p).unwrap(), "Q");
        assert_eq!(normalise_and_check("zz", &p).unwrap(), "ZZ");
        assert!(normalise_and_check("ABC", &p).is_err());
        assert!(normalise_and_check("A1", &p).is_err());
        assert!(normalise_and_check("   ", &p).is_err());
    }

    #[test]
    fn unanchored_pattern_is_anchored() {
        let p = CodePattern::new("[A-Z]").unwrap();
        assert!(!p.matches("AB"));
        assert!(p.matches("A"));
    }

    #[test]
    fn broken_pattern_is_an_error() {
        assert!(CodePattern::new("[A-").is_err());
    }
}
