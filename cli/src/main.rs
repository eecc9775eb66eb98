//! `plp`: the evaluator's command. It only wires arguments to commands; the domain lives in
//! `plp-core`, storage in [`store`].
//!
//! Exit status: 0 success, 1 a clear refusal or error (printed as one line on stderr),
//! 2 bad usage (from clap).

mod args;
mod commands;
mod copies;
mod dataset;
mod direct;
mod keyfile;
mod pseudonyms;
mod readahead;
mod serve;
mod spill;
mod store;
mod study;
mod writeback;

use clap::Parser;

/// See the `mimalloc` line in Cargo.toml: parsing a million responses is mostly small
/// allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = args::Cli::parse();
    if let Err(e) = commands::run(cli) {
        eprintln!("plp: error: {e:#}");
        std::process::exit(1);
    }
}
