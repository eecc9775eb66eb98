//! Secrets never leave the key file: a study's whole life, run through the real `plp`
//! binary, with every stdout and stderr captured, and every file it wrote (published
//! configuration, exports, report, the store and its journal, the study folder) searched for
//! the passphrase, the private key, the passphrase-derived key-file key and the store's tag
//! key, raw and as hex and base64, and for the memorable words respondents chose.
//!
//! The private key is recovered from `evaluator.key` by `plp_tests::open_key_file`, with the
//! scheme of `cli/src/keyfile.rs` (Argon2id, then AES-256-GCM with the format and key id as
//! AAD), so the test also proves the key file opens with a second, independent implementation.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::Mac;
use plp_core::payload::WithdrawalPayload;
use plp_core::published::LoadedStudy;
use plp_tests::{contains_bytes, open_key_file, plp, random, Output, Respondent};
use std::ffi::OsStr;
use std::path::Path;

const PASSPHRASE: &str = "correct horse battery staple 4711";
const WRONG_PASSPHRASE: &str = "correct horse battery staple 4712";
const SHORT_PASSPHRASE: &str = "short-pw1";

/// `plp --study DIR ARGS...`
fn in_study(dir: &Path, args: &[&str], pass: Option<&str>) -> Output {
    let mut all: Vec<&OsStr> = vec!["--study".as_ref(), dir.as_os_str()];
    all.extend(args.iter().map(|a| OsStr::new(*a)));
    plp(&all, pass)
}

fn init(dir: &Path, study_id: &str, pass: &str) -> Output {
    plp(
        &[
            "init".as_ref(),
            dir.as_os_str(),
            "--study-id".as_ref(),
            study_id.as_ref(),
            "--title".as_ref(),
            "Secrets".as_ref(),
            "--cohort".as_ref(),
            "5".as_ref(),
        ],
        Some(pass),
    )
}

/// Seals plaintext to the published study, as the respondent's browser does.
fn seal(l: &LoadedStudy, plaintext: &[u8]) -> Vec<u8> {
    plp_tests::seal_to(l, &l.config.study_id, plaintext)
}

/// A sealed response, as the respondent's browser makes it.
fn response(l: &LoadedStudy, code: &str, role: &str, word: &str, seed: u64) -> Vec<u8> {
    let r = Respondent::new(code, role, word).seed(seed);
    seal(
        l,
        &plp_tests::payload_for(l, &r, &r.answers(&l.survey)).to_json(),
    )
}

/// A secret and the spellings it could leak in.
struct Secret {
    name: String,
    forms: Vec<(String, Vec<u8>)>,
}

fn bytes_secret(name: &str, b: &[u8]) -> Secret {
    Secret {
        name: name.into(),
        forms: vec![
            ("raw".into(), b.to_vec()),
            ("hex".into(), hex::encode(b).into_bytes()),
            ("HEX".into(), hex::encode_upper(b).into_bytes()),
            ("base64url".into(), URL_SAFE_NO_PAD.encode(b).into_bytes()),
            // Without the padding, which only the last group carries.
            (
                "base64".into(),
                STANDARD.encode(b).trim_end_matches('=').as_bytes().to_vec(),
            ),
        ],
    }
}

fn text_secret(name: &str, t: &str) -> Secret {
    let mut s = bytes_secret(name, t.as_bytes());
    s.forms.remove(2);
    s
}

/// Everything a command printed and every file under `roots`, by name.
struct Evidence(Vec<(String, Vec<u8>)>);

impl Evidence {
    fn run(&mut self, r: Output) -> Output {
        let args = r.args.join(" ");
        self.0
            .push((format!("stdout of `plp {args}`"), r.stdout.clone().into()));
        self.0
            .push((format!("stderr of `plp {args}`"), r.stderr.clone().into()));
        r
    }

    fn files(&mut self, root: &Path) {
        let mut stack = vec![root.to_path_buf()];
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                for e in std::fs::read_dir(&p).expect("folder") {
                    stack.push(e.expect("entry").path());
                }
            } else if let Ok(b) = std::fs::read(&p) {
                self.0.push((p.display().to_string(), b));
            }
        }
    }

    fn mentions(&self, needle: &[u8]) -> bool {
        self.0.iter().any(|(_, b)| contains_bytes(b, needle))
    }

    #[track_caller]
    fn assert_free_of(&self, secrets: &[Secret]) {
        let mut leaks = Vec::new();
        for (where_, bytes) in &self.0 {
            for s in secrets {
                for (form, needle) in &s.forms {
                    if contains_bytes(bytes, needle) {
                        leaks.push(format!("{} ({form}) in {where_}", s.name));
                    }
                }
            }
        }
        assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
        assert!(self.0.len() > 40, "too little evidence: {}", self.0.len());
    }
}

