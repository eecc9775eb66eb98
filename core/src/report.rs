//! The evaluation report: one self-contained HTML file (inline CSS and SVG, no scripts, no
//! external assets) and the headline figures printed in the terminal.
//!
//! Small cells (1 or 2 people) are shown as "<3" unless suppression is turned off, and no
//! free text ever appears.

use crate::answers::Answer;
use crate::export::{Dyad, Respondent};
use crate::stats::{cohen_kappa, wilcoxon_pratt, Agreement, Wilcoxon};
use crate::survey::{Kind, Question, Side, Survey};
use serde::Serialize;
use std::fmt::Write;

/// What the report is made from.
pub struct Input<'a> {
    /// Study title.
    pub title: &'a str,
    /// Study id.
    pub study_id: &'a str,
    /// People invited.
    pub cohort: u32,
    /// The survey.
    pub survey: &'a Survey,
    /// Respondents.
    pub people: &'a [Respondent<'a>],
    /// Complete pairs.
    pub dyads: &'a [Dyad<'a>],
    /// Code groups that were singletons.
    pub singletons: usize,
    /// Code groups in conflict.
    pub conflicts: usize,
    /// Show small cells as numbers.
    pub no_suppress: bool,
    /// Date written on the report.
    pub date: &'a str,
}

/// Count of respondents giving one answer.
#[derive(Debug, Clone, Serialize)]
pub struct RoleCount {
    /// Option id of the pairing question.
    pub role: String,
    /// Its label.
    pub label: String,
    /// Respondents.
    pub count: usize,
    /// Percent of respondents, one decimal.
    pub percent: String,
}

/// The figures printed in the terminal and embedded in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    /// Responses analysed.
    pub responses: usize,
    /// People invited.
    pub cohort: u32,
    /// Response rate, percent with one decimal.
    pub response_rate: String,
    /// Composition by role.
    pub by_role: Vec<RoleCount>,
    /// Respondents on side A, counting "either" (for PLP: all BME respondents).
    pub side_a_including_either: usize,
    /// That as a percent of respondents.
    pub side_a_including_either_percent: String,
    /// Respondents on side B, counting "either".
    pub side_b_including_either: usize,
    /// Complete pairs.
    pub complete_pairs: usize,
    /// Singletons.
    pub singletons: usize,
    /// Conflicts.
    pub conflicts: usize,
    /// For each rating question: respondents choosing one of its top two values.
    pub top_two: Vec<TopTwo>,
}

/// Top-two-box share of a rating question.
#[derive(Debug, Clone, Serialize)]
pub struct TopTwo {
    /// Question id.
    pub question: String,
    /// Respondents answering with one of the two highest values.
    pub count: usize,
    /// Respondents answering at all.
    pub answered: usize,
    /// Percent of all respondents, one decimal.
    pub percent_of_respondents: String,
}

/// Percent with one decimal.
pub fn pct(n: usize, of: usize) -> String {
    if of == 0 {
        return "0.0".into();
    }
    format!("{:.1}", n as f64 * 100.0 / of as f64)
}

fn role_of<'a>(s: &Survey, p: &'a Respondent<'_>) -> Option<&'a str> {
    p.answers.get(&s.pairing.question).and_then(Answer::as_text)
}

/// Computes the headline figures.
pub fn headline(i: &Input<'_>) -> Headline {
    let s = i.survey;
    let n = i.people.len();
    let roles = s
        .question(&s.pairing.question)
        .map(|q| q.kind.options().to_vec())
        .unwrap_or_default();
    let by_role = roles
        .iter()
        .map(|o| {
            let c = i
                .people
                .iter()
                .filter(|p| role_of(s, p) == Some(o.id.as_str()))
                .count();
            RoleCount {
                role: o.id.clone(),
                label: o.label.clone(),
                count: c,
                percent: pct(c, n),
            }
        })
        .collect();
    let declared = |p: &Respondent<'_>| role_of(s, p).and_then(|r| s.side_for(r));
    let side_a = i
        .people
        .iter()
        .filter(|p| matches!(declared(p), Some(Side::A | Side::Either)))
        .count();
    let side_b = i
        .people
        .iter()
        .filter(|p| matches!(declared(p), Some(Side::B | Side::Either)))
        .count();
    let top_two = s
        .questions()
        .filter_map(|q| match q.kind {
            Kind::Rating { max, .. } => {
                let vals: Vec<i64> = i
                    .people
                    .iter()
                    .filter_map(|p| p.answers.get(&q.id).and_then(Answer::as_int))
                    .collect();
                let c = vals.iter().filter(|v| **v >= max - 1).count();
                Some(TopTwo {
                    question: q.id.clone(),
                    count: c,
                    answered: vals.len(),
                    percent_of_respondents: pct(c, n),
                })
            }
            _ => None,
        })
        .collect();
    Headline {
        responses: n,
        cohort: i.cohort,
        response_rate: pct(n, i.cohort as usize),
        by_role,
        side_a_including_either: side_a,
        side_a_including_either_percent: pct(side_a, n),
        side_b_including_either: side_b,
        complete_pairs: i.dyads.len(),
        singletons: i.singletons,
        conflicts: i.conflicts,
        top_two,
    }
}

