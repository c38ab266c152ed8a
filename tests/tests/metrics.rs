//! `/metrics` as an SRE's tools see it: `promtool check metrics` on the output of a server that
//! has carried sessions, a real Prometheus server scraping it, `--metrics-addr`, and the
//! Grafana dashboard's queries naming only metrics that exist.

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use voxgate_tests::text::Answer;
use voxgate_tests::{eventually, Fixture, KillOnDrop, Server, ServerOptions, SITE};

/// Every family DESIGN.md (Observability) asks for.
const REQUIRED: &[&str] = &[
    "voxgate_active_sessions",
    "voxgate_sessions_created_total",
    "voxgate_sessions_ended_total",
    "voxgate_browser_rejections_total",
    "voxgate_signaling_duration_seconds",
    "voxgate_ice_connect_duration_seconds",
    "voxgate_media_packets_total",
    "voxgate_media_bytes_total",
    "voxgate_media_worker_active_peers",
    "voxgate_voice_metered_seconds_total",
    "voxgate_text_messages_total",
    "voxgate_agent_first_token_seconds",
    "voxgate_store_writer_queue_depth",
];

fn families(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn promtool_check(exposition: &str) -> std::process::Output {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package prometheus; scripts/test installs it)");
    child.stdin.take().expect("stdin").write_all(exposition.as_bytes()).expect("write metrics");
    child.wait_with_output().expect("promtool finishes")
}

/// A server that has carried a voice call and a text message, refused a browser request and ended a session.
fn busy_fixture(opts: ServerOptions) -> Fixture {
    let f = Fixture::on(Server::start_with(opts));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    call.expect_echoes(10, Duration::from_secs(20));
    let t = f.session(json!({"mode": "text"}));
    let (url, token) = (t["messages_url"].as_str().unwrap(), t["session_token"].as_str().unwrap());
    let events = Answer::ask(&f.api, url, SITE, token, "Hello?").expect("message taken").rest();
    assert_eq!(events.last().map(|e| e.event.as_str()), Some("response.completed"), "{events:?}");
    let config = format!("/v1/widgets/{}/config", f.widget);
    f.api.browser("GET", &f.api.url(&config), Some("https://evil.example"), None).expect(403);
    let sid = s["session_id"].as_str().unwrap();
    f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    call.expect_server_hangup(Duration::from_secs(10));
    f
}

fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{exposition}"))
}

#[test]
fn metrics_pass_promtool_and_count_what_happened() {
    let f = busy_fixture(ServerOptions::default());
    // A probe for a path no route takes, holding something that looks like an id.
    f.api.send(f.api.http.get(f.api.url("/v1/no-such-thing/ses_probe"))).expect(404);
    let text = f.api.send(f.api.http.get(f.api.url("/metrics"))).expect(200).text;
    let checked = promtool_check(&text);
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let found = families(&text);
    for name in REQUIRED {
        assert!(found.contains(*name), "{name} missing from /metrics:\n{text}");
    }
    for name in &found {
        assert!(name.starts_with("voxgate_"), "{name} lacks the voxgate_ prefix");
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP text");
    }
    // No per-session, widget or origin label anywhere.
    for forbidden in ["ses_", "wgt_", "cnv_", "call_", "https://"] {
        let leaked: Vec<&str> =
            text.lines().filter(|l| !l.starts_with('#') && l.contains(forbidden)).collect();
        assert!(leaked.is_empty(), "unbounded label values {forbidden}: {leaked:?}");
    }
    assert_eq!(sample(&text, "voxgate_sessions_created_total{mode=\"voice\"}"), 1.0);
    assert_eq!(sample(&text, "voxgate_sessions_ended_total{mode=\"voice\",reason=\"ended\"}"), 1.0);
    assert_eq!(sample(&text, "voxgate_browser_rejections_total{reason=\"origin_not_allowed\"}"), 1.0);
    assert_eq!(sample(&text, "voxgate_calls_ended_total{reason=\"ended\"}"), 1.0);
    assert_eq!(sample(&text, "voxgate_ice_connect_duration_seconds_count"), 1.0);
    assert!(sample(&text, "voxgate_media_packets_total{direction=\"in\"}") >= 10.0);
    assert!(sample(&text, "voxgate_media_packets_total{direction=\"out\"}") >= 10.0);
    assert_eq!(sample(&text, "voxgate_active_sessions{mode=\"voice\"}"), 0.0);
    assert_eq!(sample(&text, "voxgate_active_sessions{mode=\"text\"}"), 1.0);
    assert_eq!(
        sample(&text, "voxgate_text_messages_total{class=\"production\",environment=\"production\"}"),
        1.0
    );
    assert_eq!(sample(&text, "voxgate_agent_first_token_seconds_count{backend=\"builtin\"}"), 1.0);
    // Requests by the route that took them (its pattern, never the path) and status class.
    let requests = |method: &str, route: &str, status: &str| {
        sample(
            &text,
            &format!("voxgate_http_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"),
        )
    };
    assert_eq!(requests("POST", "/v1/widgets/{id}/sessions", "2xx"), 2.0);
    assert_eq!(requests("GET", "/v1/widgets/{id}/config", "4xx"), 1.0);
    assert_eq!(requests("DELETE", "/v1/sessions/{id}", "2xx"), 1.0);
    assert_eq!(requests("GET", "unmatched", "4xx"), 1.0);
    // Series exist before their first event, so rate() sees the first increment.
    assert_eq!(sample(&text, "voxgate_browser_rejections_total{reason=\"token_expired\"}"), 0.0);
    assert_eq!(sample(&text, "voxgate_text_messages_total{class=\"preview\",environment=\"staging\"}"), 0.0);
}

