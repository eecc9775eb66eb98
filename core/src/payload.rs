//! Payloads: what is inside an envelope (envelope-v1, "Payload" and "Withdrawal request").
//!
//! [`ResponseDraft::build`] is the only way the browser (and the demo) makes a response, so
//! normalisation, pruning, validation and the withdrawal tag happen in one place. The CLI
//! reads with [`read`] (answers in place) and checks with [`Response::verify`]; [`parse`]
//! gives the same payload with its answers owned.

use crate::answers::{AnswerSet, Answers, ReadAnswers, Value};
use crate::branching::prune;
use crate::code::{normalise_and_check, CodePattern};
use crate::error::Error;
use crate::hexfmt::{is_date, is_lower_hex};
use crate::survey::{Side, Survey};
use crate::validate::{validate_response, validate_slots};
use crate::withdrawal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `format` of a response payload.
pub const RESPONSE_FORMAT: &str = "plp-response/1";
/// `format` of a withdrawal request payload.
pub const WITHDRAWAL_FORMAT: &str = "plp-withdrawal/1";
/// Largest plaintext accepted when opening (an envelope is at most 256 KiB of base64).
pub const MAX_PAYLOAD_BYTES: usize = 192 * 1024;
/// Most entries a response's `answers` object may hold (a survey has at most
/// [`crate::check::MAX_QUESTIONS`] questions, each with at most one "Other" text, and many
/// fewer in practice). Checked when parsing and when verifying, so a hostile payload cannot
/// make validation compare tens of thousands of keys against every question.
pub const MAX_ANSWERS: usize = 2 * crate::check::MAX_QUESTIONS;

/// Which survey a response answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyRef {
    /// Survey id.
    pub id: String,
    /// Survey version.
    pub version: String,
    /// SHA-256 of the survey definition bytes as published, hex.
    pub sha256: String,
}

/// The respondent's consent as given in the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// Version of the information sheet shown.
    pub information_sheet_version: String,
    /// SHA-256 of the exact text shown, hex.
    pub information_sheet_sha256: String,
    /// Always `true`: submitting is consenting.
    pub agreed: bool,
    /// Date of consent, `YYYY-MM-DD`.
    pub date: String,
}

/// A response payload, generic over how its answers are held: [`ResponsePayload`] owns
/// them (what the browser builds and seals); [`ResponseView`] reads them in place from the
/// plaintext (what ingest checks for each of a million envelopes, with no answer copied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response<A> {
    /// Always [`RESPONSE_FORMAT`].
    pub format: String,
    /// 32 hex digits drawn once per submission.
    pub submission_id: String,
    /// The survey answered.
    pub survey: SurveyRef,
    /// Consent given.
    pub consent: Consent,
    /// Normalised pair code.
    pub code: String,
    /// Withdrawal tag, 64 hex digits.
    pub withdrawal_tag: String,
    /// Answers by question id.
    pub answers: A,
}

/// A response payload with its answers owned.
pub type ResponsePayload = Response<Answers>;

/// A response payload with its answers read in place from the plaintext (see [`read`]).
pub type ResponseView<'a> = Response<ReadAnswers<'a>>;

/// A withdrawal request payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalPayload {
    /// Always [`WITHDRAWAL_FORMAT`].
    pub format: String,
    /// 32 hex digits drawn once per request.
    pub request_id: String,
    /// Pair code, when the respondent gave it: absent otherwise (`null` is refused, as it is
    /// no pair code).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_string"
    )]
    pub code: Option<String>,
    /// Withdrawal tag of the memorable word.
    pub withdrawal_tag: String,
    /// Date of the request, `YYYY-MM-DD`.
    pub date: String,
}

/// An opened payload of either kind; `A` as in [`Response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload<A = Answers> {
    /// A survey response.
    Response(Box<Response<A>>),
    /// A request to withdraw.
    Withdrawal(WithdrawalPayload),
}

#[derive(Deserialize)]
struct FormatOnly<'a> {
    /// `Cow` so a format written with JSON escapes (`plp-response\/1`) still reads.
    #[serde(borrow)]
    format: Option<std::borrow::Cow<'a, str>>,
}

/// [`read`], with a response's answers copied out into an owned map: what the browser and
/// the tests use.
pub fn parse(plaintext: &[u8]) -> Result<Payload, Error> {
    Ok(match read(plaintext)? {
        Payload::Response(p) => {
            Payload::Response(Box::new(p.map_answers(ReadAnswers::into_answers)))
        }
        Payload::Withdrawal(w) => Payload::Withdrawal(w),
    })
}

