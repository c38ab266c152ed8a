//! Per-session TURN credentials (issue 18): with `--turn-urls` and `--turn-secret`, a voice
//! session's `webrtc_ice_servers` carries the TURN REST API form coturn's `use-auth-secret`
//! checks, expiring with the session; `refresh` hands out new ones. The credential is checked
//! against an independent HMAC (Python's), and coturn itself is in tests/browser/turn.test.mjs.

use serde_json::{json, Value};
use std::process::Command;
use voxgate_tests::{voxgate, Fixture, Server, ServerOptions};

const SECRET: &str = "turn-secret-for-tests-0123456789";

fn hmac_sha1_base64(secret: &str, text: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import base64,hmac,hashlib,sys; print(base64.b64encode(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha1).digest()).decode())",
            secret,
            text,
        ])
        .output()
        .expect("python3");
    String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
}

fn turn_entry(s: &Value) -> Value {
    let servers = s["webrtc_ice_servers"].as_array().expect("ice servers");
    servers
        .iter()
        .find(|e| e["username"].is_string())
        .cloned()
        .unwrap_or_else(|| panic!("no TURN entry: {s:#}"))
}

#[test]
fn voice_sessions_get_turn_credentials_that_expire_with_them() {
    let f = Fixture::on(Server::start_with(ServerOptions {
        extra_args: vec![
            "--turn-urls".into(),
            "turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349".into(),
            "--turn-secret".into(),
            SECRET.into(),
            "--ice-servers".into(),
            r#"[{"urls": "stun:stun.example.com:3478"}]"#.into(),
        ],
        ..Default::default()
    }));
    let s = f.session(json!({"ttl_seconds": 300}));
    let servers = s["webrtc_ice_servers"].as_array().expect("array");
    assert_eq!(servers[0]["urls"], "stun:stun.example.com:3478", "the static servers stay first");
    let turn = turn_entry(&s);
    assert_eq!(
        turn["urls"],
        json!(["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"])
    );
    let expires_at = voxgate_engine::Timestamp::parse(s["expires_at"].as_str().unwrap()).unwrap();
    let username = turn["username"].as_str().unwrap();
    assert_eq!(username, format!("{}:{}", expires_at.seconds(), s["session_id"].as_str().unwrap()));
    assert_eq!(turn["credential"].as_str().unwrap(), hmac_sha1_base64(SECRET, username));
    assert!(!s.to_string().contains(SECRET), "the secret itself never leaves the server");

    // Refresh: a later expiry, so a new username and credential.
    let sid = s["session_id"].as_str().unwrap();
    let r = f
        .api
        .control("POST", &format!("/v1/sessions/{sid}/refresh"), &f.key, Some(json!({"ttl_seconds": 900})))
        .expect(200)
        .body;
    let fresh = turn_entry(&r);
    assert_ne!(fresh["username"], turn["username"]);
    let fresh_user = fresh["username"].as_str().unwrap();
    assert_eq!(fresh["credential"].as_str().unwrap(), hmac_sha1_base64(SECRET, fresh_user));
    let new_expiry = voxgate_engine::Timestamp::parse(r["expires_at"].as_str().unwrap()).unwrap();
    assert!(fresh_user.starts_with(&format!("{}:", new_expiry.seconds())));

    // A text-only session gets no ICE servers at all.
    let text = f.session(json!({"mode": "text"}));
    assert_eq!(text["webrtc_ice_servers"], json!([]));
}

#[test]
fn bad_turn_settings_stop_the_server_with_a_reason() {
    for (args, says) in [
        (vec!["--turn-urls", "turn:t.example.com:3478"], "--turn-secret"),
        (vec!["--turn-secret", SECRET], "--turn-urls"),
        (vec!["--turn-urls", "stun:t.example.com", "--turn-secret", SECRET], "not a TURN URL"),
        (vec!["--turn-urls", "turn:t.example.com", "--turn-secret", "short"], "at least 16"),
    ] {
        let mut all = vec!["serve", "--http", "127.0.0.1:0", "--data-dir", "/nonexistent/never-created"];
        all.extend(args.iter());
        let out = voxgate(&all);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains(SECRET), "the secret is not echoed: {err}");
    }
}
