//! `plp lock`, `plp status`, `plp audit`, `plp destroy-identifiers`.

use super::{confirm, Opened};
use crate::store::{audit as record, audit_events, set_meta, verify_audit, IDENTIFIERS_DESTROYED};
use crate::study::{now, random};
use anyhow::{bail, Context, Result};
use plp_core::linkage::link;
use plp_core::survey::Side;
use rusqlite::params;
use std::path::Path;

/// `plp lock [--yes]`
pub fn lock(dir: Option<&Path>, yes: bool) -> Result<()> {
    let Opened { study, mut store } = super::open(dir)?;
    if let Some(at) = store.locked_at()? {
        bail!("the study is already locked (analysis began at {at})");
    }
    confirm(
        "Locking marks the start of analysis: from now on withdrawals are refused and new responses are quarantined. This cannot be undone.",
        yes,
    )?;
    // Counted after the question, so that nothing arriving while it was asked is missed.
    let waiting = waiting_in_inbox(&study)?;
    if waiting > 0 {
        bail!(
            "{waiting} envelope(s) wait in the study's inbox: they arrived before this lock, so their responses and withdrawal requests count. Run `plp ingest` first, then lock. Nothing was locked"
        );
    }
    let at = now();
    let tx = store.tx()?;
    // Last, what withdrawal requests still do; then they are done, and their tags go.
    let settled = super::withdraw::settle(&tx)?;
    let unmatched = tx.execute(
        "UPDATE withdrawal_requests SET outcome = 'no_match' WHERE outcome = 'waiting'",
        [],
    )?;
    tx.execute(
        "UPDATE withdrawal_requests SET tag_mac = NULL, code = NULL, side = NULL, date = NULL
         WHERE tag_mac IS NOT NULL OR code IS NOT NULL OR side IS NOT NULL OR date IS NOT NULL",
        [],
    )?;
    let accepted: i64 = tx.query_row(
        "SELECT COUNT(*) FROM responses WHERE state = 'accepted'",
        [],
        |r| r.get(0),
    )?;
    set_meta(&tx, "locked_at", &at)?;
    record(
        &tx,
        "lock",
        serde_json::json!({ "accepted_responses": accepted, "withdrawal_requests_unmatched": unmatched }),
    )?;
    tx.commit()?;
    println!("Locked at {at}: analysis has begun with {accepted} accepted response(s).");
    if settled.destroyed > 0 {
        println!(
            "Withdrawal requests destroyed {} response(s) first.",
            settled.destroyed
        );
        // Right after the commit: a failure below must not leave the copies.
        crate::copies::after_withdrawal(&study, &store.conn)?;
    }
    if unmatched > 0 {
        println!("{unmatched} withdrawal request(s) matched no response before the lock.");
    }
    store.checkpoint()?;
    Ok(())
}

/// Envelopes that reached the study but are not ingested yet, where `plp ingest` with no
/// PATH takes them from: the server's inbox database, or (a study without one) envelope
/// files in the inbox folder.
pub fn waiting_in_inbox(study: &crate::study::Study) -> Result<u64> {
    let (sid, kid) = (&study.config.study_id, &study.config.key.key_id);
    let db = study.path(crate::serve::inbox::INBOX_FILE);
    if let Some(inbox) = crate::serve::inbox::Inbox::open(&db, sid, kid)? {
        return inbox.count(i64::MAX);
    }
    let folder = study.path(crate::study::INBOX_DIR);
    Ok(if folder.is_dir() {
        super::ingest::collect_files(&[folder], true)?.len() as u64
    } else {
        0
    })
}

/// Figures `plp status` prints.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    study_id: String,
    key_id: String,
    locked_at: Option<String>,
    identifiers_destroyed_at: Option<String>,
    accepted: i64,
    superseded: i64,
    quarantined: i64,
    by_side: std::collections::BTreeMap<String, i64>,
    complete_pairs: usize,
    singletons: usize,
    conflicts: usize,
    withdrawal_requests: std::collections::BTreeMap<String, i64>,
    audit_events: usize,
}

fn side_from(s: &str) -> Side {
    match s {
        "a" => Side::A,
        "b" => Side::B,
        _ => Side::Either,
    }
}