/// The headline as plain text for the terminal.
pub fn headline_text(h: &Headline) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Responses: {} of {} invited ({}%)",
        h.responses, h.cohort, h.response_rate
    );
    for r in &h.by_role {
        let _ = writeln!(o, "  {}: {} ({}%)", r.label, r.count, r.percent);
    }
    let _ = writeln!(
        o,
        "Side A incl. both: {} ({}%); side B incl. both: {}",
        h.side_a_including_either, h.side_a_including_either_percent, h.side_b_including_either
    );
    let _ = writeln!(
        o,
        "Pairs: {} complete, {} singleton, {} conflict",
        h.complete_pairs, h.singletons, h.conflicts
    );
    o
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cell(n: usize, no_suppress: bool) -> String {
    if !no_suppress && (1..3).contains(&n) {
        "&lt;3".into()
    } else {
        n.to_string()
    }
}

const SIDES: [(Side, &str); 3] = [
    (Side::A, "Side A"),
    (Side::B, "Side B"),
    (Side::Either, "Unpaired, either"),
];

fn group<'a>(i: &'a Input<'_>, side: Side) -> Vec<&'a Respondent<'a>> {
    i.people.iter().filter(|p| p.side == side).collect()
}

fn side_names(s: &Survey) -> (String, String) {
    let label = |want: Side| {
        s.question(&s.pairing.question)
            .and_then(|q| {
                q.kind
                    .options()
                    .iter()
                    .find(|o| s.side_for(&o.id) == Some(want))
                    .map(|o| o.label.clone())
            })
            .unwrap_or_default()
    };
    (label(Side::A), label(Side::B))
}

/// Renders the whole report.
pub fn html(i: &Input<'_>) -> String {
    let h = headline(i);
    let s = i.survey;
    let (a_name, b_name) = side_names(s);
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
<title>{t}: evaluation report</title><style>{css}</style></head><body><main>\
<h1>{t}</h1><p class=\"meta\">Study {sid}. Report generated {date}. Side A: {a}; side B: {b}.{sup}</p>",
        t = esc(i.title),
        css = CSS,
        sid = esc(i.study_id),
        date = esc(i.date),
        a = esc(&a_name),
        b = esc(&b_name),
        sup = if i.no_suppress { " Small cells are shown." } else { " Counts of 1 or 2 are shown as &lt;3." }
    );
    let _ = write!(
        o,
        "<script type=\"application/json\" id=\"headline\">{}</script>",
        serde_json::to_string(&h)
            .expect("headline serialises")
            .replace('<', "\\u003c")
    );
    // Respondents.
    let _ = write!(
        o,
        "<section><h2>Respondents</h2><p class=\"big\"><strong>{}</strong> responses from {} invited: response rate <strong>{}%</strong>.</p>\
<table><caption>Composition by role</caption><thead><tr><th scope=\"col\">Role</th><th scope=\"col\">Respondents</th><th scope=\"col\">%</th></tr></thead><tbody>",
        h.responses, h.cohort, h.response_rate
    );
    for r in &h.by_role {
        let _ = write!(
            o,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
            esc(&r.label),
            cell(r.count, i.no_suppress),
            r.percent
        );
    }
    let _ = write!(
        o,
        "</tbody></table><p>{} respondents ({}%) are on side A ({}) including those who are both.</p></section>",
        h.side_a_including_either, h.side_a_including_either_percent, esc(&a_name)
    );
    // Linkage.
    let _ = write!(
        o,
        "<section><h2>Pair linkage</h2><ul><li><strong>{}</strong> complete pairs</li><li>{} singletons (partner did not respond)</li><li>{} conflicts (a code used by more than two people, or twice on one side)</li></ul></section>",
        h.complete_pairs, h.singletons, h.conflicts
    );
    // Closed questions.
    let _ = write!(o, "<section><h2>Answers by side</h2>");
    for q in s.questions() {
        match &q.kind {
            Kind::Single { .. } | Kind::Multiple { .. } => choice_table(&mut o, i, q),
            Kind::Rating { .. } => rating_chart(&mut o, i, q),
            _ => {}
        }
    }
    let _ = write!(o, "</section>");
    paired_section(&mut o, i);
    let _ = writeln!(o, "</main></body></html>");
    o
}

