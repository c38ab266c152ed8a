//! What the README shows is what runs: its curl flow and its backend routes for
//! `data-session-url` (Node.js and Python) are files under `examples/`, the README carries each
//! verbatim, and these tests run them against the real binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use voxgate_engine::media::client::ClientPeer;
use voxgate_engine::media::MediaIdentity;
use voxgate_tests::{voxgate_bin, Fixture, KillOnDrop};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn example(path: &str) -> String {
    std::fs::read_to_string(root().join("examples").join(path)).unwrap()
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn the_readme_shows_the_examples_as_they_are() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for file in ["curl-flow.sh", "backend-node/server.mjs", "backend-python/server.py"] {
        let text = example(file);
        // The README may leave out the shebang; everything else is there as is.
        let body = text.strip_prefix("#!/usr/bin/env bash\n").unwrap_or(&text);
        assert!(readme.contains(body.trim_end()), "README.md does not show examples/{file} as it is");
    }
}

#[test]
fn the_curl_flow_runs() {
    let data = tempfile::tempdir().unwrap();
    let offer_file = data.path().join("offer.sdp");
    let (_, offer) = ClientPeer::offer(
        &MediaIdentity::generate().unwrap(),
        "127.0.0.1:40000".parse().unwrap(),
        Instant::now(),
    )
    .unwrap();
    std::fs::write(&offer_file, offer).unwrap();
    let out = Command::new("bash")
        .arg(root().join("examples/curl-flow.sh"))
        .current_dir(data.path())
        .env("VOXGATE", voxgate_bin())
        .env("DATA", data.path().join("data"))
        .env("PORT", free_port().to_string())
        .env("OFFER", &offer_file)
        .env("VOXGATE_LOG", "warn")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the flow failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "event: response.completed",
        // 11 events, the first two already read: 8 deltas and the completion, once each.
        "resumed after the 2nd event: 9",
        "We are open 9 to 5, Monday to Friday.",
        "origin_not_allowed",
        "hang-up: 200",
        "visitor: When are you open?",
        "agent: We are open 9 to 5, Monday to Friday.",
        "\"text_messages\":1",
    ] {
        assert!(stdout.contains(line), "the flow printed no {line:?}:\n{stdout}");
    }
    assert_eq!(stdout.lines().last(), Some("ended"), "{stdout}");
}

/// Starts a backend sample with the fixture's key and widget; answers its URL.
fn backend(f: &Fixture, program: &str, file: &str) -> (KillOnDrop, String) {
    backend_at(f, program, &root().join("examples").join(file), true)
}

/// Starts the backend sample at `path` with the fixture's key, and with its server and widget
/// when `configure` (the dashboard's samples carry their own); answers its URL.
fn backend_at(f: &Fixture, program: &str, path: &Path, configure: bool) -> (KillOnDrop, String) {
    let file = path.display().to_string();
    let port = free_port();
    let mut command = Command::new(program);
    command.arg(path).env("VOXGATE_KEY", &f.key).env("PORT", port.to_string());
    if configure {
        command.env("VOXGATE_URL", &f.server.url).env("VOXGATE_WIDGET", &f.widget);
    }
    let child: Child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let guard = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{file} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, format!("http://127.0.0.1:{port}/api/voxgate-session"))
}

fn check_backend(program: &str, file: &str) {
    let f = Fixture::new();
    let (backend, route) = backend(&f, program, file);
    check_route(&f, &route, file);
    drop(backend);
}

/// What a backend route must do for the widget.
fn check_route(f: &Fixture, route: &str, file: &str) {
    // What the widget does: POST to the site's own route, same origin, no key anywhere.
    let values: Value = f
        .api
        .send(f.api.http.post(route).header("Referer", "https://shop.example.com/help"))
        .expect(201)
        .body;
    for field in
        ["session_id", "session_token", "expires_at", "webrtc_url", "webrtc_ice_servers", "messages_url"]
    {
        assert!(values.get(field).is_some(), "{file} returned no {field}: {values}");
    }
    assert!(!values.to_string().contains(&f.key), "the workspace key never reaches the browser");
    let token = values["session_token"].as_str().unwrap();
    f.api
        .browser("GET", values["messages_url"].as_str().unwrap(), Some(voxgate_tests::SITE), Some(token))
        .expect(200);
    let sid = values["session_id"].as_str().unwrap();
    let record = f.api.control("GET", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200).body;
    assert_eq!(record["metadata"]["page"], "https://shop.example.com/help", "{record}");
    // Anything else is not the route.
    assert_eq!(f.api.send(f.api.http.post(route.replace("voxgate-session", "other"))).status, 404);
}

