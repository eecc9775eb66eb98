//! The analysis dataset: accepted responses opened in memory, linked into pairs and given
//! their pseudonyms. Export and report both start here, so they always agree.
//!
//! Plaintext lives only in memory here and in the files an evaluator asks for.

use crate::pseudonyms::get_or_assign;
use crate::store::Store;
use anyhow::{bail, Result};
use plp_core::answers::Answers;
use plp_core::envelope::Envelope;
use plp_core::linkage::{link, Class, Group};
use plp_core::payload::{parse, Payload};
use plp_core::seal::KeyPair;
use plp_core::survey::Side;
use serde::Deserialize;

/// One respondent in the dataset.
#[derive(Debug, Clone)]
pub struct Person {
    /// Pseudonymous pair id.
    pub pair_id: String,
    /// Pseudonymous person id.
    pub person_id: String,
    /// Side: A or B inside a complete pair, otherwise as answered.
    pub side: Side,
    /// Linkage class of their code.
    pub pair_status: &'static str,
    /// Their answers.
    pub answers: Answers,
}

/// A complete pair, as indices into [`Dataset::people`].
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    /// Side-A member.
    pub a: usize,
    /// Side-B member.
    pub b: usize,
    /// Both said "either".
    pub arbitrary_order: bool,
}

/// Linkage of one group, for the linkage report (no codes).
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupReport {
    /// Pseudonymous pair id.
    pub pair_id: String,
    /// `complete`, `singleton`, `conflict`.
    pub class: &'static str,
    /// Why.
    pub reason: String,
    /// Members' person ids.
    pub members: Vec<String>,
    /// Code not in the allocated list.
    pub unallocated_code: bool,
    /// Order of the pair is arbitrary.
    pub arbitrary_order: bool,
}

/// Everything export and report need.
pub struct Dataset {
    /// Respondents, ordered by person id.
    pub people: Vec<Person>,
    /// Complete pairs, ordered by pair id.
    pub pairs: Vec<Pair>,
    /// One entry per code group.
    pub groups: Vec<GroupReport>,
}

#[derive(Deserialize)]
struct Record {
    person_id: String,
    pair_id: String,
    side: String,
    answers: Answers,
}

fn side_of(s: &str) -> Side {
    match s {
        "a" => Side::A,
        "b" => Side::B,
        _ => Side::Either,
    }
}

