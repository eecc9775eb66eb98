//! `plp serve`: the collection server.
//!
//! It serves the respondent app, the published study configuration, and takes envelopes
//! into the study's inbox ([`inbox`]), durably, before it answers. It never loads the
//! private key: envelopes are checked for framing only and opened later by `plp ingest`.
//!
//! Nothing about respondents is logged: no addresses, no user agents. With `--log` it
//! prints the method, path and status of each request, nothing else.

mod conn;
pub use conn::{MAX_CONNECTIONS, RATE};
pub mod inbox;
mod routes;

use crate::args::ServeArgs;
use crate::study::Study;
use anyhow::{bail, Context, Result};
use inbox::{Inbox, Writer, INBOX_FILE};
use plp_core::published::PublishedStudy;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long requests in flight may take to finish after Ctrl-C or SIGTERM.
const GRACE: Duration = Duration::from_secs(10);

/// `plp serve [--addr ADDR] [--web DIR] [--log]`
pub fn run(dir: Option<&Path>, a: &ServeArgs) -> Result<()> {
    let study = Study::open(dir)?;
    let public_key = study.public_key()?;
    let published = PublishedStudy::new(
        &study.config.study_id,
        &study.config.title,
        &study.survey,
        &study.survey_json,
        &public_key,
        Some(routes::SUBMISSION_PATH.to_string()),
    );
    let study_json = serde_json::to_vec_pretty(&published)?;
    // Prove the pair loads exactly as the browser will load it.
    PublishedStudy::load(&study_json, &study.survey_json)?;

    let index_html = match &a.web {
        Some(web) => {
            let index = web.join("index.html");
            if !index.is_file() {
                bail!(
                    "--web {} holds no index.html; build the respondent app first (`trunk build --release`)",
                    web.display()
                );
            }
            Some(
                std::fs::read_to_string(&index)
                    .with_context(|| format!("cannot read {}", index.display()))?,
            )
        }
        None => None,
    };
    let csp = routes::csp_for(index_html.as_deref());

    let inbox = Inbox::create(
        &study.path(INBOX_FILE),
        &study.config.study_id,
        &study.config.key.key_id,
    )?;
    let (writer, writer_thread) = Writer::spawn(inbox)?;
    let app = Arc::new(routes::App {
        study_id: study.config.study_id.clone(),
        key_id: study.config.key.key_id.clone(),
        study_json: study_json.into(),
        survey_json: study.survey_json.clone().into(),
        web: a.web.clone(),
        csp: csp
            .parse()
            .context("the Content-Security-Policy is not a header value")?,
        log: a.log,
        writer,
    });
    let router = routes::router(app, &published.survey_file);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("plp-serve")
        .build()
        .context("cannot start the server runtime")?;
    let rate = conn::Rate {
        per_second: a.rate,
        burst: (2.0 * a.rate).max(1.0),
    };
    let result = rt.block_on(serve(a.addr, router, rate, a.max_connections));
    // Connections still open after the grace period are dropped here, and with them the
    // last handles to the writer, which then commits what is queued and stops.
    rt.shutdown_timeout(Duration::from_secs(1));
    if writer_thread.join().is_err() {
        bail!("the inbox writer failed");
    }
    result
}

async fn serve(
    addr: std::net::SocketAddr,
    router: axum::Router,
    rate: conn::Rate,
    max_connections: usize,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let signal = shutdown_signal()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}")?;
        out.flush()?;
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signal.await;
        let _ = stop_tx.send(true);
    });
    conn::accept_loop(listener, router, rate, max_connections, stop_rx, GRACE).await?;
    eprintln!("plp serve: stopped");
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix. The handlers are installed when this is called, so a signal
/// that arrives before the future is polled is not lost.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt()).context("cannot handle Ctrl-C")?;
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
