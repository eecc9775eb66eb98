//! Connections: the accept loop, with the limits a public server needs.
//!
//! axum's own `serve` gives hyper no timer, so a client could hold a connection open
//! forever by sending its request head one byte a minute. This loop drives hyper's HTTP/1.1
//! connections itself, so that it can set:
//!
//! - a header-read timeout ([`HEADER_TIMEOUT`]): the request line and headers must arrive
//!   within it, or the connection is closed (slow-loris);
//! - a cap on open connections (`--max-connections`, default [`MAX_CONNECTIONS`]): beyond it a new connection is closed at
//!   once, so a flood cannot grow memory without bound;
//! - a per-connection envelope rate ([`Rate`]): each connection gets a token bucket, handed
//!   to the handlers as a request extension, and an envelope POST over the rate is answered
//!   429 with `Retry-After` (see `routes::submit`).
//!
//! Limits are kept per connection, in memory only: the server never records addresses.

use anyhow::Result;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tower_service::Service;

/// Time allowed for a request's line and headers to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most connections open at once, by default (`plp serve --max-connections`).
pub const MAX_CONNECTIONS: usize = 1024;
/// Default of `plp serve --rate`: envelopes per second one connection may submit.
pub const RATE: f64 = 5.0;

/// Envelope POSTs one connection may make: `per_second` on average, `burst` back to back.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Sustained envelopes per second.
    pub per_second: f64,
    /// Envelopes allowed back to back before the sustained rate applies.
    pub burst: f64,
}

/// A connection's token bucket (one per connection, shared by its requests).
#[derive(Debug)]
pub struct Budget {
    rate: Rate,
    state: Mutex<(f64, Instant)>,
}

impl Budget {
    fn new(rate: Rate) -> Self {
        Budget {
            rate,
            state: Mutex::new((rate.burst, Instant::now())),
        }
    }

    /// Takes one token: `Ok` when the request may go ahead, `Err(seconds)` until the next
    /// token otherwise.
    pub fn take(&self) -> Result<(), u64> {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> Result<(), u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let refill = now.saturating_duration_since(s.1).as_secs_f64() * self.rate.per_second;
        s.0 = (s.0 + refill).min(self.rate.burst);
        s.1 = s.1.max(now);
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - s.0) / self.rate.per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

/// Accepts connections until `stop` turns true, then lets the open ones finish their
/// requests for up to `grace`.
pub async fn accept_loop(
    listener: TcpListener,
    router: Router,
    rate: Rate,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) -> Result<()> {
    let slots = Arc::new(Semaphore::new(max_connections));
    // Every connection task holds a sender; when all are gone, every connection is closed.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        let tcp = match accepted {
            Ok((tcp, _addr)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                eprintln!("plp serve: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let budget = Arc::new(Budget::new(rate));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(budget.clone());
            let mut router = router.clone();
            async move {
                let res: Result<_, Infallible> = router.call(req.map(axum::body::Body::new)).await;
                res
            }
        });
        let open = open_tx.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(tcp), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(slot);
            drop(open);
        });
    }
    drop(open_tx);
    if tokio::time::timeout(grace, open_rx.recv()).await.is_err() {
        eprintln!(
            "plp serve: requests still open after {} s; stopping anyway",
            grace.as_secs()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_the_burst_then_the_rate() {
        let b = Budget::new(Rate {
            per_second: 2.0,
            burst: 3.0,
        });
        let t0 = b.state.lock().unwrap().1;
        for _ in 0..3 {
            assert_eq!(b.take_at(t0), Ok(()));
        }
        assert_eq!(b.take_at(t0), Err(1));
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(b.take_at(t1), Ok(()));
        assert_eq!(b.take_at(t1), Err(1));
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(b.take_at(t2), Ok(()));
        }
        assert!(b.take_at(t2).is_err());
    }
}
