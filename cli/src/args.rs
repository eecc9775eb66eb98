//! Command-line arguments. Doc comments are the help text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// plp: privacy-preserving paired survey pipeline (evaluator's tool).
#[derive(Debug, Parser)]
#[command(name = "plp", version, about, long_about = None)]
pub struct Cli {
    /// The study folder (default: the current folder).
    #[arg(long, global = true, value_name = "DIR")]
    pub study: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check or show survey definitions.
    #[command(subcommand)]
    Survey(SurveyCmd),
    /// Create a study folder: study.toml, the store and the key pair.
    Init(InitArgs),
    /// Check the study key.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Write the public study configuration the respondent app loads.
    Publish(PublishArgs),
    /// Open, check and store envelopes (files, folders, or the server's inbox).
    Ingest(IngestArgs),
    /// Run the collection server: respondent app, study configuration, envelope inbox.
    Serve(ServeArgs),
    /// Destroy a respondent's responses by their memorable word (before the lock only).
    Withdraw(WithdrawArgs),
    /// Mark the start of analysis: withdrawals are refused from then on. Irreversible.
    Lock(YesArgs),
    /// Counts by state and side, pairs so far, lock state, key id.
    Status(StatusArgs),
    /// Print the audit log, or verify its hash chain.
    Audit(AuditArgs),
    /// After publication: erase pair codes, tags and code mappings for good.
    DestroyIdentifiers(YesArgs),
    /// Write the pseudonymised, analysis-ready dataset (after `plp lock`).
    Export(ExportArgs),
    /// Write the evaluation report as one self-contained HTML file.
    Report(ReportArgs),
    /// Create a demo study with synthetic respondents and run the whole pipeline on it.
    Demo(DemoArgs),
}

/// `plp report`
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The HTML file to write.
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
    /// Show counts of 1 and 2 instead of "<3".
    #[arg(long)]
    pub no_suppress: bool,
}

/// `plp demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo study (replaced if it holds an earlier demo).
    #[arg(default_value = "plp-demo")]
    pub dir: PathBuf,
    /// Afterwards, serve the respondent app on this address with a fresh, unlocked study
    /// (DIR/live) so a person can fill in the survey.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<std::net::SocketAddr>,
    /// The built respondent app to serve with --serve (`trunk build --release` writes dist/).
    #[arg(long, value_name = "DIR", requires = "serve")]
    pub web: Option<PathBuf>,
}

/// `plp export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Folder to write (replaced as a whole if it exists).
    #[arg(long)]
    pub out: PathBuf,
    /// Smallest acceptable class size on the quasi-identifiers.
    #[arg(long, default_value_t = 3)]
    pub k: usize,
    /// Blank the quasi-identifiers of records in classes smaller than --k.
    #[arg(long)]
    pub suppress: bool,
    /// Before the lock: write the same files, marked PREVIEW in names and metadata.
    #[arg(long)]
    pub preview: bool,
}

/// `plp survey ...`
#[derive(Debug, Subcommand)]
pub enum SurveyCmd {
    /// Load a definition and report every problem in it (exit 1 when there are any).
    Check {
        /// The definition (TOML, or JSON as published).
        file: PathBuf,
    },
    /// Print the instrument with its branching as text (default: the built-in PLP survey).
    Show {
        /// The definition (TOML, or JSON as published).
        file: Option<PathBuf>,
    },
}

/// `plp init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to create (must not hold a study already).
    pub dir: PathBuf,
    /// Study id: 1-63 of a-z, 0-9 and -, starting with a letter or digit.
    #[arg(long)]
    pub study_id: String,
    /// Title shown to respondents.
    #[arg(long)]
    pub title: String,
    /// Number of people invited (for the response rate).
    #[arg(long)]
    pub cohort: u32,
    /// Survey definition (default: the built-in PLP survey).
    #[arg(long)]
    pub survey: Option<PathBuf>,
    /// Where the respondent app sends envelopes (default: respondents download a file).
    #[arg(long)]
    pub submission_url: Option<String>,
}

/// `plp key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Unlock the key, seal a canary to it, open it, and print the key id.
    Check {
        /// Check this key file (a backup) instead of the study's own.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// `plp publish`
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Folder to write study.json and survey.json into.
    #[arg(long)]
    pub out: PathBuf,
    /// Override the submission URL from study.toml.
    #[arg(long)]
    pub submission_url: Option<String>,
}

/// `plp ingest`
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Envelope files, folders of them, or files with one envelope per line.
    pub paths: Vec<PathBuf>,
}

/// `plp serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; loopback unless you say otherwise (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// The built respondent app to serve (`trunk build --release` writes it to dist/).
    #[arg(long, value_name = "DIR")]
    pub web: Option<PathBuf>,
    /// Print method, path and status of each request to stderr (never addresses or agents).
    #[arg(long)]
    pub log: bool,
    /// Envelopes one connection may submit per second (twice as many back to back); more
    /// are answered 429. A respondent submits once.
    #[arg(long, value_name = "N", default_value_t = crate::serve::RATE, value_parser = positive_rate)]
    pub rate: f64,
    /// Most connections open at once; a connection beyond it is closed at once.
    #[arg(long, value_name = "N", default_value_t = crate::serve::MAX_CONNECTIONS, value_parser = at_least_one)]
    pub max_connections: usize,
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "`{s}` is not a positive number of envelopes per second"
        )),
    }
}

/// `plp withdraw`
#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// The respondent's memorable word (asked without echo when left out).
    #[arg(long)]
    pub word: Option<String>,
    /// The pair code, when the word matches more than one person.
    #[arg(long)]
    pub code: Option<String>,
    /// The role (an option of the pairing question, e.g. bme, senior_leader, both).
    #[arg(long)]
    pub role: Option<String>,
    /// Show what would be destroyed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Commands that ask for confirmation.
#[derive(Debug, Args)]
pub struct YesArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

/// `plp status`
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `plp audit`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Verify the hash chain (exit 1 when broken).
    #[arg(long)]
    pub verify: bool,
}
