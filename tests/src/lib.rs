//! Shared harness for end-to-end tests: starts the real `voxgate` binary on port 0 with a
//! temporary data dir, and talks to it over HTTP like a customer's backend or a browser would.

pub mod dashboard;
pub mod fake_provider;
pub mod postgres;
pub mod recording;
pub mod s3;
pub mod speech;
pub mod text;
pub mod tool_backend;
pub mod upstream;
pub mod voice;
pub mod wall_clock;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `voxgate` binary built next to this test (target/<profile>/voxgate), or `VOXGATE_BIN`.
pub fn voxgate_bin() -> PathBuf {
    if let Ok(p) = std::env::var("VOXGATE_BIN") {
        return PathBuf::from(p);
    }
    workspace_bin("voxgate")
}

/// A binary of the workspace built next to this test (target/<profile>/<name>).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(name);
    assert!(bin.exists(), "{} is missing: run `cargo build --workspace` first", bin.display());
    bin
}

/// Any other process a test starts (Prometheus, the bare echo reference): killed and reaped
/// when the test ends, however it ends.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running server. Dropping it kills the process.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    /// The PostgreSQL it runs on (`--database-url`), if not SQLite in the data dir.
    pub database_url: Option<String>,
    stdout_lines: mpsc::Receiver<String>,
    /// Lines already read while waiting for another.
    seen: Vec<String>,
    _tmp: Option<tempfile::TempDir>,
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Reuse a data dir (for restarts); a fresh temporary one otherwise.
    pub data_dir: Option<PathBuf>,
    /// `demo` instead of `serve`.
    pub demo: bool,
    pub extra_args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Server {
    /// A fresh server on a fresh data dir.
    pub fn start() -> Server {
        Server::start_with(ServerOptions::default())
    }

    pub fn start_with(opts: ServerOptions) -> Server {
        let (tmp, data_dir) = match opts.data_dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir().expect("temp dir");
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        let database_url = opts
            .extra_args
            .iter()
            .position(|a| a == "--database-url")
            .and_then(|i| opts.extra_args.get(i + 1))
            .cloned();
        let mut cmd = Command::new(voxgate_bin());
        cmd.arg(if opts.demo { "demo" } else { "serve" })
            .args(["--http", "127.0.0.1:0", "--min-ttl-seconds", "1", "--data-dir"])
            .arg(&data_dir);
        // A stop ends live work at once unless a test asks for a drain (tests/tests/drain.rs).
        if !opts.extra_args.iter().any(|a| a == "--drain-seconds") {
            cmd.args(["--drain-seconds", "0"]);
        }
        cmd.args(&opts.extra_args)
            .env(
                "VOXGATE_LOG",
                std::env::var("VOXGATE_TEST_LOG").unwrap_or_else(|_| "warn,str0m=error".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start voxgate");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            data_dir,
            database_url,
            stdout_lines: rx,
            seen: Vec::new(),
            _tmp: tmp,
        };
        let line = server.wait_for_line("voxgate listening on http://", Duration::from_secs(30));
        server.url = line.trim().trim_start_matches("voxgate listening on ").to_string();
        server
    }

    /// Waits for a stdout line containing `needle` and returns it.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => {
                    self.seen.push(line.clone());
                    return line;
                }
                Ok(line) => self.seen.push(line),
                Err(_) => {
                    let status = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                    panic!("voxgate never printed {needle:?} (exit status: {status:?})");
                }
            }
        }
    }

    /// The `/metrics` URL of the separate listener (`--metrics-addr`), as the server printed it
    /// before it announced its HTTP listener.
    pub fn metrics_url(&self) -> Option<String> {
        self.seen.iter().find_map(|l| l.trim().strip_prefix("voxgate metrics on ").map(str::to_string))
    }

    /// Every line printed on stdout so far.
    pub fn stdout(&mut self) -> Vec<String> {
        let fresh: Vec<String> = self.stdout_lines.try_iter().collect();
        self.seen.extend(fresh);
        self.seen.clone()
    }

    /// Kills the process with SIGKILL, as a crash or an OOM kill would, and keeps its data dir
    /// for a restart.
    pub fn kill(mut self) -> PathBuf {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        if let Some(t) = self._tmp.take() {
            return t.keep();
        }
        self.data_dir.clone()
    }

    /// Waits for the process to exit by itself (after signals a test sent), asserts that it
    /// exited cleanly, and keeps its data dir for a restart.
    pub fn wait_exit(mut self, timeout: Duration) -> PathBuf {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success(), "voxgate exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "voxgate did not exit within {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(t) = self._tmp.take() {
            return t.keep();
        }
        self.data_dir.clone()
    }

    /// The process id, for tests that signal it themselves.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM and waits for a clean exit (a graceful shutdown).
    pub fn stop(mut self) -> PathBuf {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success(), "voxgate exited with {status} after SIGTERM");
                break;
            }
            assert!(Instant::now() < deadline, "voxgate did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Keep the temp dir alive for a restart.
        if let Some(t) = self._tmp.take() {
            return t.keep();
        }
        self.data_dir.clone()
    }

    pub fn client(&self) -> Api {
        Api {
            base: self.url.clone(),
            // Idle connections are dropped before the server's keep-alive (5 s) closes them, so
            // a request never goes out on a connection the server is closing.
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .expect("client"),
        }
    }

    /// Runs `voxgate keys create` against this server's data dir.
    pub fn create_key(&self, workspace: &str) -> String {
        create_key(&self.data_dir, workspace)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs the `voxgate` binary with `args` (a command such as `keys list`) and returns its output.
pub fn voxgate(args: &[&str]) -> std::process::Output {
    Command::new(voxgate_bin()).args(args).env("VOXGATE_LOG", "warn").output().expect("run voxgate")
}

/// Runs `voxgate keys create` on an existing store and returns what it printed on stdout.
pub fn create_key(data_dir: &Path, workspace: &str) -> String {
    key_from(voxgate(&[
        "keys",
        "create",
        "--workspace",
        workspace,
        "--data-dir",
        &data_dir.to_string_lossy(),
    ]))
}

/// Runs `voxgate keys create --init`: the store is created if it does not exist yet.
pub fn create_key_init(data_dir: &Path, workspace: &str) -> String {
    let dir = data_dir.to_string_lossy();
    key_from(voxgate(&["keys", "create", "--init", "--workspace", workspace, "--data-dir", &dir]))
}

pub(crate) fn key_from(out: std::process::Output) -> String {
    assert!(out.status.success(), "keys create failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1, "keys create must print the key alone: {text:?}");
    lines[0].to_string()
}

/// An HTTP response reduced to what tests check.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub(crate) fn from(res: Response) -> Reply {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a status and returns self.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts an error status and code.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Reply {
        assert_eq!((self.status, self.code()), (status, code), "body: {}", self.text);
        assert!(
            self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "no message: {}",
            self.text
        );
        self
    }
}

