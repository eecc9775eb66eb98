//! `plp withdraw`: destroy a respondent's responses by their memorable word.
//!
//! Consent is honoured here, so the rule is: never guess. The word's tag may match responses
//! of more than one person (two people chose the same word; partners sharing a word); then
//! the evaluator must add `--code` or `--role` until exactly one person matches.

use super::{Opened, TagKey};
use crate::args::WithdrawArgs;
use crate::store::{audit, WITHDRAWAL};
use anyhow::{bail, Result};
use plp_core::survey::Side;
use rusqlite::{params, Transaction};
use std::collections::BTreeMap;
use std::path::Path;

/// One person's responses (all their submissions, superseded included).
#[derive(Debug, Clone)]
pub struct Person {
    /// Pair code (stays inside the CLI; never printed).
    pub code: String,
    /// Side as stored.
    pub side: String,
    /// Row ids of their responses.
    pub ids: Vec<i64>,
}

/// Responses by keyed tag. The prefix is what stores of this version index, the full tag
/// what older ones index (see `store::SCHEMA`); the full tag keeps apart two that share
/// the prefix.
const BY_TAG: &str = "SELECT id, code, side, consent_date FROM responses INDEXED BY responses_tag
     WHERE tag_mac = ?1 AND substr(tag_mac, 1, 16) = substr(?1, 1, 16) AND code IS NOT NULL
     ORDER BY id";

/// People whose responses carry this keyed tag, optionally narrowed by code and side.
pub fn find_people(
    tx: &Transaction<'_>,
    tag_mac: &str,
    code: Option<&str>,
    side: Option<&str>,
) -> Result<Vec<Person>> {
    find_consented(tx, tag_mac, code, side, None)
}

/// [`find_people`], counting only responses consented on or before `by` (a date
/// `YYYY-MM-DD`) when given: a response consented after a request's date is a new consent.
pub fn find_consented(
    tx: &Transaction<'_>,
    tag_mac: &str,
    code: Option<&str>,
    side: Option<&str>,
    by: Option<&str>,
) -> Result<Vec<Person>> {
    let mut stmt = tx.prepare_cached(BY_TAG)?;
    let rows = stmt.query_map([tag_mac], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut people: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for row in rows {
        let (id, c, s, consented) = row?;
        if code.is_some_and(|want| want != c)
            || side.is_some_and(|want| want != s)
            || by.is_some_and(|by| consented.as_str() > by)
        {
            continue;
        }
        people.entry((c, s)).or_default().push(id);
    }
    Ok(people
        .into_iter()
        .map(|((code, side), ids)| Person { code, side, ids })
        .collect())
}

/// Deletes responses (secure_delete overwrites them) and returns how many. Their SHA-256 and
/// submission id stay in `withdrawn`, so ingesting the same envelope again cannot undo this.
pub fn destroy(tx: &Transaction<'_>, ids: &[i64]) -> Result<usize> {
    let mut n = 0;
    for id in ids {
        tx.execute(
            "UPDATE responses SET superseded_by = NULL WHERE superseded_by = ?1",
            [id],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO withdrawn(envelope_sha256, submission_id)
             SELECT envelope_sha256, submission_id FROM responses WHERE id = ?1",
            [id],
        )?;
    }
    for id in ids {
        n += tx.execute("DELETE FROM responses WHERE id = ?1", params![id])?;
        tx.execute(
            "DELETE FROM pseudonyms WHERE kind = 'person' AND key = ?1",
            [id.to_string()],
        )?;
    }
    Ok(n)
}

/// What [`settle`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Waiting requests that now matched one person, whose responses were destroyed.
    pub withdrawn: u64,
    /// Waiting requests that now matched more than one person (nothing destroyed).
    pub ambiguous: u64,
    /// Responses destroyed in all (the above, and later-arriving submissions of people
    /// already withdrawn).
    pub destroyed: usize,
    /// The waiting requests settled (withdrawn or ambiguous).
    pub request_ids: Vec<String>,
}

