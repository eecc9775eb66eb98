//! `plp ingest`: every outcome, counted in the summary and recorded in the store.

use plp_core::envelope::{b64_decode, b64_encode, received_bytes};
use plp_core::seal::KeyPair;
use plp_tests::{random, sha256_hex, text, Respondent, TestStudy, PASSPHRASE};
use std::collections::BTreeMap;

/// Quarantine reasons by file name (the part of `source` after the last `/`).
fn quarantine(s: &TestStudy) -> BTreeMap<String, (String, i64)> {
    let db = s.db();
    let mut stmt = db
        .prepare("SELECT source, reason, length(envelope) FROM quarantine")
        .expect("quarantine table");
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .expect("query");
    rows.map(|r| {
        let (source, reason, len) = r.expect("row");
        let name = source.rsplit('/').next().expect("a name").to_string();
        (name, (reason, len))
    })
    .collect()
}

/// Re-encodes an envelope after changing one member.
fn with_member(env: &[u8], member: &str, value: serde_json::Value) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(env).expect("envelope JSON");
    v[member] = value;
    serde_json::to_vec(&v).expect("JSON")
}

#[test]
fn every_outcome_is_counted_and_every_rejection_quarantined_with_its_reason() {
    let s = TestStudy::new("plp-ingest");
    let survey = s.survey();
    let a_bme = Respondent::new("a", "bme", "Sunflower");
    let a_sl = Respondent::new(" A ", "senior_leader", "river stone");
    let b_both = Respondent::new("b", "both", "harbour");
    let ok1 = s.respond(&a_bme);
    let p2 = s.payload(&a_sl);
    // Written as another encoder might (spaces, new lines): valid, and kept as received.
    let ok2 = serde_json::to_vec_pretty(
        &serde_json::from_slice::<serde_json::Value>(&s.seal(&p2.to_json())).expect("JSON"),
    )
    .expect("JSON");
    let ok3 = s.respond(&b_both);
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("01-ok-a-bme.json", ok1.clone()),
        ("01-ok-a-sl.json", ok2.clone()),
        ("01-ok-b-both.json", ok3.clone()),
    ];

    let fresh = || s.payload(&Respondent::new("C", "bme", "paper boat"));
    files.push(("02-truncated.json", ok1[..ok1.len() / 2].to_vec()));
    files.push((
        "03-wrong-study.json",
        s.seal_for("plp-elsewhere", &fresh().to_json()),
    ));
    let stranger = KeyPair::derive(random::<32>());
    let foreign = stranger
        .public()
        .seal(&s.study_id, &fresh().to_json(), random::<32>())
        .expect("sealed")
        .to_json();
    files.push(("04-wrong-key.json", foreign.clone()));
    files.push((
        "05-relabelled-key.json",
        with_member(&foreign, "key_id", s.key_id.clone().into()),
    ));
    let mut ct = b64_decode("ct", &plp_tests::ct_of(&ok3)).expect("ct");
    ct[10] ^= 0x01;
    files.push((
        "06-flipped-ct.json",
        with_member(&ok3, "ct", b64_encode(&ct).into()),
    ));
    // A sound envelope padded past the limit: parsing it would accept it, so a rejection
    // proves it was never parsed.
    let mut big = s.respond(&Respondent::new("D", "bme", "big envelope"));
    big.extend(std::iter::repeat_n(b' ', 260 * 1024));
    files.push(("07-oversized.json", big));

    // Payloads that fail validation, built by hand as a tampered browser would.
    let mut hidden = serde_json::to_value(
        s.payload(&Respondent::new("E", "bme", "hidden q9").answer("q8", text("no"))),
    )
    .expect("payload JSON");
    let q9 = survey.question("q9").expect("q9");
    let q9_answer = plp_core::sample::answer(
        &q9.kind,
        &mut plp_core::sample::SplitMix64(1),
        &Default::default(),
    )
    .expect("q9 takes an answer");
    hidden["answers"]["q9"] = serde_json::to_value(&q9_answer).expect("JSON");
    files.push((
        "08-hidden-question.json",
        s.seal(&serde_json::to_vec(&hidden).expect("JSON")),
    ));
    let mut range = serde_json::to_value(s.payload(&Respondent::new("F", "bme", "out of range")))
        .expect("payload JSON");
    range["answers"]["q64"] = 9.into();
    files.push((
        "09-out-of-range.json",
        s.seal(&serde_json::to_vec(&range).expect("JSON")),
    ));
    let mut unknown = serde_json::to_value(fresh()).expect("payload JSON");
    unknown["survey"]["sha256"] = sha256_hex(b"a survey this study never published").into();
    files.push((
        "10-unknown-survey.json",
        s.seal(&serde_json::to_vec(&unknown).expect("JSON")),
    ));
    files.push(("11-duplicate-bytes.json", ok1.clone()));
    files.push(("12-duplicate-submission.json", s.seal(&p2.to_json())));
    files.push(("13-not-a-payload.json", s.seal(b"hello")));
    files.push((
        "14-extra-member.json",
        with_member(&ok3, "note", "hi".into()),
    ));

    for (name, bytes) in &files {
        s.write(&format!("in/{name}"), bytes);
    }
    let out = s.ingest(&[&s.root().join("in")]).ok();
    let sum = out.summary();
    assert_eq!(
        (sum.accepted, sum.duplicate, sum.superseded, sum.rejected),
        (3, 2, 0, 11),
        "{}",
        out.stdout
    );
    assert_eq!(
        (sum.withdrawn, sum.waiting, sum.ambiguous, sum.late),
        (0, 0, 0, 0)
    );

    let q = quarantine(&s);
    assert_eq!(q.len(), 11, "{q:#?}");
    let expect = [
        ("02-truncated.json", "malformed envelope"),
        (
            "03-wrong-study.json",
            "sealed for study `plp-elsewhere`, but this study is `plp-ingest`",
        ),
        ("04-wrong-key.json", "sealed to key"),
        ("05-relabelled-key.json", "authentication failed"),
        ("06-flipped-ct.json", "authentication failed"),
        (
            "07-oversized.json",
            "over the envelope limit of 262144; not read",
        ),
        (
            "08-hidden-question.json",
            "Q9 (q9): answered, but the question is hidden by branching",
        ),
        (
            "09-out-of-range.json",
            "Q64 (q64): 9 is outside the scale 1 to 5",
        ),
        ("10-unknown-survey.json", "unknown survey version"),
        ("13-not-a-payload.json", "malformed payload"),
        ("14-extra-member.json", "unknown field `note`"),
    ];
    for (name, reason) in expect {
        let (got, _) = q
            .get(name)
            .unwrap_or_else(|| panic!("{name} not quarantined: {q:#?}"));
        assert!(
            got.contains(reason),
            "{name}: reason `{got}` lacks `{reason}`"
        );
    }
    assert!(q["04-wrong-key.json"].0.contains(&s.key_id));
    assert!(q["04-wrong-key.json"]
        .0
        .contains(stranger.public().key_id()));
    assert_eq!(
        q["07-oversized.json"].1, 0,
        "the oversized file was stored, so it was read"
    );
    assert!(
        q["02-truncated.json"].1 > 0,
        "a rejected envelope is kept in quarantine"
    );

    // The accepted rows: code normalised, side from q3, exact bytes, SHA-256 of the bytes.
    let db = s.db();
    let mut stmt = db
        .prepare("SELECT code, side, state, envelope_sha256, envelope, survey_sha256 FROM responses ORDER BY id")
        .expect("responses");
    let rows: Vec<(String, String, String, String, Vec<u8>, String)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("A", "a", "accepted"),
            ("A", "b", "accepted"),
            ("B", "either", "accepted")
        ]
    );
    // plp's own envelopes are kept packed, a quarter smaller; the other encoding as it came.
    assert!(rows[0].4.len() < ok1.len() * 4 / 5 && rows[2].4.len() < ok3.len() * 4 / 5);
    assert_eq!(rows[1].4, ok2);
    for (row, env) in rows.iter().zip([&ok1, &ok2, &ok3]) {
        assert_eq!(
            received_bytes(&row.4).expect("a stored envelope").as_ref(),
            env.as_slice()
        );
        assert_eq!(row.3, sha256_hex(env));
        assert_eq!(row.5, s.survey_sha256());
    }
    let tags: i64 =
        s.count("SELECT COUNT(DISTINCT tag_mac) FROM responses WHERE length(tag_mac) = 64");
    assert_eq!(tags, 3, "tags are stored keyed, one per word");
    let raw_tag = plp_core::withdrawal::tag(&s.study_id, "Sunflower").expect("tag");
    assert_eq!(
        s.count(&format!(
            "SELECT COUNT(*) FROM responses WHERE tag_mac = '{raw_tag}'"
        )),
        0,
        "the raw tag is never stored"
    );

    // The audit log records the batch and each rejection, without plaintext.
    let audit = s.audit();
    let batches: Vec<_> = audit
        .iter()
        .filter(|(_, e, _)| e == "ingest_batch")
        .collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].2["accepted"], 3);
    assert_eq!(batches[0].2["rejected"], 11);
    assert_eq!(audit.iter().filter(|(_, e, _)| e == "rejected").count(), 11);
    for (_, _, d) in &audit {
        let d = d.to_string();
        assert!(
            !d.contains("Sunflower") && !d.contains("\"A\""),
            "audit detail leaks: {d}"
        );
    }

    // Running the same ingest again changes nothing: every envelope is known.
    let again = s.ingest(&[&s.root().join("in")]).ok().summary();
    assert_eq!(
        (again.accepted, again.duplicate, again.rejected),
        (0, 16, 0),
        "{again:?}"
    );
    assert_eq!(s.count("SELECT COUNT(*) FROM responses"), 3);
    assert_eq!(s.count("SELECT COUNT(*) FROM quarantine"), 11);
    s.plp(&["audit", "--verify"]).ok();
}