fn choice_table(o: &mut String, i: &Input<'_>, q: &Question) {
    let opts = q.kind.options();
    let multi = matches!(q.kind, Kind::Multiple { .. });
    let _ = write!(
        o,
        "<figure><table><caption>Q{} {}{}</caption><thead><tr><th scope=\"col\">Answer</th>",
        q.number,
        esc(&q.text),
        if multi {
            " (more than one answer allowed)"
        } else {
            ""
        }
    );
    for (_, name) in SIDES {
        let _ = write!(o, "<th scope=\"col\">{name}</th>");
    }
    let _ = write!(
        o,
        "<th scope=\"col\">All</th>{}</tr></thead><tbody>",
        if multi {
            "<th scope=\"col\">Share</th>"
        } else {
            ""
        }
    );
    let answered_all = i
        .people
        .iter()
        .filter(|p| p.answers.contains_key(&q.id))
        .count();
    for opt in opts {
        let chose = |p: &Respondent<'_>| match p.answers.get(&q.id) {
            Some(Answer::Text(t)) => *t == opt.id,
            Some(Answer::List(l)) => l.contains(&opt.id),
            _ => false,
        };
        let _ = write!(o, "<tr><th scope=\"row\">{}</th>", esc(&opt.label));
        for (side, _) in SIDES {
            let n = group(i, side).iter().filter(|p| chose(p)).count();
            let _ = write!(o, "<td>{}</td>", cell(n, i.no_suppress));
        }
        let all = i.people.iter().filter(|p| chose(p)).count();
        let _ = write!(o, "<td>{}</td>", cell(all, i.no_suppress));
        if multi {
            let w = if answered_all == 0 {
                0.0
            } else {
                all as f64 * 100.0 / answered_all as f64
            };
            let _ = write!(
                o,
                "<td><svg class=\"bar\" width=\"120\" height=\"12\" role=\"img\" aria-label=\"{w:.0}% of those answering\"><rect width=\"{:.1}\" height=\"12\" fill=\"#1d70b8\"></rect></svg></td>",
                w * 1.2
            );
        }
        let _ = write!(o, "</tr>");
    }
    let _ = write!(o, "</tbody></table></figure>");
}

const SCALE_COLOURS: [&str; 7] = [
    "#b2182b", "#ef8a62", "#fddbc7", "#e0e0e0", "#d1e5f0", "#67a9cf", "#2166ac",
];

