//! A `plp ingest` killed mid-way (SIGKILL) leaves a consistent store: every envelope is
//! recorded fully or not at all, the audit chain holds, and running the ingest again
//! completes it with the committed envelopes counted as duplicates.

use plp_core::answers::Answers;
use plp_tests::{open_read_only, sha256_hex, text, Respondent, TestStudy, PASSPHRASE};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: usize = 3000;

fn accepted_in_batches(s: &TestStudy) -> i64 {
    s.audit()
        .iter()
        .filter(|(_, e, _)| e == "ingest_batch")
        .map(|(_, _, d)| d["accepted"].as_i64().expect("accepted is a number"))
        .sum()
}

/// N envelopes, one per line, and their SHA-256s. Realistic answers from 64 random walks
/// (both branches of q8), each respondent with their own code, side, word and submission id;
/// built and sealed on two threads.
fn envelopes(s: &TestStudy) -> (Vec<u8>, Vec<String>) {
    let walks: Vec<Answers> = (0..64u64)
        .map(|i| {
            Respondent::new("A", "bme", "walk")
                .seed(i)
                .answer("q8", text(if i % 2 == 0 { "yes" } else { "no" }))
                .answers(s.survey())
        })
        .collect();
    let roles = ["bme", "senior_leader", "both"];
    let make = |i: usize| -> Vec<u8> {
        // Codes AA..ZZ; words are distinct, so nobody supersedes anybody.
        let code: String = [b'A' + (i / 26 % 26) as u8, b'A' + (i % 26) as u8]
            .iter()
            .map(|&b| b as char)
            .collect();
        let mut answers = walks[i % walks.len()].clone();
        answers.insert("q3".into(), text(roles[i % 3]));
        let r = Respondent::new(&code, roles[i % 3], &format!("word number {i}"));
        s.seal(&s.payload_with(&r, &answers).to_json())
    };
    let halves: Vec<Vec<Vec<u8>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = [0..N / 2, N / 2..N]
            .into_iter()
            .map(|range| scope.spawn(move || range.map(make).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("generator thread"))
            .collect()
    });
    let mut lines = Vec::new();
    let mut shas = Vec::with_capacity(N);
    for env in halves.into_iter().flatten() {
        shas.push(sha256_hex(&env));
        lines.extend_from_slice(&env);
        lines.push(b'\n');
    }
    (lines, shas)
}

#[test]
fn killed_ingest_leaves_a_consistent_store_and_resumes() {
    killed_ingest(None);
}

/// The same, killed while it writes with a rollback journal (what an ingest of tens of
/// thousands of envelopes does, here from the second transaction on): the next command
/// rolls the journal back, and the store is in WAL mode again once the ingest completes.
#[test]
fn killed_bulk_ingest_leaves_a_consistent_store_and_resumes() {
    killed_ingest(Some(1000));
}

/// `plp ingest FILE` on the study, with a rollback journal from transactions of
/// `bulk_from` envelopes when given.
fn ingest(s: &TestStudy, file: &std::path::Path, bulk_from: Option<usize>) -> Command {
    let file = file.to_str().expect("a UTF-8 path");
    let mut cmd = s.command(&["ingest", file], Some(PASSPHRASE));
    if let Some(n) = bulk_from {
        cmd.env("PLP_INGEST_BULK_FROM", n.to_string());
    }
    cmd
}

fn killed_ingest(bulk_from: Option<usize>) {
    let s = TestStudy::new("plp-kill");
    let (lines, shas) = envelopes(&s);
    let file = s.write("all.jsonl", &lines);

    let mut child = ingest(&s, &file, bulk_from)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("plp ingest starts");
    let db_path = s.dir.join("plp.sqlite");
    let journal = s.dir.join("plp.sqlite-journal");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("ingest finished ({status}) before it could be killed; make N larger");
        }
        let ready = if bulk_from.is_some() {
            // The journal appears once the first transaction is in and the switch made.
            // Not read through a connection here: one open at the moment of the switch
            // keeps the store in WAL mode (as it should, for a reader).
            journal.exists()
        } else {
            let batches: i64 = open_read_only(&db_path)
                .query_row(
                    "SELECT COUNT(*) FROM audit WHERE event = 'ingest_batch'",
                    [],
                    |r| r.get(0),
                )
                .expect("audit readable while ingesting");
            batches >= 1
        };
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "no batch committed within 20 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL sent");
    let status = child.wait().expect("child reaped");
    assert!(!status.success(), "ingest was not killed: {status}");
    if bulk_from.is_some() {
        // The killed ingest was writing with a rollback journal, not the WAL. A command
        // that opens the store (read-write) rolls back whatever it holds.
        assert!(journal.exists(), "no rollback journal after the kill");
        s.plp(&["audit", "--verify"]).ok();
    } else {
        assert!(!journal.exists(), "a rollback journal in WAL mode");
    }

    // Consistent: the rows are exactly the committed batches', and the chain holds.
    let committed = s.count("SELECT COUNT(*) FROM responses");
    assert!(
        committed > 0 && (committed as usize) < N,
        "{committed} rows after the kill"
    );
    assert_eq!(
        committed,
        accepted_in_batches(&s),
        "rows differ from the audited batches"
    );
    s.plp(&["audit", "--verify"]).ok();

    // The same ingest again completes it (in bulk mode again, from its second
    // transaction, for the bulk run).
    let out = plp_tests::run(ingest(&s, &file, bulk_from)).ok();
    let sum = out.summary();
    assert_eq!(sum.duplicate as i64, committed, "{}", out.stdout);
    assert_eq!(sum.accepted as i64, N as i64 - committed, "{}", out.stdout);
    assert_eq!((sum.rejected, sum.superseded), (0, 0), "{}", out.stdout);
    assert_eq!(s.count("SELECT COUNT(*) FROM responses"), N as i64);
    assert_eq!(accepted_in_batches(&s), N as i64);
    let stored: BTreeMap<String, i64> = {
        let db = s.db();
        let mut stmt = db
            .prepare("SELECT envelope_sha256, COUNT(*) FROM responses GROUP BY envelope_sha256")
            .expect("query");
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows");
        rows.collect::<Result<_, _>>().expect("read")
    };
    assert_eq!(stored.len(), N);
    // Read-only, so this connection does not set the mode itself: what the ingest left.
    let mode: String = s
        .db()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(
        mode, "wal",
        "the ingest did not return the store to WAL mode"
    );
    assert!(
        !journal.exists(),
        "a rollback journal left beside the store"
    );
    for sha in &shas {
        assert_eq!(
            stored.get(sha),
            Some(&1),
            "envelope {sha} not stored exactly once"
        );
    }
    s.plp(&["audit", "--verify"]).ok();
}
