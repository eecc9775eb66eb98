//! `plp export --out DIR [--k N] [--suppress] [--preview]`: the pseudonymised dataset.
//!
//! Files are written to a temporary folder beside DIR and renamed into place, so a failed
//! export never leaves a half-written dataset. Each file's SHA-256 goes to the audit log.

use super::Opened;
use crate::args::ExportArgs;
use crate::dataset::{self, Dataset};
use crate::store::audit;
use anyhow::{bail, Context, Result};
use plp_core::codebook;
use plp_core::disclosure::{self, Assessment, PairRisk};
use plp_core::export::{self, Table};
use plp_core::survey::Survey;
use serde::Serialize;
use std::path::{Path, PathBuf};

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
    let key = super::unlock(&study, None)?;
    let data = dataset::load(
        &mut store,
        &key,
        &study.survey_sha256(),
        study.config.allocated_codes.as_deref(),
    )?;
    let preview = !locked;
    let files = build(
        &study.survey,
        &data,
        a.k,
        a.suppress,
        preview,
        &study.config.study_id,
        &study.config.title,
    )?;
    let out = write_dir(&a.out, &files)?;
    let tx = store.tx()?;
    audit(
        &tx,
        if preview { "export_preview" } else { "export" },
        serde_json::json!({
            "files": files.iter().map(|(n, b)| serde_json::json!({ "name": n, "sha256": plp_core::payload::sha256_hex(b) })).collect::<Vec<_>>(),
            "respondents": data.people.len(),
            "complete_pairs": data.pairs.len(),
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
        data.people.len(),
        data.pairs.len(),
        out.display()
    );
    Ok(())
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

fn tuples(t: &Table, cols: &[usize]) -> Vec<Vec<String>> {
    t.rows
        .iter()
        .map(|r| cols.iter().map(|&c| r[c].clone()).collect())
        .collect()
}

/// Blanks the quasi-identifier cells of rows in classes smaller than `k`.
fn suppress(t: &mut Table, cols: &[usize], k: usize) -> Blanked {
    let sizes = disclosure::class_sizes(&tuples(t, cols));
    let mut n = 0;
    for (row, size) in t.rows.iter_mut().zip(sizes) {
        if size < k {
            n += 1;
            for &c in cols {
                row[c].clear();
            }
        }
    }
    Blanked {
        file: format!("{}.csv", t.name),
        records: n,
        columns: cols.iter().map(|&c| t.fields[c].name.clone()).collect(),
    }
}

/// Builds every file of the export in memory: (file name, bytes).
fn build(
    survey: &Survey,
    data: &Dataset,
    k: usize,
    do_suppress: bool,
    preview: bool,
    study_id: &str,
    title: &str,
) -> Result<Vec<(String, Vec<u8>)>> {
    let people = data.respondents();
    let dyads = data.dyads(&people);
    let mut individual = export::individual(survey, &people);
    let mut dyad = export::dyad(survey, &dyads);
    let mut pairwise = export::pairwise(survey, &dyads);
    let mut free_text = export::free_text(survey, &people);
    let qis = &survey.survey.quasi_identifiers;
    let ind_cols = qi_columns(&individual, qis, &[""]);
    let dyad_cols = qi_columns(&dyad, qis, &["A", "B"]);
    let pw_cols = qi_columns(&pairwise, qis, &["A", "P"]);

    // Risks are measured before suppression: they are why suppression is needed.
    let ind_t = tuples(&individual, &ind_cols);
    let ind_sizes = disclosure::class_sizes(&ind_t);
    let risk_of = |person: &str| -> f64 {
        individual
            .rows
            .iter()
            .position(|r| r[1] == person)
            .map(|i| 1.0 / ind_sizes[i] as f64)
            .unwrap_or(0.0)
    };
    let pair_risk = disclosure::pair_risks(
        &dyads
            .iter()
            .map(|d| (risk_of(&d.a.person_id), risk_of(&d.b.person_id)))
            .collect::<Vec<_>>(),
    );
    let mut report = DisclosureReport {
        preview,
        quasi_identifiers: qis.clone(),
        k,
        suppressed: do_suppress,
        individual: disclosure::assess(&ind_t),
        dyad: disclosure::assess(&tuples(&dyad, &dyad_cols)),
        pairwise: disclosure::assess(&tuples(&pairwise, &pw_cols)),
        pair_risk,
        blanked: vec![],
    };
    if do_suppress {
        report.blanked = vec![
            suppress(&mut individual, &ind_cols, k),
            suppress(&mut dyad, &dyad_cols, k),
            suppress(&mut pairwise, &pw_cols, k),
        ];
    }
    let prefix = if preview { "PREVIEW_" } else { "" };
    for t in [&mut individual, &mut dyad, &mut pairwise, &mut free_text] {
        t.name = format!("{prefix}{}", t.name);
    }
    let tables = [&individual, &dyad, &pairwise, &free_text];
    let mut files: Vec<(String, Vec<u8>)> = tables
        .iter()
        .map(|t| (format!("{}.csv", t.name), t.to_csv()))
        .collect();
    let package = codebook::datapackage(&format!("{study_id}-export"), title, &tables, preview);
    files.push((
        format!("{prefix}datapackage.json"),
        serde_json::to_vec_pretty(&package)?,
    ));
    files.push((
        format!("{prefix}codebook.csv"),
        codebook::codebook_csv(&tables),
    ));
    files.push((
        format!("{prefix}setup.R"),
        codebook::setup_r(&tables).into_bytes(),
    ));
    files.push((
        format!("{prefix}setup.sps"),
        codebook::setup_sps(&tables).into_bytes(),
    ));
    files.push((
        format!("{prefix}setup.do"),
        codebook::setup_do(&tables).into_bytes(),
    ));
    files.push((
        format!("{prefix}linkage_report.json"),
        serde_json::to_vec_pretty(&serde_json::json!({
            "preview": preview,
            "complete_pairs": data.count("complete"),
            "singletons": data.count("singleton"),
            "conflicts": data.count("conflict"),
            "unallocated_codes": data.groups.iter().filter(|g| g.unallocated_code).count(),
            "groups": data.groups,
        }))?,
    ));
    files.push((
        format!("{prefix}disclosure_report.json"),
        serde_json::to_vec_pretty(&report)?,
    ));
    Ok(files)
}

/// Writes files into a fresh temporary folder beside `out`, then swaps it into place.
fn write_dir(out: &Path, files: &[(String, Vec<u8>)]) -> Result<PathBuf> {
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
    let result = (|| -> Result<()> {
        for (n, b) in files {
            crate::study::write_atomic(&tmp.join(n), b)?;
        }
        if out.exists() {
            let old = parent.join(format!(
                ".{name}.old-{}",
                hex::encode(crate::study::random::<4>())
            ));
            std::fs::rename(out, &old)?;
            std::fs::rename(&tmp, out)?;
            std::fs::remove_dir_all(&old)?;
        } else {
            std::fs::rename(&tmp, out)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.context(format!(
            "export to {} failed; nothing was left half-written",
            out.display()
        )));
    }
    Ok(out.to_path_buf())
}