/// Parses plaintext into a payload, strictly: exact members, well-formed ids, tags and
/// dates. A response's answers are read in place (borrowed unless escaped): what ingest
/// uses.
pub fn read(plaintext: &[u8]) -> Result<Payload<ReadAnswers<'_>>, Error> {
    if plaintext.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::TooLarge {
            what: "payload",
            size: plaintext.len(),
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    let bad = |e: serde_json::Error| Error::Payload(e.to_string());
    if plaintext.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::Payload("it is not a JSON object".into()));
    }
    // Nearly every payload is a response: read it as one in a single pass, and only when
    // that fails read its `format` first, to say what is wrong.
    let first = match utf8_then(plaintext, serde_json::from_str::<ResponseView<'_>>) {
        Ok(mut p) if p.format == RESPONSE_FORMAT => {
            p.lower_hex();
            p.check_form()?;
            return Ok(Payload::Response(Box::new(p)));
        }
        other => other,
    };
    let head: FormatOnly<'_> = serde_json::from_slice(plaintext).map_err(bad)?;
    match head.format.as_deref() {
        // Said to be a response, but it did not read as one: that reading's error.
        Some(RESPONSE_FORMAT) => {
            let mut p = first.map_err(bad)?;
            p.lower_hex();
            p.check_form()?;
            Ok(Payload::Response(Box::new(p)))
        }
        Some(WITHDRAWAL_FORMAT) => {
            let mut p: WithdrawalPayload = serde_json::from_slice(plaintext).map_err(bad)?;
            // The spec says "hex digits" for the request id, not "lowercase": either case,
            // kept in lowercase.
            p.request_id.make_ascii_lowercase();
            p.check_form()?;
            Ok(Payload::Withdrawal(p))
        }
        Some(other) => Err(Error::Payload(format!("unknown payload format `{other}`"))),
        None => Err(Error::Payload("no `format` member".into())),
    }
}

/// The `answers` of a payload that was parsed strictly and validated when it was ingested
/// (a stored response, or a pseudonymised record): read in place, the other members
/// skipped unread. What an export reads for each respondent.
pub fn read_answers(plaintext: &[u8]) -> Result<ReadAnswers<'_>, Error> {
    #[derive(Deserialize)]
    struct Stored<'a> {
        #[serde(borrow)]
        answers: ReadAnswers<'a>,
    }
    utf8_then(plaintext, serde_json::from_str::<Stored<'_>>)
        .map(|s| s.answers)
        .map_err(|e| Error::Payload(e.to_string()))
}

