//! `plp init`, `plp key check`, `plp publish`, and the refusals that protect a study folder:
//! each exits 1 with one clear line and changes nothing.

use plp_tests::{plp, sha256_hex, snapshot, Respondent, TestStudy, PASSPHRASE};
use std::path::Path;

fn key_field(dir: &Path, pointer: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("evaluator.key")).expect("key file"))
            .expect("key file is JSON");
    v.pointer(pointer)
        .and_then(|x| x.as_str())
        .unwrap_or_else(|| panic!("no {pointer} in the key file"))
        .to_string()
}

fn json_keys(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                json_keys(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_keys(x, out)),
        _ => {}
    }
}

#[test]
fn init_key_check_and_publish() {
    let s = TestStudy::new("plp-setup");
    assert_eq!(s.key_id.len(), 16, "key id `{}`", s.key_id);
    for f in ["study.toml", "survey.toml", "evaluator.key", "plp.sqlite"] {
        assert!(s.dir.join(f).is_file(), "{f} missing after init");
    }
    let study_toml = std::fs::read_to_string(s.dir.join("study.toml")).expect("study.toml");
    assert!(
        study_toml.contains(&s.key_id) && study_toml.contains("cohort = 53"),
        "{study_toml}"
    );

    let out = s.plp(&["key", "check"]).ok();
    assert!(
        out.stdout
            .starts_with(&format!("ok: key {} unlocks, seals and opens", s.key_id)),
        "{}",
        out.stdout
    );

    // What publish wrote is what the browser loads.
    let cfg = &s.published.config;
    assert_eq!(cfg.study_id, "plp-setup");
    assert_eq!(cfg.key_id, s.key_id);
    assert_eq!(s.published.public_key.key_id(), s.key_id);
    let survey_json = std::fs::read(s.site.join("survey.json")).expect("survey.json");
    assert_eq!(cfg.survey_sha256, sha256_hex(&survey_json));
    assert_eq!(
        survey_json,
        plp_core::check::to_json(
            &plp_core::check::from_toml(plp_core::PLP_SURVEY_TOML).expect("built-in loads")
        ),
        "survey.json is the canonical JSON of the built-in survey"
    );
    assert_eq!(s.survey().questions().count(), 64);
    let db_sha: String = s.strings("SELECT sha256 FROM surveys").concat();
    assert_eq!(
        db_sha, cfg.survey_sha256,
        "the store knows the published survey"
    );

    // Nothing secret is published: no key-file material, no private-key fields, and the only
    // key bytes are the public key recorded in study.toml.
    let names: Vec<_> = std::fs::read_dir(&s.site)
        .expect("site")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name")
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["study.json", "survey.json"]);
    let secrets = [
        key_field(&s.dir, "/ciphertext"),
        key_field(&s.dir, "/nonce"),
        key_field(&s.dir, "/kdf/salt"),
    ];
    for name in &names {
        let bytes = std::fs::read(s.site.join(name)).expect("published file");
        let lower = String::from_utf8(bytes.clone())
            .expect("UTF-8")
            .to_lowercase();
        for word in ["ciphertext", "argon", "passphrase", "\"salt\"", "\"nonce\""] {
            assert!(!lower.contains(word), "{name} mentions {word}");
        }
        for secret in &secrets {
            assert!(
                !plp_tests::contains_bytes(&bytes, secret.as_bytes()),
                "{name} holds key-file material"
            );
        }
        let mut keys = Vec::new();
        json_keys(&serde_json::from_slice(&bytes).expect("JSON"), &mut keys);
        assert!(
            keys.iter()
                .all(|k| !k.contains("private") && !k.contains("secret")),
            "{name} has a private-looking member: {keys:?}"
        );
    }
    let study_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.site.join("study.json")).expect("study.json"))
            .expect("JSON");
    for (k, v) in study_json.as_object().expect("object") {
        if let Some(text) = v.as_str() {
            if let Ok(bytes) = plp_core::envelope::b64_decode("value", text) {
                if bytes.len() == 32 && k != "survey_sha256" {
                    assert_eq!(k, "public_key", "32 bytes of key material under `{k}`");
                }
            }
        }
    }
    assert!(study_toml.contains(study_json["public_key"].as_str().expect("public key")));

    // A response sealed to the published study is accepted.
    let env = s.respond(&Respondent::new("A", "bme", "sunflower"));
    let p = s.write("first.json", &env);
    let out = s.ingest(&[&p]).ok();
    assert_eq!(out.count("accepted"), 1, "{}", out.stdout);
}

