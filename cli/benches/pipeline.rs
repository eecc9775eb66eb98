//! A million envelopes through `plp ingest`, `plp lock` and `plp export`, against the
//! cryptographic floor and the Python baseline (`shared/bench/baseline.py`).
//!
//! `cargo bench -p plp-cli --bench pipeline` (release build). For each size N
//! (`PLP_BENCH_SIZES`, comma-separated, default `10000,100000,1000000`) it:
//! - makes N valid responses as respondents would: random walks through the built-in survey
//!   (realistic free text), in pairs sharing a code from opposite sides (some "both", a few
//!   singletons), each built with `ResponseDraft::build` and sealed with `PublicKey::seal` to
//!   the key the study publishes, on every core; one `.jsonl` file of envelopes, one per line,
//!   and, for N <= 100,000 only (to spare the disk), a folder of one file per envelope.
//!   Envelopes are made once for the largest N; smaller sizes take its first lines.
//! - times `plp ingest FILE.jsonl`, `plp lock --yes` and `plp export --out DIR` as whole
//!   processes of the release binary, each in a fresh copy of the study, with its peak
//!   resident memory (`/usr/bin/time -v`); for folders, `plp ingest FOLDER` too;
//! - runs `python3 shared/bench/baseline.py` on the same `.jsonl` (installing `cryptography`
//!   and `pandas` with pip when they are missing);
//! - measures one X25519 multiplication three ways: `openssl speed ecdhx25519` (OpenSSL's
//!   assembly), x25519-dalek and AWS-LC in this process; and the per-envelope stages of
//!   opening on one core.
//!
//! The floor is N x (one X25519, OpenSSL) / cores: no pipeline that opens every envelope can
//! beat it. The table gives each size's time, its ratio to the floor and to Python, peak
//! memory and the cost per envelope. Work files go to `PLP_BENCH_DIR` (default: the system
//! temporary folder) and are deleted at the end unless `PLP_BENCH_KEEP=1`; a size whose files
//! would not fit on the disk is skipped with a note. `PLP_BENCH_MAKE_ONLY=1` makes and keeps
//! the envelopes and stops; `PLP_BENCH_FROM=DIR` reuses such a kept folder instead of sealing
//! again (sealing a million takes about a quarter of an hour here); `PLP_BENCH_PYTHON=0`
//! leaves the baseline out.
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it only says how to run it.

#[path = "support/kit.rs"]
mod kit;

