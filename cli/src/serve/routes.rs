//! The routes of `plp serve` and the headers every response carries.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/v1/envelopes` | one envelope (response or withdrawal request): 201 stored, 200 already stored |
//! | `GET /study.json`, `GET /survey.json` | the published study configuration, as `plp publish` writes it |
//! | `GET /healthz` | 200 while the server runs |
//! | anything else | the built respondent app (`--web DIR`), or a page saying it is not built |
//!
//! Envelopes are checked for framing only (the server never holds the private key): size,
//! content type, strict envelope-v1 syntax, study id and key id. Errors are JSON
//! `{"error": "..."}`: 400 malformed, 413 too large, 415 not `application/json`, 422 sealed
//! for another study or key (well-formed, but not for this server to take), 404 and 405 as
//! usual, 408 when the body does not arrive in time, 503 when the inbox cannot be written.

use super::conn::Budget;
use super::inbox::{Stored, Writer};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use plp_core::envelope::{check_framing, fingerprint, short_receipt, MAX_ENVELOPE_BYTES};
use plp_core::error::Error as CoreError;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Where the respondent app POSTs envelopes (also the published `submission_url`).
pub const SUBMISSION_PATH: &str = "/api/v1/envelopes";

/// How long a client may take to send an envelope's body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The Content-Security-Policy for a Yew/wasm app served from this origin.
pub const BASE_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What the handlers share.
pub struct App {
    /// Study id envelopes must carry.
    pub study_id: String,
    /// Key id envelopes must carry.
    pub key_id: String,
    /// `study.json` bytes, as `plp publish` writes them.
    pub study_json: Bytes,
    /// The survey definition bytes, as published.
    pub survey_json: Bytes,
    /// The built respondent app, if any.
    pub web: Option<PathBuf>,
    /// The Content-Security-Policy header value.
    pub csp: HeaderValue,
    /// Log method, path and status of each request to stderr.
    pub log: bool,
    /// The inbox writer.
    pub writer: Writer,
}

/// The whole router.
pub fn router(app: Arc<App>, survey_file: &str) -> Router {
    let mut r = Router::new()
        .route(
            SUBMISSION_PATH,
            post(submit).fallback(|| async {
                let mut res = error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "use POST to submit an envelope",
                );
                res.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST"));
                res
            }),
        )
        .route(
            "/api/{*rest}",
            any(|| async { error(StatusCode::NOT_FOUND, "no such API endpoint") }),
        )
        .route(
            "/healthz",
            get(|| async { json(StatusCode::OK, r#"{"status":"ok"}"#) }),
        )
        .route(
            "/study.json",
            get(|State(app): State<Arc<App>>| async move { published(app.study_json.clone()) }),
        )
        .route(
            &format!("/{survey_file}"),
            get(|State(app): State<Arc<App>>| async move { published(app.survey_json.clone()) }),
        );
    r = match &app.web {
        Some(dir) => r.fallback_service(tower_http::services::ServeDir::new(dir)),
        None => r.fallback(not_built),
    };
    r.layer(middleware::from_fn_with_state(app.clone(), frame))
        .with_state(app)
}

/// Security headers on every response; the request line and status when `--log` is on.
async fn frame(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/") || req.uri().path() == "/healthz";
    let log = app
        .log
        .then(|| (req.method().clone(), req.uri().path().to_owned()));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, app.csp.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some((method, path)) = log {
        eprintln!("{method} {path} {}", res.status().as_u16());
    }
    res
}

fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

/// A JSON error response `{"error": "..."}`.
fn error(status: StatusCode, what: &str) -> Response {
    json(status, serde_json::json!({ "error": what }).to_string())
}

fn published(bytes: Bytes) -> Response {
    let mut res = json(StatusCode::OK, bytes);
    // Fresh on every load, so a republished study is picked up at once.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// The page at `/` when no `--web` folder was given.
async fn not_built(method: Method, req: Request) -> Response {
    if req.uri().path() != "/" || !(method == Method::GET || method == Method::HEAD) {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        NOT_BUILT_PAGE,
    )
        .into_response()
}

const NOT_BUILT_PAGE: &str = "<!doctype html>
<html lang=\"en\">
<head><meta charset=\"utf-8\"><title>Survey not available yet</title></head>
<body>
<h1>The respondent app is not built</h1>
<p>This collection server is running and accepts envelopes at
<code>/api/v1/envelopes</code>, but it was started without the respondent app.</p>
<p>To serve it, build the app from the plp source folder with
<code>trunk build --release</code> (it is written to <code>dist/</code>), then start the
server with <code>plp serve --web dist</code>.</p>
</body>
</html>
";

/// Why a body was not read.
enum BodyError {
    TooLarge,
    Broken,
}

/// Reads a body up to `limit` bytes; stops reading as soon as it goes over.
async fn read_limited(mut body: Body, limit: usize, hint: usize) -> Result<Bytes, BodyError> {
    let mut buf = Vec::with_capacity(hint.min(limit));
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return Ok(buf.into()),
            Some(Err(_)) => return Err(BodyError::Broken),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > limit {
                        return Err(BodyError::TooLarge);
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// `POST /api/v1/envelopes`
async fn submit(State(app): State<Arc<App>>, req: Request) -> Response {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("an envelope is at most {MAX_ENVELOPE_BYTES} bytes"),
        )
    };
    let (parts, body) = req.into_parts();
    // The connection's envelope rate (serve/conn.rs); close it so a client that ignores
    // Retry-After has to reconnect.
    if let Some(Err(wait)) = parts.extensions.get::<Arc<Budget>>().map(|b| b.take()) {
        let mut res = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many envelopes on this connection; wait and try again",
        );
        let h = res.headers_mut();
        h.insert(header::RETRY_AFTER, HeaderValue::from(wait));
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        return res;
    }
    // Refuse on the declared length before reading any of the body.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_ENVELOPE_BYTES as u64) {
        return too_large();
    }
    if !is_json(&parts.headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the envelope with Content-Type: application/json",
        );
    }
    let hint = declared.unwrap_or(0) as usize;
    let bytes = match tokio::time::timeout(
        BODY_TIMEOUT,
        read_limited(body, MAX_ENVELOPE_BYTES, hint),
    )
    .await
    {
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "the envelope did not arrive in time",
            )
        }
        Ok(Err(BodyError::TooLarge)) => return too_large(),
        Ok(Err(BodyError::Broken)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        }
        Ok(Ok(b)) => b,
    };
    // The same checks the fuzzer's `server_body` target runs (core's `check_framing`).
    if let Err(e) = check_framing(&bytes, &app.study_id, &app.key_id) {
        return match e {
            CoreError::TooLarge { .. } => too_large(),
            CoreError::WrongStudy { .. } => error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
            CoreError::WrongKey { .. } => error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("{e}; reload the survey page"),
            ),
            _ => error(
                StatusCode::BAD_REQUEST,
                &format!("not a valid envelope: {e}"),
            ),
        };
    }
    let receipt = fingerprint(&bytes);
    let short = short_receipt(&bytes);
    let status = match app.writer.store(receipt.clone(), bytes).await {
        Ok(Stored::New) => StatusCode::CREATED,
        Ok(Stored::Duplicate) => StatusCode::OK,
        Err(()) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the envelope could not be stored; please try again later",
            )
        }
    };
    json(
        status,
        serde_json::json!({ "receipt": receipt, "short": short }).to_string(),
    )
}