/// `plp status [--json]`
pub fn status(dir: Option<&Path>, json: bool) -> Result<()> {
    let Opened { study, store } = super::open(dir)?;
    let c = &store.conn;
    let count = |sql: &str| -> Result<i64> { Ok(c.query_row(sql, [], |r| r.get(0))?) };
    let mut by_side = std::collections::BTreeMap::new();
    let mut people = Vec::new();
    {
        let mut stmt =
            c.prepare("SELECT id, code, side FROM responses WHERE state = 'accepted'")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (id, code, side) = row?;
            *by_side.entry(side.clone()).or_insert(0) += 1;
            if let Some(code) = code {
                people.push((code, id, side_from(&side)));
            }
        }
    }
    let mut records_by_side = c.prepare("SELECT side, COUNT(*) FROM records GROUP BY side")?;
    for row in
        records_by_side.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
    {
        let (s, n) = row?;
        *by_side.entry(s).or_insert(0) += n;
    }
    let groups = link(people, study.config.allocated_codes.as_deref());
    let classes = |name: &str| groups.iter().filter(|g| g.class.name() == name).count();
    let mut withdrawal_requests = std::collections::BTreeMap::new();
    let mut stmt =
        c.prepare("SELECT outcome, COUNT(*) FROM withdrawal_requests GROUP BY outcome")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (o, n) = row?;
        withdrawal_requests.insert(o, n);
    }
    let st = Status {
        study_id: study.config.study_id.clone(),
        key_id: study.config.key.key_id.clone(),
        locked_at: store.locked_at()?,
        identifiers_destroyed_at: store.identifiers_destroyed_at()?,
        accepted: count("SELECT COUNT(*) FROM responses WHERE state = 'accepted'")?
            + count("SELECT COUNT(*) FROM records")?,
        superseded: count("SELECT COUNT(*) FROM responses WHERE state = 'superseded'")?,
        quarantined: count("SELECT COUNT(*) FROM quarantine")?,
        by_side,
        complete_pairs: classes("complete"),
        singletons: classes("singleton"),
        conflicts: classes("conflict"),
        withdrawal_requests,
        audit_events: audit_events(c)?.len(),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(());
    }
    println!("study        {} (key {})", st.study_id, st.key_id);
    println!(
        "analysis     {}",
        st.locked_at
            .as_deref()
            .map(|t| format!("locked at {t}"))
            .unwrap_or("not locked: withdrawals still honoured".into())
    );
    if let Some(t) = &st.identifiers_destroyed_at {
        println!("identifiers  destroyed at {t}");
    }
    println!(
        "accepted     {} (of cohort {})",
        st.accepted, study.config.cohort
    );
    for (side, n) in &st.by_side {
        println!("  side {side:<7} {n}");
    }
    println!("superseded   {}", st.superseded);
    println!("quarantined  {}", st.quarantined);
    println!(
        "pairs        {} complete, {} singleton, {} conflict",
        st.complete_pairs, st.singletons, st.conflicts
    );
    for (o, n) in &st.withdrawal_requests {
        println!("withdrawal requests ({o}) {n}");
    }
    println!("audit        {} events", st.audit_events);
    Ok(())
}

