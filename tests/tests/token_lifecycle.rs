//! Session tokens: valid until `expires_at`, then `token_expired`; tampered, foreign and
//! ended-session tokens refused with their codes; refresh moves the expiry.

use serde_json::json;
use std::time::Duration;
use voxgate_tests::wall_clock::{now_ms, rfc3339_ms};
use voxgate_tests::{eventually, Fixture, SITE};

fn expires_at_ms(s: &serde_json::Value) -> i64 {
    let text = s["expires_at"].as_str().unwrap();
    rfc3339_ms(text)
}

#[test]
fn a_token_works_until_expires_at_and_is_refused_after() {
    let f = Fixture::new();
    let s = f.session(json!({"ttl_seconds": 2}));
    let token = s["session_token"].as_str().unwrap();
    let url = s["messages_url"].as_str().unwrap();
    let deadline = expires_at_ms(&s);
    f.api.browser("GET", url, Some(SITE), Some(token)).expect(200);
    // Every answer before the deadline is 200; the first refusal is token_expired, after it.
    let refused = eventually(Duration::from_secs(10), || {
        let before = now_ms();
        let r = f.api.browser("GET", url, Some(SITE), Some(token));
        if r.status == 200 {
            assert!(before < deadline + 50, "accepted after expires_at");
            return None;
        }
        Some((r, now_ms()))
    });
    let (r, at) = refused;
    assert!(at >= deadline, "refused before expires_at");
    r.expect_error(401, "token_expired");
    // The token supervisor ended the session with reason token_expired.
    let sid = s["session_id"].as_str().unwrap();
    let view = eventually(Duration::from_secs(5), || {
        let v = f.api.control("GET", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
        (v.body["status"] == "ended").then_some(v)
    });
    assert_eq!(view.body["end_reason"], "token_expired");
}

#[test]
fn refresh_moves_the_expiry() {
    let f = Fixture::new();
    let s = f.session(json!({"ttl_seconds": 2}));
    let sid = s["session_id"].as_str().unwrap();
    let old_token = s["session_token"].as_str().unwrap();
    let url = s["messages_url"].as_str().unwrap();
    let old_deadline = expires_at_ms(&s);
    let r = f
        .api
        .control("POST", &format!("/v1/sessions/{sid}/refresh"), &f.key, Some(json!({"ttl_seconds": 60})))
        .expect(200);
    let new_token = r.body["session_token"].as_str().unwrap().to_string();
    assert!(expires_at_ms(&r.body) > old_deadline + 50_000);
    // Wait until the old token has expired; the session lives on with the new token.
    eventually(Duration::from_secs(10), || {
        let r = f.api.browser("GET", url, Some(SITE), Some(old_token));
        (r.status == 401).then_some(r)
    })
    .expect_error(401, "token_expired");
    assert!(now_ms() >= old_deadline);
    f.api.browser("GET", url, Some(SITE), Some(&new_token)).expect(200);
    let v = f.api.control("GET", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    assert_eq!(v.body["status"], "live");
}

#[test]
fn tampered_foreign_and_ended_tokens_are_refused() {
    let f = Fixture::new();
    let a = f.session(json!({}));
    let token = a["session_token"].as_str().unwrap();
    let url = a["messages_url"].as_str().unwrap();

    // Tampered: flip one character of the payload.
    let mut chars: Vec<char> = token.chars().collect();
    let i = 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    f.api.browser("GET", url, Some(SITE), Some(&tampered)).expect_error(401, "token_invalid");
    f.api.browser("GET", url, Some(SITE), Some("vg_st_garbage")).expect_error(401, "token_invalid");
    f.api.browser("GET", url, Some(SITE), None).expect_error(401, "token_missing");

    // Another widget's token on this session's URL.
    let w2 = f
        .api
        .control(
            "POST",
            "/v1/widgets",
            &f.key,
            Some(json!({"name": "Other", "agent_id": f.agent, "allowed_origins": [SITE]})),
        )
        .expect(201);
    let w2_id = w2.body["id"].as_str().unwrap();
    let b =
        f.api.control("POST", &format!("/v1/widgets/{w2_id}/sessions"), &f.key, Some(json!({}))).expect(201);
    let other_token = b.body["session_token"].as_str().unwrap();
    f.api.browser("GET", url, Some(SITE), Some(other_token)).expect_error(401, "token_invalid");
    // And the other token still works on its own session.
    f.api.browser("GET", b.body["messages_url"].as_str().unwrap(), Some(SITE), Some(other_token)).expect(200);

    // The workspace key is refused on browser endpoints.
    f.api.browser("GET", url, Some(SITE), Some(&f.key)).expect_error(403, "api_key_in_browser");

    // An ended session's token, before it would expire.
    let sid = a["session_id"].as_str().unwrap();
    f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    f.api.browser("GET", url, Some(SITE), Some(token)).expect_error(410, "session_ended");
}