#[test]
fn resubmission_keeps_the_newest_and_marks_the_others_superseded() {
    let s = TestStudy::new("plp-resubmit");
    let person = |date: &str| Respondent::new("G", "bme", "Blue  Moon").date(date);
    let first = s.respond(&person("2026-03-01"));
    let second = s.respond(&person("2026-03-03").seed(2));
    let out = s
        .ingest(&[&s.write("r1.json", &first), &s.write("r2.json", &second)])
        .ok();
    let sum = out.summary();
    assert_eq!((sum.accepted, sum.superseded), (2, 1), "{}", out.stdout);
    let state = |env: &[u8]| -> (String, Option<i64>) {
        s.db()
            .query_row(
                "SELECT state, superseded_by FROM responses WHERE envelope_sha256 = ?1",
                [sha256_hex(env)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("row")
    };
    let id = |env: &[u8]| -> i64 {
        s.db()
            .query_row(
                "SELECT id FROM responses WHERE envelope_sha256 = ?1",
                [sha256_hex(env)],
                |r| r.get(0),
            )
            .expect("row")
    };
    assert_eq!(state(&first), ("superseded".into(), Some(id(&second))));
    assert_eq!(state(&second), ("accepted".into(), None));

    // A third submission later (word typed differently, same normalised word).
    let third = s.respond(
        &Respondent::new(" g ", "bme", "blue moon")
            .date("2026-03-05")
            .seed(3),
    );
    let sum = s.ingest(&[&s.write("r3.json", &third)]).ok().summary();
    assert_eq!((sum.accepted, sum.superseded), (1, 1));
    assert_eq!(state(&second), ("superseded".into(), Some(id(&third))));
    assert_eq!(state(&third), ("accepted".into(), None));

    // An older submission that arrives last does not displace the newest.
    let stale = s.respond(&person("2026-02-20").seed(4));
    let sum = s.ingest(&[&s.write("r0.json", &stale)]).ok().summary();
    assert_eq!((sum.accepted, sum.superseded), (1, 1));
    assert_eq!(state(&stale), ("superseded".into(), Some(id(&third))));
    assert_eq!(state(&third), ("accepted".into(), None));

    // Same code and side with another word, or the same word on the other side: other people.
    let other_word = s.respond(&Respondent::new("G", "bme", "another word"));
    let partner = s.respond(&Respondent::new("G", "senior_leader", "blue moon"));
    let sum = s
        .ingest(&[
            &s.write("r4.json", &other_word),
            &s.write("r5.json", &partner),
        ])
        .ok()
        .summary();
    assert_eq!((sum.accepted, sum.superseded), (2, 0));
    assert_eq!(
        s.count("SELECT COUNT(*) FROM responses WHERE state = 'accepted'"),
        3
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM responses WHERE state = 'superseded'"),
        3
    );
}

/// Forty envelopes in one file, with a rejection and a resubmission among them, examined
/// three at a time (`PLP_INGEST_BATCH`: fourteen batches over every worker, their results
/// put back in order): rows are stored in arrival order (ids one apart), with their exact
/// bytes, and the resubmission supersedes the earlier response.
#[test]
fn many_responses_are_stored_in_arrival_order() {
    let s = TestStudy::new("plp-many");
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut accepted: Vec<Vec<u8>> = Vec::new();
    for i in 0..40 {
        let line = match i {
            17 => b"not an envelope".to_vec(),
            30 => s.respond(
                &Respondent::new("A", "senior_leader", "word 5")
                    .date("2026-03-03")
                    .seed(30),
            ),
            _ => s.respond(
                &Respondent::new(
                    "A",
                    if i % 2 == 0 { "bme" } else { "senior_leader" },
                    &format!("word {i}"),
                )
                .date("2026-03-01"),
            ),
        };
        if i != 17 {
            accepted.push(line.clone());
        }
        lines.push(line);
    }
    let path = s.write("many.jsonl", &lines.join(&b'\n'));
    let path = path.display().to_string();
    let mut cmd = s.command(&["ingest", &path], Some(PASSPHRASE));
    cmd.env("PLP_INGEST_BATCH", "3");
    let out = plp_tests::run(cmd).ok();
    let sum = out.summary();
    assert_eq!(
        (sum.accepted, sum.rejected, sum.superseded),
        (39, 1, 1),
        "{}",
        out.stdout
    );
    let db = s.db();
    let mut stmt = db
        .prepare(
            "SELECT id, envelope_sha256, envelope, state, superseded_by FROM responses ORDER BY id",
        )
        .expect("responses");
    /// id, envelope SHA-256, envelope, state, superseded by.
    type Row = (i64, String, Vec<u8>, String, Option<i64>);
    let rows: Vec<Row> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows.len(), 39);
    for (n, (row, env)) in rows.iter().zip(&accepted).enumerate() {
        assert_eq!(row.0, n as i64 + 1, "ids in arrival order");
        assert_eq!(row.1, sha256_hex(env), "row {n}");
        assert_eq!(
            received_bytes(&row.2).expect("a stored envelope").as_ref(),
            env.as_slice(),
            "row {n}: the exact bytes"
        );
        // The 31st line (row 29: the 18th was rejected) resubmits the 6th line's person.
        let expected = if n == 5 {
            ("superseded", Some(30))
        } else {
            ("accepted", None)
        };
        assert_eq!((row.3.as_str(), row.4), expected, "row {n}");
    }
    let (reason, _) = &quarantine(&s)["many.jsonl:18"];
    assert!(reason.starts_with("malformed envelope"), "{reason}");
}

#[test]
fn jsonl_file_holds_one_envelope_per_line() {
    let s = TestStudy::new("plp-jsonl");
    let envs: Vec<Vec<u8>> = ["H", "I", "J", "K"]
        .iter()
        .map(|c| s.respond(&Respondent::new(c, "bme", &format!("word of {c}"))))
        .collect();
    let mut file = Vec::new();
    file.extend_from_slice(&envs[0]);
    file.push(b'\n');
    file.extend_from_slice(&envs[1]);
    file.extend_from_slice(b"\r\n\n   \n");
    file.extend_from_slice(b"this line is not an envelope\n");
    file.extend_from_slice(&envs[2]);
    file.push(b'\n');
    file.extend(std::iter::repeat_n(b'x', 300 * 1024));
    file.push(b'\n');
    file.extend_from_slice(&envs[3]); // last line without a newline
    let path = s.write("batch.jsonl", &file);
    let out = s.ingest(&[&path]).ok();
    let sum = out.summary();
    assert_eq!(
        (sum.accepted, sum.rejected, sum.duplicate),
        (4, 2, 0),
        "{}",
        out.stdout
    );
    for env in &envs {
        assert_eq!(
            s.count(&format!(
                "SELECT COUNT(*) FROM responses WHERE envelope_sha256 = '{}'",
                sha256_hex(env)
            )),
            1
        );
    }
    let q = quarantine(&s);
    let (reason, _) = &q["batch.jsonl:5"];
    assert!(reason.starts_with("malformed envelope"), "{reason}");
    let (reason, len) = &q["batch.jsonl:7"];
    assert!(reason.contains("line 7 is over the limit"), "{reason}");
    assert_eq!(*len, 0);
    // The same file again: all known.
    let sum = s.ingest(&[&path]).ok().summary();
    assert_eq!((sum.accepted, sum.duplicate, sum.rejected), (0, 6, 0));
}

#[test]
fn withdrawal_requests_before_and_after_the_lock() {
    let s = TestStudy::new("plp-requests");
    let leaver_old = s.respond(&Respondent::new("K", "bme", "Kestrel").date("2026-03-01"));
    let leaver_new = s.respond(
        &Respondent::new("K", "bme", "kestrel")
            .date("2026-03-02")
            .seed(9),
    );
    let partner = s.respond(&Respondent::new("K", "senior_leader", "oak tree"));
    let stayer = s.respond(&Respondent::new("L", "both", "lighthouse"));
    let twin1 = s.respond(&Respondent::new("M", "bme", "same word"));
    let twin2 = s.respond(&Respondent::new("N", "bme", "same word"));
    let all = [&leaver_old, &leaver_new, &partner, &stayer, &twin1, &twin2];
    let paths: Vec<_> = all
        .iter()
        .enumerate()
        .map(|(i, e)| s.write(&format!("r/{i}.json"), e))
        .collect();
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let sum = s.ingest(&refs).ok().summary();
    assert_eq!((sum.accepted, sum.superseded), (6, 1));

    // Before the lock: the request destroys both of the leaver's submissions.
    let requests = [
        ("w1.json", s.withdrawal_request(None, "  KESTREL ")),
        ("w2.json", s.withdrawal_request(None, "never used")),
        ("w3.json", s.withdrawal_request(None, "same word")),
        ("w4.json", s.withdrawal_request(Some("n"), "same word")),
    ];
    let paths: Vec<_> = requests.iter().map(|(n, b)| s.write(n, b)).collect();
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let out = s.ingest(&refs).ok();
    let sum = out.summary();
    assert_eq!(
        (sum.withdrawn, sum.waiting, sum.ambiguous, sum.late),
        (2, 1, 1, 0),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("--role"),
        "the ambiguous request is explained: {}",
        out.stderr
    );
    let present = |env: &[u8]| {
        s.count(&format!(
            "SELECT COUNT(*) FROM responses WHERE envelope_sha256 = '{}'",
            sha256_hex(env)
        )) == 1
    };
    assert!(
        !present(&leaver_old) && !present(&leaver_new),
        "the leaver's responses remain"
    );
    assert!(present(&partner) && present(&stayer) && present(&twin1));
    assert!(!present(&twin2), "the request with code N withdraws N only");
    let outcomes = s.strings("SELECT outcome FROM withdrawal_requests ORDER BY id");
    assert_eq!(outcomes, ["withdrawn", "waiting", "ambiguous", "withdrawn"]);
    let audit = s.audit();
    let w: Vec<_> = audit.iter().filter(|(_, e, _)| e == "withdrawal").collect();
    assert_eq!(w.len(), 2);
    assert_eq!(w[0].2["responses_destroyed"], 2);
    assert!(audit.iter().any(|(_, e, _)| e == "withdrawal_waiting"));
    assert!(audit.iter().any(|(_, e, _)| e == "withdrawal_ambiguous"));

    // After the lock: refused and recorded as late; responses arriving now are quarantined.
    // The lock ends the waiting request, and no request keeps its tag any more.
    let lock = s.plp(&["lock", "--yes"]).ok();
    assert!(
        lock.stdout
            .contains("1 withdrawal request(s) matched no response"),
        "{}",
        lock.stdout
    );
    assert_eq!(
        s.strings("SELECT outcome FROM withdrawal_requests ORDER BY id"),
        ["withdrawn", "no_match", "ambiguous", "withdrawn"]
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM withdrawal_requests WHERE tag_mac IS NOT NULL OR code IS NOT NULL OR side IS NOT NULL OR date IS NOT NULL"),
        0
    );
    let late = s.write("w5.json", &s.withdrawal_request(Some("L"), "lighthouse"));
    let too_late = s.respond(&Respondent::new("P", "bme", "too late"));
    let after = s.write("after-lock.json", &too_late);
    let out = s.ingest(&[&late, &after]).ok();
    let sum = out.summary();
    assert_eq!(
        (sum.late, sum.withdrawn, sum.accepted, sum.rejected),
        (1, 0, 0, 1),
        "{}",
        out.stdout
    );
    assert!(present(&stayer), "a late request must not destroy anything");
    assert_eq!(
        s.strings("SELECT outcome FROM withdrawal_requests ORDER BY id")
            .last()
            .map(String::as_str),
        Some("late")
    );
    let late_events: Vec<_> = s
        .audit()
        .into_iter()
        .filter(|(_, e, _)| e == "late_withdrawal_request")
        .collect();
    assert_eq!(late_events.len(), 1);
    assert_eq!(late_events[0].2["via"], "sealed request");
    let q = quarantine(&s);
    assert!(
        q["after-lock.json"].0.contains("after the analysis lock"),
        "{q:#?}"
    );
    // Kept as received (ingest packs a response's envelope, and gives these bytes back).
    let kept: Vec<u8> = s
        .db()
        .query_row(
            "SELECT envelope FROM quarantine WHERE source LIKE '%after-lock.json'",
            [],
            |r| r.get(0),
        )
        .expect("quarantined");
    assert_eq!(kept, too_late);
    s.plp(&["audit", "--verify"]).ok();
}
