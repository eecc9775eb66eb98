//! `plp export --out DIR [--k N] [--suppress] [--preview]`: the pseudonymised dataset.
//!
//! Files are written to a temporary folder beside DIR and renamed into place, so a failed
//! export never leaves a half-written dataset. Each file's SHA-256 goes to the audit log.
//!
//! The tables are streamed, so a million respondents fit in memory: the roster (who, linked
//! and pseudonymised) comes from the store's columns; answers are opened once, in person
//! order, on every core; `free_text.csv` is written as they arrive, and each respondent's
//! answer cells are kept as one short line (`1,3,,0,1,...`) from which `individual.csv`,
//! `dyad.csv` and `pairwise.csv` are written. Column layouts, quoting and disclosure figures
//! are core's ([`plp_core::export`], [`plp_core::disclosure`]); the files are byte for byte
//! what building the whole tables in memory gives.

use super::Opened;
use crate::args::ExportArgs;
use crate::dataset::{self, Member, Roster};
use crate::direct::Direct;
use crate::spill::Spill;
use crate::store::audit;
use anyhow::{bail, Context, Result};
use plp_core::codebook;
use plp_core::disclosure::{self, Assessment, PairRisk};
use plp_core::export::{self, Table, Who};
use plp_core::seal::KeyPair;
use plp_core::survey::Survey;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// `plp export`
pub fn run(dir: Option<&Path>, a: &ExportArgs) -> Result<()> {
    let Opened { study, mut store } = super::open(dir)?;
    let locked = store.locked_at()?.is_some();
    if !locked && !a.preview {
        bail!("the study is not locked: run `plp lock` when analysis begins, or add --preview for a marked preview export");
    }
    if a.k < 2 {
        bail!("--k must be at least 2");
    }
    // Derived while the roster is read; waited for before the store is written to.
    let unlocking = super::unlock_behind(&study)?;
    let preview = !locked;
    let spec = Spec {
        survey: &study.survey,
        k: a.k,
        suppress: a.suppress,
        preview,
        study_id: &study.config.study_id,
        title: &study.config.title,
    };
    let readers = dataset::Readers::of(&store)?;
    let (roster, files) = write_dir(&a.out, |tmp| {
        let tables = Tables::new(&spec);
        // Answers are opened while the pseudonyms drawn for the roster are stored.
        let (roster, answered) = dataset::roster_with(
            &mut store,
            &study.survey_sha256(),
            study.config.allocated_codes.as_deref(),
            || unlocking.key(),
            |roster, stop, key| {
                open_answers(
                    tmp,
                    &readers,
                    &key,
                    &roster.people,
                    stop,
                    &tables,
                    spec.survey,
                )
            },
        )?;
        let files = write_files(tmp, &roster, tables, answered, &spec)?;
        Ok((roster, files))
    })?;
    let tx = store.tx()?;
    audit(
        &tx,
        if preview { "export_preview" } else { "export" },
        serde_json::json!({
            "files": files.iter().map(|(n, sha)| serde_json::json!({ "name": n, "sha256": sha })).collect::<Vec<_>>(),
            "respondents": roster.people.len(),
            "complete_pairs": roster.pairs.len(),
            "suppressed": a.suppress,
        }),
    )?;
    tx.commit()?;
    println!(
        "{}Exported {} respondent(s), {} complete pair(s) to {}",
        if preview {
            "PREVIEW (not locked): "
        } else {
            ""
        },
        roster.people.len(),
        roster.pairs.len(),
        a.out.display()
    );
    Ok(())
}

/// What an export is asked for.
struct Spec<'a> {
    survey: &'a Survey,
    k: usize,
    suppress: bool,
    preview: bool,
    study_id: &'a str,
    title: &'a str,
}

impl Spec<'_> {
    /// What every file name of the export starts with.
    fn file_prefix(&self) -> &'static str {
        if self.preview {
            "PREVIEW_"
        } else {
            ""
        }
    }
}

/// Disclosure figures of the export (`disclosure_report.json`).
#[derive(Debug, Serialize)]
struct DisclosureReport {
    preview: bool,
    quasi_identifiers: Vec<String>,
    k: usize,
    suppressed: bool,
    individual: Assessment,
    dyad: Assessment,
    pairwise: Assessment,
    pair_risk: PairRisk,
    blanked: Vec<Blanked>,
}

