//! Export layouts: the tables an evaluator opens in R, SPSS, Stata or pandas.
//!
//! One row per respondent (`individual`), one per complete pair (`dyad`, answers suffixed
//! `_A`/`_B`), one per person in a complete pair with the partner's answers beside their own
//! (`pairwise`, `_A` actor, `_P` partner, `role_A` +1/-1, ready for an actor-partner
//! interdependence model). Single choices are coded 1..k in option order, multiple choices
//! are one 0/1 column per option, ratings are integers; free text goes only to `free_text`,
//! redacted. A blank cell means "not asked or not answered". Everything here is pure: the
//! CLI writes the bytes.

use crate::answers::{Answers, Value};
use crate::redact::redact;
use crate::survey::{Kind, Question, Side, Slots, Survey};

/// What a column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// Free string (ids, text).
    Text,
    /// A string from a fixed list.
    TextEnum(Vec<String>),
    /// Integer codes with labels (single choice).
    Category(Vec<(i64, String)>),
    /// 0/1: the option was selected.
    Flag,
    /// An integer in a range (rating, role coding).
    Integer {
        /// Lowest value.
        min: i64,
        /// Highest value.
        max: i64,
        /// Labels of some values (end points of a scale).
        labels: Vec<(i64, String)>,
    },
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Column name.
    pub name: String,
    /// Human title (the question text).
    pub title: String,
    /// Question number, for answer columns.
    pub number: Option<u32>,
    /// Values it holds.
    pub kind: FieldKind,
}

/// A table: fields and rows of cells (empty string = missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// File stem (`individual`, `dyad`, ...).
    pub name: String,
    /// Columns.
    pub fields: Vec<Field>,
    /// Rows.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The table as CSV: header row, comma-separated, quoted where needed, UTF-8, `\n`.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record(self.fields.iter().map(|f| f.name.as_str()))
            .expect("writing to memory");
        for r in &self.rows {
            w.write_record(r).expect("writing to memory");
        }
        w.into_inner().expect("writing to memory")
    }

    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// One respondent as exported.
#[derive(Debug, Clone)]
pub struct Respondent<'a> {
    /// Pseudonymous pair id (`D07`).
    pub pair_id: String,
    /// Pseudonymous person id (`R12`).
    pub person_id: String,
    /// Side in the pair: A or B for members of complete pairs, else as answered.
    pub side: Side,
    /// `complete`, `singleton` or `conflict`.
    pub pair_status: &'static str,
    /// Answers.
    pub answers: &'a Answers,
}

/// A complete pair.
#[derive(Debug, Clone)]
pub struct Dyad<'a> {
    /// The side-A member.
    pub a: Respondent<'a>,
    /// The side-B member.
    pub b: Respondent<'a>,
    /// Sides were assigned arbitrarily (two "either" respondents).
    pub arbitrary_order: bool,
}

/// The answer columns of a survey (no free text), in asking order.
pub fn answer_fields(survey: &Survey) -> Vec<Field> {
    let mut out = Vec::new();
    for q in survey.questions() {
        if !q.kind.in_answers() || q.kind.is_text() {
            continue;
        }
        match &q.kind {
            Kind::Single { options } => out.push(Field {
                name: q.id.clone(),
                title: q.text.clone(),
                number: Some(q.number),
                kind: FieldKind::Category(
                    options
                        .iter()
                        .enumerate()
                        .map(|(i, o)| (i as i64 + 1, o.label.clone()))
                        .collect(),
                ),
            }),
            Kind::Multiple { options } => {
                for o in options {
                    out.push(Field {
                        name: format!("{}_{}", q.id, o.id),
                        title: format!("{} [{}]", q.text, o.label),
                        number: Some(q.number),
                        kind: FieldKind::Flag,
                    })
                }
            }
            Kind::Rating {
                min,
                max,
                min_label,
                max_label,
            } => out.push(Field {
                name: q.id.clone(),
                title: q.text.clone(),
                number: Some(q.number),
                kind: FieldKind::Integer {
                    min: *min,
                    max: *max,
                    labels: vec![(*min, min_label.clone()), (*max, max_label.clone())],
                },
            }),
            _ => {}
        }
    }
    out
}

