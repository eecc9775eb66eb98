//! `plp destroy-identifiers`: after the lock, pair codes, tags and envelopes are erased for
//! good; withdrawal by word becomes impossible.

use plp_tests::{contains_bytes, holds_ct, Respondent, TestStudy};

#[test]
fn destroy_identifiers_after_the_lock() {
    let s = TestStudy::new("plp-destroy");
    let people = [
        Respondent::new("A", "bme", "first person"),
        Respondent::new("A", "senior_leader", "second person"),
        Respondent::new("B", "both", "third person").date("2026-03-01"),
        Respondent::new("B", "both", "third person")
            .date("2026-03-05")
            .seed(3),
    ];
    let envs: Vec<Vec<u8>> = people.iter().map(|r| s.respond(r)).collect();
    let paths: Vec<_> = envs
        .iter()
        .enumerate()
        .map(|(i, e)| s.write(&format!("in/{i}.json"), e))
        .collect();
    let junk = s.write("in/junk.json", b"{}");
    let mut refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    refs.push(&junk);
    s.ingest(&refs).ok();
    let macs = s.strings("SELECT tag_mac FROM responses");
    assert_eq!(macs.len(), 4);

    // Not before the lock.
    s.plp(&["destroy-identifiers", "--yes"])
        .fails_with(&["not locked", "plp lock"]);
    assert_eq!(s.count("SELECT COUNT(*) FROM responses"), 4);
    s.plp(&["lock", "--yes"]).ok();
    // Not without confirmation.
    s.plp(&["destroy-identifiers"]).fails_with(&["add --yes"]);
    assert_eq!(s.count("SELECT COUNT(*) FROM responses"), 4);

    // An export before, to compare with one from the kept records after.
    let before = s.root().join("before");
    s.plp(&["export", "--out", before.to_str().expect("UTF-8 path")])
        .ok();

    let out = s.plp(&["destroy-identifiers", "--yes"]).ok();
    assert!(
        out.stdout.contains("3 pseudonymised record(s) kept"),
        "{}",
        out.stdout
    );
    assert_eq!(s.count("SELECT COUNT(*) FROM responses"), 0);
    assert_eq!(s.count("SELECT COUNT(*) FROM quarantine"), 0);
    assert_eq!(s.count("SELECT COUNT(*) FROM withdrawal_requests"), 0);
    assert_eq!(s.count("SELECT COUNT(*) FROM pseudonyms"), 0);
    assert_eq!(s.count("SELECT COUNT(*) FROM records"), 3);
    assert_eq!(
        s.strings("SELECT side FROM records ORDER BY side"),
        ["a", "b", "either"]
    );
    // No codes or tags anywhere in the files, nor the original envelopes.
    let files = s.store_bytes();
    for (name, bytes) in &files {
        for mac in &macs {
            assert!(
                !contains_bytes(bytes, mac.as_bytes()),
                "a tag MAC is still in {name}"
            );
        }
        for env in &envs {
            assert!(!holds_ct(bytes, env), "an envelope is still in {name}");
        }
    }
    let (_, event, detail) = s.audit().pop().expect("event");
    assert_eq!(event, "identifiers_destroyed");
    assert_eq!(detail["records_kept"], 3);
    assert_eq!(detail["envelopes_erased"], 4);
    assert_eq!(detail["quarantine_erased"], 1);

    // The records re-sealed from the responses export to the very same dataset: the same
    // pseudonyms, sides and answers (opened with the kept key or X25519 alike).
    let after = s.root().join("after");
    s.plp(&["export", "--out", after.to_str().expect("UTF-8 path")])
        .ok();
    for file in ["individual.csv", "dyad.csv", "free_text.csv"] {
        let read =
            |dir: &std::path::Path| std::fs::read_to_string(dir.join(file)).expect("exported");
        assert_eq!(read(&before), read(&after), "{file}");
    }

    // Status still counts the kept records; withdrawal by word is now impossible.
    let st: serde_json::Value =
        serde_json::from_str(&s.plp(&["status", "--json"]).ok().stdout).expect("JSON");
    assert_eq!(st["accepted"], 3, "{st:#}");
    assert!(st["identifiers_destroyed_at"].is_string());
    s.plp(&["withdraw", "--word", "first person"]).fails_with(&[
        "identifiers were destroyed",
        "withdrawal by word is impossible",
    ]);
    s.plp(&["destroy-identifiers", "--yes"])
        .fails_with(&["already destroyed"]);
    let late = s.write(
        "late.json",
        &s.respond(&Respondent::new("C", "bme", "after all")),
    );
    s.ingest(&[&late])
        .fails_with(&["identifiers have been destroyed"]);
    s.plp(&["audit", "--verify"]).ok();
}
