//! What the `plp serve` tests (`tests/serve.rs`) and the benches (`benches/serve_load.rs`,
//! `benches/pipeline.rs`) share: a study made by the real `plp init`, the real server started on a free loopback
//! port, envelopes sealed exactly as the browser seals them (a random walk through the
//! built-in survey, sealed to the key in the *served* `study.json`), and a small HTTP/1.1
//! client over `std::net::TcpStream` that can also send what a well-behaved client would
//! not (a false Content-Length, say).

#![allow(dead_code)]

use plp_core::answers::Answers;
use plp_core::payload::{ResponseDraft, WithdrawalPayload};
use plp_core::published::{LoadedStudy, PublishedStudy};
use plp_core::sample::{walk, SplitMix64, Style};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The passphrase of every study made here.
pub const PASSPHRASE: &str = "serve tests passphrase";
/// The consent date of the sealed responses.
pub const DATE: &str = "2026-03-02";

/// The `plp` binary under test.
pub fn plp_bin() -> &'static str {
    env!("CARGO_BIN_EXE_plp")
}

/// Runs `plp` with the test passphrase; panics with its output unless it succeeds.
pub fn plp_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(plp_bin())
        .args(args)
        .env("PLP_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null())
        .output()
        .expect("plp runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "plp {args:?} failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A study in a temporary folder, removed when dropped.
pub struct TestStudy {
    tmp: tempfile::TempDir,
    /// The study folder.
    pub dir: PathBuf,
}

impl TestStudy {
    /// `plp init` with the built-in PLP survey.
    pub fn new(study_id: &str) -> TestStudy {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let dir = tmp.path().join("study");
        plp_ok(&[
            "init".as_ref(),
            dir.as_os_str(),
            "--study-id".as_ref(),
            study_id.as_ref(),
            "--title".as_ref(),
            "Serve test".as_ref(),
            "--cohort".as_ref(),
            "5".as_ref(),
        ]);
        TestStudy { tmp, dir }
    }

    /// A scratch path beside the study.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The SHA-256 (receipts) of the envelopes waiting in the inbox, in arrival order.
    pub fn inbox(&self) -> Vec<String> {
        let path = self.dir.join("inbox.sqlite");
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("the inbox opens");
        let mut stmt = conn
            .prepare("SELECT sha256 FROM envelopes ORDER BY seq")
            .expect("inbox query");
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect("inbox rows");
        rows.map(|r| r.expect("inbox row")).collect()
    }
}

/// A running `plp serve`; killed when dropped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `plp serve` on a free loopback port and waits for `listening on http://ADDR`.
    pub fn start(study: &Path, extra: &[&std::ffi::OsStr]) -> Server {
        let mut child = Command::new(plp_bin())
            .arg("--study")
            .arg(study)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("plp serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("plp serve prints its address");
        let Some(addr) = line.trim().strip_prefix("listening on http://") else {
            let _ = child.kill();
            panic!(
                "plp serve did not start: printed {line:?}, status {:?}",
                child.wait()
            );
        };
        let addr = addr.parse().expect("a socket address");
        Server { child, addr }
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success());
        self.child.wait().expect("plp serve exits")
    }

    /// A new keep-alive connection.
    pub fn connect(&self) -> Conn {
        Conn::new(self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One HTTP/1.1 connection, kept alive between requests.
pub struct Conn {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Conn {
    /// Connects (loopback only, in these tests).
    pub fn new(addr: SocketAddr) -> Conn {
        assert!(addr.ip().is_loopback(), "tests talk to loopback only");
        let stream = TcpStream::connect(addr).expect("connects");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Conn {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            stream,
        }
    }

    /// How long a read may wait (20 s unless changed).
    pub fn set_read_timeout(&mut self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).expect("timeout");
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a request with a correct Content-Length.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<()> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)
    }

    /// Reads one response (Content-Length framing, as the server uses).
    pub fn read(&mut self) -> std::io::Result<Resp> {
        let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed");
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(eof());
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(eof());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l
                .split_once(':')
                .ok_or_else(|| std::io::Error::other("bad header"))?;
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    /// One request and its response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Resp> {
        self.send(method, path, headers, body)?;
        self.read()
    }

    /// POSTs an envelope as the respondent app does.
    pub fn post_envelope(&mut self, envelope: &[u8]) -> std::io::Result<Resp> {
        self.request(
            "POST",
            "/api/v1/envelopes",
            &[("Content-Type", "application/json")],
            envelope,
        )
    }
}

/// One request on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> Resp {
    Conn::new(addr)
        .request("GET", path, &[], b"")
        .expect("GET answered")
}

/// Loads the study the server publishes, as the browser does.
pub fn load_published(addr: SocketAddr) -> LoadedStudy {
    let study = get(addr, "/study.json");
    assert_eq!(study.status, 200);
    let survey = get(addr, "/survey.json");
    assert_eq!(survey.status, 200);
    PublishedStudy::load(&study.body, &survey.body).expect("the published study loads")
}

/// Fresh random bytes from the operating system.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("randomness");
    b
}

/// A pair code for respondent `i` (`AA`, `AB`, ...).
pub fn code(i: usize) -> String {
    let a = (b'A' + ((i / 26) % 26) as u8) as char;
    let b = (b'A' + (i % 26) as u8) as char;
    format!("{a}{b}")
}

/// Respondent `i`'s memorable word.
pub fn word(i: usize) -> String {
    format!("word number {i}")
}

/// Envelope bytes of respondent `i`'s response, sealed to the published key for `study_id`.
pub fn seal_response(study: &LoadedStudy, study_id: &str, i: usize) -> Vec<u8> {
    let answers = walk(
        &study.survey,
        &mut SplitMix64(i as u64 + 1),
        &Style::default(),
        &Answers::new(),
    );
    seal_answers(study, study_id, &code(i), &word(i), &answers)
}

/// Envelope bytes of a response with these answers, built with `ResponseDraft::build` and
/// sealed to the published key for `study_id`, as the browser does.
pub fn seal_answers(
    study: &LoadedStudy,
    study_id: &str,
    code: &str,
    word: &str,
    answers: &Answers,
) -> Vec<u8> {
    let payload = ResponseDraft {
        study_id,
        survey: &study.survey,
        survey_sha256: &study.config.survey_sha256,
        code,
        word,
        answers,
        date: DATE,
        submission_id: random::<16>(),
    }
    .build()
    .expect("the response builds");
    study
        .public_key
        .seal(study_id, &payload.to_json(), random::<32>())
        .expect("seals")
        .to_json()
}

/// The count on an outcome line of `plp ingest`'s summary.
pub fn outcome(summary: &str, name: &str) -> u64 {
    summary
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` line in\n{summary}"))
}

/// Envelope bytes of respondent `i`'s withdrawal request.
pub fn seal_withdrawal(study: &LoadedStudy, i: usize) -> Vec<u8> {
    let id = &study.config.study_id;
    let payload = WithdrawalPayload::build(
        id,
        &study.config.code_pattern,
        Some(&code(i)),
        &word(i),
        DATE,
        random::<16>(),
    )
    .expect("the request builds");
    study
        .public_key
        .seal(id, &payload.to_json(), random::<32>())
        .expect("seals")
        .to_json()
}

/// SHA-256 as lowercase hex (the receipt).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