/// The cells of one respondent's answers, matching [`answer_fields`].
pub fn answer_cells(survey: &Survey, answers: &Answers) -> Vec<String> {
    let mut out = Vec::new();
    each_cell(survey, answers, |c| {
        out.push(c.map(|v| v.to_string()).unwrap_or_default())
    });
    out
}

/// [`answer_cells`] joined with commas, written straight into one string, as
/// [`cells_and_free_text`] gives them to an export (one per respondent, a million of them,
/// so no cell gets an allocation of its own). Cells are option numbers, 0/1 flags and
/// integers, never anything CSV quotes.
pub fn answer_cells_joined(survey: &Survey, answers: &Answers) -> String {
    joined_cells(survey, &survey.lay_out(answers))
}

/// Who a respondent's free-text rows are about.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// Pseudonymous pair id.
    pub pair_id: &'a str,
    /// Pseudonymous person id.
    pub person_id: &'a str,
    /// Side in the pair.
    pub side: Side,
}

/// What an export needs of one respondent, from their answers laid out by question once
/// ([`Survey::lay_out`]): [`answer_cells_joined`] (returned) and the
/// [`free_text_rows`] (passed to `emit`).
pub fn cells_and_free_text(
    survey: &Survey,
    who: Who<'_>,
    slots: &Slots<'_>,
    emit: impl FnMut([&str; 6]),
) -> String {
    free_text_in(survey, who, slots, emit);
    joined_cells(survey, slots)
}

fn joined_cells(survey: &Survey, slots: &Slots<'_>) -> String {
    let mut out = String::with_capacity(256);
    let mut first = true;
    each_cell_in(survey, slots, |c| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
        if let Some(v) = c {
            push_int(&mut out, v);
        }
    });
    out
}

/// Appends `v` in decimal. Cells are option numbers, 0/1 flags and ratings: one or two
/// digits, written here without the formatting machinery, which was a tenth of the cost of
/// a respondent's cells.
fn push_int(out: &mut String, v: i64) {
    match u8::try_from(v) {
        Ok(d @ 0..=9) => out.push(char::from(b'0' + d)),
        Ok(d @ 10..=99) => {
            out.push(char::from(b'0' + d / 10));
            out.push(char::from(b'0' + d % 10));
        }
        _ => {
            use std::fmt::Write;
            let _ = write!(out, "{v}");
        }
    }
}

/// Calls `emit` with each cell of [`answer_fields`] in order: its integer, or `None` for a
/// blank cell.
fn each_cell(survey: &Survey, answers: &Answers, emit: impl FnMut(Option<i64>)) {
    each_cell_in(survey, &survey.lay_out(answers), emit);
}

fn each_cell_in(survey: &Survey, slots: &Slots<'_>, mut emit: impl FnMut(Option<i64>)) {
    for (q, &a) in survey.questions().zip(&slots.answer) {
        question_cells(q, a, &mut emit);
    }
}

/// The cells of one question given its answer (none for text and display-only questions).
fn question_cells(q: &Question, a: Option<Value<'_>>, emit: &mut impl FnMut(Option<i64>)) {
    if !q.kind.in_answers() || q.kind.is_text() {
        return;
    }
    match &q.kind {
        Kind::Single { options } => emit(
            a.and_then(Value::as_text)
                .and_then(|id| options.iter().position(|o| o.id == id))
                .map(|i| i as i64 + 1),
        ),
        Kind::Multiple { options } => {
            let sel = a.and_then(Value::as_list);
            for o in options {
                emit(sel.map(|s| i64::from(s.contains(&o.id))));
            }
        }
        Kind::Rating { .. } => emit(a.and_then(Value::as_int)),
        _ => {}
    }
}

/// The rows [`free_text`] gives one respondent, each passed to `emit` as its six fields
/// (pair, person, side, question key, number, redacted text). An export streams the same
/// rows through [`cells_and_free_text`].
pub fn free_text_rows(survey: &Survey, p: &Respondent<'_>, emit: impl FnMut([&str; 6])) {
    let who = Who {
        pair_id: &p.pair_id,
        person_id: &p.person_id,
        side: p.side,
    };
    free_text_in(survey, who, &survey.lay_out(p.answers), emit);
}