/// `plp audit [--verify]`
pub fn audit(dir: Option<&Path>, verify: bool) -> Result<()> {
    let Opened { store, .. } = super::open(dir)?;
    if verify {
        let problems = verify_audit(&store.conn)?;
        let n = audit_events(&store.conn)?.len();
        if problems.is_empty() {
            println!("ok: audit chain of {n} events verifies");
            return Ok(());
        }
        bail!(
            "the audit chain is broken ({} problem(s)):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        );
    }
    for e in audit_events(&store.conn)? {
        println!("{:>5} {} {:<24} {}", e.seq, e.at, e.event, e.detail);
    }
    Ok(())
}

/// `plp destroy-identifiers [--yes]`: after the lock, re-seals each accepted response
/// without its pair code, tag and submission id (keyed by pseudonyms instead), then erases
/// the envelopes, quarantine, withdrawal requests and code mappings for good.
pub fn destroy_identifiers(dir: Option<&Path>, yes: bool) -> Result<()> {
    let Opened { study, mut store } = super::open(dir)?;
    if store.identifiers_destroyed_at()?.is_some() {
        // A run that failed after its commit may have left copies: they go now.
        let (copies, waiting) = remove_copies(&study)?;
        if copies + waiting > 0 {
            println!("Identifiers were already destroyed. Deleted what was left outside the store: {copies} processed inbox file(s) and {waiting} envelope(s) waiting in the inbox.");
            return Ok(());
        }
        bail!("identifiers were already destroyed");
    }
    if store.locked_at()?.is_none() {
        bail!("the study is not locked: lock it (plp lock), analyse and publish before destroying identifiers");
    }
    confirm(
        "This erases pair codes, withdrawal tags and code mappings for good, with the inbox's copies of envelopes; withdrawal by memorable word becomes impossible. The pseudonymised dataset can still be re-exported.",
        yes,
    )?;
    let key = super::unlock(&study, None)?;
    let tx = store.tx()?;
    // Counted first (from the roster index), so that the rows can then be read one at a
    // time: holding every envelope at once took 292 MB at 100,000 packed responses.
    let (n_people, n_pairs): (i64, i64) = tx.query_row(
        "SELECT COUNT(*), COUNT(DISTINCT code) FROM responses WHERE state = 'accepted'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (n_people, n_pairs) = (n_people as usize, n_pairs as usize);
    // The pseudonyms an export already drew (drawn here for anyone never exported); the
    // table itself is deleted below, so new draws are not saved.
    let mut pseudonyms = crate::pseudonyms::Pseudonyms::load(&tx)?;
    let opener = crate::store::opener(&key, &study.config.study_id)?;
    let wrap = crate::store::OpenKeyWrap::new(&key);
    {
        let mut stmt = tx.prepare(
            // In arrival order, straight from the table (the roster index would order by code
            // and leave every envelope to sort).
            "SELECT id, code, side, envelope, survey_sha256, open_key, envelope_sha256 FROM responses NOT INDEXED WHERE state = 'accepted' ORDER BY id",
        )?;
        let mut insert = tx.prepare(
            "INSERT INTO records(person_id, pair_id, side, survey_sha256, envelope) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let code: String = row.get(1)?;
            let side: String = row.get(2)?;
            let survey_sha: String = row.get(4)?;
            let person = pseudonyms.get_or_assign(false, &id.to_string(), n_people);
            let pair = pseudonyms.get_or_assign(true, &code, n_pairs);
            let envelope = row.get_ref(3)?.as_blob()?;
            let env = plp_core::envelope::Envelope::from_stored(envelope)?;
            let open_key: Option<Vec<u8>> = row.get(5)?;
            let sha: String = row.get(6)?;
            let plain =
                crate::dataset::open_stored(&env, open_key.as_deref(), &sha, &opener, &wrap)?;
            let plp_core::payload::Payload::Response(p) = plp_core::payload::parse(&plain)? else {
                bail!("stored response {person} does not hold a response payload");
            };
            let record_json = serde_json::to_vec(&serde_json::json!({
                "format": "plp-record/1",
                "person_id": person,
                "pair_id": pair,
                "side": side,
                "answers": p.answers,
            }))?;
            let sealed = key
                .public()
                .seal(&study.config.study_id, &record_json, random::<32>())?;
            insert.execute(params![person, pair, side, survey_sha, sealed.to_json()])?;
        }
    }
    let responses = tx.execute("DELETE FROM responses", [])?;
    let quarantined = tx.execute("DELETE FROM quarantine", [])?;
    let requests = tx.execute("DELETE FROM withdrawal_requests", [])?;
    tx.execute("DELETE FROM pseudonyms", [])?;
    tx.execute("DELETE FROM withdrawn", [])?;
    let at = now();
    set_meta(&tx, "identifiers_destroyed_at", &at)?;
    record(
        &tx,
        IDENTIFIERS_DESTROYED,
        serde_json::json!({ "records_kept": n_people, "envelopes_erased": responses, "quarantine_erased": quarantined, "withdrawal_requests_erased": requests }),
    )?;
    tx.commit()?;
    store.conn.execute_batch("VACUUM")?;
    store.checkpoint()?;
    let (copies, waiting) = remove_copies(&study)?;
    println!(
        "Identifiers destroyed at {at}: {} pseudonymised record(s) kept; {responses} envelope(s), {quarantined} quarantined file(s) and all pair codes and tags erased. Withdrawal by memorable word is no longer possible.",
        n_people
    );
    if copies + waiting > 0 {
        println!(
            "Also deleted: {copies} processed inbox file(s) and {waiting} envelope(s) waiting in the inbox."
        );
    }
    Ok(())
}

/// Copies outside the store hold the same identifiers: the inbox folder's processed files,
/// and envelopes still waiting (a study whose identifiers are destroyed takes none). Deleted
/// after the store's commit; should that fail, running `destroy-identifiers` again finishes
/// it. (processed files, waiting envelopes)
fn remove_copies(study: &crate::study::Study) -> Result<(u64, u64)> {
    let copies = crate::copies::remove_all(study)? as u64;
    let mut waiting = 0;
    let (sid, kid) = (&study.config.study_id, &study.config.key.key_id);
    let db = study.path(crate::serve::inbox::INBOX_FILE);
    if let Some(mut inbox) = crate::serve::inbox::Inbox::open(&db, sid, kid)? {
        waiting += inbox.clear()?;
        inbox.checkpoint();
    }
    let folder = study.path(crate::study::INBOX_DIR);
    if folder.is_dir() {
        for f in super::ingest::collect_files(&[folder], true)? {
            std::fs::remove_file(&f).with_context(|| format!("cannot delete {}", f.display()))?;
            waiting += 1;
        }
    }
    Ok((copies, waiting))
}
