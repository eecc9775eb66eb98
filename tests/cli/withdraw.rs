//! `plp withdraw`: destroy one person's responses by their memorable word, never guessing.

use plp_tests::{contains_bytes, holds_ct, sha256_hex, Respondent, TestStudy};
use std::path::PathBuf;

/// A study with these respondents ingested; returns their envelopes in order.
fn study_with(id: &str, people: &[Respondent]) -> (TestStudy, Vec<Vec<u8>>) {
    let s = TestStudy::new(id);
    let envs: Vec<Vec<u8>> = people.iter().map(|r| s.respond(r)).collect();
    let paths: Vec<PathBuf> = envs
        .iter()
        .enumerate()
        .map(|(i, e)| s.write(&format!("in/{i:02}.json"), e))
        .collect();
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let sum = s.ingest(&refs).ok().summary();
    assert_eq!(sum.accepted as usize, people.len());
    (s, envs)
}

fn present(s: &TestStudy, env: &[u8]) -> bool {
    s.count(&format!(
        "SELECT COUNT(*) FROM responses WHERE envelope_sha256 = '{}'",
        sha256_hex(env)
    )) == 1
}

/// Everything a withdrawal could change: the rows and the audit log.
fn state(s: &TestStudy) -> (Vec<String>, usize) {
    (
        s.strings("SELECT envelope_sha256 || state FROM responses ORDER BY id"),
        s.audit().len(),
    )
}

#[test]
fn unique_word_destroys_every_submission_and_the_bytes_are_gone() {
    let (s, envs) = study_with(
        "plp-withdraw",
        &[
            Respondent::new("A", "bme", "Marigold").date("2026-03-01"),
            Respondent::new("A", "bme", "marigold")
                .date("2026-03-04")
                .seed(5),
            Respondent::new("A", "senior_leader", "willow"),
            Respondent::new("B", "bme", "thistle"),
        ],
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM responses WHERE state = 'superseded'"),
        1
    );
    let before = s.store_bytes();
    for env in &envs[..2] {
        assert!(
            before.iter().any(|(_, b)| holds_ct(b, env)),
            "the test cannot see the ciphertext in the store before withdrawal"
        );
    }

    let out = s.plp(&["withdraw", "--word", " MARIGOLD "]).ok();
    assert!(
        out.stdout
            .contains("Destroyed 2 response(s) of one person (side a)"),
        "{}",
        out.stdout
    );
    assert!(!present(&s, &envs[0]) && !present(&s, &envs[1]));
    assert!(present(&s, &envs[2]) && present(&s, &envs[3]));
    let (_, event, detail) = s.audit().pop().expect("an event");
    assert_eq!(event, "withdrawal");
    assert_eq!(detail["responses_destroyed"], 2);
    assert!(!detail.to_string().to_lowercase().contains("marigold"));

    // The withdrawn ciphertext is gone from the database files' bytes, not just unlinked.
    let after = s.store_bytes();
    assert!(!after.is_empty());
    for (name, bytes) in &after {
        for env in &envs[..2] {
            assert!(!holds_ct(bytes, env), "ct still in {name}");
            assert!(!contains_bytes(bytes, env), "envelope still in {name}");
            assert!(
                !contains_bytes(bytes, &env[env.len() - 40..]),
                "envelope tail still in {name}"
            );
        }
        assert!(
            holds_ct(bytes, &envs[3]) || name.ends_with("-wal"),
            "other responses must stay in {name}"
        );
    }

    // Withdrawing again: nobody matches any more.
    let out = s.plp(&["withdraw", "--word", "marigold"]).ok();
    assert!(out.stdout.contains("No responses match"), "{}", out.stdout);
    s.plp(&["audit", "--verify"]).ok();
}

#[test]
fn same_word_two_people_needs_the_code() {
    let (s, envs) = study_with(
        "plp-withdraw-code",
        &[
            Respondent::new("C", "bme", "Open Sky"),
            Respondent::new("D", "senior_leader", "open  sky"),
        ],
    );
    let before = state(&s);
    s.plp(&["withdraw", "--word", "open sky"]).fails_with(&[
        "matches 2 different people",
        "refusing to guess",
        "--code",
        "nothing was changed",
    ]);
    assert_eq!(state(&s), before);
    let out = s
        .plp(&["withdraw", "--word", "open sky", "--code", " d "])
        .ok();
    assert!(
        out.stdout.contains("Destroyed 1 response(s)"),
        "{}",
        out.stdout
    );
    assert!(present(&s, &envs[0]) && !present(&s, &envs[1]));
    assert_eq!(s.audit().pop().expect("event").2["narrowed_by_code"], true);
    // A code that does not fit the study's pattern is refused, not ignored.
    s.plp(&["withdraw", "--word", "open sky", "--code", "C3"])
        .fails_with(&["pair code is not valid"]);
}

