//! What a customer's backend gets when it creates a session, and what it may hand the browser.

use serde_json::json;
use voxgate_tests::{Fixture, SITE};

#[test]
fn a_session_returns_six_browser_safe_fields() {
    let f = Fixture::new();
    let s = f.session(json!({"metadata": {"customer": "c-42"}}));
    let obj = s.as_object().expect("object");
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["expires_at", "messages_url", "session_id", "session_token", "webrtc_ice_servers", "webrtc_url"]
    );
    let text = s.to_string();
    assert!(!text.contains(&f.key), "the workspace key leaked to the browser values");
    assert!(!text.contains("vg_sk_"), "something key-shaped leaked: {text}");
    let sid = s["session_id"].as_str().unwrap();
    assert!(sid.starts_with("ses_") && sid.len() >= 20, "{sid}");
    let token = s["session_token"].as_str().unwrap();
    assert!(token.starts_with("vg_st_"));
    let webrtc = s["webrtc_url"].as_str().unwrap();
    let messages = s["messages_url"].as_str().unwrap();
    assert!(webrtc.starts_with(&f.server.url) && webrtc.contains(sid) && !webrtc.contains(token));
    assert!(messages.starts_with(&f.server.url) && messages.contains(sid) && !messages.contains(token));
    assert!(s["webrtc_ice_servers"].is_array());
    assert!(s["expires_at"].as_str().unwrap().ends_with('Z'));

    // The token opens the session from an allowed origin.
    f.api.browser("GET", messages, Some(SITE), Some(token)).expect(200);
    // The control plane sees the session with its metadata.
    let view = f.api.control("GET", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    assert_eq!(view.body["status"], "live");
    assert_eq!(view.body["metadata"]["customer"], "c-42");
    assert_eq!(view.body["widget_id"], f.widget.as_str());
}

#[test]
fn a_text_only_session_has_no_webrtc_url() {
    let f = Fixture::new();
    let s = f.session(json!({"mode": "text"}));
    assert!(s["webrtc_url"].is_null());
    assert!(s["messages_url"].is_string());
}

#[test]
fn creation_fails_clearly_when_the_widget_cannot_serve() {
    let f = Fixture::new();
    let path = format!("/v1/widgets/{}/sessions", f.widget);

    // Mode not enabled.
    f.api
        .control("PATCH", &format!("/v1/widgets/{}", f.widget), &f.key, Some(json!({"modes": ["text"]})))
        .expect(200);
    let r = f
        .api
        .control("POST", &path, &f.key, Some(json!({"mode": "voice"})))
        .expect_error(403, "mode_not_enabled");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("voice"));

    // Bad TTL and unknown fields.
    f.api
        .control("POST", &path, &f.key, Some(json!({"ttl_seconds": 999999})))
        .expect_error(400, "invalid_request");
    let r = f
        .api
        .control("POST", &path, &f.key, Some(json!({"moed": "text"})))
        .expect_error(400, "invalid_request");
    assert!(r.text.contains("moed"));

    // Another workspace's key cannot use the widget.
    let other = f.server.create_key("other-co");
    f.api.control("POST", &path, &other, Some(json!({}))).expect_error(404, "not_found");

    // Agent not configured: the openai backend needs an env var the server lacks.
    let unready = f
        .api
        .control(
            "POST",
            "/v1/agents",
            &f.key,
            Some(json!({"name": "LLM", "backend": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "VOXGATE_TEST_NEVER_SET_KEY"}})),
        )
        .expect(201);
    let unready_id = unready.body["id"].as_str().unwrap();
    f.api
        .control("PATCH", &format!("/v1/widgets/{}", f.widget), &f.key, Some(json!({"agent_id": unready_id})))
        .expect(200);
    let r = f.api.control("POST", &path, &f.key, Some(json!({}))).expect_error(409, "agent_not_configured");
    assert!(r.text.contains("VOXGATE_TEST_NEVER_SET_KEY"));

    // A widget with no agent at all.
    let bare = f.api.control("POST", "/v1/widgets", &f.key, Some(json!({"name": "Bare"}))).expect(201);
    let bare_id = bare.body["id"].as_str().unwrap();
    assert!(bare.text.contains("agent_id is not set"), "a warning says so: {}", bare.text);
    f.api
        .control("POST", &format!("/v1/widgets/{bare_id}/sessions"), &f.key, Some(json!({})))
        .expect_error(409, "agent_not_configured");

    // Agent missing: deleted after the widget was attached to it.
    f.api
        .control("PATCH", &format!("/v1/widgets/{}", f.widget), &f.key, Some(json!({"agent_id": f.agent})))
        .expect(200);
    f.api.control("DELETE", &format!("/v1/agents/{}", f.agent), &f.key, None).expect(200);
    let r = f.api.control("POST", &path, &f.key, Some(json!({}))).expect_error(409, "agent_missing");
    assert!(r.text.contains(&f.agent));

    // Widget deleted.
    f.api.control("DELETE", &format!("/v1/widgets/{}", f.widget), &f.key, None).expect(200);
    f.api.control("POST", &path, &f.key, Some(json!({}))).expect_error(410, "widget_deleted");
    f.api.control("GET", &format!("/v1/widgets/{}", f.widget), &f.key, None).expect_error(404, "not_found");
}

#[test]
fn ending_a_session_is_immediate_and_idempotent() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let sid = s["session_id"].as_str().unwrap();
    let token = s["session_token"].as_str().unwrap();
    let messages = s["messages_url"].as_str().unwrap();
    let ended = f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    assert_eq!(ended.body["status"], "ended");
    assert_eq!(ended.body["end_reason"], "ended");
    f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    f.api.browser("GET", messages, Some(SITE), Some(token)).expect_error(410, "session_ended");
    f.api
        .control("POST", &format!("/v1/sessions/{sid}/refresh"), &f.key, None)
        .expect_error(410, "session_ended");
}