use kit::outcome;
use plp_core::answers::{Answer, Answers};
use plp_core::envelope::Envelope;
use plp_core::fastopen::{x25519, Opener};
use plp_core::payload::{self, Payload};
use plp_core::published::{LoadedStudy, PublishedStudy};
use plp_core::sample::{walk, SplitMix64, Style};
use plp_core::seal::KeyPair;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Passphrase of the bench study.
const PASSPHRASE: &str = "pipeline bench passphrase";
/// Folders of one file per envelope only up to this size.
const MAX_FOLDER: usize = 100_000;
/// Bytes of disk each envelope needs at most: the `.jsonl` line, its copy in the store (with
/// the WAL while ingesting), the exported rows and Python's.
const DISK_PER_ENVELOPE: u64 = 12_000;
/// Envelopes sealed per round of generation (memory stays small).
const ROUND: usize = 20_000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("pipeline: skipped; run it with `cargo bench -p plp-cli --bench pipeline`");
        return;
    }
    let mut sizes: Vec<usize> = std::env::var("PLP_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .filter(|&n| n > 0)
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let base = std::env::var_os("PLP_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).expect("bench folder");
    let work = tempfile::Builder::new()
        .prefix("plp-pipeline-")
        .tempdir_in(&base)
        .expect("work folder");
    let free = free_bytes(work.path());
    sizes.retain(|&n| {
        let need = n as u64 * DISK_PER_ENVELOPE;
        let fits = free.is_none_or(|f| need < f);
        if !fits {
            println!(
                "N = {n}: skipped, needs about {} GB of disk and {} has {} GB free",
                need / 1_000_000_000,
                work.path().display(),
                free.unwrap_or(0) / 1_000_000_000
            );
        }
        fits
    });
    let Some(&largest) = sizes.last() else {
        println!("pipeline: no size to run");
        return;
    };
    // PLP_BENCH_PYTHON=0 leaves the baseline out (while iterating; the table then has no ratio).
    let python = std::env::var("PLP_BENCH_PYTHON").as_deref() != Ok("0") && python_ready();

    println!("== one X25519 multiplication on this machine ({cores} cores)");
    let openssl_us = openssl_x25519_us();
    match openssl_us {
        Some(us) => println!("  OpenSSL (openssl speed ecdhx25519)  {us:>6.1} us"),
        None => {
            println!("  OpenSSL: `openssl speed` did not run; the floor uses the fastest below")
        }
    }
    let dalek_us = per_op_us(|i| {
        let mut pk = [9u8; 32];
        pk[1] = i as u8;
        x25519(&[7u8; 32], &pk)[0]
    });
    println!("  x25519-dalek (in process)           {dalek_us:>6.1} us");
    let awslc_us = {
        use aws_lc_rs::agreement::{agree, PrivateKey, UnparsedPublicKey, X25519};
        let sk = PrivateKey::from_private_key(&X25519, &[7u8; 32]).expect("key");
        let pks: Vec<[u8; 32]> = (0..256u32)
            .map(|i| *KeyPair::derive([i as u8; 32]).public().bytes())
            .collect();
        per_op_us(|i| {
            let pk = UnparsedPublicKey::new(&X25519, &pks[i % pks.len()]);
            agree(&sk, pk, (), |s| Ok(s[0])).expect("agrees")
        })
    };
    println!("  AWS-LC (in process, as plp uses it) {awslc_us:>6.1} us");
    let x_us = openssl_us.unwrap_or(awslc_us.min(dalek_us));

    println!("\n== study and envelopes");
    let reuse = std::env::var_os("PLP_BENCH_FROM").map(PathBuf::from);
    let (template, study, jsonl, folders) = match &reuse {
        Some(from) => {
            let (study, jsonl, folders) = reuse_envelopes(from, work.path(), &sizes);
            println!(
                "  reusing the study and envelopes kept in {} (PLP_BENCH_FROM)",
                from.display()
            );
            (from.join("template"), study, jsonl, folders)
        }
        None => {
            let template = work.path().join("template");
            let study = make_study(&template);
            let made = Instant::now();
            let (jsonl, folders) = make_envelopes(&study, work.path(), &sizes, cores);
            println!(
                "  sealed {largest} envelopes in {:.1} s on {cores} cores ({} bytes on average); folders of files for N <= {MAX_FOLDER} only",
                made.elapsed().as_secs_f64(),
                std::fs::metadata(&jsonl[&largest]).map_or(0, |m| m.len()) / largest as u64
            );
            (template, study, jsonl, folders)
        }
    };
    let secret = unlock_key(&template, &study);
    if std::env::var("PLP_BENCH_MAKE_ONLY").as_deref() == Ok("1") {
        println!("  kept in {} (PLP_BENCH_MAKE_ONLY)", work.keep().display());
        return;
    }
    stages(&study, &secret, &jsonl[&sizes[0]]);

    let mut rows = Vec::new();
    for &n in &sizes {
        println!("\n== N = {n}");
        let dir = work.path().join(format!("run-{n}"));
        let run = run_size(
            n,
            &template,
            &dir,
            &jsonl[&n],
            folders.get(&n),
            &secret,
            python,
        );
        let _ = std::fs::remove_dir_all(&dir);
        rows.push(run);
    }

    println!("\n== results (floor = N x X25519 {x_us:.1} us / {cores} cores; memory = peak RSS)");
    println!(
        "{:>9} {:>9} {:>7} {:>9} {:>9} {:>8} {:>9} {:>8} {:>9} {:>8} {:>9} {:>9} {:>9}",
        "N",
        "ingest s",
        "lock s",
        "export s",
        "total s",
        "floor s",
        "x floor",
        "us/env",
        "python s",
        "x faster",
        "ingest MiB",
        "export MiB",
        "python MiB"
    );
    for r in &rows {
        let floor = r.n as f64 * x_us * 1e-6 / cores as f64;
        let total = r.ingest.secs + r.lock.secs + r.export.secs;
        let py = r.python.as_ref();
        println!(
            "{:>9} {:>9.2} {:>7.2} {:>9.2} {:>9.2} {:>8.2} {:>9.2} {:>8.1} {:>9} {:>8} {:>9} {:>9} {:>9}",
            r.n,
            r.ingest.secs,
            r.lock.secs,
            r.export.secs,
            total,
            floor,
            total / floor,
            total * 1e6 / r.n as f64,
            py.map_or("-".into(), |p| format!("{:.2}", p.secs)),
            py.map_or("-".into(), |p| format!("{:.1}", p.secs / total)),
            mib(r.ingest.peak_kib),
            mib(r.export.peak_kib),
            py.map_or("-".into(), |p| mib(p.peak_kib)),
        );
    }
    for r in &rows {
        if let Some(f) = &r.folder {
            println!(
                "  N = {}: `plp ingest FOLDER` of {} files took {:.2} s ({:.1} us/envelope, peak {} MiB)",
                r.n,
                r.n,
                f.secs,
                f.secs * 1e6 / r.n as f64,
                mib(f.peak_kib)
            );
        }
    }
    if std::env::var("PLP_BENCH_KEEP").as_deref() == Ok("1") {
        println!("\nwork files kept in {}", work.keep().display());
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), |k| format!("{}", k / 1024))
}

