//! `plp status --json`: counts by state and side, pairs so far, lock state and key id.

use plp_tests::{Respondent, TestStudy};

#[test]
fn status_reports_counts_pairs_lock_and_key() {
    let s = TestStudy::new("plp-status");
    let st = |s: &TestStudy| -> serde_json::Value {
        serde_json::from_str(&s.plp(&["status", "--json"]).ok().stdout).expect("status is JSON")
    };
    let empty = st(&s);
    assert_eq!(empty["study_id"], "plp-status");
    assert_eq!(empty["key_id"], s.key_id.as_str());
    assert_eq!(empty["accepted"], 0);
    assert_eq!(empty["complete_pairs"], 0);
    assert!(empty["locked_at"].is_null());

    let people = [
        // Two complete pairs (A: a + b; B: either + b), a conflict (C: two on side a),
        // singletons D and E, and a resubmission by D (superseded).
        Respondent::new("A", "bme", "alpha one"),
        Respondent::new("A", "senior_leader", "alpha two"),
        Respondent::new("B", "both", "bravo one"),
        Respondent::new("B", "senior_leader", "bravo two"),
        Respondent::new("C", "bme", "charlie one"),
        Respondent::new("C", "bme", "charlie two"),
        Respondent::new("D", "senior_leader", "delta one").date("2026-03-01"),
        Respondent::new("D", "senior_leader", "delta one")
            .date("2026-03-03")
            .seed(1),
        Respondent::new("E", "bme", "echo one"),
    ];
    let paths: Vec<_> = people
        .iter()
        .enumerate()
        .map(|(i, r)| s.write(&format!("in/{i}.json"), &s.respond(r)))
        .collect();
    let junk = s.write("in/junk.json", b"not an envelope");
    let mut refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    refs.push(&junk);
    s.ingest(&refs).ok();

    let now = st(&s);
    assert_eq!(now["accepted"], 8, "{now:#}");
    assert_eq!(now["superseded"], 1, "{now:#}");
    assert_eq!(now["quarantined"], 1, "{now:#}");
    assert_eq!(
        now["by_side"],
        serde_json::json!({ "a": 4, "b": 3, "either": 1 }),
        "{now:#}"
    );
    assert_eq!(now["complete_pairs"], 2, "{now:#}");
    assert_eq!(now["singletons"], 2, "{now:#}");
    assert_eq!(now["conflicts"], 1, "{now:#}");
    assert!(now["locked_at"].is_null());
    assert_eq!(now["audit_events"], s.audit().len());

    // The human form says the same.
    let text = s.plp(&["status"]).ok().stdout;
    assert!(
        text.contains(&format!("study        plp-status (key {})", s.key_id)),
        "{text}"
    );
    assert!(text.contains("accepted     8 (of cohort 53)"), "{text}");
    assert!(
        text.contains("pairs        2 complete, 2 singleton, 1 conflict"),
        "{text}"
    );
    assert!(text.contains("not locked"), "{text}");

    // Lock needs confirmation: without --yes and without a terminal it refuses.
    s.plp(&["lock"]).fails_with(&["add --yes"]);
    assert!(st(&s)["locked_at"].is_null());
    let out = s.plp(&["lock", "--yes"]).ok();
    assert!(
        out.stdout.contains("with 8 accepted response(s)"),
        "{}",
        out.stdout
    );
    let locked = st(&s);
    let at = locked["locked_at"].as_str().expect("locked_at is set");
    assert!(at.starts_with("20") && at.contains('T'), "{at}");
    assert!(s
        .plp(&["status"])
        .ok()
        .stdout
        .contains(&format!("locked at {at}")));
    s.plp(&["lock", "--yes"]).fails_with(&["already locked"]);
}
