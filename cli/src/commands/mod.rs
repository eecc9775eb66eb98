//! One module per subcommand: each parses what it needs, calls core, and renders.

mod admin;
mod demo;
mod export;
mod ingest;
mod report;
mod setup;
mod survey;
mod withdraw;

use crate::args::{Cli, Command, KeyCmd, SurveyCmd};
use crate::keyfile;
use crate::store::Store;
use crate::study::{Study, KEY_FILE, STORE_FILE};
use anyhow::{bail, Result};
use hmac::{KeyInit, Mac};
use plp_core::seal::KeyPair;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use zeroize::Zeroizing;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let dir = cli.study.as_deref();
    match cli.command {
        Command::Survey(SurveyCmd::Check { file }) => survey::check(&file),
        Command::Survey(SurveyCmd::Show { file }) => survey::show(file.as_deref()),
        Command::Init(a) => setup::init(&a),
        Command::Key(KeyCmd::Check { file }) => setup::key_check(dir, file.as_deref()),
        Command::Publish(a) => setup::publish(dir, &a),
        Command::Ingest(a) => ingest::run(dir, &a),
        Command::Serve(a) => crate::serve::run(dir, &a),
        Command::Withdraw(a) => withdraw::run(dir, &a),
        Command::Lock(a) => admin::lock(dir, a.yes),
        Command::Status(a) => admin::status(dir, a.json),
        Command::Audit(a) => admin::audit(dir, a.verify),
        Command::DestroyIdentifiers(a) => admin::destroy_identifiers(dir, a.yes),
        Command::Export(a) => export::run(dir, &a),
        Command::Report(a) => report::run(dir, &a),
        Command::Demo(a) => demo::run(&a),
    }
}

/// A study with its store open.
pub struct Opened {
    /// The study folder.
    pub study: Study,
    /// Its store.
    pub store: Store,
}

/// Opens the study in `dir` and its store.
pub fn open(dir: Option<&Path>) -> Result<Opened> {
    let study = Study::open(dir)?;
    let store = Store::open(
        &study.path(STORE_FILE),
        &study.config.study_id,
        &study.config.key.key_id,
    )?;
    Ok(Opened { study, store })
}

/// [`unlock`] in two steps: the passphrase now (it may be asked for on the terminal), the
/// key derived from it (Argon2id, 0.17-0.42 s here) on a thread meanwhile, so the caller
/// can read what it needs from the store first; [`Unlocking::key`] waits for it.
pub fn unlock_behind(study: &Study) -> Result<Unlocking> {
    let path = study.path(KEY_FILE);
    let pass = keyfile::passphrase(false)?;
    let key_id = study.config.key.key_id.clone();
    Ok(Unlocking(std::thread::spawn(move || {
        keyfile::open(&path, &pass, &key_id)
    })))
}

/// A study key being unlocked ([`unlock_behind`]).
pub struct Unlocking(std::thread::JoinHandle<Result<KeyPair>>);

impl Unlocking {
    /// The key, or why it could not be unlocked.
    pub fn key(self) -> Result<KeyPair> {
        self.0
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Unlocks the study's private key with the passphrase.
pub fn unlock(study: &Study, file: Option<&Path>) -> Result<KeyPair> {
    let path = file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| study.path(KEY_FILE));
    let pass = keyfile::passphrase(false)?;
    keyfile::open(&path, &pass, &study.config.key.key_id)
}

/// The secret that keys withdrawal tags in the store: HMAC-SHA256(private key,
/// "plp-store-tag-key/1"). Only someone holding the private key can recompute it.
pub struct TagKey(Zeroizing<[u8; 32]>);

impl TagKey {
    /// Derives the tag key from the study key.
    pub fn new(key: &KeyPair) -> Self {
        TagKey(crate::keyfile::subkey(key, b"plp-store-tag-key/1"))
    }

    /// The keyed form of a withdrawal tag, as stored.
    pub fn mac(&self, tag_hex: &str) -> String {
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&*self.0)
            .expect("HMAC takes any key length");
        mac.update(tag_hex.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Asks a yes/no question on the terminal; `--yes` skips it. Without a terminal and without
/// `--yes`, refuses rather than guessing.
pub fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} Refusing without confirmation: add --yes to confirm");
    }
    eprint!("{question} Type yes to continue: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "yes" {
        bail!("not confirmed; nothing changed");
    }
    Ok(())
}