/// The Content-Security-Policy for the app in `index.html`: [`BASE_CSP`], plus the hashes
/// of inline `<script>` and `<style>` elements the page itself carries (Trunk writes an
/// inline module script that starts the wasm), so exactly those run and nothing else inline.
pub fn csp_for(index_html: Option<&str>) -> String {
    let Some(html) = index_html else {
        return BASE_CSP.to_string();
    };
    let scripts = inline_hashes(html, "script");
    let styles = inline_hashes(html, "style");
    BASE_CSP
        .split("; ")
        .map(|d| {
            let extra = match d.split(' ').next() {
                Some("script-src") => &scripts,
                Some("style-src") => &styles,
                _ => return d.to_string(),
            };
            let mut d = d.to_string();
            for h in extra {
                d.push_str(&format!(" 'sha256-{h}'"));
            }
            d
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Base64 SHA-256 of the text of each inline `<tag>` element (no `src` attribute).
fn inline_hashes(html: &str, tag: &str) -> Vec<String> {
    use base64::Engine;
    use sha2::Digest;
    let lower = html.to_ascii_lowercase();
    let open = format!("<{tag}");
    let close = format!("</{tag}");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find(&open) {
        let start = at + i;
        let after_name = start + open.len();
        // `<scripts>` or `<style-x>` are other elements.
        if !lower[after_name..].starts_with(|c: char| c == '>' || c.is_ascii_whitespace()) {
            at = after_name;
            continue;
        }
        let Some(gt) = lower[start..].find('>') else {
            break;
        };
        let attrs = &lower[after_name..start + gt];
        let body_start = start + gt + 1;
        let Some(end) = lower[body_start..].find(&close) else {
            break;
        };
        let body = &html[body_start..body_start + end];
        let has_src = attrs
            .split(|c: char| c.is_ascii_whitespace())
            .any(|a| a == "src" || a.starts_with("src="));
        if !has_src && !body.trim().is_empty() {
            let digest = sha2::Sha256::digest(body.as_bytes());
            out.push(base64::engine::general_purpose::STANDARD.encode(digest));
        }
        at = body_start + end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_without_app_is_the_base_policy() {
        assert_eq!(csp_for(None), BASE_CSP);
        assert_eq!(csp_for(Some("<html><body>x</body></html>")), BASE_CSP);
    }

    #[test]
    fn csp_allows_exactly_the_inline_scripts_of_index_html() {
        let html = "<html><head><script src=\"/a.js\"></script>\
            <SCRIPT type=\"module\">import init from '/app.js';</SCRIPT>\
            <style>body{margin:0}</style><scripts>no</scripts></head></html>";
        let csp = csp_for(Some(html));
        use base64::Engine;
        use sha2::Digest;
        let h = |s: &str| {
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s.as_bytes()))
        };
        assert!(csp.contains(&format!(
            "script-src 'self' 'wasm-unsafe-eval' 'sha256-{}';",
            h("import init from '/app.js';")
        )));
        assert!(csp.contains(&format!(
            "style-src 'self' 'sha256-{}';",
            h("body{margin:0}")
        )));
        assert_eq!(csp.matches("sha256-").count(), 2);
        assert!(csp.ends_with("form-action 'self'"));
    }

    #[test]
    fn content_type_essence() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jsonx"),
        );
        assert!(!is_json(&h));
    }
}