#[derive(Debug, Serialize)]
struct Blanked {
    file: String,
    records: usize,
    columns: Vec<String>,
}

/// `linkage_report.json`, members in the order `serde_json::Value` writes them (sorted).
#[derive(Serialize)]
struct LinkageReport<'a> {
    complete_pairs: usize,
    conflicts: usize,
    groups: Groups<'a>,
    preview: bool,
    singletons: usize,
    unallocated_codes: usize,
}

struct Groups<'a>(&'a [dataset::GroupReport]);

impl Serialize for Groups<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Sorted<'a> {
            arbitrary_order: bool,
            class: &'a str,
            members: &'a [String],
            pair_id: &'a str,
            reason: &'a str,
            unallocated_code: bool,
        }
        s.collect_seq(self.0.iter().map(|g| Sorted {
            arbitrary_order: g.arbitrary_order,
            class: g.class,
            members: &g.members,
            pair_id: &g.pair_id,
            reason: &g.reason,
            unallocated_code: g.unallocated_code,
        }))
    }
}

fn qi_columns(t: &Table, qis: &[String], suffixes: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    for s in suffixes {
        for q in qis {
            let name = if s.is_empty() {
                q.clone()
            } else {
                format!("{q}_{s}")
            };
            if let Some(i) = t.column(&name) {
                out.push(i);
            }
        }
    }
    out
}

/// A file being written into the export folder, hashed as it goes (on a thread of its
/// own, beside the one that writes it: [`Direct::create_behind`]).
struct Out {
    name: String,
    file: Direct,
}

/// Bytes an export file gathers before they go to the disk ([`Direct`]): a few files are
/// written at once.
const OUT_CHUNK: usize = 2 << 20;

impl Out {
    fn create(dir: &Path, name: String) -> Result<Out> {
        let path = dir.join(&name);
        let file = Direct::create_behind(&path, OUT_CHUNK)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Out { name, file })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes)?;
        Ok(())
    }

    /// Flushes and syncs; the file's name and SHA-256.
    fn finish(self) -> Result<(String, String)> {
        let (_, sha256) = self.file.into_synced()?;
        let sha256 = sha256.context("an export file is hashed as it is written")?;
        Ok((self.name, hex::encode(sha256)))
    }
}

impl std::io::Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Appends one CSV field as the csv crate writes it (quoted when it holds `,` `"` CR or LF).
fn csv_field(out: &mut Vec<u8>, s: &str) {
    // Looked for with memchr's vector search rather than a byte at a time: free text is a
    // gigabyte at a million respondents, and the byte loop was 90% of this function's
    // samples (6.7% of an export's CPU).
    let b = s.as_bytes();
    if memchr::memchr3(b',', b'"', b'\n', b).is_some() || memchr::memchr(b'\r', b).is_some() {
        // Copied in runs between quotes, not byte by byte: free text is most of an
        // export's bytes (a gigabyte at a million respondents), and most of it is quoted.
        out.reserve(s.len() + 2);
        out.push(b'"');
        let mut runs = s.split('"');
        out.extend_from_slice(runs.next().unwrap_or_default().as_bytes());
        for run in runs {
            out.extend_from_slice(b"\"\"");
            out.extend_from_slice(run.as_bytes());
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn csv_header(t: &Table) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in t.fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(&mut out, &f.name);
    }
    out.push(b'\n');
    out
}

/// Writes a row: `prefix` fields, then each respondent's joined cells; the columns in
/// `blank` (positions in the row) left empty.
fn write_row(out: &mut Vec<u8>, prefix: &[&str], cells: &[&str], n_cells: usize, blank: &[usize]) {
    for (i, f) in prefix.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if !blank.contains(&i) {
            csv_field(out, f);
        }
    }
    if n_cells > 0 {
        let mut col = prefix.len();
        for c in cells {
            if blank.iter().all(|&b| b < col || b >= col + n_cells) {
                out.push(b',');
                out.extend_from_slice(c.as_bytes());
            } else {
                for (j, v) in c.split(',').enumerate() {
                    out.push(b',');
                    if !blank.contains(&(col + j)) {
                        out.extend_from_slice(v.as_bytes());
                    }
                }
            }
            col += n_cells;
        }
    }
    out.push(b'\n');
}