/// Opens every accepted response (or pseudonymised record, after identifiers were
/// destroyed), links and pseudonymises. Pseudonyms are drawn once and stored.
pub fn load(
    store: &mut Store,
    key: &KeyPair,
    survey_sha256: &str,
    allocated: Option<&[String]>,
) -> Result<Dataset> {
    // (link key, person key, side, answers, fixed person id)
    let mut raw: Vec<(String, String, Side, Answers, Option<String>)> = Vec::new();
    let destroyed = store.identifiers_destroyed_at()?.is_some();
    let sql = if destroyed {
        "SELECT person_id, pair_id, side, envelope, survey_sha256 FROM records ORDER BY person_id"
    } else {
        "SELECT id, code, side, envelope, survey_sha256 FROM responses WHERE state = 'accepted' ORDER BY id"
    };
    {
        let mut stmt = store.conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let person_key: String = if destroyed {
                r.get(0)?
            } else {
                r.get::<_, i64>(0)?.to_string()
            };
            let link_key: String = r.get(1)?;
            let side: String = r.get(2)?;
            let env: Vec<u8> = r.get(3)?;
            let sha: String = r.get(4)?;
            if sha != survey_sha256 {
                bail!(
                    "a stored response answers another survey version ({}…); this export covers one version",
                    &sha[..16]
                );
            }
            let plain = key.open(&Envelope::parse(&env)?)?;
            if destroyed {
                let rec: Record = serde_json::from_slice(&plain)?;
                raw.push((
                    rec.pair_id,
                    rec.person_id.clone(),
                    side_of(&rec.side),
                    rec.answers,
                    Some(rec.person_id),
                ));
            } else {
                let Payload::Response(p) = parse(&plain)? else {
                    bail!("stored response {person_key} is not a response payload");
                };
                raw.push((link_key, person_key, side_of(&side), p.answers, None));
            }
        }
    }
    let groups: Vec<Group<usize>> = link(
        raw.iter().enumerate().map(|(i, r)| (r.0.clone(), i, r.2)),
        allocated,
    );
    let sides: Vec<Side> = raw.iter().map(|r| r.2).collect();
    let tx = store.tx()?;
    let n_people = raw.len();
    let n_groups = groups.len();
    let mut people: Vec<Person> = Vec::with_capacity(n_people);
    let mut index = vec![usize::MAX; n_people];
    let mut pairs = Vec::new();
    let mut reports = Vec::new();
    for g in &groups {
        let pair_id = if destroyed {
            g.code.clone()
        } else {
            get_or_assign(&tx, "pair", &g.code, n_groups)?
        };
        let mut add = |i: usize,
                       side: Side,
                       status: &'static str,
                       people: &mut Vec<Person>|
         -> Result<usize> {
            let person_id = match &raw[i].4 {
                Some(p) => p.clone(),
                None => get_or_assign(&tx, "person", &raw[i].1, n_people)?,
            };
            people.push(Person {
                pair_id: pair_id.clone(),
                person_id,
                side,
                pair_status: status,
                answers: std::mem::take(&mut raw[i].3),
            });
            index[i] = people.len() - 1;
            Ok(people.len() - 1)
        };
        let (members, arbitrary) = match &g.class {
            Class::Complete {
                a,
                b,
                arbitrary_order,
            } => {
                let ia = add(*a, Side::A, "complete", &mut people)?;
                let ib = add(*b, Side::B, "complete", &mut people)?;
                pairs.push(Pair {
                    a: ia,
                    b: ib,
                    arbitrary_order: *arbitrary_order,
                });
                (vec![ia, ib], *arbitrary_order)
            }
            Class::Singleton(i) => (vec![add(*i, sides[*i], "singleton", &mut people)?], false),
            Class::Conflict(list) => {
                let mut v = Vec::new();
                for i in list {
                    v.push(add(*i, sides[*i], "conflict", &mut people)?);
                }
                (v, false)
            }
        };
        reports.push(GroupReport {
            pair_id,
            class: g.class.name(),
            reason: g.reason.clone(),
            members: members
                .iter()
                .map(|&i| people[i].person_id.clone())
                .collect(),
            unallocated_code: g.unallocated,
            arbitrary_order: arbitrary,
        });
    }
    tx.commit()?;
    // Stable, meaningless order: by pseudonym.
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.sort_by(|&x, &y| people[x].person_id.cmp(&people[y].person_id));
    let mut new_pos = vec![0; people.len()];
    for (pos, &old) in order.iter().enumerate() {
        new_pos[old] = pos;
    }
    let sorted: Vec<Person> = order.iter().map(|&i| people[i].clone()).collect();
    for p in &mut pairs {
        p.a = new_pos[p.a];
        p.b = new_pos[p.b];
    }
    pairs.sort_by(|x, y| sorted[x.a].pair_id.cmp(&sorted[y.a].pair_id));
    reports.sort_by(|x, y| x.pair_id.cmp(&y.pair_id));
    Ok(Dataset {
        people: sorted,
        pairs,
        groups: reports,
    })
}

impl Dataset {
    /// The respondents in core's export form.
    pub fn respondents(&self) -> Vec<plp_core::export::Respondent<'_>> {
        self.people
            .iter()
            .map(|p| plp_core::export::Respondent {
                pair_id: p.pair_id.clone(),
                person_id: p.person_id.clone(),
                side: p.side,
                pair_status: p.pair_status,
                answers: &p.answers,
            })
            .collect()
    }

    /// The complete pairs in core's export form, given [`Dataset::respondents`].
    pub fn dyads<'a>(
        &self,
        people: &[plp_core::export::Respondent<'a>],
    ) -> Vec<plp_core::export::Dyad<'a>> {
        self.pairs
            .iter()
            .map(|p| plp_core::export::Dyad {
                a: people[p.a].clone(),
                b: people[p.b].clone(),
                arbitrary_order: p.arbitrary_order,
            })
            .collect()
    }

    /// Number of code groups of a class.
    pub fn count(&self, class: &str) -> usize {
        self.groups.iter().filter(|g| g.class == class).count()
    }
}
