//! `plp demo [DIR]`: a demo study that reproduces the published evaluation's respondent
//! figures, run through the real pipeline: every response sealed through core exactly as
//! the browser seals it, ingested, one respondent withdrawing before the lock, a late
//! withdrawal refused after it, then export and report.
//!
//! The published figures (Clifford et al., BMJ Leader 2023): 26 of 53 responded (49.1%);
//! 9 senior leaders, 14 BME staff, 3 both; 8 complete pairs; 23 would recommend (q64 4-5);
//! 17 attended at least one check-in session (q20).

use crate::args::{
    DemoArgs, ExportArgs, IngestArgs, InitArgs, PublishArgs, ReportArgs, WithdrawArgs,
};
use crate::study::{random, today, STUDY_FILE};
use anyhow::{bail, Context, Result};
use plp_core::answers::{Answer, Answers};
use plp_core::payload::ResponseDraft;
use plp_core::sample::{walk, SplitMix64, Style};
use std::path::Path;

/// Marks a folder as made by `plp demo`, so a second run may replace it.
const MARKER: &str = ".plp-demo";
/// Passphrase of the demo key when PLP_PASSPHRASE is not set. Not a secret: demo data only.
const DEMO_PASSPHRASE: &str = "plp demo passphrase (not secret)";

struct Respondent {
    code: &'static str,
    role: &'static str,
    attended: bool,
    recommends: bool,
}

/// 8 pairs (A-H) and 10 singletons (J-S): 14 BME, 9 senior leaders, 3 both.
fn plan() -> Vec<Respondent> {
    let mut v = Vec::new();
    let pairs: [(&str, &str, &str); 8] = [
        ("A", "bme", "senior_leader"),
        ("B", "bme", "senior_leader"),
        ("C", "bme", "senior_leader"),
        ("D", "bme", "senior_leader"),
        ("E", "bme", "senior_leader"),
        ("F", "bme", "senior_leader"),
        ("G", "both", "senior_leader"),
        ("H", "bme", "both"),
    ];
    for (code, r1, r2) in pairs {
        for role in [r1, r2] {
            v.push((code, role));
        }
    }
    let singles = [
        ("J", "bme"),
        ("K", "bme"),
        ("L", "bme"),
        ("M", "bme"),
        ("N", "bme"),
        ("O", "bme"),
        ("P", "bme"),
        ("Q", "senior_leader"),
        ("R", "senior_leader"),
        ("S", "both"),
    ];
    v.extend(singles);
    v.into_iter()
        .enumerate()
        .map(|(i, (code, role))| Respondent {
            code,
            role,
            attended: i < 17,
            recommends: !matches!(i, 5 | 12 | 20),
        })
        .collect()
}

fn word(i: usize) -> String {
    format!("demo word {i}")
}

