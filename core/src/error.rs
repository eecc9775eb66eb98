//! The one error type of core. Every message names what is wrong so a person can act on it.

use crate::validate::Problems;

/// Everything that can go wrong in core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A survey definition could not be read.
    #[error("survey definition cannot be read: {0}")]
    SurveyParse(String),
    /// A survey definition was read but does not make sense.
    #[error("survey definition has {} problem(s): {}", .0.len(), .0.join("; "))]
    SurveyInvalid(Vec<String>),
    /// The pair-code pattern does not compile.
    #[error("pair-code pattern `{pattern}` is not a valid regular expression: {reason}")]
    CodePattern {
        /// The pattern.
        pattern: String,
        /// Why it fails.
        reason: String,
    },
    /// A pair code does not fit the study.
    #[error("pair code is not valid: {reason}")]
    PairCode {
        /// The normalised code.
        code: String,
        /// Why.
        reason: String,
    },
    /// A memorable word is unusable.
    #[error("memorable word is not usable: {0}")]
    MemorableWord(String),
    /// Input over a size limit.
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Envelope framing is wrong.
    #[error("malformed envelope: {0}")]
    Envelope(String),
    /// The envelope was sealed for another study.
    #[error("envelope was sealed for study `{envelope}`, but this study is `{ours}`")]
    WrongStudy {
        /// Study id in the envelope.
        envelope: String,
        /// Our study id.
        ours: String,
    },
    /// The envelope was sealed to another key.
    #[error("envelope was sealed to key {envelope}, but this study's key is {ours}")]
    WrongKey {
        /// Key id in the envelope.
        envelope: String,
        /// Our key id.
        ours: String,
    },
    /// HPKE refused to open the envelope.
    #[error("envelope does not open: {0}")]
    Open(String),
    /// HPKE refused to seal.
    #[error("sealing failed: {0}")]
    Seal(String),
    /// A key is not usable.
    #[error("key is not usable: {0}")]
    Key(String),
    /// The payload is malformed.
    #[error("malformed payload: {0}")]
    Payload(String),
    /// The published study configuration is unusable.
    #[error("study configuration is not usable: {0}")]
    Published(String),
    /// The response breaks the survey's rules.
    #[error("response is not valid: {0}")]
    Invalid(Problems),
}