fn rating_chart(o: &mut String, i: &Input<'_>, q: &Question) {
    let Kind::Rating {
        min,
        max,
        min_label,
        max_label,
    } = &q.kind
    else {
        return;
    };
    let values: Vec<i64> = (*min..=*max).collect();
    let k = values.len();
    let colour = |idx: usize| -> &str {
        if k <= 7 {
            let offset = (7 - k) / 2;
            SCALE_COLOURS[(idx + offset).min(6)]
        } else {
            "#999999"
        }
    };
    let mid = (*min + *max) as f64 / 2.0;
    let rows: Vec<(&str, Vec<usize>)> = SIDES
        .iter()
        .map(|(side, name)| {
            let g = group(i, *side);
            (
                *name,
                values
                    .iter()
                    .map(|v| {
                        g.iter()
                            .filter(|p| p.answers.get(&q.id).and_then(Answer::as_int) == Some(*v))
                            .count()
                    })
                    .collect(),
            )
        })
        .collect();
    let width: f64 = 520.0;
    let centre: f64 = 300.0;
    let row_h = 26.0;
    let max_total = rows
        .iter()
        .map(|(_, c)| c.iter().sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let unit = (width - centre).min(centre - 90.0) / max_total;
    let height = row_h * rows.len() as f64 + 30.0;
    let _ = write!(
        o,
        "<figure><figcaption>Q{} {} ({} = {}, {} = {})</figcaption><svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"Diverging bars of answers to question {} by side\">",
        q.number, esc(&q.text), min, esc(min_label), max, esc(max_label), q.number
    );
    for (r, (name, counts)) in rows.iter().enumerate() {
        let y = r as f64 * row_h + 4.0;
        let _ = write!(
            o,
            "<text x=\"0\" y=\"{:.1}\" class=\"lbl\">{name}</text>",
            y + 15.0
        );
        // Negative values extend left of centre, neutral straddles it, positive extend right.
        let neutral: f64 = values
            .iter()
            .zip(counts)
            .filter(|(v, _)| (**v as f64) == mid)
            .map(|(_, c)| *c as f64)
            .sum();
        let mut left = centre - neutral * unit / 2.0;
        let neg: Vec<(usize, usize)> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| (**v as f64) < mid)
            .map(|(j, _)| (j, counts[j]))
            .collect();
        for (j, c) in neg.iter().rev() {
            left -= *c as f64 * unit;
            let _ = seg(
                o,
                left,
                y,
                *c as f64 * unit,
                colour(*j),
                *c,
                i.no_suppress,
                values[*j],
            );
        }
        let mut x = centre - neutral * unit / 2.0;
        for (j, v) in values.iter().enumerate() {
            if (*v as f64) >= mid {
                let c = counts[j];
                let _ = seg(o, x, y, c as f64 * unit, colour(j), c, i.no_suppress, *v);
                x += c as f64 * unit;
            }
        }
    }
    let _ = write!(
        o,
        "<line x1=\"{centre}\" x2=\"{centre}\" y1=\"0\" y2=\"{:.1}\" stroke=\"#0b0c0c\"></line>",
        height - 26.0
    );
    let mut lx = 90.0;
    for (j, v) in values.iter().enumerate() {
        let _ = write!(o, "<rect x=\"{lx}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"></rect><text x=\"{:.1}\" y=\"{:.1}\" class=\"lbl\">{v}</text>", height - 16.0, colour(j), lx + 15.0, height - 6.0);
        lx += 40.0;
    }
    let _ = write!(o, "</svg></figure>");
}

#[allow(clippy::too_many_arguments)]
fn seg(
    o: &mut String,
    x: f64,
    y: f64,
    w: f64,
    fill: &str,
    count: usize,
    no_suppress: bool,
    value: i64,
) -> std::fmt::Result {
    if count == 0 {
        return Ok(());
    }
    write!(
        o,
        "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"20\" fill=\"{fill}\"><title>{value}: {}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" class=\"n\" text-anchor=\"middle\">{}</text>",
        cell(count, no_suppress),
        x + w / 2.0,
        y + 14.5,
        cell(count, no_suppress)
    )
}

/// Paired comparisons over complete pairs.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    /// Wilcoxon results per rating question (side A minus side B).
    pub ratings: Vec<(String, Wilcoxon)>,
    /// Agreement per shared-fact item (question, or question:option for multiple choice).
    pub agreement: Vec<(String, Agreement)>,
}