/// Free bytes on the disk holding `dir` (`df`), if it can be read.
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1)?;
    line.split_whitespace()
        .nth(3)?
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}

/// Average microseconds of `f` over about a second.
fn per_op_us<T>(mut f: impl FnMut(usize) -> T) -> f64 {
    let mut sink = Vec::new();
    for i in 0..200 {
        sink.push(f(i));
    }
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            sink.push(f(n));
            n += 1;
        }
        sink.truncate(1);
    }
    std::hint::black_box(sink);
    started.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// `openssl speed -seconds 3 ecdhx25519`: microseconds per operation.
fn openssl_x25519_us() -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "ecdhx25519"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    // "  253 bits ecdh (X25519)   0.0001s  18688.3"
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.contains("X25519"))?;
    let ops: f64 = line.split_whitespace().last()?.parse().ok()?;
    (ops > 0.0).then(|| 1e6 / ops)
}

/// Whether Python with `cryptography` and `pandas` is there, installing the packages when
/// they are missing.
fn python_ready() -> bool {
    let check = || {
        Command::new("python3")
            .args([
                "-c",
                "import pandas; from cryptography.hazmat.primitives import hpke",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if check() {
        return true;
    }
    println!("installing the Python baseline's packages: pip install cryptography pandas");
    let _ = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "cryptography", "pandas"])
        .status();
    let ok = check();
    if !ok {
        println!(
            "Python baseline unavailable: python3 with cryptography (hpke) and pandas is missing"
        );
    }
    ok
}

fn baseline_script() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../../shared/bench/baseline.py"),
        manifest.join("../shared/bench/baseline.py"),
        PathBuf::from("/work/shared/bench/baseline.py"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .expect("shared/bench/baseline.py beside the repository")
}

fn plp(study: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_plp"));
    c.arg("--study")
        .arg(study)
        .env("PLP_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null());
    c
}

fn plp_ok(mut c: Command) -> String {
    let out = c.output().expect("plp runs");
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `plp init` with the built-in survey, its pair codes widened to up to five letters (a
/// million respondents need half a million codes), then published as the browser loads it.
fn make_study(dir: &Path) -> LoadedStudy {
    let survey_toml = plp_core::PLP_SURVEY_TOML.replace(
        "code_pattern = \"^[A-Z]{1,2}$\"",
        "code_pattern = \"^[A-Z]{1,5}$\"",
    );
    assert_ne!(
        survey_toml,
        plp_core::PLP_SURVEY_TOML,
        "the code pattern line moved"
    );
    std::fs::create_dir_all(dir.parent().expect("parent")).expect("folder");
    let survey = dir.with_extension("survey.toml");
    std::fs::write(&survey, survey_toml).expect("survey written");
    let mut init = plp(Path::new("."));
    init.arg("init")
        .arg(dir)
        .args(["--study-id", "pipeline-bench", "--title", "Pipeline bench"])
        .args(["--cohort", "1000000", "--survey"])
        .arg(&survey);
    plp_ok(init);
    let public = dir.with_extension("public");
    let mut publish = plp(dir);
    publish.args(["publish", "--out"]).arg(&public);
    plp_ok(publish);
    let study_json = std::fs::read(public.join("study.json")).expect("study.json");
    let config: PublishedStudy = serde_json::from_slice(&study_json).expect("study.json parses");
    let survey_json = std::fs::read(public.join(&config.survey_file)).expect("survey file");
    PublishedStudy::load(&study_json, &survey_json).expect("the published study loads")
}

/// The study's private key, from `evaluator.key` as `plp` writes it (opened by
/// `plp_tests::open_key_file`). Checked against the published public key, so a change of
/// format fails here, loudly.
fn unlock_key(dir: &Path, study: &LoadedStudy) -> KeyPair {
    let (_, secret) = plp_tests::open_key_file(&dir.join("evaluator.key"), PASSPHRASE);
    let key = KeyPair::from_secret(secret).expect("a key");
    assert_eq!(
        key.public(),
        &study.public_key,
        "the key file holds the published key"
    );
    key
}

/// Pair code of pair `p`: bijective base 26 (A..Z, AA..ZZ, AAA..), so every pair has its own.
fn code(mut p: usize) -> String {
    let mut s = Vec::new();
    p += 1;
    while p > 0 {
        p -= 1;
        s.push(b'A' + (p % 26) as u8);
        p /= 26;
    }
    s.reverse();
    String::from_utf8(s).expect("ASCII")
}

/// Respondent `i`: pairs are consecutive (2p, 2p + 1), the first on side A (`bme`), the
/// second on side B (`senior_leader`) or, in one pair in ten, `both`; in one pair in fifty
/// the second respondent typed another code (two singletons).
fn respondent(i: usize) -> (String, &'static str) {
    let p = i / 2;
    if i.is_multiple_of(2) {
        return (code(p), "bme");
    }
    let role = if p % 10 == 3 { "both" } else { "senior_leader" };
    if p % 50 == 7 {
        // A code no pair uses: far beyond the pairs' own.
        return (code(5_000_000 + p), role);
    }
    (code(p), role)
}

/// Envelope of respondent `i`, made as the browser makes it.
fn seal(study: &LoadedStudy, i: usize) -> Vec<u8> {
    let (code, role) = respondent(i);
    let mut fixed = Answers::new();
    fixed.insert("q3".into(), Answer::Text(role.into()));
    let answers = walk(
        &study.survey,
        &mut SplitMix64(i as u64 * 7919 + 1),
        &Style::default(),
        &fixed,
    );
    kit::seal_answers(
        study,
        &study.config.study_id,
        &code,
        &kit::word(i),
        &answers,
    )
}

/// The study and envelopes of an earlier run kept with `PLP_BENCH_KEEP=1`: its `template`
/// study, `template.public` and its largest `envelopes-M.jsonl`; a size N without its own file
/// gets the first N lines of it, written into `work`. Folders are used where they were kept.
#[allow(clippy::type_complexity)]
fn reuse_envelopes(
    from: &Path,
    work: &Path,
    sizes: &[usize],
) -> (
    LoadedStudy,
    std::collections::BTreeMap<usize, PathBuf>,
    std::collections::BTreeMap<usize, PathBuf>,
) {
    use std::io::BufRead;
    let public = from.join("template.public");
    let study_json = std::fs::read(public.join("study.json")).expect("kept study.json");
    let config: PublishedStudy = serde_json::from_slice(&study_json).expect("study.json parses");
    let survey_json = std::fs::read(public.join(&config.survey_file)).expect("survey file");
    let study = PublishedStudy::load(&study_json, &survey_json).expect("the kept study loads");
    let mut kept: Vec<(usize, PathBuf)> = std::fs::read_dir(from)
        .expect("kept folder")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let n = p
                .file_name()?
                .to_str()?
                .strip_prefix("envelopes-")?
                .strip_suffix(".jsonl")?
                .parse()
                .ok()?;
            Some((n, p))
        })
        .collect();
    kept.sort();
    let (biggest, source) = kept.last().cloned().expect("a kept envelopes-N.jsonl");
    let mut jsonl = std::collections::BTreeMap::new();
    let mut folders = std::collections::BTreeMap::new();
    for &n in sizes {
        assert!(
            n <= biggest,
            "N = {n} but only {biggest} envelopes were kept"
        );
        if let Some((_, p)) = kept.iter().find(|(m, _)| *m == n) {
            jsonl.insert(n, p.clone());
        } else {
            let path = work.join(format!("envelopes-{n}.jsonl"));
            let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("jsonl"));
            let r = std::io::BufReader::new(std::fs::File::open(&source).expect("kept jsonl"));
            for line in r.split(b'\n').take(n) {
                w.write_all(&line.expect("line")).expect("write");
                w.write_all(b"\n").expect("write");
            }
            w.flush().expect("flush");
            jsonl.insert(n, path);
        }
        let folder = from.join(format!("envelopes-{n}"));
        if folder.is_dir() {
            folders.insert(n, folder);
        }
    }
    (study, jsonl, folders)
}

/// Makes the envelopes of the largest size on every core, writing one `.jsonl` per size
/// (each the first N lines) and a folder of files per size up to [`MAX_FOLDER`].
fn make_envelopes(
    study: &LoadedStudy,
    dir: &Path,
    sizes: &[usize],
    cores: usize,
) -> (
    std::collections::BTreeMap<usize, PathBuf>,
    std::collections::BTreeMap<usize, PathBuf>,
) {
    let largest = *sizes.last().expect("a size");
    let mut jsonl = std::collections::BTreeMap::new();
    let mut files = std::collections::BTreeMap::new();
    let mut writers = Vec::new();
    for &n in sizes {
        let path = dir.join(format!("envelopes-{n}.jsonl"));
        let f = std::fs::File::create(&path).expect("jsonl file");
        writers.push((n, std::io::BufWriter::with_capacity(1 << 20, f)));
        jsonl.insert(n, path);
        if n <= MAX_FOLDER {
            let folder = dir.join(format!("envelopes-{n}"));
            std::fs::create_dir_all(&folder).expect("folder");
            files.insert(n, folder);
        }
    }
    let mut start = 0;
    while start < largest {
        let end = (start + ROUND).min(largest);
        let per = (end - start).div_ceil(cores);
        let parts: Vec<Vec<Vec<u8>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..cores)
                .map(|t| {
                    let from = (start + t * per).min(end);
                    let to = (from + per).min(end);
                    s.spawn(move || (from..to).map(|i| seal(study, i)).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("sealing thread"))
                .collect()
        });
        for (i, env) in (start..).zip(parts.into_iter().flatten()) {
            for (n, w) in writers.iter_mut() {
                if i < *n {
                    w.write_all(&env).expect("write");
                    w.write_all(b"\n").expect("write");
                }
            }
            for (n, folder) in &files {
                if i < *n {
                    std::fs::write(folder.join(format!("{i:07}.json")), &env).expect("file");
                }
            }
        }
        start = end;
        if largest >= 100_000 {
            eprint!("\r  sealed {end}/{largest}");
        }
    }
    if largest >= 100_000 {
        eprintln!();
    }
    for (_, mut w) in writers {
        w.flush().expect("flush");
    }
    (jsonl, files)
}

