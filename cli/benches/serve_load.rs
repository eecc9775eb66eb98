//! Load test of `plp serve`: accepted envelopes per second with durability on, and latency.
//!
//! `cargo bench -p plp-cli --bench serve_load` (release build). It makes a study, starts the
//! real server on a free loopback port, seals N envelopes up front exactly as the browser
//! does, then sends them over C concurrent keep-alive connections (one thread each) and
//! reports accepted envelopes per second and p50/p99 latency. Bounded: N envelopes per run
//! and at most `PLP_BENCH_SECS` seconds; loopback only.
//!
//! Settings (environment): `PLP_BENCH_N` (default 20000), `PLP_BENCH_CONC` (comma-separated
//! connection counts, one run each, default `16,64`), `PLP_BENCH_SECS` (default 60).
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it only says how to run it.

#[path = "support/kit.rs"]
mod kit;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("serve_load: skipped; run it with `cargo bench -p plp-cli --bench serve_load`");
        return;
    }
    let n: usize = env_or("PLP_BENCH_N", 20_000);
    let limit = Duration::from_secs(env_or("PLP_BENCH_SECS", 60));
    let concs: Vec<usize> = std::env::var("PLP_BENCH_CONC")
        .unwrap_or_else(|_| "16,64".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .filter(|&c| c > 0)
        .collect();

    let study = kit::TestStudy::new("load-test");
    // No per-connection rate limit: this measures the server, not the limit.
    let server = kit::Server::start(&study.dir, &["--rate".as_ref(), "1e9".as_ref()]);
    let published = kit::load_published(server.addr);
    println!(
        "plp serve on {} (inbox: SQLite WAL, synchronous=FULL, group commit)",
        server.addr
    );

    let mut offset = 0;
    for conc in concs {
        let started = Instant::now();
        let envelopes = seal_many(&published, offset, n);
        offset += n;
        let bytes: usize = envelopes.iter().map(Vec::len).sum();
        println!(
            "\nsealed {n} envelopes ({} bytes on average) in {:.1} s",
            bytes / n.max(1),
            started.elapsed().as_secs_f64()
        );
        run(&server, &envelopes, conc, limit);
    }
    let in_inbox = study.inbox().len();
    println!("\ninbox holds {in_inbox} envelopes");
    let status = server.terminate();
    assert!(status.success(), "plp serve exited with {status}");
}

/// Seals `n` envelopes on every core.
fn seal_many(
    published: &plp_core::published::LoadedStudy,
    offset: usize,
    n: usize,
) -> Vec<Vec<u8>> {
    let threads = std::thread::available_parallelism().map_or(2, |p| p.get());
    let id = published.config.study_id.clone();
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let id = &id;
                s.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| kit::seal_response(published, id, offset + i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("sealing thread"))
            .collect()
    })
}

/// Sends the envelopes over `conc` keep-alive connections and prints the figures.
fn run(server: &kit::Server, envelopes: &[Vec<u8>], conc: usize, limit: Duration) {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize, usize)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..conc)
            .map(|_| {
                let next = &next;
                s.spawn(move || {
                    let mut conn = server.connect();
                    let (mut lat, mut accepted, mut other) = (Vec::new(), 0, 0);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= envelopes.len() || started.elapsed() > limit {
                            break;
                        }
                        let t = Instant::now();
                        let r = conn.post_envelope(&envelopes[i]).expect("answered");
                        lat.push(t.elapsed());
                        if r.status == 201 {
                            accepted += 1;
                        } else {
                            other += 1;
                        }
                    }
                    (lat, accepted, other)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("client thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut lat: Vec<Duration> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    let accepted: usize = results.iter().map(|r| r.1).sum();
    let other: usize = results.iter().map(|r| r.2).sum();
    lat.sort();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1e3
    };
    println!(
        "concurrency {conc:>3}: {accepted} accepted (201), {other} other, in {:.2} s = {:.0} envelopes/s; \
         latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        accepted as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
    );
    assert_eq!(other, 0, "every fresh envelope should be accepted");
}
