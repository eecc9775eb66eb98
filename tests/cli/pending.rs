//! Withdrawal requests that arrive before the responses they withdraw: kept with their tag
//! until the lock, they destroy a matching response when it arrives; the lock waits for the
//! inbox; copies of destroyed responses outside the store go with them.

use plp_tests::{sha256_hex, Respondent, TestStudy, DATE};
use std::path::{Path, PathBuf};

/// Whether the store holds this envelope as a response.
fn present(s: &TestStudy, env: &[u8]) -> bool {
    s.count(&format!(
        "SELECT COUNT(*) FROM responses WHERE envelope_sha256 = '{}'",
        sha256_hex(env)
    )) == 1
}

/// Writes one envelope to a file `name` and ingests it; the summary.
fn ingest_one(s: &TestStudy, name: &str, bytes: &[u8]) -> plp_tests::Summary {
    let path = s.write(name, bytes);
    s.ingest(&[&path]).ok().summary()
}

/// The files of a folder (which must exist) holding exactly these bytes.
fn holding(dir: &Path, bytes: &[u8]) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .filter(|b| b == bytes)
        .count()
}

#[test]
fn a_request_before_its_response_still_withdraws_it() {
    let s = TestStudy::new("plp-pending");
    let request = s.write("w.json", &s.withdrawal_request(None, "Kestrel"));
    let out = s.ingest(&[&request]).ok();
    let sum = out.summary();
    assert_eq!((sum.waiting, sum.withdrawn), (1, 0), "{}", out.stdout);
    assert!(
        out.stderr.contains("match no response yet"),
        "{}",
        out.stderr
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM withdrawal_requests WHERE outcome = 'waiting' AND tag_mac IS NOT NULL AND date IS NOT NULL"),
        1
    );

    // The response it withdraws arrives: stored, then destroyed at once.
    let leaver = s.respond(&Respondent::new("K", "bme", "kestrel"));
    let stayer = s.respond(&Respondent::new("K", "senior_leader", "oak tree"));
    let paths = [s.write("r1.json", &leaver), s.write("r2.json", &stayer)];
    let out = s.ingest(&[&paths[0], &paths[1]]).ok();
    let sum = out.summary();
    assert_eq!(
        (sum.accepted, sum.withdrawn, sum.on_arrival, sum.waiting),
        (2, 1, 1, 0),
        "{}",
        out.stdout
    );
    assert!(!present(&s, &leaver), "the withdrawn response remains");
    assert!(
        present(&s, &stayer),
        "the partner's response is not theirs to withdraw"
    );
    assert_eq!(
        s.strings("SELECT outcome FROM withdrawal_requests"),
        ["withdrawn"]
    );
    let via: Vec<String> = s
        .audit()
        .into_iter()
        .filter(|(_, e, _)| e == "withdrawal")
        .map(|(_, _, d)| d["via"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(via, ["sealed request, before the response"]);
    // The same envelope again is known as withdrawn, not stored anew.
    let sum = s.ingest(&[&paths[0]]).ok().summary();
    assert_eq!((sum.accepted, sum.duplicate), (0, 1));

    // An older submission of the same person turns up later: destroyed too. One consented
    // after the request's date is a new consent, and stays.
    let older = s.respond(
        &Respondent::new("K", "bme", "kestrel")
            .date("2026-03-01")
            .seed(3),
    );
    let newer = s.respond(
        &Respondent::new("K", "bme", "kestrel")
            .date("2026-03-09")
            .seed(4),
    );
    let sum = ingest_one(&s, "r3.json", &older);
    assert_eq!((sum.accepted, sum.on_arrival), (1, 1));
    assert!(!present(&s, &older));
    let sum = ingest_one(&s, "r4.json", &newer);
    assert_eq!((sum.accepted, sum.on_arrival), (1, 0));
    assert!(
        present(&s, &newer),
        "a consent given after the request stands"
    );
    s.plp(&["audit", "--verify"]).ok();
}

#[test]
fn one_ingest_settles_a_request_that_sorts_before_its_response() {
    let s = TestStudy::new("plp-pending-order");
    let leaver = s.respond(&Respondent::new("P", "bme", "lighthouse"));
    let other = s.respond(&Respondent::new("Q", "bme", "harbour"));
    // Folders are ingested in name order: the request first.
    s.write(
        "in/a-request.json",
        &s.withdrawal_request(Some("p"), "lighthouse"),
    );
    s.write("in/b-response.json", &leaver);
    s.write("in/c-response.json", &other);
    let out = s.ingest(&[&s.root().join("in")]).ok();
    let sum = out.summary();
    assert_eq!(
        (sum.accepted, sum.withdrawn, sum.on_arrival, sum.waiting),
        (2, 1, 1, 0),
        "{}",
        out.stdout
    );
    assert!(!present(&s, &leaver) && present(&s, &other));
}

#[test]
fn two_people_with_the_word_make_a_waiting_request_ambiguous() {
    let s = TestStudy::new("plp-pending-twins");
    let request = s.write("w.json", &s.withdrawal_request(None, "same word"));
    s.ingest(&[&request]).ok();
    let a = s.respond(&Respondent::new("M", "bme", "same word"));
    let b = s.respond(&Respondent::new("N", "bme", "same word"));
    let paths = [s.write("a.json", &a), s.write("b.json", &b)];
    let sum = s.ingest(&[&paths[0], &paths[1]]).ok().summary();
    assert_eq!((sum.accepted, sum.withdrawn, sum.ambiguous), (2, 0, 1));
    assert!(present(&s, &a) && present(&s, &b), "never guess");
    assert_eq!(
        s.strings("SELECT outcome FROM withdrawal_requests"),
        ["ambiguous"]
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM withdrawal_requests WHERE tag_mac IS NOT NULL"),
        0
    );
}

#[test]
fn the_lock_waits_for_the_inbox_and_copies_go_with_what_they_copy() {
    let s = TestStudy::new("plp-pending-inbox");
    let inbox: PathBuf = s.dir.join("inbox");
    let processed = inbox.join("processed");
    let leaver = s.respond(&Respondent::new("R", "bme", "kingfisher"));
    let stayer = s.respond(&Respondent::new("R", "senior_leader", "willow"));
    s.write("study/inbox/1.json", &leaver);
    s.write("study/inbox/2.json", &stayer);
    let locked = || s.count("SELECT COUNT(*) FROM meta WHERE key = 'locked_at'");

    // Envelopes wait in the inbox: the lock refuses, and locks nothing.
    s.plp(&["lock", "--yes"])
        .fails_with(&["2 envelope(s) wait in the study's inbox", "plp ingest"]);
    assert_eq!(locked(), 0);
    let sum = s.plp(&["ingest"]).ok().summary();
    assert_eq!(sum.accepted, 2);
    assert_eq!(holding(&processed, &leaver), 1, "kept as processed");

    // A withdrawal destroys the response and its processed copy.
    s.write(
        "study/inbox/3.json",
        &s.withdrawal_request(None, "kingfisher"),
    );
    let out = s.plp(&["ingest"]).ok();
    assert_eq!(out.summary().withdrawn, 1);
    assert!(out.stdout.contains("Deleted 1 copy"), "{}", out.stdout);
    assert_eq!(
        holding(&processed, &leaver),
        0,
        "the copy of a withdrawn response"
    );
    assert_eq!(holding(&processed, &stayer), 1);

    // The withdrawn envelope sent again: known, and its new copy goes too.
    s.write("study/inbox/1.json", &leaver);
    let out = s.plp(&["ingest"]).ok();
    assert_eq!(out.summary().duplicate, 1);
    assert_eq!(holding(&processed, &leaver), 0, "{}", out.stdout);

    // `plp withdraw` by word does the same.
    let out = s.plp(&["withdraw", "--word", "willow"]).ok();
    assert!(out.stdout.contains("Deleted 1 copy"), "{}", out.stdout);
    assert_eq!(holding(&processed, &stayer), 0);

    // After the lock and publication, destroying identifiers takes every copy with it:
    // the processed files and an envelope that arrived too late to be taken.
    let third = s.respond(&Respondent::new("S", "bme", "heron"));
    s.write("study/inbox/4.json", &third);
    s.plp(&["ingest"]).ok();
    s.plp(&["lock", "--yes"]).ok();
    assert_eq!(locked(), 1);
    s.write(
        "study/inbox/5.json",
        &s.respond(&Respondent::new("T", "bme", "swallow")),
    );
    let out = s.plp(&["destroy-identifiers", "--yes"]).ok();
    assert!(
        out.stdout
            .contains("2 processed inbox file(s) and 1 envelope(s) waiting"),
        "{}",
        out.stdout
    );
    assert_eq!(holding(&processed, &third), 0);
    assert!(!inbox.join("5.json").exists());
}

#[test]
fn a_request_must_name_a_possible_code_or_none() {
    let s = TestStudy::new("plp-pending-codes");
    let tag = plp_core::withdrawal::tag(&s.study_id, "kestrel").expect("a tag");
    let request = |code: &str| {
        format!(
            r#"{{"format":"plp-withdrawal/1","request_id":"{}","code":{code},"withdrawal_tag":"{tag}","date":"{DATE}"}}"#,
            &plp_tests::sha256_hex(code.as_bytes())[..32]
        )
    };
    let files = [
        ("too-long.json", s.seal(request("\"ABC\"").as_bytes())),
        ("digit.json", s.seal(request("\"A1\"").as_bytes())),
        ("null.json", s.seal(request("null").as_bytes())),
        ("good.json", s.seal(request("\"AB\"").as_bytes())),
    ];
    let paths: Vec<PathBuf> = files.iter().map(|(n, b)| s.write(n, b)).collect();
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    let out = s.ingest(&refs).ok();
    let sum = out.summary();
    assert_eq!((sum.rejected, sum.waiting), (3, 1), "{}", out.stdout);
    let reasons = s.strings("SELECT source || ': ' || reason FROM quarantine ORDER BY source");
    assert_eq!(reasons.len(), 3);
    assert!(
        reasons[0].contains("digit.json")
            && reasons[0].contains("does not match the study's pair code pattern"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("null.json") && reasons[1].contains("invalid type: null"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("too-long.json") && reasons[2].contains("`ABC`"),
        "{reasons:?}"
    );
}

#[test]
fn a_withdrawal_points_at_preview_exports() {
    let s = TestStudy::new("plp-pending-preview");
    let env = s.respond(&Respondent::new("U", "bme", "nightjar"));
    ingest_one(&s, "u.json", &env);
    let out = s.plp(&["withdraw", "--word", "nightjar"]).ok();
    assert!(!out.stderr.contains("preview export"), "{}", out.stderr);

    let other = s.respond(&Respondent::new("V", "bme", "nuthatch"));
    ingest_one(&s, "v.json", &other);
    let preview = s.root().join("preview");
    s.plp(&[
        "export",
        "--out",
        &preview.display().to_string(),
        "--preview",
    ])
    .ok();
    let out = s.plp(&["withdraw", "--word", "nuthatch"]).ok();
    assert!(
        out.stderr
            .contains("1 preview export(s) were written before this withdrawal"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_consent_given_after_the_request_stands_whichever_arrives_first() {
    let s = TestStudy::new("plp-pending-dates");
    // The response first: consented after the request's date, so the request waits.
    let newer = s.respond(&Respondent::new("V", "bme", "starling").date("2026-03-09"));
    ingest_one(&s, "newer.json", &newer);
    let request = s.write(
        "w.json",
        &s.withdrawal_request_on(None, "starling", "2026-03-02"),
    );
    let sum = s.ingest(&[&request]).ok().summary();
    assert_eq!((sum.withdrawn, sum.waiting), (0, 1));
    assert!(present(&s, &newer));
    // The submission it was about arrives: destroyed, and the new consent stays.
    let older = s.respond(
        &Respondent::new("V", "bme", "starling")
            .date("2026-03-01")
            .seed(2),
    );
    let sum = ingest_one(&s, "older.json", &older);
    assert_eq!((sum.withdrawn, sum.on_arrival), (1, 1));
    assert!(!present(&s, &older) && present(&s, &newer));
}

/// A study where the BME partner of pair `code`, who chose "same word" (as their partner
/// will), was withdrawn by a sealed request naming no code.
fn leaver_withdrawn(id: &str, code: &str) -> TestStudy {
    let s = TestStudy::new(id);
    let leaver = s.respond(&Respondent::new(code, "bme", "same word"));
    ingest_one(&s, "leaver.json", &leaver);
    let first = s.write("w1.json", &s.withdrawal_request(None, "same word"));
    assert_eq!(s.ingest(&[&first]).ok().summary().withdrawn, 1);
    assert!(!present(&s, &leaver));
    s
}

#[test]
fn a_request_sent_again_never_reaches_someone_else() {
    let s = leaver_withdrawn("plp-pending-again", "W");
    let partner = s.respond(&Respondent::new("W", "senior_leader", "same word"));
    let sum = ingest_one(&s, "partner.json", &partner);
    assert_eq!(
        (sum.accepted, sum.on_arrival),
        (1, 0),
        "not the withdrawn person"
    );
    // The same request again (a new request id): the leaver asking again, or the partner
    // asking for the first time? Never guess.
    let again = s.write("w2.json", &s.withdrawal_request(None, "same word"));
    let sum = s.ingest(&[&again]).ok().summary();
    assert_eq!((sum.withdrawn, sum.ambiguous, sum.waiting), (0, 1, 0));
    assert!(present(&s, &partner), "nothing destroyed on a guess");
    assert_eq!(
        s.strings("SELECT outcome FROM withdrawal_requests ORDER BY id"),
        ["withdrawn", "ambiguous"]
    );
    let matched: Vec<serde_json::Value> = s
        .audit()
        .into_iter()
        .filter(|(_, e, _)| e == "withdrawal_ambiguous")
        .map(|(_, _, d)| d["people_matched"].clone())
        .collect();
    assert_eq!(matched, [serde_json::json!(2)]);
}

#[test]
fn a_partners_first_request_after_a_withdrawal_is_never_taken_for_a_repeat() {
    let s = leaver_withdrawn("plp-pending-partner", "P");
    // The partner, who chose the same word, asks to withdraw before their response is in:
    // from the word alone it could be the leaver again, so it waits as a repeat.
    let second = s.write("w2.json", &s.withdrawal_request(None, "same word"));
    let sum = s.ingest(&[&second]).ok().summary();
    assert_eq!((sum.repeated, sum.ambiguous), (1, 0));
    // Their response arrives: someone other than the leaver matches, so it is ambiguous,
    // and nothing is destroyed on a guess.
    let partner = s.respond(&Respondent::new("P", "senior_leader", "same word"));
    let sum = ingest_one(&s, "partner.json", &partner);
    assert_eq!((sum.accepted, sum.on_arrival, sum.ambiguous), (1, 0, 1));
    assert!(present(&s, &partner));
    assert_eq!(
        s.strings("SELECT outcome FROM withdrawal_requests ORDER BY id"),
        ["withdrawn", "ambiguous"]
    );
}

#[test]
fn a_person_asking_again_is_heard_again() {
    let s = TestStudy::new("plp-pending-repeat");
    let first = s.respond(&Respondent::new("Y", "bme", "curlew"));
    ingest_one(&s, "first.json", &first);
    let r1 = s.write("w1.json", &s.withdrawal_request_on(None, "curlew", DATE));
    assert_eq!(s.ingest(&[&r1]).ok().summary().withdrawn, 1);
    // They consent again (03-05), then withdraw again (03-06); the second request is
    // ingested before the response it withdraws.
    let second = s.respond(
        &Respondent::new("Y", "bme", "curlew")
            .date("2026-03-05")
            .seed(8),
    );
    let r2 = s.write(
        "w2.json",
        &s.withdrawal_request_on(None, "curlew", "2026-03-06"),
    );
    let sum = s.ingest(&[&r2]).ok().summary();
    assert_eq!((sum.repeated, sum.ambiguous, sum.waiting), (1, 0, 0));
    let sum = ingest_one(&s, "second.json", &second);
    assert_eq!((sum.accepted, sum.on_arrival), (1, 1));
    assert!(
        !present(&s, &second),
        "the second withdrawal is honoured too"
    );
    let vias: Vec<String> = s
        .audit()
        .into_iter()
        .filter(|(_, e, _)| e == "withdrawal")
        .map(|(_, _, d)| d["via"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        vias,
        [
            "sealed request",
            "sealed request, repeated: a submission that arrived after it"
        ]
    );
}

#[test]
fn destroy_identifiers_again_finishes_what_a_failed_run_left() {
    let s = TestStudy::new("plp-pending-rerun");
    let env = s.respond(&Respondent::new("X", "bme", "plover"));
    s.write("study/inbox/1.json", &env);
    s.plp(&["ingest"]).ok();
    s.plp(&["lock", "--yes"]).ok();
    s.plp(&["destroy-identifiers", "--yes"]).ok();
    // As if a copy had outlived the first run.
    let left = s.write("study/inbox/processed/1.json", &env);
    let out = s.plp(&["destroy-identifiers", "--yes"]).ok();
    assert!(
        out.stdout.contains("1 processed inbox file(s)"),
        "{}",
        out.stdout
    );
    assert!(!left.exists());
    s.plp(&["destroy-identifiers", "--yes"])
        .fails_with(&["identifiers were already destroyed"]);
}

#[test]
fn a_withdrawal_by_word_also_reaches_what_arrives_later() {
    let s = TestStudy::new("plp-pending-by-word");
    let one = s.respond(&Respondent::new("Z", "bme", "wagtail"));
    let two = s.respond(
        &Respondent::new("Z", "bme", "wagtail")
            .date("2026-03-01")
            .seed(5),
    );
    ingest_one(&s, "one.json", &one);
    s.plp(&["withdraw", "--word", "wagtail"]).ok();
    assert_eq!(
        s.count("SELECT COUNT(*) FROM withdrawal_requests WHERE outcome = 'withdrawn' AND code = 'Z' AND side = 'a' AND tag_mac IS NOT NULL AND date IS NOT NULL"),
        1,
        "kept as the person it withdrew"
    );
    // An earlier submission of theirs turns up after the evaluator withdrew them.
    let sum = ingest_one(&s, "two.json", &two);
    assert_eq!((sum.accepted, sum.on_arrival), (1, 1));
    assert!(!present(&s, &two));
    // A sealed request they send as well is theirs again, not a new search.
    let request = s.write("w.json", &s.withdrawal_request(None, "wagtail"));
    let sum = s.ingest(&[&request]).ok().summary();
    assert_eq!((sum.repeated, sum.waiting, sum.withdrawn), (1, 0, 0));
}