/// `text` with HTML's character references replaced by their characters (named ones for the
/// markup characters, and every numeric one).
fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find(';').filter(|e| *e <= 10);
        let reference = end.map(|e| &tail[1..e]);
        let ch = match reference {
            Some("lt") => Some('<'),
            Some("gt") => Some('>'),
            Some("amp") => Some('&'),
            Some("quot") => Some('"'),
            Some("apos") => Some('\''),
            Some(r) if r.starts_with("#x") => u32::from_str_radix(&r[2..], 16).ok().and_then(char::from_u32),
            Some(r) if r.starts_with('#') => r[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match (ch, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &tail[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The dashboard's Distribute page shows a Node.js and a Python route of the same shape, with
/// this server and widget filled in: each runs as shown, given only the key.
#[test]
fn the_dashboards_backend_samples_run_as_shown() {
    let f = Fixture::new();
    voxgate_tests::dashboard::create_user(&f.server, "acme", "ana@example.com", "a long password 123");
    let d = voxgate_tests::dashboard::Dashboard::sign_in(&f.server, "ana@example.com", "a long password 123");
    let page = d.get(&format!("/dashboard/widgets/{}/distribute", f.widget)).text;
    let sample = |name: &str| -> String {
        let open = format!("data-sample=\"{name}\"><code>");
        let start = page.find(&open).unwrap_or_else(|| panic!("no {name} sample: {page}")) + open.len();
        let end = start + page[start..].find("</code>").expect("the sample's end");
        unescape_html(&page[start..end])
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    for (name, program, file) in [("node", "node", "server.mjs"), ("python", "python3", "server.py")] {
        let path = dir.path().join(file);
        std::fs::write(&path, sample(name)).expect("write the sample");
        let (backend, route) = backend_at(&f, program, &path, false);
        check_route(&f, &route, &format!("the dashboard's {name} sample"));
        drop(backend);
    }
}

#[test]
fn the_node_backend_route_returns_session_values() {
    check_backend("node", "backend-node/server.mjs");
}

#[test]
fn the_python_backend_route_returns_session_values() {
    check_backend("python3", "backend-python/server.py");
}

/// The README's talking-agent patch, and the `realtime` alternative in its comment, save as
/// shown and read back with the defaults filled in.
#[test]
fn the_readme_voice_examples_save_as_shown() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("curl -sf -X PATCH \"$API/v1/agents/$AGENT\"").expect("the voice example");
    let body = &readme[start..];
    let body = &body[body.find("-d '").expect("its body") + 4..];
    let (patch, rest) = body.split_once("'\n").expect("the body's end");
    let patch: Value = serde_json::from_str(patch).expect("the README's patch is JSON");
    let realtime = rest.lines().take_while(|l| l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let realtime = realtime.replace('#', "");
    let realtime = realtime.trim().strip_prefix("or:").expect("the realtime alternative").trim();
    let realtime: Value =
        serde_json::from_str(&format!("{{{realtime}}}")).expect("the README's realtime voice is JSON");

    let f = Fixture::new();
    let saved = f.patch_agent(patch);
    assert_eq!(saved["voice"]["type"], "pipeline", "{saved:#}");
    assert_eq!(saved["voice"]["turn_detection"]["threshold"], 0.5, "defaults filled in: {saved:#}");
    assert_eq!(saved["voice"]["turn_detection"]["idle_timeout_ms"], 20000, "{saved:#}");
    assert_eq!(saved["voice"]["turn_detection"]["false_interruption_ms"], 1500, "{saved:#}");
    // A merge patch merges objects: the pipeline's fields go first.
    f.patch_agent(serde_json::json!({"voice": null}));
    let saved = f.patch_agent(realtime);
    assert_eq!(saved["voice"]["type"], "realtime", "{saved:#}");
    assert_eq!(saved["voice"]["model"], "gpt-realtime", "{saved:#}");
}

/// The JSON body of the README's `curl ... -X PATCH "$API/..."` example whose body has `needle`.
fn readme_patch(needle: &str) -> Value {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    readme
        .match_indices("-X PATCH \"$API/")
        .filter_map(|(at, _)| {
            let body = &readme[at..];
            let body = &body[body.find("-d '")? + 4..];
            Some(body.split_once("'\n")?.0)
        })
        .find(|body| body.contains(needle))
        .map(|body| {
            serde_json::from_str(body).unwrap_or_else(|e| panic!("the README's example is JSON: {e}"))
        })
        .unwrap_or_else(|| panic!("no README example with {needle}"))
}

#[test]
fn the_readme_recording_and_turn_detection_examples_save_as_shown() {
    let f = Fixture::new();
    let saved = f.patch_widget(readme_patch("\"recording\": \"on\""));
    let privacy = &saved["privacy"];
    assert_eq!(privacy["recording"], "on", "{saved:#}");
    assert_eq!(privacy["recording_retention_days"], 30, "{saved:#}");
    let saved = f.patch_agent(readme_patch("\"type\": \"semantic\""));
    let td = &saved["voice"]["turn_detection"];
    assert_eq!(
        (&td["type"], &td["eagerness"]),
        (&Value::from("semantic"), &Value::from("auto")),
        "{saved:#}"
    );
    assert_eq!(
        (&td["min_silence_ms"], &td["max_wait_ms"]),
        (&Value::from(200), &Value::from(3000)),
        "{saved:#}"
    );
}
