//! The `plp` command end to end: one module per area. Each test makes its own study in a
//! temporary folder, drives the real binary, and checks exit codes, messages and the store.

mod audit;
mod destroy;
mod ingest;
mod kill;
mod pending;
mod setup;
mod status;
mod survey_check;
mod withdraw;