#[test]
fn refusals_are_one_clear_line_and_change_nothing() {
    let s = TestStudy::new("plp-refuse");
    let other = TestStudy::new("plp-other");
    let response = s.write(
        "in/r.json",
        &s.respond(&Respondent::new("B", "senior_leader", "lantern")),
    );
    let unchanged = |what: &str, run: &dyn Fn() -> plp_tests::Output, needles: &[&str]| {
        let before = snapshot(&s.dir);
        run().fails_with(needles);
        assert_eq!(snapshot(&s.dir), before, "{what} changed the study folder");
    };

    unchanged(
        "wrong passphrase (key check)",
        &|| s.plp_pass(&["key", "check"], Some("not the passphrase")),
        &["wrong passphrase", "evaluator.key"],
    );
    unchanged(
        "wrong passphrase (ingest)",
        &|| {
            s.plp_pass(
                &["ingest", response.to_str().expect("UTF-8")],
                Some("not the passphrase"),
            )
        },
        &["wrong passphrase"],
    );
    assert_eq!(s.count("SELECT COUNT(*) FROM responses"), 0);

    // Missing key file.
    let key = s.dir.join("evaluator.key");
    let saved = std::fs::read(&key).expect("key file");
    std::fs::remove_file(&key).expect("removed");
    unchanged(
        "missing key file",
        &|| s.plp(&["key", "check"]),
        &["cannot read the key file", "backup"],
    );
    unchanged(
        "missing key file (ingest)",
        &|| s.plp(&["ingest", response.to_str().expect("UTF-8")]),
        &["cannot read the key file"],
    );

    // Corrupted key file: not JSON at all, then one flipped byte in the ciphertext.
    std::fs::write(&key, b"\x00\x01 this is not a key").expect("written");
    unchanged(
        "garbage key file",
        &|| s.plp(&["key", "check"]),
        &["corrupted", "backup"],
    );
    let mut v: serde_json::Value = serde_json::from_slice(&saved).expect("JSON");
    let ct = v["ciphertext"].as_str().expect("ciphertext").to_string();
    let flipped: String = ct
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 3 {
                if c == 'A' {
                    'B'
                } else {
                    'A'
                }
            } else {
                c
            }
        })
        .collect();
    v["ciphertext"] = flipped.into();
    std::fs::write(&key, serde_json::to_vec_pretty(&v).expect("JSON")).expect("written");
    unchanged(
        "flipped key file",
        &|| s.plp(&["key", "check"]),
        &["corrupted"],
    );

    // The key file of another study.
    std::fs::copy(other.dir.join("evaluator.key"), &key).expect("copied");
    unchanged(
        "another study's key file",
        &|| s.plp(&["key", "check"]),
        &["another study", &other.key_id, &s.key_id],
    );
    std::fs::write(&key, &saved).expect("restored");
    s.plp(&["key", "check"]).ok();

    // study.toml of another study: its key no longer matches the key file or the store.
    let toml = s.dir.join("study.toml");
    let saved_toml = std::fs::read(&toml).expect("study.toml");
    std::fs::copy(other.dir.join("study.toml"), &toml).expect("copied");
    unchanged(
        "another study.toml (key check)",
        &|| s.plp(&["key", "check"]),
        &["another study"],
    );
    unchanged(
        "another study.toml (status)",
        &|| s.plp(&["status"]),
        &["belongs to study plp-refuse", "not plp-other"],
    );
    std::fs::write(&toml, &saved_toml).expect("restored");

    // The store of another study.
    let db = s.dir.join("plp.sqlite");
    let saved_db = std::fs::read(&db).expect("store");
    std::fs::copy(other.dir.join("plp.sqlite"), &db).expect("copied");
    for args in [
        &["status"][..],
        &["ingest", response.to_str().expect("UTF-8")],
        &["audit"],
    ] {
        unchanged(
            "another study's store",
            &|| s.plp(args),
            &["belongs to study plp-other", "not plp-refuse"],
        );
    }
    std::fs::write(&db, &saved_db).expect("restored");

    // A folder without a study.
    let empty = s.root().join("empty");
    std::fs::create_dir_all(&empty).expect("folder");
    plp(
        &["--study".as_ref(), empty.as_os_str(), "status".as_ref()],
        None,
    )
    .fails_with(&["no study", "study.toml", "plp init"]);

    // init refuses to overwrite an existing study, or a folder holding only a key.
    let init = |dir: &Path, pass: &str| {
        plp(
            &[
                "init".as_ref(),
                dir.as_os_str(),
                "--study-id".as_ref(),
                "plp-again".as_ref(),
                "--title".as_ref(),
                "Again".as_ref(),
                "--cohort".as_ref(),
                "10".as_ref(),
            ],
            Some(pass),
        )
    };
    unchanged(
        "init over a study",
        &|| init(&s.dir, PASSPHRASE),
        &["refusing to overwrite"],
    );
    let key_only = s.root().join("key-only");
    std::fs::create_dir_all(&key_only).expect("folder");
    std::fs::write(key_only.join("evaluator.key"), &saved).expect("written");
    init(&key_only, PASSPHRASE).fails_with(&["evaluator.key", "refusing to overwrite"]);
    assert_eq!(
        std::fs::read(key_only.join("evaluator.key")).expect("key"),
        saved
    );
    assert!(!key_only.join("study.toml").exists());
    // A short passphrase is refused before anything is written.
    let fresh = s.root().join("fresh");
    init(&fresh, "short").fails_with(&["at least 10 characters"]);
    assert!(!fresh.join("evaluator.key").exists());

    // Everything still works afterwards.
    s.plp(&["key", "check"]).ok();
    assert_eq!(s.ingest(&[&response]).ok().count("accepted"), 1);
}