/// The per-envelope stages of opening on one core, on the first envelopes.
fn stages(study: &LoadedStudy, key: &KeyPair, jsonl: &Path) {
    let text = std::fs::read_to_string(jsonl).expect("jsonl");
    let lines: Vec<&[u8]> = text.lines().take(2000).map(str::as_bytes).collect();
    let envs: Vec<Envelope> = lines
        .iter()
        .map(|l| Envelope::parse(l).expect("parses"))
        .collect();
    let id = &study.config.study_id;
    let dalek = Opener::new(key, id);
    let awslc = {
        use aws_lc_rs::agreement::{agree, PrivateKey, UnparsedPublicKey, X25519};
        let sk = PrivateKey::from_private_key(&X25519, key.secret()).expect("key");
        Opener::new(key, id).with_dh(Box::new(move |pk: &[u8; 32]| {
            agree(&sk, UnparsedPublicKey::new(&X25519, pk), (), |s| {
                let mut out = zeroize::Zeroizing::new([0u8; 32]);
                out.copy_from_slice(s);
                Ok(out)
            })
            .ok()
        }))
    };
    let plains: Vec<_> = envs.iter().map(|e| dalek.open(e).expect("opens")).collect();
    let keys: Vec<_> = plains.iter().map(|o| o.key.clone()).collect();
    let n = envs.len();
    let each = |f: &mut dyn FnMut(usize)| {
        let started = Instant::now();
        let mut rounds = 0;
        while started.elapsed() < Duration::from_millis(700) {
            for i in 0..n {
                f(i);
            }
            rounds += 1;
        }
        started.elapsed().as_secs_f64() * 1e6 / (rounds * n) as f64
    };
    println!("\n== per-envelope stages on one core ({n} envelopes)");
    let survey = &study.survey;
    let report = |name: &str, us: f64| println!("  {name:<52} {us:>7.1} us");
    report(
        "SHA-256 of the envelope (receipt)",
        each(&mut |i| {
            std::hint::black_box(plp_core::envelope::fingerprint(lines[i]));
        }),
    );
    report(
        "envelope JSON + base64 (Envelope::parse)",
        each(&mut |i| {
            std::hint::black_box(Envelope::parse(lines[i]).is_ok());
        }),
    );
    report(
        "open: hpke crate (KeyPair::open)",
        each(&mut |i| {
            std::hint::black_box(key.open(&envs[i]).is_ok());
        }),
    );
    report(
        "open: core fastopen, x25519-dalek",
        each(&mut |i| {
            std::hint::black_box(dalek.open(&envs[i]).is_ok());
        }),
    );
    report(
        "open: core fastopen, AWS-LC X25519 (plp ingest)",
        each(&mut |i| {
            std::hint::black_box(awslc.open(&envs[i]).is_ok());
        }),
    );
    report(
        "open: AES-256-GCM with the kept key (plp export)",
        each(&mut |i| {
            std::hint::black_box(keys[i].open(&envs[i].ct).is_ok());
        }),
    );
    report(
        "payload JSON, answers owned (payload::parse)",
        each(&mut |i| {
            std::hint::black_box(payload::parse(&plains[i].plaintext).is_ok());
        }),
    );
    report(
        "payload JSON, answers in place (payload::read, ingest)",
        each(&mut |i| {
            std::hint::black_box(payload::read(&plains[i].plaintext).is_ok());
        }),
    );
    let read: Vec<_> = plains
        .iter()
        .map(|p| match payload::read(&p.plaintext).expect("payload") {
            Payload::Response(r) => r,
            Payload::Withdrawal(_) => panic!("a response"),
        })
        .collect();
    report(
        "validation against the survey (verify, ingest)",
        each(&mut |i| {
            std::hint::black_box(read[i].verify(survey).is_ok());
        }),
    );
    let who = plp_core::export::Who {
        pair_id: "D1",
        person_id: "R1",
        side: plp_core::survey::Side::A,
    };
    report(
        "answers in place (payload::read_answers, export)",
        each(&mut |i| {
            std::hint::black_box(payload::read_answers(&plains[i].plaintext).is_ok());
        }),
    );
    report(
        "cells and free-text rows (export)",
        each(&mut |i| {
            let slots = survey.lay_out(&read[i].answers);
            let mut rows = 0;
            let cells = plp_core::export::cells_and_free_text(survey, who, &slots, |_| rows += 1);
            std::hint::black_box((cells, rows));
        }),
    );
}