#[test]
fn no_command_prints_or_writes_a_secret() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();
    let dir = root.join("study");
    let site = root.join("site");
    let mut ev = Evidence(Vec::new());

    // A short passphrase is refused, and not echoed.
    ev.run(init(&root.join("short"), "plp-short", SHORT_PASSPHRASE))
        .fails_with_verbatim("at least 10 characters");

    ev.run(init(&dir, "plp-secrets", PASSPHRASE)).ok();
    let key_file = dir.join("evaluator.key");
    let (kek, private) = open_key_file(&key_file, PASSPHRASE);
    // The store's keys, each HMAC-SHA256(private key, its label).
    let subkey = |label: &[u8]| {
        let mut m = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(&private)
            .expect("HMAC key");
        m.update(label);
        m.finalize().into_bytes().to_vec()
    };
    let tag_key = subkey(b"plp-store-tag-key/1");
    let open_key_key = subkey(b"plp-store-open-key/1");
    // init refuses to overwrite the study or its key.
    ev.run(init(&dir, "plp-secrets", PASSPHRASE))
        .fails_with_verbatim("refusing to overwrite");

    let study = |args: &[&str]| in_study(&dir, args, Some(PASSPHRASE));
    let s = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    ev.run(study(&["key", "check"])).ok();
    let backup = root.join("backup.key");
    std::fs::copy(&key_file, &backup).expect("backup");
    ev.run(study(&["key", "check", "--file", &s(&backup)])).ok();
    ev.run(study(&["publish", "--out", &s(&site)])).ok();
    ev.run(study(&["survey", "show"])).ok();
    ev.run(in_study(&dir, &["status"], None)).ok();

    // Respondents: three people, one of whom withdraws by a sealed request and one through
    // the evaluator; plus junk.
    let l = plp_tests::load_published(&site);
    let words = ["lantern glow", "river stone", "quiet harbour"];
    let inbox = root.join("in");
    std::fs::create_dir_all(&inbox).expect("folder");
    let people = [("A", "bme"), ("A", "senior_leader"), ("B", "both")];
    for (i, ((code, role), word)) in people.iter().zip(words).enumerate() {
        std::fs::write(
            inbox.join(format!("r{i}.json")),
            response(&l, code, role, word, i as u64),
        )
        .expect("written");
    }
    let w = WithdrawalPayload::build(
        &l.config.study_id,
        &l.config.code_pattern,
        Some("B"),
        words[2],
        "2026-03-03",
        random::<16>(),
    )
    .expect("withdrawal request");
    std::fs::write(inbox.join("w.json"), seal(&l, &w.to_json())).expect("written");
    std::fs::write(inbox.join("junk.json"), b"{\"not\": \"an envelope\"}").expect("written");

    // Failing variants before the real ingest: the wrong passphrase, then a damaged key.
    for args in [
        &["key", "check"][..],
        &["ingest", &s(&inbox)],
        &["withdraw", "--word", words[0], "--dry-run"],
        &["export", "--preview", "--out", &s(&root.join("x"))],
        &["report", "--out", &s(&root.join("x.html"))],
    ] {
        ev.run(in_study(&dir, args, Some(WRONG_PASSPHRASE)))
            .fails_with_verbatim("wrong passphrase");
    }
    ev.run(in_study(&dir, &["ingest", &s(&inbox)], None))
        .fails_with_verbatim("passphrase");
    let saved = std::fs::read(&key_file).expect("key file");
    let mut v: serde_json::Value = serde_json::from_slice(&saved).expect("JSON");
    let ct = v["ciphertext"].as_str().expect("ciphertext").to_string();
    let flipped = format!(
        "{}{}",
        if ct.starts_with('A') { "B" } else { "A" },
        &ct[1..]
    );
    v["ciphertext"] = flipped.into();
    std::fs::write(&key_file, serde_json::to_vec(&v).expect("JSON")).expect("written");
    ev.run(study(&["key", "check"]))
        .fails_with_verbatim("corrupted");
    ev.run(study(&["ingest", &s(&inbox)]))
        .fails_with_verbatim("corrupted");
    std::fs::write(&key_file, &saved[..saved.len() / 2]).expect("written");
    ev.run(study(&["key", "check"]))
        .fails_with_verbatim("corrupted");
    std::fs::write(&key_file, &saved).expect("restored");

    // The real life of the study.
    ev.run(study(&["ingest", &s(&inbox)])).ok();
    ev.run(study(&["withdraw", "--word", words[0], "--dry-run"]))
        .ok();
    ev.run(study(&["withdraw", "--word", words[0]])).ok();
    ev.run(study(&["status"])).ok();
    ev.run(study(&["status", "--json"])).ok();
    ev.run(study(&[
        "export",
        "--preview",
        "--out",
        &s(&root.join("preview")),
    ]))
    .ok();
    ev.run(study(&["lock", "--yes"])).ok();
    ev.run(study(&["withdraw", "--word", words[1]]))
        .fails_with_verbatim("no longer possible");
    ev.run(study(&["export", "--out", &s(&root.join("export"))]))
        .ok();
    ev.run(study(&["report", "--out", &s(&root.join("report.html"))]))
        .ok();
    ev.run(study(&["audit"])).ok();
    ev.run(study(&["audit", "--verify"])).ok();
    ev.run(study(&["destroy-identifiers", "--yes"])).ok();
    ev.run(study(&["status"])).ok();
    ev.run(study(&["export", "--out", &s(&root.join("export-after"))]))
        .ok();

    // Every file written anywhere in the test folder: the study (store, journal, key file),
    // the published site, exports, report, envelopes. Envelopes and the key file hold
    // ciphertext only.
    ev.files(root);
    // The search sees what it should: the key recovered here is the study's, and its public
    // half is where it belongs (study.toml, study.json).
    let pair = plp_core::seal::KeyPair::from_secret(private).expect("a valid private key");
    assert_eq!(pair.public().key_id(), l.config.key_id);
    assert!(ev.mentions(URL_SAFE_NO_PAD.encode(pair.public().bytes()).as_bytes()));
    assert!(ev.mentions(b"plp: error: wrong passphrase"));
    let mut secrets = vec![
        text_secret("the passphrase", PASSPHRASE),
        text_secret("a mistyped passphrase", WRONG_PASSPHRASE),
        text_secret("a refused short passphrase", SHORT_PASSPHRASE),
        bytes_secret("the private key", &private),
        bytes_secret("the key-file key (Argon2id output)", &kek),
        bytes_secret("the store's tag key", &tag_key),
        bytes_secret("the store's key for envelope keys", &open_key_key),
    ];
    for w in words {
        secrets.push(text_secret(&format!("memorable word `{w}`"), w));
    }
    ev.assert_free_of(&secrets);
}
