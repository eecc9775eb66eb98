//! The public study configuration the respondent app loads (`study.json`, written by
//! `plp publish`), beside the survey definition (`survey.json`, exact bytes).
//!
//! Nothing secret is in it. The browser checks that the survey bytes hash to
//! `survey_sha256` and that the public key hashes to `key_id` before showing anything.

use crate::envelope::{b64_decode, is_study_id};
use crate::error::Error;
use crate::payload::sha256_hex;
use crate::seal::PublicKey;
use crate::survey::Survey;
use serde::{Deserialize, Serialize};

/// `format` of `study.json`.
pub const STUDY_FORMAT: &str = "plp-study/1";
/// Largest `study.json` accepted.
pub const MAX_STUDY_JSON_BYTES: usize = 256 * 1024;

/// Whether `name`, the `survey_file` of a `study.json`, is a plain file name the app may
/// fetch beside it: not empty, and nothing that would make it a path, another origin, a
/// query or a fragment. The app checks it before fetching; [`PublishedStudy::load`] too.
pub fn is_survey_file_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', ':', '?', '#'])
}

/// `study.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedStudy {
    /// Always [`STUDY_FORMAT`].
    pub format: String,
    /// Study id.
    pub study_id: String,
    /// Title shown to respondents.
    pub title: String,
    /// File name of the survey definition beside this file.
    pub survey_file: String,
    /// SHA-256 of that file's bytes.
    pub survey_sha256: String,
    /// base64url of the evaluator's X25519 public key.
    pub public_key: String,
    /// Its key id.
    pub key_id: String,
    /// Information sheet version (also inside the survey).
    pub information_sheet_version: String,
    /// Information sheet text (also inside the survey).
    pub information_sheet_text: String,
    /// Pair-code pattern (also inside the survey).
    pub code_pattern: String,
    /// Where to POST envelopes; absent means "download a file".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_url: Option<String>,
}

/// A published study, checked and ready to seal to.
#[derive(Debug, Clone)]
pub struct LoadedStudy {
    /// The configuration as published.
    pub config: PublishedStudy,
    /// The survey.
    pub survey: Survey,
    /// The evaluator's public key.
    pub public_key: PublicKey,
}

impl PublishedStudy {
    /// Builds the configuration for a study.
    pub fn new(
        study_id: &str,
        title: &str,
        survey: &Survey,
        survey_json: &[u8],
        public_key: &PublicKey,
        submission_url: Option<String>,
    ) -> Self {
        PublishedStudy {
            format: STUDY_FORMAT.into(),
            study_id: study_id.into(),
            title: title.into(),
            survey_file: "survey.json".into(),
            survey_sha256: sha256_hex(survey_json),
            public_key: crate::envelope::b64_encode(public_key.bytes()),
            key_id: public_key.key_id().into(),
            information_sheet_version: survey.information_sheet.version.clone(),
            information_sheet_text: survey.information_sheet.text.clone(),
            code_pattern: survey.survey.code_pattern.clone(),
            submission_url,
        }
    }

    /// Parses `study.json` and checks it against the survey bytes it names.
    pub fn load(study_json: &[u8], survey_json: &[u8]) -> Result<LoadedStudy, Error> {
        let bad = |m: String| Error::Published(m);
        if study_json.len() > MAX_STUDY_JSON_BYTES {
            return Err(Error::TooLarge {
                what: "study configuration",
                size: study_json.len(),
                limit: MAX_STUDY_JSON_BYTES,
            });
        }
        if study_json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(bad("study.json is not a JSON object".into()));
        }
        let config: PublishedStudy =
            serde_json::from_slice(study_json).map_err(|e| bad(e.to_string()))?;
        if config.format != STUDY_FORMAT {
            return Err(bad(format!(
                "format is `{}`, expected `{STUDY_FORMAT}`",
                config.format
            )));
        }
        if !is_study_id(&config.study_id) {
            return Err(bad("study_id is malformed".into()));
        }
        if !is_survey_file_name(&config.survey_file) {
            return Err(bad(format!(
                "study.json names a survey file `{}` that is not a plain file name",
                config.survey_file
            )));
        }
        if sha256_hex(survey_json) != config.survey_sha256 {
            return Err(bad(
                "the survey definition does not match the SHA-256 the study publishes".into(),
            ));
        }
        let pk: [u8; 32] = b64_decode("public_key", &config.public_key)?
            .try_into()
            .map_err(|_| bad("public_key is not 32 bytes".into()))?;
        let public_key = PublicKey::from_bytes(pk)?;
        if public_key.key_id() != config.key_id {
            return Err(bad("key_id does not match the public key".into()));
        }
        let survey = crate::check::from_json(survey_json)?;
        if survey.information_sheet.version != config.information_sheet_version
            || survey.information_sheet.text != config.information_sheet_text
            || survey.survey.code_pattern != config.code_pattern
        {
            return Err(bad(
                "information sheet or code pattern differs from the survey's own".into(),
            ));
        }
        Ok(LoadedStudy {
            config,
            survey,
            public_key,
        })
    }
}

#[cfg(test)]
mod survey_file_tests {
    use super::{is_survey_file_name, PublishedStudy};
    use crate::seal::KeyPair;

    /// `survey_file` must be a plain name beside `study.json`, in core (the CLI's reading
    /// of a published study) as in the app, which asks core before fetching it.
    #[test]
    fn only_a_plain_survey_file_name_loads() {
        let survey = crate::check::from_toml(crate::PLP_SURVEY_TOML).expect("built-in survey");
        let survey_json = crate::check::to_json(&survey);
        let key = KeyPair::derive([3; 32]);
        let mut study = PublishedStudy::new("s", "S", &survey, &survey_json, key.public(), None);
        for name in ["survey.json", "survey-v2.json", "..json"] {
            assert!(is_survey_file_name(name), "{name}");
            study.survey_file = name.into();
            let json = serde_json::to_vec(&study).expect("JSON");
            PublishedStudy::load(&json, &survey_json).expect(name);
        }
        for name in [
            "",
            "../survey.json",
            "a/b.json",
            "a\\b.json",
            "https:x",
            "s.json?x",
            "s#x",
        ] {
            assert!(!is_survey_file_name(name), "{name}");
            study.survey_file = name.into();
            let json = serde_json::to_vec(&study).expect("JSON");
            let e = PublishedStudy::load(&json, &survey_json)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!(
                    "names a survey file `{name}` that is not a plain file name"
                )),
                "{e}"
            );
        }
    }
}