fn free_text_in(survey: &Survey, who: Who<'_>, slots: &Slots<'_>, mut emit: impl FnMut([&str; 6])) {
    let side = side_label(who.side);
    let labels = &survey.index().labels;
    for (i, q) in survey.questions().enumerate() {
        let (number, other_key) = &labels[i];
        let mut push = |key: &str, a: Option<Value<'_>>| {
            if let Some(Value::Text(t)) = a {
                emit([who.pair_id, who.person_id, side, key, number, &redact(t)]);
            }
        };
        if q.kind.is_text() {
            push(&q.id, slots.answer[i]);
        }
        if let Some(k) = other_key {
            push(k, slots.other[i]);
        }
    }
}

fn id_field(name: &str, title: &str) -> Field {
    Field {
        name: name.into(),
        title: title.into(),
        number: None,
        kind: FieldKind::Text,
    }
}

fn side_field(name: &str) -> Field {
    Field {
        name: name.into(),
        title: "Side of the pair (A, B, or either when unpaired)".into(),
        number: None,
        kind: FieldKind::TextEnum(vec!["A".into(), "B".into(), "either".into()]),
    }
}

fn suffixed(fields: &[Field], suffix: &str, who: &str) -> Vec<Field> {
    fields
        .iter()
        .map(|f| Field {
            name: format!("{}_{suffix}", f.name),
            title: format!("{} ({who})", f.title),
            number: f.number,
            kind: f.kind.clone(),
        })
        .collect()
}

/// `individual`: one row per respondent.
pub fn individual(survey: &Survey, people: &[Respondent<'_>]) -> Table {
    let mut fields = vec![
        id_field("pair_id", "Pseudonymous pair id"),
        id_field("person_id", "Pseudonymous respondent id"),
        side_field("side"),
        Field {
            name: "pair_status".into(),
            title: "Linkage of the respondent's pair code".into(),
            number: None,
            kind: FieldKind::TextEnum(vec![
                "complete".into(),
                "singleton".into(),
                "conflict".into(),
            ]),
        },
    ];
    fields.extend(answer_fields(survey));
    let rows = people
        .iter()
        .map(|p| {
            let mut r = strings(individual_prefix(
                &p.pair_id,
                &p.person_id,
                p.side,
                p.pair_status,
            ));
            r.extend(answer_cells(survey, p.answers));
            r
        })
        .collect();
    Table {
        name: "individual".into(),
        fields,
        rows,
    }
}

/// The fields of a respondent's `individual` row before the answer cells.
pub fn individual_prefix<'a>(
    pair_id: &'a str,
    person_id: &'a str,
    side: Side,
    pair_status: &'a str,
) -> [&'a str; 4] {
    [pair_id, person_id, side_label(side), pair_status]
}

/// The fields of a pair's `dyad` row before the answer cells (side A's, then side B's).
pub fn dyad_prefix<'a>(
    pair_id: &'a str,
    arbitrary_order: bool,
    person_a: &'a str,
    person_b: &'a str,
) -> [&'a str; 4] {
    [pair_id, flag(arbitrary_order), person_a, person_b]
}

/// The fields of a `pairwise` row before the answer cells (the actor's, then the
/// partner's); each pair has two, one with each side as the actor.
pub fn pairwise_prefix<'a>(
    pair_id: &'a str,
    actor: &'a str,
    partner: &'a str,
    actor_is_a: bool,
    arbitrary_order: bool,
) -> [&'a str; 5] {
    let role = if actor_is_a { "1" } else { "-1" };
    [pair_id, actor, partner, role, flag(arbitrary_order)]
}

fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

fn strings<const N: usize>(fields: [&str; N]) -> Vec<String> {
    fields.iter().map(|f| f.to_string()).collect()
}

/// A side as the export tables write it.
pub fn side_label(s: Side) -> &'static str {
    match s {
        Side::A => "A",
        Side::B => "B",
        Side::Either => "either",
    }
}

fn arbitrary_field() -> Field {
    Field {
        name: "order_arbitrary".into(),
        title: "1 when both partners answered \"either\", so which is A is arbitrary".into(),
        number: None,
        kind: FieldKind::Flag,
    }
}