#[test]
fn partners_sharing_a_word_need_the_role() {
    let (s, envs) = study_with(
        "plp-withdraw-role",
        &[
            Respondent::new("E", "bme", "shared secret"),
            Respondent::new("E", "senior_leader", "Shared Secret"),
        ],
    );
    let before = state(&s);
    s.plp(&["withdraw", "--word", "shared secret"])
        .fails_with(&["matches 2 different people", "share a pair code", "--role"]);
    assert_eq!(state(&s), before);
    // --code does not help partners; --role does.
    s.plp(&["withdraw", "--word", "shared secret", "--code", "E"])
        .fails_with(&["--role"]);
    assert_eq!(state(&s), before);
    s.plp(&["withdraw", "--word", "shared secret", "--role", "astronaut"])
        .fails_with(&["unknown role `astronaut`", "bme", "senior_leader"]);
    let out = s
        .plp(&["withdraw", "--word", "shared secret", "--role", "bme"])
        .ok();
    assert!(
        out.stdout
            .contains("Destroyed 1 response(s) of one person (side a)"),
        "{}",
        out.stdout
    );
    assert!(!present(&s, &envs[0]) && present(&s, &envs[1]));
    assert_eq!(s.audit().pop().expect("event").2["narrowed_by_role"], true);
}

#[test]
fn no_match_and_dry_run_change_nothing() {
    let (s, envs) = study_with(
        "plp-withdraw-none",
        &[
            Respondent::new("F", "bme", "pebble beach").date("2026-03-01"),
            Respondent::new("F", "bme", "pebble beach")
                .date("2026-03-02")
                .seed(8),
        ],
    );
    let before = state(&s);
    let out = s.plp(&["withdraw", "--word", "nobody chose this"]).ok();
    assert!(
        out.stdout
            .contains("No responses match this memorable word. Nothing was changed."),
        "{}",
        out.stdout
    );
    assert_eq!(state(&s), before);
    let out = s
        .plp(&["withdraw", "--word", "pebble beach", "--code", "G"])
        .ok();
    assert!(out.stdout.contains("with that code/role"), "{}", out.stdout);
    assert_eq!(state(&s), before);

    let out = s
        .plp(&["withdraw", "--word", "pebble beach", "--dry-run"])
        .ok();
    assert!(
        out.stdout.contains("Dry run: would destroy 2 response(s)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Nothing was changed"), "{}", out.stdout);
    assert_eq!(state(&s), before);
    assert!(present(&s, &envs[0]) && present(&s, &envs[1]));

    // A word too short to be anyone's is refused with the rule.
    s.plp(&["withdraw", "--word", "ab"])
        .fails_with(&["memorable word", "at least 4"]);
    assert_eq!(state(&s), before);
}

#[test]
fn withdrawal_after_the_lock_is_refused_and_recorded() {
    let (s, envs) = study_with(
        "plp-withdraw-late",
        &[Respondent::new("H", "both", "late bloomer")],
    );
    s.plp(&["lock", "--yes"]).ok();
    let (rows, events) = state(&s);
    s.plp(&["withdraw", "--word", "late bloomer"]).fails_with(&[
        "analysis began",
        "plp lock",
        "no longer possible",
        "recorded",
    ]);
    assert!(
        present(&s, &envs[0]),
        "a late withdrawal must not destroy anything"
    );
    let (rows_after, events_after) = state(&s);
    assert_eq!(rows_after, rows);
    assert_eq!(events_after, events + 1);
    let (_, event, detail) = s.audit().pop().expect("event");
    assert_eq!(event, "late_withdrawal_request");
    assert_eq!(detail["via"], "plp withdraw");
    // A dry run after the lock says the same and, being a dry run, records nothing.
    s.plp(&["withdraw", "--word", "late bloomer", "--dry-run"])
        .fails_with(&[
            "analysis began",
            "no longer possible",
            "nothing was recorded",
        ]);
    assert_eq!(state(&s), (rows, events + 1));
    s.plp(&["audit", "--verify"]).ok();
}

#[test]
fn withdrawn_responses_stay_withdrawn_when_the_same_envelopes_arrive_again() {
    let s = TestStudy::new("plp-withdraw-again");
    let leaver = s.payload(&Respondent::new("J", "bme", "gone for good"));
    let env = s.seal(&leaver.to_json());
    let stayer = s.respond(&Respondent::new("J", "senior_leader", "staying here"));
    let first = s.write("in/leaver.json", &env);
    s.write("in/stayer.json", &stayer);
    assert_eq!(s.ingest(&[&s.root().join("in")]).ok().count("accepted"), 2);
    s.plp(&["withdraw", "--word", "gone for good"]).ok();
    assert!(!present(&s, &env));
    let events = s.audit().len();

    // The evaluator re-runs the same ingest (idempotent by design), and the browser retries
    // its upload by re-sealing the same payload: neither may bring the response back.
    let resealed = s.write("retry.json", &s.seal(&leaver.to_json()));
    let again = s.ingest(&[&s.root().join("in"), &first, &resealed]).ok();
    let sum = again.summary();
    assert_eq!((sum.accepted, sum.rejected), (0, 0), "{}", again.stdout);
    assert_eq!(sum.duplicate, 4, "{}", again.stdout);
    assert!(
        !present(&s, &env),
        "a withdrawn response came back on re-ingest"
    );
    assert_eq!(s.count("SELECT COUNT(*) FROM responses"), 1);
    assert_eq!(
        s.count("SELECT COUNT(*) FROM quarantine"),
        0,
        "withdrawn bytes must not be kept"
    );
    assert_eq!(s.audit().len(), events + 1, "only the batch is recorded");
    // Nothing of the withdrawn envelope's ciphertext came back into the files.
    for (name, bytes) in s.store_bytes() {
        assert!(!holds_ct(&bytes, &env), "ct back in {name}");
    }
}
