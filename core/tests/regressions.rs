//! Inputs that crashed a fuzz target, replayed on every `cargo test`.
//!
//! Each folder `tests/regressions/<target>/` holds inputs for one target of `fuzz/` (see
//! `fuzz/src/targets.rs`, compiled here as it is there, so an input takes exactly the steps
//! it took under the fuzzer). Beside each input `NAME` is `NAME.expect`: text that the
//! outcome must contain, `ok: ...` for an input that is accepted, `error: ...` for one that
//! is refused. A panic fails the test; so does an outcome without the expected text.
//!
//! To keep a new crash: copy the file from `fuzz/artifacts/<target>/` into the target's
//! folder under a name that says what it is, write its `.expect`, and fix the bug.
#![cfg(all(feature = "toml", not(target_arch = "wasm32")))]

#[path = "../../fuzz/src/targets.rs"]
#[allow(dead_code)]
mod targets;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions")
}

/// Inputs of one target with their expected outcomes, in name order.
fn cases(target: &str) -> Vec<(PathBuf, String)> {
    let dir = root().join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut inputs: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.extension().is_none_or(|e| e != "expect"))
        .collect();
    inputs.sort();
    inputs
        .into_iter()
        .map(|p| {
            let mut expect = p.clone().into_os_string();
            expect.push(".expect");
            let text = std::fs::read_to_string(&expect)
                .unwrap_or_else(|_| panic!("{} has no .expect file beside it", p.display()));
            (p, text.trim().to_string())
        })
        .collect()
}

/// Runs every kept input of `target` and returns how many ran.
fn replay(target: &str) -> usize {
    let (_, run) = targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let mut failures = Vec::new();
    let cases = cases(target);
    for (path, expect) in &cases {
        let bytes = std::fs::read(path).expect("input readable");
        let name = path.file_name().expect("a file").to_string_lossy();
        match std::panic::catch_unwind(|| run(&bytes)) {
            Err(_) => failures.push(format!("{target}/{name}: panicked")),
            Ok(outcome) => {
                let text = match outcome {
                    Ok(what) => format!("ok: {what}"),
                    Err(e) => format!("error: {e}"),
                };
                if !text.contains(expect.as_str()) {
                    failures.push(format!(
                        "{target}/{name}: expected `{expect}`, got `{text}`"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    cases.len()
}

#[test]
fn every_folder_is_a_target_and_every_input_has_an_expectation() {
    let names: Vec<&str> = targets::TARGETS.iter().map(|(n, _)| *n).collect();
    for e in std::fs::read_dir(root()).expect("tests/regressions exists") {
        let path = e.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        assert!(
            path.is_dir() && names.contains(&name.as_str()),
            "tests/regressions/{name} is not the folder of a fuzz target ({names:?})"
        );
        cases(&name);
    }
}

/// Every target's kept inputs; most targets have none yet (their folder is made with the
/// first crash kept), the survey target has two.
#[test]
fn kept_inputs_replay_as_expected() {
    let ran: Vec<(&str, usize)> = targets::TARGETS
        .iter()
        .map(|(name, _)| (*name, replay(name)))
        .collect();
    println!("inputs replayed: {ran:?}");
    assert!(ran.contains(&("survey", 2)), "{ran:?}");
}