/// A server with `--metrics-addr 127.0.0.1:0`, and the metrics URL it printed.
fn with_metrics_listener() -> (Server, String) {
    let server = Server::start_with(ServerOptions {
        extra_args: vec!["--metrics-addr".into(), "127.0.0.1:0".into()],
        ..Default::default()
    });
    let url = server.metrics_url().expect("voxgate names its metrics listener");
    (server, url)
}

#[test]
fn metrics_addr_moves_metrics_off_the_public_listener() {
    let (server, metrics_url) = with_metrics_listener();
    let api = server.client();
    api.send(api.http.get(api.url("/metrics"))).expect_error(404, "not_found");
    let text = api.send(api.http.get(&metrics_url)).expect(200).text;
    assert!(families(&text).contains("voxgate_active_sessions"), "{text}");
    assert!(promtool_check(&text).status.success());
}

/// A free loopback port for a process that cannot be told to bind port 0 and report it.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_real_prometheus_scrapes_voxgate() {
    let (_server, metrics_url) = with_metrics_listener();
    let target = metrics_url.trim_start_matches("http://").trim_end_matches("/metrics");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: voxgate\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let prometheus = KillOnDrop(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (Debian package prometheus; scripts/test installs it)"),
    );
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let query = |q: &str| -> Option<Vec<Value>> {
        let r =
            http.get(format!("http://127.0.0.1:{port}/api/v1/query")).query(&[("query", q)]).send().ok()?;
        let body: Value = r.json().ok()?;
        let result = body["data"]["result"].as_array()?.clone();
        (!result.is_empty()).then_some(result)
    };
    let up = eventually(Duration::from_secs(90), || query("up{job=\"voxgate\"} == 1"));
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
    let info = eventually(Duration::from_secs(30), || query("voxgate_build_info"));
    assert_eq!(info[0]["metric"]["version"], env!("CARGO_PKG_VERSION"), "{info:?}");
    let modes = eventually(Duration::from_secs(30), || query("sum by (mode) (voxgate_active_sessions)"));
    assert_eq!(modes.len(), 2, "one series per mode: {modes:?}");
    drop(prometheus);
}

/// Metric names a PromQL expression uses (`voxgate_...`, with histogram suffixes removed).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("voxgate_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &expr[start..end];
        let base = ["_bucket", "_count", "_sum"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        names.push(base.to_string());
        i = end;
    }
    names
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_voxgate_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/grafana-dashboard.json");
    let text = std::fs::read_to_string(path).expect("docs/grafana-dashboard.json");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is valid JSON");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    let panels = dashboard["panels"].as_array().expect("panels");
    let server = Server::start();
    let api = server.client();
    // Request latency has a series per route once the route has answered.
    api.send(api.http.get(api.url("/healthz"))).expect(200);
    let exported = families(&api.send(api.http.get(api.url("/metrics"))).expect(200).text);
    let mut used = BTreeSet::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap_or("?");
        let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("panel {title} has no queries"));
        assert!(!targets.is_empty(), "panel {title} has no queries");
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_else(|| panic!("panel {title}: a query without expr"));
            let names = metric_names(expr);
            assert!(!names.is_empty(), "panel {title} queries no voxgate metric: {expr}");
            for n in names {
                assert!(exported.contains(&n), "panel {title} queries {n}, which /metrics does not export");
                used.insert(n);
            }
        }
    }
    // What the issue asks the dashboard to show.
    for needed in [
        "voxgate_active_sessions",
        "voxgate_signaling_duration_seconds",
        "voxgate_ice_connect_duration_seconds",
        "voxgate_browser_rejections_total",
        "voxgate_media_packets_total",
        "voxgate_media_worker_active_peers",
        "voxgate_voice_metered_seconds_total",
        "voxgate_text_messages_total",
        "voxgate_agent_first_token_seconds",
        "voxgate_store_writer_queue_depth",
        "voxgate_voice_turn_seconds",
        "voxgate_voice_barge_ins_total",
        "voxgate_voice_playout_underruns_total",
        "voxgate_voice_provider_errors_total",
    ] {
        assert!(used.contains(needed), "no dashboard panel shows {needed}");
    }
}