/// `dyad`: one row per complete pair, answers for side A then the same for side B.
pub fn dyad(survey: &Survey, dyads: &[Dyad<'_>]) -> Table {
    let base = answer_fields(survey);
    let mut fields = vec![
        id_field("pair_id", "Pseudonymous pair id"),
        arbitrary_field(),
        id_field("person_id_A", "Pseudonymous id of the side-A respondent"),
        id_field("person_id_B", "Pseudonymous id of the side-B respondent"),
    ];
    fields.extend(suffixed(&base, "A", "side A"));
    fields.extend(suffixed(&base, "B", "side B"));
    let rows = dyads
        .iter()
        .map(|d| {
            let mut r = strings(dyad_prefix(
                &d.a.pair_id,
                d.arbitrary_order,
                &d.a.person_id,
                &d.b.person_id,
            ));
            r.extend(answer_cells(survey, d.a.answers));
            r.extend(answer_cells(survey, d.b.answers));
            r
        })
        .collect();
    Table {
        name: "dyad".into(),
        fields,
        rows,
    }
}

/// `pairwise`: two rows per complete pair, the actor's answers (`_A`) beside the partner's
/// (`_P`), `role_A` +1 when the actor is side A and -1 when side B.
pub fn pairwise(survey: &Survey, dyads: &[Dyad<'_>]) -> Table {
    let base = answer_fields(survey);
    let mut fields = vec![
        id_field("pair_id", "Pseudonymous pair id"),
        id_field("person_id", "Pseudonymous id of the actor"),
        id_field("partner_id", "Pseudonymous id of the partner"),
        Field {
            name: "role_A".into(),
            title: "Actor's side: +1 side A, -1 side B".into(),
            number: None,
            kind: FieldKind::Integer {
                min: -1,
                max: 1,
                labels: vec![(-1, "side B".into()), (1, "side A".into())],
            },
        },
        arbitrary_field(),
    ];
    fields.extend(suffixed(&base, "A", "actor"));
    fields.extend(suffixed(&base, "P", "partner"));
    let mut rows = Vec::new();
    for d in dyads {
        for (actor, partner, actor_is_a) in [(&d.a, &d.b, true), (&d.b, &d.a, false)] {
            let mut r = strings(pairwise_prefix(
                &actor.pair_id,
                &actor.person_id,
                &partner.person_id,
                actor_is_a,
                d.arbitrary_order,
            ));
            r.extend(answer_cells(survey, actor.answers));
            r.extend(answer_cells(survey, partner.answers));
            rows.push(r);
        }
    }
    Table {
        name: "pairwise".into(),
        fields,
        rows,
    }
}

/// `free_text`: every free-text and "Other" answer, one per row, redacted.
pub fn free_text(survey: &Survey, people: &[Respondent<'_>]) -> Table {
    let fields = vec![
        id_field("pair_id", "Pseudonymous pair id"),
        id_field("person_id", "Pseudonymous respondent id"),
        side_field("side"),
        id_field(
            "question",
            "Question id (q14_other: text typed for \"Other\")",
        ),
        Field {
            name: "number".into(),
            title: "Question number".into(),
            number: None,
            kind: FieldKind::Integer {
                min: 1,
                max: survey
                    .questions()
                    .map(|q| q.number as i64)
                    .max()
                    .unwrap_or(1),
                labels: vec![],
            },
        },
        id_field(
            "text",
            "The answer, with e-mail addresses, URLs and phone numbers redacted",
        ),
    ];
    let mut rows = Vec::new();
    for p in people {
        free_text_rows(survey, p, |row| rows.push(row.map(str::to_string).to_vec()));
    }
    Table {
        name: "free_text".into(),
        fields,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::{Answer, ReadAnswers};
    use crate::sample::{walk, Source, SplitMix64, Style};

    /// Cells and free-text rows as they were read before [`Survey::lay_out`]: a map lookup
    /// for every key (the cells of one question given its answer are the code under test's).
    fn reference(survey: &Survey, answers: &Answers) -> (Vec<Option<i64>>, Vec<[String; 3]>) {
        let mut cells = Vec::new();
        let mut text = Vec::new();
        for q in survey.questions() {
            question_cells(q, answers.get(&q.id).map(Answer::value), &mut |c| {
                cells.push(c)
            });
            let keys = [q.kind.is_text().then(|| q.id.clone()), q.other_key()];
            for key in keys.into_iter().flatten() {
                if let Some(Answer::Text(t)) = answers.get(&key) {
                    text.push([key, q.number.to_string(), redact(t).into_owned()]);
                }
            }
        }
        (cells, text)
    }

    /// Integers are written as `Display` writes them, on both sides of each fast path.
    #[test]
    fn push_int_writes_as_display() {
        let values = [
            0,
            1,
            9,
            10,
            11,
            42,
            99,
            100,
            255,
            256,
            -1,
            -10,
            1_000_007,
            i64::MIN,
            i64::MAX,
        ];
        for v in values.into_iter().chain(-300..300) {
            let mut out = String::from("x,");
            push_int(&mut out, v);
            assert_eq!(out, format!("x,{v}"));
        }
    }

    /// Laid out in one merge, answers give the cells and free-text rows that looking each
    /// key up gives: random walks, then damaged (keys removed, moved to other questions,
    /// unknown keys, stray "Other" texts, wrong shapes).
    #[test]
    fn laid_out_answers_export_as_looked_up_ones() {
        let survey = crate::check::from_toml(crate::PLP_SURVEY_TOML).expect("built-in survey");
        let ids: Vec<String> = survey.questions().map(|q| q.id.clone()).collect();
        let mut rng = SplitMix64(11);
        let (mut rows, mut cells_seen) = (0, 0);
        for round in 0..2000u64 {
            let mut answers = walk(&survey, &mut rng, &Style::default(), &Answers::new());
            for _ in 0..rng.below(5) {
                let id = ids[rng.below(ids.len() as u64) as usize].clone();
                match rng.below(4) {
                    0 => {
                        answers.remove(&id);
                    }
                    1 => {
                        answers.insert(
                            format!("{id}_other"),
                            Answer::Text(format!("call 0115 969 {round}")),
                        );
                    }
                    2 => {
                        answers.insert(format!("{id}x"), Answer::Int(3));
                    }
                    _ => {
                        answers.insert(id, Answer::Text("yes".into()));
                    }
                }
            }
            let mut cells = Vec::new();
            each_cell(&survey, &answers, |c| cells.push(c));
            let mut text = Vec::new();
            let p = Respondent {
                pair_id: "D1".into(),
                person_id: "R1".into(),
                side: Side::A,
                pair_status: "complete",
                answers: &answers,
            };
            free_text_rows(&survey, &p, |f| {
                assert_eq!(&f[..3], ["D1", "R1", "A"]);
                text.push([f[3].to_string(), f[4].to_string(), f[5].to_string()]);
            });
            let (ref_cells, ref_text) = reference(&survey, &answers);
            assert_eq!(cells, ref_cells, "round {round}: {answers:?}");
            assert_eq!(text, ref_text, "round {round}: {answers:?}");
            // The export's one-pass form gives both, from the answers read in place from
            // their JSON.
            let json = serde_json::to_vec(&answers).expect("answers serialise");
            let read: ReadAnswers<'_> = serde_json::from_slice(&json).expect("answers read");
            let mut together = Vec::new();
            let who = Who {
                pair_id: "D1",
                person_id: "R1",
                side: Side::A,
            };
            let joined = cells_and_free_text(&survey, who, &survey.lay_out(&read), |f| {
                assert_eq!(&f[..3], ["D1", "R1", "A"]);
                together.push([f[3].to_string(), f[4].to_string(), f[5].to_string()]);
            });
            let expected: Vec<String> = ref_cells
                .iter()
                .map(|c| c.map(|v| v.to_string()).unwrap_or_default())
                .collect();
            assert_eq!(joined, expected.join(","), "round {round}");
            assert_eq!(together, ref_text, "round {round}");
            rows += text.len();
            cells_seen += cells.iter().filter(|c| c.is_some()).count();
        }
        assert!(
            rows > 2000 && cells_seen > 20_000,
            "{rows} rows, {cells_seen} cells"
        );
    }
}