/// Cell `i` of a joined line of cells.
fn cell(cells: &str, i: usize) -> &str {
    cells.split(',').nth(i).unwrap_or("")
}

/// A table's quasi-identifier tuple of each row, as a class number: rows are equal on the
/// quasi-identifiers exactly when their numbers are.
struct Classes<'a> {
    ids: HashMap<Vec<&'a str>, usize>,
}

impl<'a> Classes<'a> {
    fn new() -> Self {
        Classes {
            ids: HashMap::new(),
        }
    }

    fn id(&mut self, tuple: Vec<&'a str>) -> usize {
        let n = self.ids.len();
        *self.ids.entry(tuple).or_insert(n)
    }
}

/// The class number of each row's quasi-identifier tuple (columns `cols`), for rows given
/// as prefix fields and the respondents whose cells follow.
fn class_ids<'a, const P: usize, const W: usize>(
    rows: impl Iterator<Item = ([&'a str; P], [usize; W])>,
    cols: &[usize],
    cells: &'a [Box<str>],
    n_cells: usize,
) -> Vec<usize> {
    let mut classes = Classes::new();
    rows.map(|(pre, who)| {
        let tuple = cols
            .iter()
            .map(|&c| match at(c, P, n_cells) {
                At::Prefix(k) => pre[k],
                At::Cell(m, j) => cell(&cells[who[m]], j),
            })
            .collect();
        classes.id(tuple)
    })
    .collect()
}

/// Where a column of a row comes from: a prefix field, or an answer cell of the row's first
/// or second respondent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum At {
    Prefix(usize),
    Cell(usize, usize),
}

fn at(col: usize, prefix: usize, n_cells: usize) -> At {
    if col < prefix {
        At::Prefix(col)
    } else {
        let c = col - prefix;
        At::Cell(c / n_cells.max(1), c % n_cells.max(1))
    }
}

/// The positions, among a respondent's answer cells, of the quasi-identifiers, when every
/// quasi-identifier column of the three tables is an answer cell and the pair tables repeat
/// the individual table's columns for each member, in the same order. Then a row's tuple is
/// its members' tuples side by side, and classes can be counted from one number per
/// respondent ([`PersonClasses`]) instead of from every row's cells. `None` otherwise (the
/// general way, [`class_ids`], is used).
fn person_qi_cells(
    ind: &[usize],
    dyad: &[usize],
    pw: &[usize],
    n_cells: usize,
) -> Option<Vec<usize>> {
    let cells = ind
        .iter()
        .map(|&c| match at(c, 4, n_cells) {
            At::Cell(0, j) => Some(j),
            _ => None,
        })
        .collect::<Option<Vec<usize>>>()?;
    let side_by_side = |cols: &[usize], prefix: usize| {
        let expected = (0..2).flat_map(|m| cells.iter().map(move |&j| At::Cell(m, j)));
        cols.len() == 2 * cells.len()
            && cols
                .iter()
                .zip(expected)
                .all(|(&c, e)| at(c, prefix, n_cells) == e)
    };
    (side_by_side(dyad, 4) && side_by_side(pw, 5)).then_some(cells)
}

/// Each respondent's quasi-identifier tuple as a class number (see [`person_qi_cells`]).
struct PersonClasses {
    ids: HashMap<Box<str>, u32>,
    of: Vec<u32>,
}

impl PersonClasses {
    /// The tuple of a respondent's joined cells, as one string (cells never hold commas).
    ///
    /// One pass over the cells up to the last position when the positions rise (the
    /// built-in survey's do), without a list of every cell: this ran for every respondent.
    fn key(cells: &str, positions: &[usize]) -> Box<str> {
        let mut out = String::with_capacity(positions.len() * 3);
        let mut rest = cells.split(',');
        // Number of the cell `rest` gives next.
        let mut next = 0usize;
        for (n, &j) in positions.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            let picked = if j >= next {
                let c = rest.nth(j - next).unwrap_or("");
                next = j.saturating_add(1);
                c
            } else {
                cell(cells, j)
            };
            out.push_str(picked);
        }
        out.into_boxed_str()
    }

    /// Gives respondent `at` the class of `key`.
    fn set(&mut self, at: usize, key: Box<str>) {
        let n = self.ids.len() as u32;
        self.of[at] = *self.ids.entry(key).or_insert(n);
    }

    /// Class numbers of rows holding the respondents `rows` (one or two each).
    fn rows<const W: usize>(&self, rows: impl Iterator<Item = [usize; W]>) -> Vec<usize> {
        let mut classes: HashMap<[u32; W], usize> = HashMap::new();
        rows.map(|who| {
            let n = classes.len();
            *classes.entry(who.map(|w| self.of[w])).or_insert(n)
        })
        .collect()
    }
}

