//! The respondent app (Yew, built with Trunk): information sheet and consent, the survey page
//! by page, sealing in the browser. A thin shell over `plp-core`; see issue "The respondent
//! app". This crate currently only links core so the workspace builds for wasm32.

pub use plp_core;