/// `plp demo [DIR]`
pub fn run(a: &DemoArgs) -> Result<()> {
    let dir = &a.dir;
    if dir.join(STUDY_FILE).exists() {
        if !dir.join(MARKER).exists() {
            bail!(
                "{} holds a study that `plp demo` did not create; choose another folder",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot replace the earlier demo in {}", dir.display()))?;
    }
    if std::env::var_os("PLP_PASSPHRASE").is_none() {
        // Safe: set before any thread is started.
        std::env::set_var("PLP_PASSPHRASE", DEMO_PASSPHRASE);
    }
    println!("== 1. Creating the demo study in {}", dir.display());
    super::setup::init(&InitArgs {
        dir: dir.clone(),
        study_id: "plp-demo".into(),
        title: "Parallel Learning Partnerships evaluation (demo)".into(),
        cohort: 53,
        survey: None,
        submission_url: Some("/api/v1/envelopes".into()),
    })?;
    std::fs::write(dir.join(MARKER), b"made by plp demo\n")?;
    let site = dir.join("site");
    super::setup::publish(
        Some(dir),
        &PublishArgs {
            out: site.clone(),
            submission_url: None,
        },
    )?;

    println!("\n== 2. Sealing 27 synthetic responses exactly as the browser does");
    let loaded = plp_core::published::PublishedStudy::load(
        &std::fs::read(site.join("study.json"))?,
        &std::fs::read(site.join("survey.json"))?,
    )?;
    let survey = &loaded.survey;
    let inbox = dir.join("submissions");
    std::fs::create_dir_all(&inbox)?;
    let date = today();
    let mut people = plan();
    // The 27th respondent, who will withdraw before the lock.
    people.push(Respondent {
        code: "T",
        role: "bme",
        attended: true,
        recommends: true,
    });
    for (i, p) in people.iter().enumerate() {
        let mut fixed = Answers::new();
        fixed.insert("q3".into(), Answer::Text(p.role.into()));
        let q20 = if p.attended {
            ["one", "multiple", "all"][i % 3]
        } else {
            "no"
        };
        fixed.insert("q20".into(), Answer::Text(q20.into()));
        let q64 = if p.recommends {
            4 + (i as i64 % 2)
        } else {
            2 + (i as i64 % 2)
        };
        fixed.insert("q64".into(), Answer::Int(q64));
        let answers = walk(
            survey,
            &mut SplitMix64(i as u64 + 1),
            &Style::default(),
            &fixed,
        );
        let payload = ResponseDraft {
            study_id: &loaded.config.study_id,
            survey,
            survey_sha256: &loaded.config.survey_sha256,
            code: p.code,
            word: &word(i),
            answers: &answers,
            date: &date,
            submission_id: random::<16>(),
        }
        .build()?;
        let env =
            loaded
                .public_key
                .seal(&loaded.config.study_id, &payload.to_json(), random::<32>())?;
        std::fs::write(inbox.join(format!("{:03}.plp.json", i + 1)), env.to_json())?;
    }
    println!("Sealed {} envelopes into {}", people.len(), inbox.display());

    println!("\n== 3. Ingesting");
    super::ingest::run(Some(dir), &IngestArgs { paths: vec![inbox] })?;

    println!("\n== 4. Respondent 27 withdraws by memorable word (before the lock)");
    super::withdraw::run(
        Some(dir),
        &WithdrawArgs {
            word: Some(word(people.len() - 1)),
            code: None,
            role: None,
            dry_run: false,
        },
    )?;

    println!("\n== 5. Locking: analysis begins");
    super::admin::lock(Some(dir), true)?;

    println!("\n== 6. A late withdrawal after the lock is refused");
    match super::withdraw::run(
        Some(dir),
        &WithdrawArgs {
            word: Some(word(0)),
            code: None,
            role: None,
            dry_run: false,
        },
    ) {
        Ok(()) => bail!("the late withdrawal was not refused"),
        Err(e) => println!("Refused as it should be: {e}"),
    }

    println!("\n== 7. Exporting and reporting");
    let export = dir.join("export");
    super::export::run(
        Some(dir),
        &ExportArgs {
            out: export.clone(),
            k: 3,
            suppress: false,
            preview: false,
        },
    )?;
    let report = dir.join("report.html");
    super::report::run(
        Some(dir),
        &ReportArgs {
            out: report.clone(),
            no_suppress: false,
        },
    )?;
    super::admin::audit(Some(dir), true)?;

    println!("\nDone. The demo study is in {}:", dir.display());
    println!("  dataset   {}", export.display());
    println!("  report    {}", report.display());
    println!("  audit     plp --study {} audit", dir.display());
    println!(
        "  key       passphrase: {}",
        if std::env::var("PLP_PASSPHRASE").as_deref() == Ok(DEMO_PASSPHRASE) {
            DEMO_PASSPHRASE
        } else {
            "(your PLP_PASSPHRASE)"
        }
    );
    if let Some(addr) = a.serve {
        serve_live(dir, addr, a.web.as_deref())?;
    }
    Ok(())
}

/// Serves a fresh, unlocked copy of the demo study so a person can answer the survey in a
/// browser; what they submit is ingested into `DIR/live`.
fn serve_live(dir: &Path, addr: std::net::SocketAddr, web: Option<&Path>) -> Result<()> {
    let live = dir.join("live");
    super::setup::init(&InitArgs {
        dir: live.clone(),
        study_id: "plp-demo-live".into(),
        title: "Parallel Learning Partnerships evaluation (try it)".into(),
        cohort: 53,
        survey: None,
        submission_url: Some("/api/v1/envelopes".into()),
    })?;
    println!(
        "\n== 8. Serving the respondent app for {} on http://{addr}",
        live.display()
    );
    if web.is_none() {
        println!(
            "   (the app is not built: build it with `trunk build --release` and pass --web dist)"
        );
    }
    // Say exactly what to type: the binary's own path (it is rarely on PATH after
    // `cargo build`) and the passphrase the demo uses.
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "plp".into());
    let pass = if std::env::var("PLP_PASSPHRASE").as_deref() == Ok(DEMO_PASSPHRASE) {
        format!("PLP_PASSPHRASE='{DEMO_PASSPHRASE}' ")
    } else {
        String::new()
    };
    println!(
        "   Fill in the survey in your browser, then, in another terminal (the server can keep\n\
         \x20  running), open what was submitted:\n\
         \x20    {pass}{exe} --study {live} ingest\n\
         \x20    {pass}{exe} --study {live} status\n\
         \x20    {pass}{exe} --study {live} export --preview --out {live}/export\n\
         \x20  Stop the server with Ctrl-C.",
        live = live.display()
    );
    crate::serve::run(
        Some(&live),
        &crate::args::ServeArgs {
            addr,
            web: web.map(Path::to_path_buf),
            log: false,
            rate: crate::serve::RATE,
            max_connections: crate::serve::MAX_CONNECTIONS,
        },
    )
}
