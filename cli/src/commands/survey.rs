//! `plp survey check` and `plp survey show`.

use anyhow::{bail, Context, Result};
use plp_core::survey::{Kind, Survey};
use std::path::Path;

/// Loads a definition from TOML or published JSON, with every problem listed on failure.
pub fn load(path: &Path) -> Result<Survey> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e == "json")
        || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let result = if is_json {
        plp_core::check::from_json(&bytes)
    } else {
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
        plp_core::check::from_toml(text)
    };
    result.map_err(|e| match e {
        plp_core::Error::SurveyInvalid(problems) => anyhow::anyhow!(
            "{} has {} problem(s):\n  - {}",
            path.display(),
            problems.len(),
            problems.join("\n  - ")
        ),
        other => anyhow::anyhow!("{}: {other}", path.display()),
    })
}

/// `plp survey check FILE`
pub fn check(path: &Path) -> Result<()> {
    let s = load(path)?;
    let n = s.questions().count();
    println!(
        "{}: ok: survey {} version {}, {} questions on {} pages",
        path.display(),
        s.survey.id,
        s.survey.version,
        n,
        s.sections.len()
    );
    Ok(())
}

/// `plp survey show [FILE]`
pub fn show(path: Option<&Path>) -> Result<()> {
    let s = match path {
        Some(p) => load(p)?,
        None => plp_core::check::from_toml(plp_core::PLP_SURVEY_TOML)?,
    };
    if s.questions().count() == 0 {
        bail!("the survey has no questions");
    }
    print!("{}", render(&s));
    Ok(())
}

/// The instrument as readable text.
pub fn render(s: &Survey) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} (survey {} v{})",
        s.survey.title, s.survey.id, s.survey.version
    );
    let _ = writeln!(
        out,
        "Information sheet v{}; pair codes match {}; side from {}",
        s.information_sheet.version, s.survey.code_pattern, s.pairing.question
    );
    for (i, sec) in s.sections.iter().enumerate() {
        let _ = writeln!(out, "\n== Page {}: {} ==", i + 1, sec.title);
        for q in &sec.questions {
            let req = if q.required { " *" } else { "" };
            let _ = writeln!(
                out,
                "Q{} [{}] {}{} ({})",
                q.number,
                q.id,
                q.text,
                req,
                q.kind.name()
            );
            if let Some(rule) = &q.show_if {
                let _ = writeln!(out, "    shown only when {}", rule.describe());
            }
            match &q.kind {
                Kind::Single { options } | Kind::Multiple { options } => {
                    for o in options {
                        let side = s
                            .side_for(&o.id)
                            .filter(|_| q.id == s.pairing.question)
                            .map(|sd| format!("  -> side {}", sd.label()))
                            .unwrap_or_default();
                        let other = if o.other { " (asks for text)" } else { "" };
                        let _ = writeln!(out, "    - {}: {}{}{}", o.id, o.label, other, side);
                    }
                }
                Kind::Rating {
                    min,
                    max,
                    min_label,
                    max_label,
                } => {
                    let _ = writeln!(out, "    {min} = {min_label} .. {max} = {max_label}");
                }
                Kind::ShortText { max_length } | Kind::LongText { max_length } => {
                    let _ = writeln!(out, "    up to {max_length} characters");
                }
                Kind::PairCode | Kind::MemorableWord => {}
            }
        }
    }
    out
}