#[test]
fn key_check_on_a_backup_copy() {
    let s = TestStudy::new("plp-backup");
    let backup = s.root().join("backup.key");
    std::fs::copy(s.dir.join("evaluator.key"), &backup).expect("copied");
    let b = backup.to_str().expect("UTF-8");
    let out = s.plp(&["key", "check", "--file", b]).ok();
    assert!(
        out.stdout.contains(&format!("ok: key {}", s.key_id)),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("checked") && out.stdout.contains("backup.key"),
        "{}",
        out.stdout
    );

    s.plp_pass(&["key", "check", "--file", b], Some("wrong passphrase!"))
        .fails_with(&["wrong passphrase", "backup.key"]);

    // A backup cut short in transit.
    let bytes = std::fs::read(&backup).expect("backup");
    std::fs::write(&backup, &bytes[..bytes.len() / 2]).expect("written");
    s.plp(&["key", "check", "--file", b])
        .fails_with(&["backup.key", "corrupted"]);

    // A backup with damaged ciphertext bytes.
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    let ct = v["ciphertext"].as_str().expect("ciphertext");
    let damaged = format!(
        "{}{}",
        if ct.starts_with('A') { "B" } else { "A" },
        &ct[1..]
    );
    v["ciphertext"] = damaged.into();
    std::fs::write(&backup, serde_json::to_vec(&v).expect("JSON")).expect("written");
    s.plp(&["key", "check", "--file", b])
        .fails_with(&["backup.key", "corrupted"]);

    // A missing backup.
    let gone = s.root().join("nowhere.key");
    s.plp(&["key", "check", "--file", gone.to_str().expect("UTF-8")])
        .fails_with(&["cannot read the key file", "nowhere.key"]);

    // The study's own key is unaffected.
    s.plp(&["key", "check"]).ok();
}
