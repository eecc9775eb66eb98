//! `plp audit --verify`: the hash chain holds after real work, and any edit, deletion of a
//! middle event or of the newest event is detected and named.

use plp_tests::{plp, Respondent, TestStudy};
use rusqlite::Connection;
use std::path::Path;

fn verify(dir: &Path) -> plp_tests::Output {
    plp(
        &[
            "--study".as_ref(),
            dir.as_os_str(),
            "audit".as_ref(),
            "--verify".as_ref(),
        ],
        None,
    )
}

fn tamper(dir: &Path, sql: &str) {
    let c = Connection::open(dir.join("plp.sqlite")).expect("store opens");
    let n = c.execute(sql, []).expect("tampering runs");
    assert_eq!(n, 1, "{sql} changed {n} rows");
}

/// How many problems `plp audit --verify` listed.
fn problems(out: &plp_tests::Output) -> usize {
    out.stderr.lines().filter(|l| l.starts_with("  - ")).count()
}

#[test]
fn chain_verifies_and_tampering_is_detected() {
    let s = TestStudy::new("plp-audit");
    let a = s.write(
        "a.json",
        &s.respond(&Respondent::new("A", "bme", "first word")),
    );
    let b = s.write(
        "b.json",
        &s.respond(&Respondent::new("A", "senior_leader", "second word")),
    );
    let bad = s.write("bad.json", b"{\"format\": \"nonsense\"}");
    s.ingest(&[&a, &b, &bad]).ok();
    s.plp(&["withdraw", "--word", "second word"]).ok();
    s.plp(&["lock", "--yes"]).ok();
    s.plp(&["withdraw", "--word", "first word"])
        .fails_with(&["analysis began"]);

    let events = s.audit_names();
    assert_eq!(
        events,
        [
            "store_created",
            "rejected",
            "ingest_batch",
            "withdrawal",
            "lock",
            "late_withdrawal_request"
        ]
    );
    let n = events.len();
    let out = verify(&s.dir).ok();
    assert!(
        out.stdout
            .contains(&format!("ok: audit chain of {n} events verifies")),
        "{}",
        out.stdout
    );
    let listing = s.plp(&["audit"]).ok();
    assert_eq!(listing.stdout.lines().count(), n);
    assert!(listing.stdout.contains("late_withdrawal_request"));

    // One row's detail edited.
    let edited = s.copy_to("edited");
    tamper(&edited, "UPDATE audit SET detail = '{\"responses_destroyed\":0,\"via\":\"plp withdraw\"}' WHERE seq = 4");
    let out = verify(&edited)
        .fails_listing(&["audit chain is broken", "event 4 (withdrawal) was altered"]);
    // The next event's prev_hash still names the original, so only the edited one is named.
    assert_eq!(problems(&out), 1, "{}", out.stderr);

    // An event's name edited.
    let renamed = s.copy_to("renamed");
    tamper(
        &renamed,
        "UPDATE audit SET event = 'nothing_happened' WHERE seq = 2",
    );
    verify(&renamed).fails_listing(&["event 2 (nothing_happened) was altered"]);

    // A middle row deleted.
    let middle = s.copy_to("middle");
    tamper(&middle, "DELETE FROM audit WHERE seq = 3");
    let out = verify(&middle).fails_listing(&[
        "event 3 is missing (found 4 in its place)",
        "event 4 does not follow the event before it",
    ]);
    assert_eq!(
        problems(&out),
        2,
        "later events are not reported missing:\n{}",
        out.stderr
    );

    // The newest row deleted (and the head left alone).
    let last = s.copy_to("last");
    tamper(&last, &format!("DELETE FROM audit WHERE seq = {n}"));
    let out = verify(&last).fails_listing(&["newest events are missing"]);
    assert_eq!(problems(&out), 1, "{}", out.stderr);

    // The original is untouched and still verifies.
    verify(&s.dir).ok();
}