/// Reads JSON from `bytes` with `read` when they are UTF-8 (checked once for the whole text,
/// not string by string as `serde_json::from_slice` does: that was 1-2% of an ingest's and
/// an export's CPU), else with `serde_json::from_slice`, whose error says where the bad
/// byte is. Both read valid UTF-8 alike.
fn utf8_then<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    read: impl FnOnce(&'a str) -> serde_json::Result<T>,
) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => read(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// SHA-256 of bytes as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The error for an `answers` object with more than [`MAX_ANSWERS`] entries.
fn check_answer_count(answers: &impl AnswerSet) -> Result<(), Error> {
    if answers.count() > MAX_ANSWERS {
        return Err(Error::Payload(format!(
            "`answers` has {} entries, over the limit of {MAX_ANSWERS}",
            answers.count()
        )));
    }
    Ok(())
}

impl<A: AnswerSet> Response<A> {
    /// The spec says "hex digits" for the survey's and the information sheet's SHA-256, not
    /// "lowercase" (as it does for `submission_id` and the tag): either case is read, and
    /// kept in lowercase, as plp writes and looks them up.
    fn lower_hex(&mut self) {
        self.survey.sha256.make_ascii_lowercase();
        self.consent.information_sheet_sha256.make_ascii_lowercase();
    }

    fn check_form(&self) -> Result<(), Error> {
        let fail = |m: &str| Err(Error::Payload(m.to_string()));
        check_answer_count(&self.answers)?;
        if !is_lower_hex(&self.submission_id, 32) {
            return fail("`submission_id` must be 32 lowercase hex digits");
        }
        if !is_lower_hex(&self.survey.sha256, 64) {
            return fail("`survey.sha256` must be 64 hex digits");
        }
        if !is_lower_hex(&self.consent.information_sheet_sha256, 64) {
            return fail("`consent.information_sheet_sha256` must be 64 hex digits");
        }
        if !self.consent.agreed {
            return fail("`consent.agreed` is not true");
        }
        if !is_date(&self.consent.date) {
            return fail("`consent.date` must be a date written YYYY-MM-DD");
        }
        if !withdrawal::is_tag(&self.withdrawal_tag) {
            return fail("`withdrawal_tag` must be 64 lowercase hex digits");
        }
        Ok(())
    }

    /// Checks the payload against the survey it names: same survey and version, the
    /// information sheet shown is this survey's, a valid code and valid answers.
    pub fn verify(&self, survey: &Survey) -> Result<(), Error> {
        check_answer_count(&self.answers)?;
        if self.survey.id != survey.survey.id || self.survey.version != survey.survey.version {
            return Err(Error::Payload(format!(
                "payload names survey {} {}, but its SHA-256 belongs to {} {}",
                self.survey.id, self.survey.version, survey.survey.id, survey.survey.version
            )));
        }
        let sheet = &survey.information_sheet;
        if self.consent.information_sheet_version != sheet.version
            || self.consent.information_sheet_sha256 != survey.index().sheet_sha256
        {
            return Err(Error::Payload(
                "consent was given to an information sheet this survey does not have".into(),
            ));
        }
        if self.code != crate::code::normalise(&self.code) {
            return Err(Error::Payload("`code` is not normalised".into()));
        }
        validate_slots(survey, &self.code, &survey.lay_out(&self.answers)).map_err(Error::Invalid)
    }

    /// The side of the pair, from the pairing question's answer.
    pub fn side(&self, survey: &Survey) -> Option<Side> {
        self.answers
            .value_of(&survey.pairing.question)
            .and_then(Value::as_text)
            .and_then(|o| survey.side_for(o))
    }
}

impl<A> Response<A> {
    /// The same payload with its answers made into something else: copied out of the
    /// plaintext ([`parse`]), or dropped once checked (ingest records the ids, not the
    /// answers, which stay sealed in the envelope).
    pub fn map_answers<B>(self, f: impl FnOnce(A) -> B) -> Response<B> {
        Response {
            format: self.format,
            submission_id: self.submission_id,
            survey: self.survey,
            consent: self.consent,
            code: self.code,
            withdrawal_tag: self.withdrawal_tag,
            answers: f(self.answers),
        }
    }
}

/// An optional member that, when present, is a string (`null` refused).
fn present_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

impl WithdrawalPayload {
    fn check_form(&self) -> Result<(), Error> {
        if !is_lower_hex(&self.request_id, 32) {
            return Err(Error::Payload("`request_id` must be 32 hex digits".into()));
        }
        if !withdrawal::is_tag(&self.withdrawal_tag) {
            return Err(Error::Payload(
                "`withdrawal_tag` must be 64 lowercase hex digits".into(),
            ));
        }
        if !is_date(&self.date) {
            return Err(Error::Payload("`date` must be written YYYY-MM-DD".into()));
        }
        if let Some(c) = &self.code {
            if c.is_empty() || *c != crate::code::normalise(c) {
                return Err(Error::Payload(
                    "`code` is not a normalised pair code".into(),
                ));
            }
        }
        Ok(())
    }

    /// Checks the request against a survey of its study: the code it names, if any, must be
    /// one the survey's pair code pattern allows (the spec's rule for a pair code).
    pub fn verify(&self, survey: &Survey) -> Result<(), Error> {
        match &self.code {
            Some(code) => {
                normalise_and_check(code, &*CodePattern::cached(&survey.survey.code_pattern)?)?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Builds a withdrawal request from what the respondent typed.
    pub fn build(
        study_id: &str,
        pattern: &str,
        code: Option<&str>,
        word: &str,
        date: &str,
        request_id: [u8; 16],
    ) -> Result<Self, Error> {
        let code = match code.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => Some(normalise_and_check(c, &CodePattern::new(pattern)?)?),
            None => None,
        };
        if !is_date(date) {
            return Err(Error::Payload(format!("`{date}` is not a YYYY-MM-DD date")));
        }
        Ok(WithdrawalPayload {
            format: WITHDRAWAL_FORMAT.into(),
            request_id: hex::encode(request_id),
            code,
            withdrawal_tag: withdrawal::tag(study_id, word)?,
            date: date.into(),
        })
    }

    /// The payload as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a payload always serialises")
    }
}

/// What the browser has collected when the respondent presses submit.
#[derive(Debug, Clone)]
pub struct ResponseDraft<'a> {
    /// The study the response is for (goes into the tag).
    pub study_id: &'a str,
    /// The survey answered.
    pub survey: &'a Survey,
    /// SHA-256 of the published survey bytes.
    pub survey_sha256: &'a str,
    /// Pair code as typed.
    pub code: &'a str,
    /// Memorable word as typed; only its tag is kept.
    pub word: &'a str,
    /// Answers collected.
    pub answers: &'a Answers,
    /// Today's date, `YYYY-MM-DD`.
    pub date: &'a str,
    /// 16 fresh random bytes.
    pub submission_id: [u8; 16],
}

impl ResponseDraft<'_> {
    /// Normalises, prunes, validates and builds the payload. Errors name every problem.
    pub fn build(&self) -> Result<ResponsePayload, Error> {
        let pattern = CodePattern::new(&self.survey.survey.code_pattern)?;
        let code = normalise_and_check(self.code, &pattern);
        let tag = withdrawal::tag(self.study_id, self.word);
        let answers = prune(self.survey, self.answers).kept;
        let code = code?;
        let tag = tag?;
        validate_response(self.survey, &code, &answers).map_err(Error::Invalid)?;
        if !is_date(self.date) {
            return Err(Error::Payload(format!(
                "`{}` is not a YYYY-MM-DD date",
                self.date
            )));
        }
        let sheet = &self.survey.information_sheet;
        Ok(ResponsePayload {
            format: RESPONSE_FORMAT.into(),
            submission_id: hex::encode(self.submission_id),
            survey: SurveyRef {
                id: self.survey.survey.id.clone(),
                version: self.survey.survey.version.clone(),
                sha256: self.survey_sha256.to_string(),
            },
            consent: Consent {
                information_sheet_version: sheet.version.clone(),
                information_sheet_sha256: sha256_hex(sheet.text.as_bytes()),
                agreed: true,
                date: self.date.to_string(),
            },
            code,
            withdrawal_tag: tag,
            answers,
        })
    }
}

