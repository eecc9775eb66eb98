//! `plp report --out report.html [--no-suppress]`: the self-contained HTML report, and the
//! same headline figures in the terminal.

use super::Opened;
use crate::args::ReportArgs;
use crate::dataset;
use crate::store::audit;
use anyhow::Result;
use plp_core::report::{headline, headline_text, html, Input};
use std::path::Path;

/// `plp report`
pub fn run(dir: Option<&Path>, a: &ReportArgs) -> Result<()> {
    let Opened { study, mut store } = super::open(dir)?;
    let key = super::unlock(&study, None)?;
    let data = dataset::load(
        &mut store,
        &key,
        &study.survey_sha256(),
        study.config.allocated_codes.as_deref(),
    )?;
    let people = data.respondents();
    let dyads = data.dyads(&people);
    let locked = store.locked_at()?.is_some();
    let title = if locked {
        study.config.title.clone()
    } else {
        format!("PREVIEW (analysis not locked): {}", study.config.title)
    };
    let date = crate::study::today();
    let input = Input {
        title: &title,
        study_id: &study.config.study_id,
        cohort: study.config.cohort,
        survey: &study.survey,
        people: &people,
        dyads: &dyads,
        singletons: data.count("singleton"),
        conflicts: data.count("conflict"),
        no_suppress: a.no_suppress,
        date: &date,
    };
    let page = html(&input);
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    crate::study::write_atomic(&a.out, page.as_bytes())?;
    let tx = store.tx()?;
    audit(
        &tx,
        "report",
        serde_json::json!({ "file": a.out.file_name().and_then(|n| n.to_str()), "sha256": plp_core::payload::sha256_hex(page.as_bytes()), "suppressed": !a.no_suppress }),
    )?;
    tx.commit()?;
    print!("{}", headline_text(&headline(&input)));
    println!("Report written to {}", a.out.display());
    Ok(())
}
