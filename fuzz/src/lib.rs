//! Shared by plp's fuzz targets and their seed generator.
//!
//! The work of every target is in [`targets`], a plain module that
//! `core/tests/regressions.rs` also compiles, so an input that once crashed a target is
//! replayed by `cargo test` through exactly the same steps.

pub mod targets;