impl ResponsePayload {
    /// The payload as JSON bytes, members in the spec's order.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a payload always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the spec says "hex digits" (the survey's and the sheet's SHA-256, a request
    /// id) either case is read, and kept in lowercase; where it says "lowercase hex digits"
    /// (submission id, tag) upper case is refused.
    #[test]
    fn hex_case_as_the_spec_words_it() {
        let tag = "cd".repeat(32);
        let response = |submission: &str, survey_sha: &str, sheet_sha: &str| {
            format!(
                r#"{{"format":"plp-response/1","submission_id":"{submission}","survey":{{"id":"s","version":"1","sha256":"{survey_sha}"}},"consent":{{"information_sheet_version":"1","information_sheet_sha256":"{sheet_sha}","agreed":true,"date":"2026-01-02"}},"code":"AB","withdrawal_tag":"{tag}","answers":{{}}}}"#
            )
        };
        let lower = "0a".repeat(16);
        let upper = "AB".repeat(32);
        let text = response(&lower, &upper, &"Ef".repeat(32));
        let p = read(text.as_bytes()).expect("read");
        let Payload::Response(p) = p else {
            panic!("a response")
        };
        assert_eq!(p.survey.sha256, "ab".repeat(32));
        assert_eq!(p.consent.information_sheet_sha256, "ef".repeat(32));
        let e = read(response(&"0A".repeat(16), &upper, &upper).as_bytes()).unwrap_err();
        assert!(e.to_string().contains("submission_id"), "{e}");
        let w = format!(
            r#"{{"format":"plp-withdrawal/1","request_id":"{}","withdrawal_tag":"{tag}","date":"2026-01-02"}}"#,
            "0A".repeat(16)
        );
        let Ok(Payload::Withdrawal(w)) = parse(w.as_bytes()) else {
            panic!("a withdrawal request")
        };
        assert_eq!(w.request_id, "0a".repeat(16));
        let w = format!(
            r#"{{"format":"plp-withdrawal/1","request_id":"{lower}","withdrawal_tag":"{}","date":"2026-01-02"}}"#,
            "CD".repeat(32)
        );
        assert!(parse(w.as_bytes()).is_err(), "the tag is lowercase");
    }

