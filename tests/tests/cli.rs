//! The command line: `keys create`, `demo`, health endpoints.

use serde_json::json;
use std::time::Duration;
use voxgate_tests::{create_key_init, Server, ServerOptions};

#[test]
fn keys_create_prints_the_key_alone_and_stores_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key_init(dir.path(), "acme");
    assert!(key.starts_with("vg_sk_") && key.len() == 6 + 43, "{key}");
    let again = create_key_init(dir.path(), "acme");
    assert_ne!(key, again);
    let db = std::fs::read(dir.path().join("voxgate.sqlite")).unwrap();
    let needle = key.as_bytes();
    assert!(!db.windows(needle.len()).any(|w| w == needle), "the plaintext key is in the database");
    // Both keys work on a server started afterwards, on the same workspace.
    let server =
        Server::start_with(ServerOptions { data_dir: Some(dir.path().to_path_buf()), ..Default::default() });
    let api = server.client();
    let w = api.control("POST", "/v1/widgets", &key, Some(json!({"name": "W"}))).expect(201);
    let id = w.body["id"].as_str().unwrap();
    api.control("GET", &format!("/v1/widgets/{id}"), &again, None).expect(200);
}

#[test]
fn health_and_readiness() {
    let server = Server::start();
    let api = server.client();
    assert_eq!(api.send(api.http.get(api.url("/healthz"))).expect(200).body["status"], "ok");
    assert_eq!(api.send(api.http.get(api.url("/readyz"))).expect(200).body["status"], "ready");
}

#[test]
fn demo_prepares_a_workspace_widget_and_page() {
    let mut server = Server::start_with(ServerOptions { demo: true, ..Default::default() });
    let port = server.url.rsplit(':').next().unwrap().to_string();
    // What to open comes after the start-up line, where request logs cannot scroll it away.
    server.wait_for_line("calls echo your voice", Duration::from_secs(10));
    let lines = server.stdout();
    let page = format!("http://localhost:{port}/");
    let listening =
        lines.iter().position(|l| l.starts_with("voxgate listening on")).expect("the start-up line");
    let open =
        lines.iter().position(|l| l.contains(&page)).unwrap_or_else(|| panic!("what to open: {lines:?}"));
    assert!(open > listening, "{lines:?}");
    assert!(lines[open..].iter().any(|l| l.contains("dashboard:") && l.contains("password")), "{lines:?}");
    let api = server.client();
    let html = api.send(api.http.get(&page)).expect(200).text;
    assert!(html.contains("voxgate demo"));
    // The page says what the agent knows, that calls echo here (no recogniser), and what is kept.
    for title in ["<li>What voxgate is</li>", "<li>Voice</li>", "<li>Origins</li>", "<li>Privacy</li>"] {
        assert!(html.contains(title), "the page lists {title}: {html}");
    }
    assert!(html.contains("data-voice=\"echoes\""), "{html}");
    assert!(html.contains("transcript of voice calls"), "{html}");
    assert!(html.contains("/widget.js\" data-widget=\"wgt_"), "the widget is embedded with one tag: {html}");
    assert!(html.contains("data-session-url=\"/demo/session\""));
    // The page's backend stand-in gives browser-safe values; the page's origin is allowed.
    let req = api
        .http
        .post(format!("http://localhost:{port}/demo/session"))
        .header("Origin", format!("http://localhost:{port}"));
    let s = api.send(req).expect(201).body;
    let origin = format!("http://localhost:{port}");
    let (messages_url, token) = (s["messages_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    api.browser("GET", messages_url, Some(&origin), Some(token)).expect(200);
    // The demo's knowledge says nothing of prices: no confident wrong answer.
    let mut answer = voxgate_tests::text::Answer::ask(
        &api,
        messages_url,
        &origin,
        token,
        "How much does it cost per month?",
    )
    .expect("asked");
    let last = answer.rest().pop().expect("events");
    assert_eq!(
        (last.event.as_str(), last.data["text"].as_str()),
        ("response.completed", Some("I don't know that yet."))
    );

    // The banner's key command works exactly as printed, from any folder.
    let command = lines
        .iter()
        .find_map(|l| l.split_once(": ").map(|(_, c)| c.trim()).filter(|c| c.contains(" keys create ")))
        .unwrap_or_else(|| panic!("the demo prints how to make a key: {lines:?}"));
    let words: Vec<&str> = command.split_whitespace().collect();
    assert!(std::path::Path::new(words[0]).is_absolute(), "{command}");
    let out = std::process::Command::new(words[0])
        .args(&words[1..])
        .current_dir(std::env::temp_dir())
        .env("VOXGATE_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    api.control("GET", "/v1/agents", &key, None).expect(200);
}

#[test]
fn the_demo_serves_its_trust_center_from_the_first_request() {
    let mut server = Server::start_with(ServerOptions { demo: true, ..Default::default() });
    let port = server.url.rsplit(':').next().unwrap().to_string();
    server.wait_for_line("staging widget", Duration::from_secs(10));
    let lines = server.stdout();
    let widget = lines
        .iter()
        .find_map(|l| l.split_whitespace().skip_while(|w| *w != "widget").nth(1).map(str::to_string))
        .unwrap_or_else(|| panic!("the demo names its widget: {lines:?}"));
    let api = server.client();
    let origin = format!("http://localhost:{port}");
    let config =
        api.browser("GET", &format!("/v1/widgets/{widget}/config"), Some(&origin), None).expect(200).body;
    let trust =
        config["trust_center_url"].as_str().unwrap_or_else(|| panic!("the demo widget links it: {config}"));
    // The first request to the page, with nothing on the control plane before it.
    let page = api.send(api.http.get(trust)).expect(200);
    assert!(page.text.contains("Trust Center: demo"), "{}", page.text);
}
