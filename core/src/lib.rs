//! # plp core
//!
//! The domain of plp, pure and deterministic, shared by the respondent's browser (wasm32)
//! and the evaluator's CLI (native). No files, network or clock: time and randomness come in
//! as arguments.
//!
//! The modules follow a response through the pipeline:
//! [`survey`] (the instrument) → [`check`] (is the definition sound) → [`branching`] (what is
//! asked) → [`validate`] (is a response complete and consistent) → [`payload`] and
//! [`withdrawal`] (what is sealed) → [`seal`] and [`envelope`] (HPKE, envelope-v1).
#![deny(missing_docs)]

pub mod answers;
pub mod branching;
pub mod check;
pub mod code;
pub mod codebook;
pub mod disclosure;
pub mod draft;
pub mod envelope;
pub mod error;
pub mod export;
pub mod fastopen;
mod hexfmt;
pub mod linkage;
pub mod payload;
pub mod published;
pub mod redact;
pub mod report;
pub mod sample;
pub mod seal;
pub mod stats;
pub mod survey;
pub mod validate;
pub mod withdrawal;

pub use answers::{Answer, Answers};
pub use error::Error;
pub use hexfmt::{is_date, is_lower_hex};
pub use survey::{Side, Survey};

/// The PLP evaluation survey shipped with plp (`core/surveys/plp.toml`).
pub const PLP_SURVEY_TOML: &str = include_str!("../surveys/plp.toml");