/// The people (code, side) earlier requests withdrew (sealed, or by `plp withdraw`) under
/// this keyed tag, narrowed to the code a new request names (if any).
pub fn withdrawn_people(
    tx: &Transaction<'_>,
    tag_mac: &str,
    code: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let mut stmt = tx.prepare_cached(
        "SELECT DISTINCT code, side FROM withdrawal_requests
         WHERE outcome = 'withdrawn' AND tag_mac = ?1 AND code IS NOT NULL AND side IS NOT NULL
           AND (?2 IS NULL OR code = ?2)
         ORDER BY code, side",
    )?;
    let rows = stmt.query_map(params![tag_mac, code], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What a request that could be a withdrawn person asking again does.
#[derive(Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Theirs: nobody else matches (these responses, if any, are that person's).
    Theirs(Vec<i64>),
    /// Someone else matches too (or it could be any of several people withdrawn before):
    /// this many people; never guess.
    Ambiguous(usize),
}

/// A request whose tag (and code) is that of people withdrawn before (`prior`, not empty),
/// given the people it matches now: the one person withdrawn before and nobody else makes
/// it theirs; anyone else makes it ambiguous. Matching nobody yet, it is theirs for now,
/// and [`settle`] asks again when someone arrives.
pub fn repeat_of(prior: &[(String, String)], people: &[Person]) -> Repeat {
    let is_prior = |p: &Person| prior.iter().any(|(c, s)| (c, s) == (&p.code, &p.side));
    if people.is_empty() || (prior.len() == 1 && people.iter().all(is_prior)) {
        Repeat::Theirs(people.iter().flat_map(|p| p.ids.iter().copied()).collect())
    } else {
        Repeat::Ambiguous(prior.len() + people.iter().filter(|p| !is_prior(p)).count())
    }
}

/// A withdrawal request as kept until the lock (see `store::SCHEMA`).
struct KeptRequest {
    id: i64,
    request_id: String,
    outcome: String,
    mac: String,
    code: Option<String>,
    side: Option<String>,
    date: String,
}

/// Kept requests, as [`KeptRequest`]s, whatever `WHERE` clause follows.
const KEPT: &str =
    "SELECT id, request_id, outcome, tag_mac, code, side, date FROM withdrawal_requests";

fn kept(
    tx: &Transaction<'_>,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<KeptRequest>> {
    Ok(tx
        .prepare(&format!("{KEPT} {filter}"))?
        .query_map(args, |r| {
            Ok(KeptRequest {
                id: r.get(0)?,
                request_id: r.get(1)?,
                outcome: r.get(2)?,
                mac: r.get(3)?,
                code: r.get(4)?,
                side: r.get(5)?,
                date: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// What a kept request did when acted on ([`arrived`], [`settle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acted {
    /// It matches nobody (yet).
    Nothing,
    /// A waiting request matched one person: withdrawn, this many responses destroyed.
    Withdrawn(usize),
    /// A request already acting for a person destroyed this many more of theirs.
    Destroyed(usize),
    /// It matches several people: settled as ambiguous, nothing destroyed.
    Ambiguous,
}

/// One kept request acts on the responses it matches now (consented on or before its
/// date): a waiting one that matches one person withdraws them, several make it
/// ambiguous; a repeat acts for the person withdrawn before only while nobody else matches
/// ([`repeat_of`]); a withdrawn one, narrowed to its person, destroys what more of theirs
/// arrived. `arriving`: the request itself is being ingested (its audit says so).
fn act(tx: &Transaction<'_>, r: &KeptRequest, arriving: bool) -> Result<Acted> {
    let people = find_consented(
        tx,
        &r.mac,
        r.code.as_deref(),
        r.side.as_deref(),
        Some(&r.date),
    )?;
    let destroyed = |ids: &[i64], via: &str| -> Result<usize> {
        let n = destroy(tx, ids)?;
        audit(
            tx,
            WITHDRAWAL,
            serde_json::json!({ "request_id": r.request_id, "via": via, "responses_destroyed": n }),
        )?;
        Ok(n)
    };
    Ok(match (r.outcome.as_str(), people.as_slice()) {
        (_, []) => Acted::Nothing,
        ("waiting", [person]) => {
            tx.execute(
                "UPDATE withdrawal_requests SET outcome = 'withdrawn', code = ?2, side = ?3 WHERE id = ?1",
                params![r.id, person.code, person.side],
            )?;
            let via = if arriving {
                "sealed request"
            } else {
                "sealed request, before the response"
            };
            Acted::Withdrawn(destroyed(&person.ids, via)?)
        }
        ("waiting", many) => {
            ambiguous(tx, r.id, &r.request_id, many.len())?;
            Acted::Ambiguous
        }
        ("repeated", people) => {
            let prior = withdrawn_people(tx, &r.mac, r.code.as_deref())?;
            match repeat_of(&prior, people) {
                Repeat::Theirs(ids) => {
                    let via = if arriving {
                        "sealed request, repeated"
                    } else {
                        "sealed request, repeated: a submission that arrived after it"
                    };
                    Acted::Destroyed(destroyed(&ids, via)?)
                }
                Repeat::Ambiguous(n) => {
                    ambiguous(tx, r.id, &r.request_id, n)?;
                    Acted::Ambiguous
                }
            }
        }
        // Withdrawn: narrowed to the person's code and side, so one person at most.
        (_, people) => {
            let ids: Vec<i64> = people.iter().flat_map(|p| p.ids.iter().copied()).collect();
            Acted::Destroyed(destroyed(
                &ids,
                "sealed request, a submission that arrived after it",
            )?)
        }
    })
}

/// A request just recorded (row `id`, `waiting` or `repeated`) acts at once, as [`settle`]
/// will act on it again until the lock.
pub fn arrived(tx: &Transaction<'_>, id: i64) -> Result<Acted> {
    match kept(tx, "WHERE id = ?1", [id])?.first() {
        Some(r) => act(tx, r, true),
        None => Ok(Acted::Nothing),
    }
}

/// Sealed withdrawal requests keep acting until the lock on responses that arrive after
/// them: a request ingested before the response it withdraws (files ingested in name
/// order, a request sent by post before the response was ingested) still withdraws it, and
/// an older submission of a withdrawn person that turns up later is destroyed too. Only
/// responses consented on or before the request's date count: one consented later is a
/// new consent. Each request acts as it did on arrival ([`act`]). Run at the end of every
/// ingest before the lock, and by the lock itself.
pub fn settle(tx: &Transaction<'_>) -> Result<Settled> {
    let requests = kept(
        tx,
        "WHERE tag_mac IS NOT NULL AND date IS NOT NULL AND outcome IN ('waiting', 'withdrawn', 'repeated') ORDER BY id",
        [],
    )?;
    let mut done = Settled::default();
    for r in requests {
        match act(tx, &r, false)? {
            Acted::Nothing => {}
            Acted::Withdrawn(n) => {
                done.withdrawn += 1;
                done.destroyed += n;
                done.request_ids.push(r.request_id);
            }
            Acted::Destroyed(n) => done.destroyed += n,
            Acted::Ambiguous => {
                done.ambiguous += 1;
                done.request_ids.push(r.request_id);
            }
        }
    }
    Ok(done)
}

/// A kept request found to match several people: settled as ambiguous, its tag erased.
fn ambiguous(tx: &Transaction<'_>, id: i64, request_id: &str, people: usize) -> Result<()> {
    tx.execute(
        "UPDATE withdrawal_requests SET outcome = 'ambiguous', tag_mac = NULL, code = NULL, side = NULL, date = NULL WHERE id = ?1",
        [id],
    )?;
    audit(
        tx,
        "withdrawal_ambiguous",
        serde_json::json!({ "request_id": request_id, "people_matched": people }),
    )?;
    Ok(())
}

/// `plp withdraw --word W [--code C] [--role R] [--dry-run]`
pub fn run(dir: Option<&Path>, a: &WithdrawArgs) -> Result<()> {
    let Opened { study, mut store } = super::open(dir)?;
    if store.identifiers_destroyed_at()?.is_some() {
        bail!(
            "identifiers were destroyed after publication: memorable words can no longer be matched, so withdrawal by word is impossible"
        );
    }
    let word = match &a.word {
        Some(w) => zeroize::Zeroizing::new(w.clone()),
        None => zeroize::Zeroizing::new(rpassword::prompt_password("Memorable word: ")?),
    };
    let tag = plp_core::withdrawal::tag(&study.config.study_id, &word)?;
    if let Some(locked) = store.locked_at()? {
        if a.dry_run {
            bail!(
                "analysis began at {locked} (plp lock), so withdrawal is no longer possible. Dry run: nothing was recorded"
            );
        }
        let tx = store.tx()?;
        audit(
            &tx,
            "late_withdrawal_request",
            serde_json::json!({ "via": "plp withdraw" }),
        )?;
        tx.commit()?;
        bail!(
            "analysis began at {locked} (plp lock), so withdrawal is no longer possible, as the information sheet told respondents. The late request was recorded in the audit log"
        );
    }
    let code = match &a.code {
        Some(c) => Some(plp_core::code::normalise_and_check(
            c,
            &plp_core::code::CodePattern::new(&study.survey.survey.code_pattern)?,
        )?),
        None => None,
    };
    let side = match &a.role {
        Some(r) => Some(role_side(&study.survey, r)?),
        None => None,
    };
    let key = super::unlock(&study, None)?;
    let mac = TagKey::new(&key).mac(&tag);
    let tx = store.tx()?;
    let people = find_people(&tx, &mac, code.as_deref(), side)?;
    match people.as_slice() {
        [] => {
            drop(tx);
            println!(
                "No responses match this memorable word{}. Nothing was changed.",
                if code.is_some() || side.is_some() {
                    " with that code/role"
                } else {
                    ""
                }
            );
            let waiting = super::admin::waiting_in_inbox(&study)?;
            if waiting > 0 {
                eprintln!(
                    "note: {waiting} envelope(s) wait in the study's inbox and are not searched until ingested: run `plp ingest`, then withdraw again"
                );
            }
            Ok(())
        }
        [p] => {
            if a.dry_run {
                println!(
                    "Dry run: would destroy {} response(s) of one person (side {}). Nothing was changed.",
                    p.ids.len(),
                    p.side
                );
                return Ok(());
            }
            let n = destroy(&tx, &p.ids)?;
            // Kept as a request like a sealed one (until the lock), so that a submission of
            // theirs arriving later is destroyed too, and a sealed request they send is
            // known as theirs (`settle`, `withdrawn_before`).
            let at = crate::study::now();
            let id = hex::encode(crate::study::random::<16>());
            tx.execute(
                "INSERT INTO withdrawal_requests(envelope_sha256, request_id, received_at, outcome, tag_mac, code, side, date)
                 VALUES (?1, ?2, ?3, 'withdrawn', ?4, ?5, ?6, ?7)",
                params![format!("plp withdraw {id}"), id, at, mac, p.code, p.side, &at[..10]],
            )?;
            audit(
                &tx,
                WITHDRAWAL,
                serde_json::json!({ "via": "plp withdraw", "responses_destroyed": n, "narrowed_by_code": code.is_some(), "narrowed_by_role": side.is_some() }),
            )?;
            tx.commit()?;
            println!("Destroyed {n} response(s) of one person (side {}).", p.side);
            // Before the checkpoint: should it fail, the copies are gone all the same.
            crate::copies::after_withdrawal(&study, &store.conn)?;
            store.checkpoint()?;
            Ok(())
        }
        many => {
            let same_code = many.iter().all(|p| p.code == many[0].code);
            let hint = if same_code {
                "they share a pair code (partners with the same word): add --role"
            } else {
                "add --code with the respondent's pair code (and --role if still ambiguous)"
            };
            bail!(
                "this memorable word matches {} different people; refusing to guess. To settle it, {hint}. Nothing was changed",
                many.len()
            )
        }
    }
}

/// Maps `--role` (an option id of the pairing question, or a, b, either) to the stored side.
fn role_side(survey: &plp_core::Survey, role: &str) -> Result<&'static str> {
    let side = match survey.side_for(role) {
        Some(s) => s,
        None => match role {
            "a" | "A" => Side::A,
            "b" | "B" => Side::B,
            "either" => Side::Either,
            _ => bail!(
                "unknown role `{role}`: use one of {}",
                survey
                    .pairing
                    .sides
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    Ok(super::ingest::side_name(side))
}

#[cfg(test)]
mod tests {
    use super::{find_people, BY_TAG};
    use crate::store::{plan, store_with, tag_search};

    /// The tag is found by a search of `responses_tag` whichever form it has: the prefix
    /// that stores of this version index, or the full tag of older ones (the query plan
    /// says which: `INDEXED BY` alone would also allow a scan of the whole index). Two
    /// tags sharing their first 16 digits stay apart.
    #[test]
    fn people_are_found_by_tag_in_either_form_of_the_store() {
        for older in [false, true] {
            let dir = tempfile::tempdir().expect("temporary folder");
            let (tag, twin) = ("1".repeat(64), format!("{}2", "1".repeat(63)));
            let mut store = store_with(
                dir.path(),
                older,
                &format!(
                    "('e1', 't', 'd', 'A', 'a', '{tag}', 'accepted'),
                     ('e2', 't', 'd', 'B', 'b', '{twin}', 'accepted'),
                     ('e3', 't', 'd', 'A', 'a', '{tag}', 'superseded')"
                ),
            );
            let tx = store.tx().expect("transaction");
            let searched = tag_search(older);
            assert_eq!(plan(&tx, BY_TAG), [searched]);
            let people = find_people(&tx, &tag, None, None).expect("found");
            assert_eq!(people.len(), 1, "older form: {older}");
            assert_eq!(
                (people[0].code.as_str(), people[0].side.as_str()),
                ("A", "a")
            );
            assert_eq!(people[0].ids, [1, 3]);
            let twin_people = find_people(&tx, &twin, None, None).expect("found");
            assert_eq!(twin_people[0].ids, [2]);
            assert!(find_people(&tx, &"3".repeat(64), None, None)
                .expect("none")
                .is_empty());
        }
    }
}