/// Wall time and peak resident memory of one process.
struct Measured {
    secs: f64,
    peak_kib: Option<u64>,
    stdout: String,
}

/// Runs `cmd` under `/usr/bin/time -v` (when present) for its peak memory.
fn measure(cmd: Command, what: &str) -> Measured {
    let time = Path::new("/usr/bin/time");
    let report = tempfile::NamedTempFile::new().expect("temporary file");
    let mut c = if time.is_file() {
        let mut t = Command::new(time);
        t.arg("-v").arg("-o").arg(report.path());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => t.env(k, v),
                None => t.env_remove(k),
            };
        }
        t.arg(cmd.get_program()).args(cmd.get_args());
        t
    } else {
        cmd
    };
    c.stdin(Stdio::null());
    let started = Instant::now();
    let out = c.output().expect("the command runs");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let peak_kib = std::fs::read_to_string(report.path()).ok().and_then(|t| {
        t.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Maximum resident set size (kbytes): ")
            })
            .and_then(|v| v.trim().parse().ok())
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!(
        "  {what:<34} {secs:>8.2} s   peak {:>6} MiB",
        peak_kib.map_or("-".into(), |k: u64| (k / 1024).to_string())
    );
    Measured {
        secs,
        peak_kib,
        stdout,
    }
}

