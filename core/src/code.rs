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
    re: Regex,
}

#[cfg(not(all(target_arch = "wasm32", feature = "browser-builtins")))]
type Regex = regex_lite::Regex;

/// The browser's own `RegExp` (Unicode mode), so the respondent app carries no regex engine.
#[cfg(all(target_arch = "wasm32", feature = "browser-builtins"))]
#[derive(Debug, Clone)]
struct Regex(js_sys::RegExp);

#[cfg(all(target_arch = "wasm32", feature = "browser-builtins"))]
impl Regex {
    fn new(pattern: &str) -> Result<Self, String> {
        // `new RegExp(pattern, "u")` through Reflect.construct, which returns what it throws
        // (a SyntaxError for a pattern it cannot read) rather than throwing through Rust.
        let ctor = js_sys::Reflect::get(&js_sys::global(), &js_sys::JsString::from("RegExp"))
            .map(js_sys::Function::from)
            .map_err(|_| "this browser has no RegExp".to_string())?;
        let args = js_sys::Array::of2(
            &js_sys::JsString::from(pattern),
            &js_sys::JsString::from("u"),
        );
        js_sys::Reflect::construct(&ctor, &args)
            .map(|re| Regex(js_sys::RegExp::from(re)))
            .map_err(|e| String::from(js_sys::Error::from(e).message()))
    }

    fn is_match(&self, s: &str) -> bool {
        self.0.test(s)
    }
}

impl CodePattern {
    /// Compiles a pattern; it is anchored at both ends whatever the author wrote.
    pub fn new(pattern: &str) -> Result<Self, Error> {
        let anchored = format!(
            "^(?:{})$",
            pattern.trim_start_matches('^').trim_end_matches('$')
        );
        let re = Regex::new(&anchored).map_err(|e| Error::CodePattern {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })?;
        Ok(CodePattern {
            source: pattern.to_string(),
            re,
        })
    }

    /// [`CodePattern::new`], reusing the last pattern this thread compiled: every response
    /// is validated against the same pattern, and compiling it costs far more (tens of
    /// microseconds) than matching a one-letter code. Shared, not cloned: a cloned regex
    /// starts with empty match caches.
    pub fn cached(pattern: &str) -> Result<std::rc::Rc<Self>, Error> {
        thread_local! {
            static LAST: std::cell::RefCell<Option<std::rc::Rc<CodePattern>>> =
                const { std::cell::RefCell::new(None) };
        }
        LAST.with(|last| {
            if let Some(p) = last.borrow().as_ref().filter(|p| p.source == pattern) {
                return Ok(p.clone());
            }
            let p = std::rc::Rc::new(CodePattern::new(pattern)?);
            *last.borrow_mut() = Some(p.clone());
            Ok(p)
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
