//! `plp init`, `plp key check`, `plp publish`.

use crate::args::{InitArgs, PublishArgs};
use crate::keyfile;
use crate::store::Store;
use crate::study::{
    random, write_atomic, KeyInfo, Study, StudyConfig, KEY_FILE, STORE_FILE, STUDY_FILE,
    SURVEY_FILE,
};
use anyhow::{bail, Context, Result};
use plp_core::envelope::{b64_encode, is_study_id};
use plp_core::published::PublishedStudy;
use plp_core::seal::KeyPair;
use std::path::Path;

/// `plp init DIR --study-id ID --title TEXT --cohort N [--survey FILE]`
pub fn init(a: &InitArgs) -> Result<()> {
    if !is_study_id(&a.study_id) {
        bail!(
            "study id `{}` is not valid: use 1-63 of a-z, 0-9 and -, starting with a letter or digit",
            a.study_id
        );
    }
    if a.cohort == 0 {
        bail!("--cohort must be at least 1 (the number of people invited)");
    }
    for f in [STUDY_FILE, KEY_FILE, STORE_FILE, SURVEY_FILE] {
        if a.dir.join(f).exists() {
            bail!(
                "{} already holds {f}; refusing to overwrite an existing study or key",
                a.dir.display()
            );
        }
    }
    let survey_text = match &a.survey {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        None => plp_core::PLP_SURVEY_TOML.to_string(),
    };
    plp_core::check::from_toml(&survey_text).map_err(|e| match (&a.survey, e) {
        (Some(p), plp_core::Error::SurveyInvalid(list)) => anyhow::anyhow!(
            "{} has {} problem(s):\n  - {}",
            p.display(),
            list.len(),
            list.join("\n  - ")
        ),
        (_, e) => e.into(),
    })?;
    let pass = keyfile::passphrase(true)?;
    let key = KeyPair::derive(random::<32>());
    let key_bytes = keyfile::seal(&key, &pass)?;
    let config = StudyConfig {
        study_id: a.study_id.clone(),
        title: a.title.clone(),
        cohort: a.cohort,
        submission_url: a.submission_url.clone(),
        allocated_codes: None,
        key: KeyInfo {
            key_id: key.public().key_id().to_string(),
            public_key: b64_encode(key.public().bytes()),
        },
    };

    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("cannot create {}", a.dir.display()))?;
    let created = [KEY_FILE, SURVEY_FILE, STUDY_FILE, STORE_FILE];
    let result = (|| -> Result<()> {
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(a.dir.join(KEY_FILE))
                .context("cannot create the key file")?;
            f.write_all(&key_bytes)?;
            f.sync_all()?;
        }
        write_atomic(&a.dir.join(SURVEY_FILE), survey_text.as_bytes())?;
        write_atomic(
            &a.dir.join(STUDY_FILE),
            toml::to_string_pretty(&config)?.as_bytes(),
        )?;
        let study = Study::open(Some(&a.dir))?;
        let mut store = Store::create(
            &a.dir.join(STORE_FILE),
            &config.study_id,
            &config.key.key_id,
        )?;
        store.add_survey(
            &study.survey_sha256(),
            &study.survey.survey.id,
            &study.survey.survey.version,
            &study.survey_json,
        )?;
        Ok(())
    })();
    if let Err(e) = result {
        for f in created {
            let _ = std::fs::remove_file(a.dir.join(f));
        }
        return Err(e.context("study not created; nothing was left behind"));
    }
    let key_path = a.dir.join(KEY_FILE);
    println!("Created study {} in {}", config.study_id, a.dir.display());
    println!("Key id: {}", config.key.key_id);
    eprintln!(
        "\nIMPORTANT: responses can only be opened with the private key in {} and its passphrase.\n\
         If you lose either, every response is lost for good; nobody can recover them.\n\
         Back the key file up now, to somewhere other than this machine (an encrypted USB stick\n\
         kept by a second evaluator, say), keep the passphrase in your organisation's password\n\
         store, and test the backup with:\n    plp --study {} key check --file BACKUP_COPY",
        key_path.display(),
        a.dir.display()
    );
    Ok(())
}

/// `plp key check [--file BACKUP]`
pub fn key_check(dir: Option<&Path>, file: Option<&Path>) -> Result<()> {
    let study = Study::open(dir)?;
    let key = super::unlock(&study, file)?;
    let canary = b"plp key check canary";
    let env = key
        .public()
        .seal(&study.config.study_id, canary, random::<32>())?;
    let parsed = plp_core::envelope::Envelope::parse(&env.to_json())?;
    let opened = key.open(&parsed)?;
    if opened.as_slice() != canary {
        bail!("the key opened the canary to different bytes; the key file is damaged");
    }
    let pk = study.public_key()?;
    if pk.bytes() != key.public().bytes() {
        bail!("the key file does not match the public key in study.toml");
    }
    println!(
        "ok: key {} unlocks, seals and opens{}",
        key.public().key_id(),
        file.map(|f| format!(" (checked {})", f.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// `plp publish --out DIR`
pub fn publish(dir: Option<&Path>, a: &PublishArgs) -> Result<()> {
    let study = Study::open(dir)?;
    let url = a
        .submission_url
        .clone()
        .or_else(|| study.config.submission_url.clone());
    let published = PublishedStudy::new(
        &study.config.study_id,
        &study.config.title,
        &study.survey,
        &study.survey_json,
        &study.public_key()?,
        url,
    );
    let study_json = serde_json::to_vec_pretty(&published)?;
    // Prove the pair loads exactly as the browser will load it.
    PublishedStudy::load(&study_json, &study.survey_json)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    write_atomic(&a.out.join(&published.survey_file), &study.survey_json)?;
    write_atomic(&a.out.join("study.json"), &study_json)?;
    println!(
        "Published study {} (key {}, survey sha256 {}) to {}",
        published.study_id,
        published.key_id,
        &published.survey_sha256[..16],
        a.out.display()
    );
    Ok(())
}
