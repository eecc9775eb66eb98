//! Copies of respondents' data outside the store: the inbox folder's `processed/` files,
//! and preview exports.
//!
//! `plp ingest` with no PATH takes envelope files from the study's `inbox/` folder and moves
//! them to `inbox/processed/` once the store has committed them. The store keeps every
//! response byte for byte, so those files are copies; a copy of a withdrawn response still
//! opens with the study key, so destroying a response destroys its copy too, and destroying
//! identifiers empties the folder.

use crate::study::{Study, INBOX_DIR};
use anyhow::{Context, Result};
use plp_core::envelope::fingerprint;
use rusqlite::Connection;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The folder of processed inbox files.
pub fn processed_dir(study: &Study) -> PathBuf {
    study.path(INBOX_DIR).join("processed")
}

/// Deletes the processed inbox files that hold a withdrawn response (by the SHA-256 of
/// their bytes against the store's `withdrawn` table), and says how many.
pub fn remove_withdrawn(study: &Study, conn: &Connection) -> Result<()> {
    let withdrawn: HashSet<String> = conn
        .prepare("SELECT envelope_sha256 FROM withdrawn")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if withdrawn.is_empty() {
        return Ok(());
    }
    let n = remove_where(study, |path| {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(withdrawn.contains(&fingerprint(&bytes)))
    })?;
    if n > 0 {
        println!("Deleted {n} copy(ies) of withdrawn responses in the inbox's processed folder.");
    }
    Ok(())
}

/// What follows destroying responses: their processed inbox copies are deleted, and the
/// evaluator is told of preview exports (written before the lock, so possibly holding the
/// withdrawn answers: plp does not know where they went).
pub fn after_withdrawal(study: &Study, conn: &Connection) -> Result<()> {
    remove_withdrawn(study, conn)?;
    let previews: i64 = conn.query_row(
        "SELECT COUNT(*) FROM audit WHERE event = 'export_preview'",
        [],
        |r| r.get(0),
    )?;
    if previews > 0 {
        eprintln!(
            "note: {previews} preview export(s) were written before this withdrawal (see `plp audit`) and may hold the withdrawn answers: delete them"
        );
    }
    Ok(())
}

/// Deletes every processed inbox file; how many.
pub fn remove_all(study: &Study) -> Result<usize> {
    remove_where(study, |_| Ok(true))
}

/// Deletes the processed inbox files `doomed` picks; how many.
fn remove_where(study: &Study, mut doomed: impl FnMut(&Path) -> Result<bool>) -> Result<usize> {
    let dir = processed_dir(study);
    if !dir.is_dir() {
        return Ok(0);
    }
    let mut removed = 0;
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
    {
        let path = entry?.path();
        if path.is_file() && doomed(&path)? {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot delete {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}