    #[test]
    fn escaped_format_and_non_objects() {
        let w = br#"{"format":"plp-withdrawal\/1","request_id":"00112233445566778899aabbccddeeff","withdrawal_tag":"0000000000000000000000000000000000000000000000000000000000000000","date":"2026-01-02"}"#;
        assert!(matches!(parse(w), Ok(Payload::Withdrawal(_))));
        assert!(parse(br#"["plp-withdrawal/1"]"#).is_err());
        assert!(parse(br#"{"format":"plp-other/1"}"#).is_err());
    }

    /// What [`read`] reads (answers in place) and [`parse`] gives (answers owned) is what
    /// serde's own reading of [`ResponsePayload`] gives, whatever the order of members and
    /// answer keys, with repeated keys; and the view verifies and sides as the owned
    /// payload does. Random walks through the built-in survey, some damaged.
    #[test]
    fn read_in_place_agrees_with_owned_reading() {
        use crate::sample::{walk, SplitMix64, Style};
        use serde_json::Value as Json;
        let survey = crate::check::from_toml(crate::PLP_SURVEY_TOML).expect("built-in survey");
        let mut rng = SplitMix64(5);
        let mut verified = 0;
        for round in 0..500u64 {
            let mut answers = walk(&survey, &mut rng, &Style::default(), &Answers::new());
            if round % 7 == 0 {
                answers.insert("q99_unknown".into(), crate::Answer::Int(1));
            }
            let p = ResponsePayload {
                format: RESPONSE_FORMAT.into(),
                submission_id: format!("{round:032x}"),
                survey: SurveyRef {
                    id: survey.survey.id.clone(),
                    version: survey.survey.version.clone(),
                    sha256: "ab".repeat(32),
                },
                consent: Consent {
                    information_sheet_version: survey.information_sheet.version.clone(),
                    information_sheet_sha256: survey.index().sheet_sha256.clone(),
                    agreed: true,
                    date: "2026-11-29".into(),
                },
                code: "AB".into(),
                withdrawal_tag: "cd".repeat(32),
                answers,
            };
            let canonical = p.to_json();
            // Members reversed (answers first), answer keys reversed, and one key given
            // twice: a stale value first, the real one later (the last one counts).
            let Json::Object(members) = serde_json::from_slice::<Json>(&canonical).unwrap() else {
                unreachable!()
            };
            let mut shuffled = String::from("{");
            for (i, (k, v)) in members.iter().rev().enumerate() {
                if i > 0 {
                    shuffled.push(',');
                }
                shuffled.push_str(&serde_json::to_string(k).unwrap());
                shuffled.push(':');
                match v {
                    Json::Object(a) if k == "answers" => {
                        let mut parts: Vec<String> = a
                            .iter()
                            .rev()
                            .map(|(k, v)| format!("{}:{}", Json::from(k.as_str()), v))
                            .collect();
                        if let Some((k, _)) = a.iter().next() {
                            parts.insert(0, format!("{}:\"stale\"", Json::from(k.as_str())));
                        }
                        shuffled.push_str(&format!("{{{}}}", parts.join(",")));
                    }
                    other => shuffled.push_str(&other.to_string()),
                }
            }
            shuffled.push('}');
            for json in [canonical, shuffled.into_bytes()] {
                let oracle: ResponsePayload = serde_json::from_slice(&json).unwrap();
                assert_eq!(oracle, p, "round {round}");
                let Ok(Payload::Response(owned)) = parse(&json) else {
                    panic!("round {round}: not a response")
                };
                assert_eq!(*owned, oracle, "round {round}");
                let Ok(Payload::Response(view)) = read(&json) else {
                    panic!("round {round}: not a response")
                };
                assert_eq!(view.answers.to_answers(), oracle.answers, "round {round}");
                let (v, o) = (view.verify(&survey), oracle.verify(&survey));
                assert_eq!(
                    v.as_ref().map_err(ToString::to_string),
                    o.as_ref().map_err(ToString::to_string),
                    "round {round}"
                );
                verified += usize::from(v.is_ok());
                assert_eq!(view.side(&survey), oracle.side(&survey), "round {round}");
                assert!(view.side(&survey).is_some(), "round {round}");
            }
        }
        assert!((600..1000).contains(&verified), "{verified} verified");
    }
}