/// Computes the paired statistics.
pub fn paired(i: &Input<'_>) -> Paired {
    let s = i.survey;
    let mut ratings = Vec::new();
    for q in s.questions() {
        if let Kind::Rating { .. } = q.kind {
            let pairs: Vec<(f64, f64)> = i
                .dyads
                .iter()
                .filter_map(|d| {
                    let a = d.a.answers.get(&q.id).and_then(Answer::as_int)?;
                    let b = d.b.answers.get(&q.id).and_then(Answer::as_int)?;
                    Some((a as f64, b as f64))
                })
                .collect();
            ratings.push((q.id.clone(), wilcoxon_pratt(&pairs)));
        }
    }
    let mut agreement = Vec::new();
    for id in &s.survey.shared_facts {
        let Some(q) = s.question(id) else { continue };
        match &q.kind {
            Kind::Multiple { options } => {
                for opt in options {
                    let pairs: Vec<(bool, bool)> = i
                        .dyads
                        .iter()
                        .filter_map(|d| {
                            let a = d.a.answers.get(&q.id).and_then(Answer::as_list)?;
                            let b = d.b.answers.get(&q.id).and_then(Answer::as_list)?;
                            Some((a.contains(&opt.id), b.contains(&opt.id)))
                        })
                        .collect();
                    agreement.push((format!("{}:{}", q.id, opt.id), cohen_kappa(&pairs)));
                }
            }
            _ => {
                let pairs: Vec<(String, String)> = i
                    .dyads
                    .iter()
                    .filter_map(|d| {
                        let a = d.a.answers.get(&q.id)?.display();
                        let b = d.b.answers.get(&q.id)?.display();
                        Some((a, b))
                    })
                    .collect();
                agreement.push((q.id.clone(), cohen_kappa(&pairs)));
            }
        }
    }
    Paired { ratings, agreement }
}

fn paired_section(o: &mut String, i: &Input<'_>) {
    let p = paired(i);
    let s = i.survey;
    let _ = write!(
        o,
        "<section><h2>Paired comparisons ({} complete pairs)</h2><table><caption>Rating items: Wilcoxon signed-rank test, side A minus side B, Pratt's handling of zero differences, exact two-sided p</caption><thead><tr><th scope=\"col\">Question</th><th scope=\"col\">Pairs</th><th scope=\"col\">Zero differences</th><th scope=\"col\">W+</th><th scope=\"col\">W&minus;</th><th scope=\"col\">p (exact)</th></tr></thead><tbody>",
        i.dyads.len()
    );
    for (id, w) in &p.ratings {
        let q = s.question(id).expect("rating from survey");
        let _ = write!(
            o,
            "<tr><th scope=\"row\">Q{} {}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td></tr>",
            q.number, esc(&q.text), w.n, w.zeros, w.w_plus, w.w_minus, w.p_exact
        );
    }
    let _ = write!(o, "</tbody></table>");
    if !p.agreement.is_empty() {
        let _ = write!(o, "<table><caption>Shared facts partners should agree on: percentage agreement and Cohen's kappa</caption><thead><tr><th scope=\"col\">Item</th><th scope=\"col\">Pairs</th><th scope=\"col\">Agreement</th><th scope=\"col\">Kappa</th></tr></thead><tbody>");
        for (item, a) in &p.agreement {
            let (qid, opt) = item
                .split_once(':')
                .map(|(q, o)| (q, Some(o)))
                .unwrap_or((item.as_str(), None));
            let q = s.question(qid).expect("fact from survey");
            let label = match opt {
                Some(o) => format!(
                    "Q{} {}: {}",
                    q.number,
                    q.text,
                    q.option(o).map(|x| x.label.as_str()).unwrap_or(o)
                ),
                None => format!("Q{} {}", q.number, q.text),
            };
            let _ = write!(
                o,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}%</td><td>{}</td></tr>",
                esc(&label),
                a.n,
                pct((a.observed * a.n as f64).round() as usize, a.n),
                a.kappa
                    .map(|k| format!("{k:.2}"))
                    .unwrap_or_else(|| "undefined".into())
            );
        }
        let _ = write!(o, "</tbody></table>");
    }
    let _ = write!(o, "</section>");
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Arial,sans-serif;color:#0b0c0c;margin:0;background:#fff;line-height:1.45}\
main{max-width:60rem;margin:0 auto;padding:1rem}h1{font-size:1.8rem}h2{margin-top:2rem;border-bottom:2px solid #1d70b8}\
.meta{color:#505a5f}.big{font-size:1.2rem}table{border-collapse:collapse;margin:1rem 0;width:100%}caption{text-align:left;font-weight:600;padding:.3rem 0}\
th,td{border-bottom:1px solid #b1b4b6;padding:.25rem .5rem;text-align:left;vertical-align:top}td{font-variant-numeric:tabular-nums}\
figure{margin:1rem 0}figcaption{font-weight:600}svg .lbl{font-size:12px;fill:#0b0c0c}svg .n{font-size:11px;fill:#0b0c0c}";