/// Writes table `t` into `tmp`: its header, then each row (prefix fields and the respondents
/// whose cells follow) as `line` lays it out, given the size of the row's class. The file's
/// name and SHA-256.
fn write_table<'a, const P: usize, const W: usize>(
    tmp: &Path,
    t: &Table,
    rows: impl Iterator<Item = ([&'a str; P], [usize; W])>,
    sizes: &[usize],
    line: impl Fn(&mut Vec<u8>, &[&str], &[usize], usize),
) -> Result<(String, String)> {
    let mut o = Out::create(tmp, format!("{}.csv", t.name))?;
    o.write(&csv_header(t))?;
    let mut buf = Vec::with_capacity(4096);
    for ((pre, who), &size) in rows.zip(sizes) {
        line(&mut buf, &pre, &who, size);
        o.write(&buf)?;
    }
    o.finish()
}

/// The export's tables and where their quasi-identifiers are.
struct Tables {
    individual: Table,
    dyad: Table,
    pairwise: Table,
    free_text: Table,
    /// Answer cells of one respondent.
    n_cells: usize,
    ind_cols: Vec<usize>,
    dyad_cols: Vec<usize>,
    pw_cols: Vec<usize>,
}

impl Tables {
    fn new(spec: &Spec<'_>) -> Tables {
        let survey = spec.survey;
        let prefix = spec.file_prefix();
        let mut individual = export::individual(survey, &[]);
        let mut dyad = export::dyad(survey, &[]);
        let mut pairwise = export::pairwise(survey, &[]);
        let mut free_text = export::free_text(survey, &[]);
        let qis = &survey.survey.quasi_identifiers;
        let ind_cols = qi_columns(&individual, qis, &[""]);
        let dyad_cols = qi_columns(&dyad, qis, &["A", "B"]);
        let pw_cols = qi_columns(&pairwise, qis, &["A", "P"]);
        for t in [&mut individual, &mut dyad, &mut pairwise, &mut free_text] {
            t.name = format!("{prefix}{}", t.name);
        }
        Tables {
            individual,
            dyad,
            pairwise,
            free_text,
            n_cells: export::answer_fields(survey).len(),
            ind_cols,
            dyad_cols,
            pw_cols,
        }
    }
}

/// The answers, opened, as the tables need them.
struct Answered {
    /// Each respondent's answer cells, joined, in person order.
    cells: Vec<Box<str>>,
    /// Each respondent's quasi-identifier class, when [`person_qi_cells`] applies.
    classes: Option<PersonClasses>,
    /// The free-text file, its header written, and its rows still in their buckets (see
    /// [`write_files`]).
    free_text: (Out, Spill),
}

/// Opens every respondent's answers, once, in the store's order: cells kept in person
/// order (and, when it can be, each respondent's quasi-identifier class), free text
/// written in person order through a [`Spill`].
fn open_answers(
    tmp: &Path,
    readers: &dataset::Readers,
    key: &KeyPair,
    people: &[Member],
    stop: &AtomicBool,
    tables: &Tables,
    survey: &Survey,
) -> Result<Answered> {
    let n_cells = tables.n_cells;
    let qi_cells = person_qi_cells(
        &tables.ind_cols,
        &tables.dyad_cols,
        &tables.pw_cols,
        n_cells,
    );
    // Class numbers are given in the order respondents are opened: only which respondents
    // share one counts (`PersonClasses::rows`).
    let mut classes = qi_cells.as_ref().map(|_| PersonClasses {
        ids: HashMap::new(),
        of: vec![0; people.len()],
    });
    let mut spill = Spill::new(&tmp.join(".free-text"), people.len())?;
    let mut cells: Vec<Box<str>> = vec![Box::default(); people.len()];
    // Respondents handed back: every one, or the export fails rather than write blanks.
    let mut opened = 0usize;
    dataset::open_payloads(
        readers,
        key,
        people,
        stop,
        |positions: &[usize], plains| {
            let mut text = Vec::new();
            let mut ends = Vec::with_capacity(positions.len());
            let mut out = Vec::with_capacity(positions.len());
            let mut keys = Vec::new();
            for (&p, plain) in positions.iter().zip(&plains) {
                let m = &people[p];
                let answers = dataset::answers_of(m, plain)?;
                let who = Who {
                    pair_id: &m.pair_id,
                    person_id: &m.person_id,
                    side: m.side,
                };
                let slots = survey.lay_out(&answers);
                let joined = export::cells_and_free_text(survey, who, &slots, |fields| {
                    write_row(&mut text, &fields, &[], 0, &[]);
                })
                .into_boxed_str();
                ends.push(text.len());
                if let Some(positions) = &qi_cells {
                    keys.push(PersonClasses::key(&joined, positions));
                }
                out.push(joined);
            }
            Ok((out, text, ends, keys))
        },
        |positions, (c, text, ends, keys)| {
            opened += positions.len();
            let mut from = 0;
            for ((&p, c), end) in positions.iter().zip(c).zip(ends) {
                cells[p] = c;
                spill.push(p, &text[from..end])?;
                from = end;
            }
            if let Some(classes) = &mut classes {
                for (&p, k) in positions.iter().zip(keys) {
                    classes.set(p, k);
                }
            }
            Ok(())
        },
    )?;
    if opened != people.len() {
        bail!(
            "{} of {} respondents were opened; nothing was exported",
            opened,
            people.len()
        );
    }
    let mut ft = Out::create(tmp, format!("{}.csv", tables.free_text.name))?;
    ft.write(&csv_header(&tables.free_text))?;
    Ok(Answered {
        cells,
        classes,
        free_text: (ft, spill),
    })
}

/// Writes the tables and the other files into `tmp`; every file's name and SHA-256 in the
/// export's order.
///
/// The free-text file's rows are written from their buckets and the file synced on a thread
/// of its own meanwhile: it is the largest (~1 GB at a million respondents); written first,
/// its buckets' reading held the export up for ~4 s with a core idle, and its sync held up
/// everything after it.
fn write_files(
    tmp: &Path,
    roster: &Roster,
    tables: Tables,
    answered: Answered,
    spec: &Spec<'_>,
) -> Result<Vec<(String, String)>> {
    let Answered {
        cells,
        classes,
        free_text: (mut ft, spill),
    } = answered;
    // Both are waited for before either's error is returned.
    let (others, free_text) = std::thread::scope(|scope| {
        let synced = scope.spawn(move || {
            spill.drain(|rows| ft.write(rows))?;
            ft.finish()
        });
        let others = write_others(tmp, roster, tables, cells, classes, spec);
        (others, dataset::joined(synced))
    });
    let (mut files, free_text) = (others?, free_text?);
    // After the three tables, as before.
    files.insert(3, free_text);
    Ok(files)
}

/// [`write_files`] but the free-text file.
fn write_others(
    tmp: &Path,
    roster: &Roster,
    tables: Tables,
    cells: Vec<Box<str>>,
    classes: Option<PersonClasses>,
    spec: &Spec<'_>,
) -> Result<Vec<(String, String)>> {
    let survey = spec.survey;
    let prefix = spec.file_prefix();
    let Tables {
        individual,
        dyad,
        pairwise,
        free_text,
        n_cells,
        ind_cols,
        dyad_cols,
        pw_cols,
    } = tables;
    let qis = &survey.survey.quasi_identifiers;
    let people = &roster.people;

    // Rows of each table, as prefix fields and the respondents whose cells follow.
    let ind_row = |i: usize| -> ([&str; 4], [usize; 1]) {
        let p = &people[i];
        let pre = export::individual_prefix(&p.pair_id, &p.person_id, p.side, p.pair_status);
        (pre, [i])
    };
    let dyad_row = |d: &dataset::Pair| -> ([&str; 4], [usize; 2]) {
        let (a, b) = (&people[d.a], &people[d.b]);
        let pre = export::dyad_prefix(&a.pair_id, d.arbitrary_order, &a.person_id, &b.person_id);
        (pre, [d.a, d.b])
    };
    let pw_rows = |d: &dataset::Pair| -> [([&str; 5], [usize; 2]); 2] {
        let row = |ix: usize, iy: usize, actor_is_a: bool| {
            let (x, y) = (&people[ix], &people[iy]);
            let pre = export::pairwise_prefix(
                &x.pair_id,
                &x.person_id,
                &y.person_id,
                actor_is_a,
                d.arbitrary_order,
            );
            (pre, [ix, iy])
        };
        [row(d.a, d.b, true), row(d.b, d.a, false)]
    };

    // Quasi-identifier classes, measured before suppression (they are why it is needed).
    let (ind_ids, dyad_ids, pw_ids) = if let Some(classes) = &classes {
        let pw = |d: &dataset::Pair| [[d.a, d.b], [d.b, d.a]];
        (
            classes.rows((0..people.len()).map(|i| [i])),
            classes.rows(roster.pairs.iter().map(|d| [d.a, d.b])),
            classes.rows(roster.pairs.iter().flat_map(pw)),
        )
    } else {
        (
            class_ids((0..people.len()).map(ind_row), &ind_cols, &cells, n_cells),
            class_ids(
                roster.pairs.iter().map(dyad_row),
                &dyad_cols,
                &cells,
                n_cells,
            ),
            class_ids(
                roster.pairs.iter().flat_map(pw_rows),
                &pw_cols,
                &cells,
                n_cells,
            ),
        )
    };
    drop(classes);
    let (ind_assessment, ind_sizes) = disclosure::assess_classes(&ind_ids);
    let (dyad_assessment, dyad_sizes) = disclosure::assess_classes(&dyad_ids);
    let (pw_assessment, pw_sizes) = disclosure::assess_classes(&pw_ids);
    let risk = |i: usize| 1.0 / ind_sizes[i] as f64;
    let pair_risk = disclosure::pair_risks(
        &roster
            .pairs
            .iter()
            .map(|d| (risk(d.a), risk(d.b)))
            .collect::<Vec<_>>(),
    );
    let blanked = |t: &Table, cols: &[usize], sizes: &[usize]| Blanked {
        file: format!("{}.csv", t.name),
        records: sizes.iter().filter(|&&n| n < spec.k).count(),
        columns: cols.iter().map(|&c| t.fields[c].name.clone()).collect(),
    };
    let report = DisclosureReport {
        preview: spec.preview,
        quasi_identifiers: qis.clone(),
        k: spec.k,
        suppressed: spec.suppress,
        individual: ind_assessment,
        dyad: dyad_assessment,
        pairwise: pw_assessment,
        pair_risk,
        blanked: if spec.suppress {
            vec![
                blanked(&individual, &ind_cols, &ind_sizes),
                blanked(&dyad, &dyad_cols, &dyad_sizes),
                blanked(&pairwise, &pw_cols, &pw_sizes),
            ]
        } else {
            vec![]
        },
    };
    // Quasi-identifiers of rows in classes smaller than k are blanked when asked.
    let blank_of = |cols: &[usize], size: usize| -> Vec<usize> {
        if spec.suppress && size < spec.k {
            cols.to_vec()
        } else {
            Vec::new()
        }
    };

    // One CSV line: the row's own fields, then the answer cells of the respondents it holds.
    let row = |line: &mut Vec<u8>, pre: &[&str], who: &[usize], cols: &[usize], size: usize| {
        line.clear();
        let c: Vec<&str> = who.iter().map(|&w| &*cells[w]).collect();
        write_row(line, pre, &c, n_cells, &blank_of(cols, size));
    };

    // A class size for every row (the loops below zip them).
    assert_eq!(ind_sizes.len(), people.len());
    assert_eq!(dyad_sizes.len(), roster.pairs.len());
    assert_eq!(pw_sizes.len(), 2 * roster.pairs.len());
    // The three tables and the linkage report are independent: written side by side.
    let (ind_file, dyad_file, pw_file, linkage_file) = std::thread::scope(|scope| {
        let ind = scope.spawn(|| {
            let rows = (0..people.len()).map(ind_row);
            write_table(tmp, &individual, rows, &ind_sizes, |l, pre, who, size| {
                row(l, pre, who, &ind_cols, size)
            })
        });
        let dy = scope.spawn(|| {
            let rows = roster.pairs.iter().map(dyad_row);
            write_table(tmp, &dyad, rows, &dyad_sizes, |l, pre, who, size| {
                row(l, pre, who, &dyad_cols, size)
            })
        });
        let pw = scope.spawn(|| {
            let rows = roster.pairs.iter().flat_map(pw_rows);
            write_table(tmp, &pairwise, rows, &pw_sizes, |l, pre, who, size| {
                row(l, pre, who, &pw_cols, size)
            })
        });
        let linkage = (|| {
            let mut o = Out::create(tmp, format!("{prefix}linkage_report.json"))?;
            serde_json::to_writer_pretty(
                &mut o,
                &LinkageReport {
                    complete_pairs: roster.count("complete"),
                    conflicts: roster.count("conflict"),
                    groups: Groups(&roster.groups),
                    preview: spec.preview,
                    singletons: roster.count("singleton"),
                    unallocated_codes: roster.groups.iter().filter(|g| g.unallocated_code).count(),
                },
            )?;
            o.finish()
        })();
        (
            dataset::joined(ind),
            dataset::joined(dy),
            dataset::joined(pw),
            linkage,
        )
    });
    let mut files = vec![ind_file?, dyad_file?, pw_file?];
    drop(cells);

    let tables = [&individual, &dyad, &pairwise, &free_text];
    let package = codebook::datapackage(
        &format!("{}-export", spec.study_id),
        spec.title,
        &tables,
        spec.preview,
    );
    let small: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{prefix}datapackage.json"),
            serde_json::to_vec_pretty(&package)?,
        ),
        (
            format!("{prefix}codebook.csv"),
            codebook::codebook_csv(&tables),
        ),
        (
            format!("{prefix}setup.R"),
            codebook::setup_r(&tables).into_bytes(),
        ),
        (
            format!("{prefix}setup.sps"),
            codebook::setup_sps(&tables).into_bytes(),
        ),
        (
            format!("{prefix}setup.do"),
            codebook::setup_do(&tables).into_bytes(),
        ),
    ];
    for (name, bytes) in small {
        let mut o = Out::create(tmp, name)?;
        o.write(&bytes)?;
        files.push(o.finish()?);
    }
    files.push(linkage_file?);
    let mut o = Out::create(tmp, format!("{prefix}disclosure_report.json"))?;
    o.write(&serde_json::to_vec_pretty(&report)?)?;
    files.push(o.finish()?);
    Ok(files)
}

