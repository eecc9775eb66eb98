//! The study folder: `study.toml`, the survey definition, the encrypted key and the store.
//!
//! Every command finds its study from `--study DIR` or the current folder, and refuses a
//! folder whose files disagree (a key or store from another study).

use anyhow::{bail, Context, Result};
use plp_core::seal::PublicKey;
use plp_core::survey::Survey;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File names inside a study folder.
pub const STUDY_FILE: &str = "study.toml";
/// The survey definition as the evaluator wrote it.
pub const SURVEY_FILE: &str = "survey.toml";
/// The passphrase-encrypted private key.
pub const KEY_FILE: &str = "evaluator.key";
/// The SQLite store.
pub const STORE_FILE: &str = "plp.sqlite";
/// Where the collection server drops envelopes.
pub const INBOX_DIR: &str = "inbox";

/// `study.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// Study id (goes into every envelope and tag).
    pub study_id: String,
    /// Title shown to respondents.
    pub title: String,
    /// Number of people invited, for the response rate.
    pub cohort: u32,
    /// Where the browser POSTs envelopes; without it respondents download a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_url: Option<String>,
    /// Pair codes allocated to pairs; codes outside it are flagged at linkage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_codes: Option<Vec<String>>,
    /// The study's public key.
    pub key: KeyInfo,
}

/// The public half of the study key, as recorded in `study.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyInfo {
    /// 16 hex digits.
    pub key_id: String,
    /// base64url of the 32-byte X25519 public key.
    pub public_key: String,
}

/// A study folder, loaded.
pub struct Study {
    /// The folder.
    pub dir: PathBuf,
    /// `study.toml`.
    pub config: StudyConfig,
    /// The survey definition.
    pub survey: Survey,
    /// The canonical JSON of the survey, as published.
    pub survey_json: Vec<u8>,
}

impl Study {
    /// Finds the study in `dir` (or the current folder) and loads it.
    pub fn open(dir: Option<&Path>) -> Result<Study> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => std::env::current_dir().context("cannot read the current folder")?,
        };
        let cfg_path = dir.join(STUDY_FILE);
        if !cfg_path.exists() {
            bail!(
                "no study in {}: there is no {STUDY_FILE} (use --study DIR, or run `plp init` first)",
                dir.display()
            );
        }
        let text = std::fs::read_to_string(&cfg_path)
            .with_context(|| format!("cannot read {}", cfg_path.display()))?;
        let config: StudyConfig = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!("{} is not a valid study file: {e}", cfg_path.display())
        })?;
        let survey_path = dir.join(SURVEY_FILE);
        let survey_text = std::fs::read_to_string(&survey_path)
            .with_context(|| format!("cannot read {}", survey_path.display()))?;
        let survey = plp_core::check::from_toml(&survey_text)
            .with_context(|| format!("{} is broken", survey_path.display()))?;
        let survey_json = plp_core::check::to_json(&survey);
        let study = Study {
            dir,
            config,
            survey,
            survey_json,
        };
        study.public_key()?;
        Ok(study)
    }

    /// The study's public key, checked against its key id.
    pub fn public_key(&self) -> Result<PublicKey> {
        let bytes = plp_core::envelope::b64_decode("public_key", &self.config.key.public_key)
            .context("study.toml: key.public_key")?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("study.toml: key.public_key is not 32 bytes"))?;
        let pk = PublicKey::from_bytes(arr)?;
        if pk.key_id() != self.config.key.key_id {
            bail!(
                "study.toml is inconsistent: key.public_key has id {}, but key.key_id says {}",
                pk.key_id(),
                self.config.key.key_id
            );
        }
        Ok(pk)
    }

    /// SHA-256 of the published survey bytes.
    pub fn survey_sha256(&self) -> String {
        plp_core::payload::sha256_hex(&self.survey_json)
    }

    /// Path of a file in the study folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Writes a file atomically: to a temporary name, fsync, then rename into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("plp")
    ));
    {
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

/// Now in UTC, RFC 3339.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC time always formats")
}

/// Fresh random bytes from the operating system.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system has no randomness");
    b
}

/// Bytes of [`nonce`]'s pool, drawn from the operating system at once.
const NONCE_POOL: usize = 4096;

/// Fresh random bytes that need not stay secret, only never repeat (AES-GCM nonces, stored
/// in the clear beside what they encrypt), taken from a pool each thread refills from the
/// operating system [`NONCE_POOL`] bytes at a time. Ingest wraps one key per envelope, and
/// a system call for each nonce was 0.68% of a million-envelope ingest's samples (the
/// call and the kernel's generator). Bytes are handed out once each.
pub fn nonce<const N: usize>() -> [u8; N] {
    const { assert!(N <= NONCE_POOL) };
    thread_local! {
        static POOL: std::cell::RefCell<(Box<[u8; NONCE_POOL]>, usize)> =
            std::cell::RefCell::new((Box::new([0; NONCE_POOL]), NONCE_POOL));
    }
    POOL.with(|pool| {
        let (bytes, used) = &mut *pool.borrow_mut();
        if *used + N > NONCE_POOL {
            getrandom::fill(&mut bytes[..]).expect("the operating system has no randomness");
            *used = 0;
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&bytes[*used..*used + N]);
        *used += N;
        out
    })
}

#[cfg(test)]
mod nonce_tests {
    /// Nonces drawn across several refills of the pool are all different (96 random bits
    /// each: a repeat would mean bytes handed out twice).
    #[test]
    fn nonces_do_not_repeat_across_refills() {
        let n = 3 * super::NONCE_POOL / 12 + 5;
        let drawn: std::collections::HashSet<[u8; 12]> =
            (0..n).map(|_| super::nonce::<12>()).collect();
        assert_eq!(drawn.len(), n);
    }
}
