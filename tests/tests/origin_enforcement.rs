//! Browser endpoints answer only the origins a widget allows, as saved right now.

use serde_json::json;
use std::time::Duration;
use voxgate_tests::{eventually, Fixture, SITE};

#[test]
fn refused_origins_get_403_and_no_cors_headers() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let token = s["session_token"].as_str().unwrap();
    let messages = s["messages_url"].as_str().unwrap();
    let config = format!("/v1/widgets/{}/config", f.widget);

    let cases: [(Option<&str>, &str); 5] = [
        (Some("https://evil.test"), "origin_not_allowed"),
        (Some("null"), "origin_not_allowed"),
        (None, "origin_missing"),
        (Some("https://shop.example.com.evil.test"), "origin_not_allowed"),
        (Some("http://shop.example.com"), "origin_not_allowed"),
    ];
    for (origin, code) in cases {
        for url in [messages, config.as_str()] {
            let r = f.api.browser("GET", url, origin, Some(token)).expect_error(403, code);
            assert!(
                r.header("access-control-allow-origin").is_none(),
                "{origin:?} got CORS headers on {url}"
            );
        }
        if let Some(o) = origin {
            let r = f.api.preflight(messages, o, "GET");
            assert_eq!(r.status, 403, "preflight from {o}: {}", r.text);
            assert!(r.header("access-control-allow-origin").is_none());
        }
    }
    // Rejections are counted by reason.
    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).text;
    assert!(metrics.contains("voxgate_browser_rejections_total{reason=\"origin_not_allowed\"}"), "{metrics}");
}

#[test]
fn preflight_from_an_allowed_origin_succeeds_with_only_the_endpoint_methods() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let messages = s["messages_url"].as_str().unwrap();
    let r = f.api.preflight(messages, SITE, "GET").expect(204);
    assert_eq!(r.header("access-control-allow-origin"), Some(SITE));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
    assert!(r.header("access-control-allow-headers").unwrap().contains("authorization"));
    assert!(r.header("vary").unwrap().contains("Origin"));
    let config = format!("/v1/widgets/{}/config", f.widget);
    let r = f.api.preflight(&config, SITE, "GET").expect(204);
    assert_eq!(r.header("access-control-allow-methods"), Some("GET"));

    // The real request gets the header too, and the public config holds nothing secret.
    let r = f.api.browser("GET", &config, Some(SITE), None).expect(200);
    assert_eq!(r.header("access-control-allow-origin"), Some(SITE));
    for secret in ["allowed_origins", "agent_id", "prompt", &f.agent, "vg_sk_"] {
        assert!(!r.text.contains(secret), "public config exposes {secret}: {}", r.text);
    }
    assert_eq!(r.body["widget_id"], f.widget.as_str());
    assert!(r.body["version"].as_u64().is_some());
}

#[test]
fn wildcards_match_subdomains_only() {
    let f = Fixture::new();
    let path = format!("/v1/widgets/{}", f.widget);
    f.api
        .control("PATCH", &path, &f.key, Some(json!({"allowed_origins": ["https://*.example.org"]})))
        .expect(200);
    let config = format!("{path}/config");
    f.api.browser("GET", &config, Some("https://a.example.org"), None).expect(200);
    f.api.browser("GET", &config, Some("https://a.b.example.org"), None).expect(200);
    f.api.browser("GET", &config, Some("https://example.org"), None).expect_error(403, "origin_not_allowed");
    f.api
        .browser("GET", &config, Some("https://badexample.org"), None)
        .expect_error(403, "origin_not_allowed");
}

#[test]
fn a_saved_allowlist_applies_to_the_very_next_request() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let token = s["session_token"].as_str().unwrap();
    let messages = s["messages_url"].as_str().unwrap();
    let path = format!("/v1/widgets/{}", f.widget);
    let new_site = "https://new.example.net";
    f.api.browser("GET", messages, Some(new_site), Some(token)).expect_error(403, "origin_not_allowed");

    let saved =
        f.api.control("PATCH", &path, &f.key, Some(json!({"allowed_origins": [new_site]}))).expect(200);
    assert_eq!(saved.body["version"], 2);
    // The very next requests see the new list, on both browser endpoints.
    f.api.browser("GET", &format!("{path}/config"), Some(SITE), None).expect_error(403, "origin_not_allowed");
    f.api.browser("GET", &format!("{path}/config"), Some(new_site), None).expect(200);
    f.api.browser("GET", messages, Some(new_site), Some(token)).expect(200);
}

#[test]
fn removing_a_sessions_origin_ends_the_session() {
    let f = Fixture::new();
    let s = f.session(json!({}));
    let sid = s["session_id"].as_str().unwrap();
    let token = s["session_token"].as_str().unwrap();
    let messages = s["messages_url"].as_str().unwrap();
    f.api.browser("GET", messages, Some(SITE), Some(token)).expect(200);
    let path = format!("/v1/widgets/{}", f.widget);
    f.api
        .control("PATCH", &path, &f.key, Some(json!({"allowed_origins": ["https://other.example.com"]})))
        .expect(200);
    let v = eventually(Duration::from_secs(5), || {
        let v = f.api.control("GET", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
        (v.body["status"] == "ended").then_some(v)
    });
    assert_eq!(v.body["end_reason"], "origin_revoked");
    assert_eq!(v.body["origin"], SITE);
}

#[test]
fn an_empty_allowlist_allows_all_and_warns_on_production() {
    let f = Fixture::new();
    let path = format!("/v1/widgets/{}", f.widget);
    let r = f.api.control("PATCH", &path, &f.key, Some(json!({"allowed_origins": []}))).expect(200);
    assert!(r.body["warnings"][0].as_str().unwrap().contains("allowed_origins is empty"), "{}", r.text);
    f.api.browser("GET", &format!("{path}/config"), Some("https://anyone.test"), None).expect(200);
    // A missing or null origin is still refused.
    f.api.browser("GET", &format!("{path}/config"), None, None).expect_error(403, "origin_missing");
    f.api
        .browser("GET", &format!("{path}/config"), Some("null"), None)
        .expect_error(403, "origin_not_allowed");
    let r = f.api.control("PATCH", &path, &f.key, Some(json!({"environment": "staging"}))).expect(200);
    assert_eq!(r.body["warnings"].as_array().unwrap().len(), 0, "{}", r.text);
}