/// Writes the files into a fresh temporary folder beside `out` (through `fill`), then swaps
/// it into place; on failure removes it, leaving `out` as it was.
fn write_dir<T>(out: &Path, fill: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .context("--out must name a folder")?;
    let tmp = parent.join(format!(
        ".{name}.partial-{}",
        hex::encode(crate::study::random::<4>())
    ));
    std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let result = (|| -> Result<T> {
        let value = fill(&tmp)?;
        if out.exists() {
            let old: PathBuf = parent.join(format!(
                ".{name}.old-{}",
                hex::encode(crate::study::random::<4>())
            ));
            std::fs::rename(out, &old)?;
            std::fs::rename(&tmp, out)?;
            std::fs::remove_dir_all(&old)?;
        } else {
            std::fs::rename(&tmp, out)?;
        }
        Ok(value)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.with_context(|| {
        format!(
            "export to {} failed; nothing was left half-written",
            out.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::{class_ids, csv_field, person_qi_cells, PersonClasses};
    use std::collections::HashMap;

    /// A field written by `csv_field` reads back, through the csv crate, as the string it
    /// was; fields that need no quotes get none.
    #[test]
    fn csv_fields_read_back_as_written() {
        let fields = [
            "",
            "plain",
            "a, b",
            "\"",
            "\"\"",
            "\"quoted\" at the ends\"",
            "say \"hi\", then \"\"bye\"\"",
            "line\nbreak",
            "cr\r\nlf",
            "é, ü \u{1F600} \"x\"",
        ];
        let mut out = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            csv_field(&mut out, f);
        }
        out.push(b'\n');
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&out[..]);
        let record = reader
            .records()
            .next()
            .expect("one row")
            .expect("valid CSV");
        let read: Vec<&str> = record.iter().collect();
        assert_eq!(read, fields);
        let mut plain = Vec::new();
        csv_field(&mut plain, "plain text");
        assert_eq!(plain, b"plain text");
    }

    /// A respondent's class key holds the cells at the positions asked for, in their order,
    /// blank past the last cell, whether or not the positions rise.
    #[test]
    fn person_class_keys_pick_the_cells_asked_for() {
        let cells = "1,,3,0,1,12,,7";
        let all: Vec<&str> = cells.split(',').collect();
        let cases: [&[usize]; 8] = [
            &[],
            &[0],
            &[7],
            &[0, 2, 5],
            &[1, 6, 7, 8, 20],
            &[5, 2, 2, 0, 7],
            &[9, 3, 3],
            &[usize::MAX, 0],
        ];
        for positions in cases {
            let expected: Vec<&str> = positions
                .iter()
                .map(|&j| all.get(j).copied().unwrap_or(""))
                .collect();
            assert_eq!(
                &*PersonClasses::key(cells, positions),
                expected.join(","),
                "{positions:?}"
            );
        }
        assert_eq!(&*PersonClasses::key(cells, &[0, 2, 5]), "1,3,12");
        assert_eq!(&*PersonClasses::key("", &[0, 1]), ",");
    }

    /// Classes counted from one number per respondent equal classes counted from every
    /// row's cells (both number classes by first appearance), for each table, on
    /// respondents whose quasi-identifiers take few values (so classes are shared).
    #[test]
    fn person_classes_give_the_row_classes() {
        let n_cells = 6;
        let ind_cols = [4 + 1, 4 + 4];
        let dyad_cols = [4 + 1, 4 + 4, 4 + 6 + 1, 4 + 6 + 4];
        let pw_cols = [5 + 1, 5 + 4, 5 + 6 + 1, 5 + 6 + 4];
        let positions =
            person_qi_cells(&ind_cols, &dyad_cols, &pw_cols, n_cells).expect("cells alike");
        assert_eq!(positions, vec![1, 4]);
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let cells: Vec<Box<str>> = (0..300)
            .map(|_| {
                (0..n_cells)
                    .map(|_| next(3).to_string())
                    .collect::<Vec<_>>()
                    .join(",")
                    .into_boxed_str()
            })
            .collect();
        let pairs: Vec<(usize, usize)> = (0..120)
            .map(|i| (2 * i, 2 * i + 1 + next(2) as usize * 60))
            .collect();
        let mut classes = PersonClasses {
            ids: HashMap::new(),
            of: vec![0; cells.len()],
        };
        // Numbered in another order than the rows' (as export opens in the store's order).
        for (i, c) in cells.iter().enumerate().rev() {
            classes.set(i, PersonClasses::key(c, &positions));
        }
        let ind = class_ids(
            (0..cells.len()).map(|i| (["p", "r", "A", "x"], [i])),
            &ind_cols,
            &cells,
            n_cells,
        );
        assert_eq!(classes.rows((0..cells.len()).map(|i| [i])), ind);
        assert!(
            ind.iter().max().copied().unwrap_or(0) < 9,
            "classes are shared"
        );
        let dyad = class_ids(
            pairs.iter().map(|&(a, b)| (["p", "0", "a", "b"], [a, b])),
            &dyad_cols,
            &cells,
            n_cells,
        );
        assert_eq!(classes.rows(pairs.iter().map(|&(a, b)| [a, b])), dyad);
        let pw = class_ids(
            pairs.iter().flat_map(|&(a, b)| {
                [
                    (["p", "a", "b", "1", "0"], [a, b]),
                    (["p", "b", "a", "0", "0"], [b, a]),
                ]
            }),
            &pw_cols,
            &cells,
            n_cells,
        );
        assert_eq!(
            classes.rows(pairs.iter().flat_map(|&(a, b)| [[a, b], [b, a]])),
            pw
        );
        // A member's tuple swapped or repeated is a different partition.
        assert_ne!(classes.rows(pairs.iter().map(|&(a, _)| [a, a])), dyad);
    }

    /// A quasi-identifier outside the answer cells, or pair tables laid out otherwise, is
    /// left to the general way.
    #[test]
    fn other_layouts_use_the_general_way() {
        assert_eq!(person_qi_cells(&[2, 5], &[5, 11], &[6, 12], 6), None);
        assert_eq!(person_qi_cells(&[5], &[5], &[6, 12], 6), None);
        assert_eq!(
            person_qi_cells(&[5, 8], &[8, 5, 14, 11], &[6, 9, 12, 15], 6),
            None
        );
        assert_eq!(person_qi_cells(&[], &[], &[], 6), Some(vec![]));
    }
}