/// A client for one server.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: Client,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    pub fn send(&self, req: RequestBuilder) -> Reply {
        Reply::from(req.send().expect("request"))
    }

    /// A control-plane request with a workspace key.
    pub fn control(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .http
            .request(method.parse().expect("method"), self.url(path))
            .header("Authorization", format!("Bearer {key}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req)
    }

    /// A browser request: `origin` (None for none) and an optional bearer token.
    pub fn browser(&self, method: &str, url: &str, origin: Option<&str>, token: Option<&str>) -> Reply {
        let mut req = self.http.request(method.parse().expect("method"), self.url(url));
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        self.send(req)
    }

    /// A CORS preflight.
    pub fn preflight(&self, url: &str, origin: &str, method: &str) -> Reply {
        let req = self
            .http
            .request(reqwest::Method::OPTIONS, self.url(url))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", "authorization, content-type");
        self.send(req)
    }
}

/// A workspace with an agent and a widget, ready for sessions.
pub struct Fixture {
    pub server: Server,
    pub api: Api,
    pub key: String,
    pub agent: String,
    pub widget: String,
}

/// The origin fixtures allow.
pub const SITE: &str = "https://shop.example.com";

impl Fixture {
    /// A server, a key, a builtin agent and a production widget allowing [`SITE`].
    pub fn new() -> Fixture {
        Fixture::on(Server::start())
    }

    pub fn on(server: Server) -> Fixture {
        let key = server.create_key("acme");
        Fixture::with_key(server, key)
    }

    /// A builtin agent and a production widget allowing [`SITE`], made with `key`.
    pub fn with_key(server: Server, key: String) -> Fixture {
        let api = server.client();
        let agent =
            api.control("POST", "/v1/agents", &key, Some(json!({"name": "Support"}))).expect(201).body["id"]
                .as_str()
                .expect("agent id")
                .to_string();
        let widget = api
            .control(
                "POST",
                "/v1/widgets",
                &key,
                Some(json!({"name": "Shop", "agent_id": agent, "allowed_origins": [SITE]})),
            )
            .expect(201)
            .body["id"]
            .as_str()
            .expect("widget id")
            .to_string();
        Fixture { server, api, key, agent, widget }
    }

    /// Another node of `self`'s database (`server`) serving the same key, agent and widget.
    pub fn on_node(&self, server: Server) -> Fixture {
        Fixture {
            api: server.client(),
            server,
            key: self.key.clone(),
            agent: self.agent.clone(),
            widget: self.widget.clone(),
        }
    }

    /// Offers a voice call for session values `s` from [`SITE`]; panics if refused.
    pub fn call(&self, s: &Value) -> voice::VoiceCall {
        let (url, token) =
            (s["webrtc_url"].as_str().expect("webrtc_url"), s["session_token"].as_str().expect("token"));
        voice::VoiceCall::offer(&self.api, url, SITE, token)
            .unwrap_or_else(|r| panic!("offer refused: {}", r.text))
    }

    /// The control plane's record of session values `s` (status, end reason, calls).
    pub fn record(&self, s: &Value) -> Value {
        let sid = s["session_id"].as_str().expect("session_id");
        self.api.control("GET", &format!("/v1/sessions/{sid}"), &self.key, None).expect(200).body
    }

    /// The record of session values `s` once its last call's end is committed. The server closes
    /// the peer first (the browser learns at once) and commits the call's end just after, through
    /// the store's group commit, so a read right after the hang-up may not show it yet.
    pub fn record_after_call_end(&self, s: &Value) -> Value {
        eventually(Duration::from_secs(5), || {
            let v = self.record(s);
            let ended =
                v["calls"].as_array().and_then(|c| c.last()).is_some_and(|c| !c["end_reason"].is_null());
            ended.then_some(v)
        })
    }

    /// Saves `patch` on the fixture agent; answers the saved agent.
    pub fn patch_agent(&self, patch: Value) -> Value {
        self.api
            .control("PATCH", &format!("/v1/agents/{}", self.agent), &self.key, Some(patch))
            .expect(200)
            .body
    }

    /// Saves `patch` on the fixture widget; answers the saved widget.
    pub fn patch_widget(&self, patch: Value) -> Value {
        self.api
            .control("PATCH", &format!("/v1/widgets/{}", self.widget), &self.key, Some(patch))
            .expect(200)
            .body
    }

    /// Creates a session on the fixture widget with `body`.
    pub fn session(&self, body: Value) -> Value {
        self.api
            .control("POST", &format!("/v1/widgets/{}/sessions", self.widget), &self.key, Some(body))
            .expect(201)
            .body
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "condition not met within {timeout:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

impl Fixture {
    /// The conversation record (transcript, calls) of session values `s`.
    pub fn conversation(&self, s: &Value) -> Value {
        let sid = s["session_id"].as_str().expect("session_id");
        let page = self.api.control("GET", "/v1/conversations?limit=100", &self.key, None).expect(200).body;
        let id = page["conversations"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["session_id"] == sid))
            .and_then(|c| c["id"].as_str())
            .unwrap_or_else(|| panic!("no conversation for session {sid}: {page:#}"))
            .to_string();
        self.api.control("GET", &format!("/v1/conversations/{id}"), &self.key, None).expect(200).body
    }

    /// As [`Fixture::transcript_when`], while `call` goes on: its visitor keeps sending, as a
    /// browser does, and the server hears the silence that ends a turn.
    pub fn transcript_during(
        &self,
        call: &mut voice::VoiceCall,
        s: &Value,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            call.run_until(Duration::from_millis(200), |_| false);
            let lines = self.conversation(s)["transcript"].as_array().cloned().unwrap_or_default();
            if done(&lines) {
                return lines;
            }
            assert!(Instant::now() < deadline, "condition not met within {timeout:?}: {lines:#?}");
        }
    }

    /// The transcript of session values `s` once `done` holds for it.
    pub fn transcript_when(
        &self,
        s: &Value,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        eventually(timeout, || {
            let record = self.conversation(s);
            let lines = record["transcript"].as_array().cloned().unwrap_or_default();
            done(&lines).then_some(lines)
        })
    }
}