struct Run {
    n: usize,
    ingest: Measured,
    lock: Measured,
    export: Measured,
    folder: Option<Measured>,
    python: Option<Measured>,
}

/// A copy of the template study (before any ingest), in `to`.
fn copy_study(template: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("study folder");
    for entry in std::fs::read_dir(template).expect("template") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

fn run_size(
    n: usize,
    template: &Path,
    dir: &Path,
    jsonl: &Path,
    folder: Option<&PathBuf>,
    secret: &KeyPair,
    python: bool,
) -> Run {
    let study = dir.join("study");
    copy_study(template, &study);
    let mut c = plp(&study);
    c.arg("ingest").arg(jsonl);
    let ingest = measure(c, "plp ingest FILE.jsonl");
    assert_eq!(
        outcome(&ingest.stdout, "accepted"),
        n as u64,
        "every envelope is accepted:\n{}",
        ingest.stdout
    );
    let mut c = plp(&study);
    c.args(["lock", "--yes"]);
    let lock = measure(c, "plp lock --yes");
    let out = dir.join("export");
    let mut c = plp(&study);
    c.args(["export", "--out"]).arg(&out);
    let export = measure(c, "plp export --out DIR");
    assert!(
        export
            .stdout
            .contains(&format!("Exported {n} respondent(s)")),
        "{}",
        export.stdout
    );
    let rows = std::fs::read(out.join("individual.csv"))
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0);
    assert_eq!(rows, n + 1, "individual.csv has a row per respondent");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&study);

    let folder = folder.map(|f| {
        let study = dir.join("study-folder");
        copy_study(template, &study);
        let mut c = plp(&study);
        c.arg("ingest").arg(f);
        let m = measure(c, "plp ingest FOLDER (one file each)");
        assert_eq!(outcome(&m.stdout, "accepted"), n as u64, "{}", m.stdout);
        let _ = std::fs::remove_dir_all(&study);
        m
    });

    let python = python.then(|| {
        let out = dir.join("python-out");
        let mut c = Command::new("python3");
        c.arg(baseline_script())
            .arg(plp_core::envelope::b64_encode(secret.secret()))
            .arg(jsonl)
            .arg(&out);
        let m = measure(c, "python3 baseline.py");
        let v: serde_json::Value = serde_json::from_str(m.stdout.trim()).expect("baseline JSON");
        assert_eq!(v["opened"], n, "the baseline opens every envelope: {v}");
        let _ = std::fs::remove_dir_all(&out);
        m
    });
    Run {
        n,
        ingest,
        lock,
        export,
        folder,
        python,
    }
}
