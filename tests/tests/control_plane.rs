//! The control plane: key authentication, browser refusal, validation that names the field.

use serde_json::json;
use voxgate_tests::{Fixture, Server};

#[test]
fn browser_sent_control_requests_are_refused_without_cors() {
    let f = Fixture::new();
    let auth = format!("Bearer {}", f.key);
    // What a browser's fetch() sends cross-site: Fetch Metadata, and Origin.
    let req = f
        .api
        .http
        .get(f.api.url("/v1/agents"))
        .header("Authorization", &auth)
        .header("Sec-Fetch-Mode", "cors")
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Dest", "empty");
    let r = f.api.send(req).expect_error(403, "api_key_in_browser");
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.body["error"]["message"].as_str().unwrap().contains("backend"));
    // Same-origin browser requests carry Sec-Fetch-Site: same-origin.
    let req = f
        .api
        .http
        .get(f.api.url("/v1/agents"))
        .header("Authorization", &auth)
        .header("Sec-Fetch-Site", "same-origin");
    f.api.send(req).expect_error(403, "api_key_in_browser");
    let req = f
        .api
        .http
        .get(f.api.url("/v1/agents"))
        .header("Authorization", &auth)
        .header("Origin", "https://shop.example.com");
    let r = f.api.send(req).expect_error(403, "api_key_in_browser");
    assert!(r.header("access-control-allow-origin").is_none());
    // A preflight to the control plane gets no CORS answer either.
    let r = f.api.preflight("/v1/agents", "https://shop.example.com", "POST");
    assert!(r.header("access-control-allow-origin").is_none(), "{}", r.text);
    assert!(r.status >= 400);
}

#[test]
fn a_nodejs_backend_using_fetch_is_not_mistaken_for_a_browser() {
    // Node 18+'s fetch (undici) sends `sec-fetch-mode: cors` and nothing else of Fetch Metadata.
    let f = Fixture::new();
    let req = f
        .api
        .http
        .get(f.api.url("/v1/agents"))
        .header("Authorization", format!("Bearer {}", f.key))
        .header("Sec-Fetch-Mode", "cors")
        .header("User-Agent", "node");
    f.api.send(req).expect(200);
}

#[test]
fn missing_wrong_and_foreign_keys_get_401_or_404() {
    let f = Fixture::new();
    let r = f.api.send(f.api.http.get(f.api.url("/v1/agents"))).expect_error(401, "api_key_missing");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    f.api
        .control("GET", "/v1/agents", "vg_sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", None)
        .expect_error(401, "api_key_invalid");
    f.api.control("GET", "/v1/agents", "nonsense", None).expect_error(401, "api_key_invalid");
    let req = f.api.http.get(f.api.url("/v1/agents")).header("Authorization", format!("Basic {}", f.key));
    f.api.send(req).expect_error(401, "api_key_invalid");
    // A session token is not an API key.
    let s = f.session(json!({}));
    f.api
        .control("GET", "/v1/agents", s["session_token"].as_str().unwrap(), None)
        .expect_error(401, "api_key_invalid");
    // Another workspace sees none of this one's resources.
    let other = f.server.create_key("someone-else");
    f.api.control("GET", &format!("/v1/widgets/{}", f.widget), &other, None).expect_error(404, "not_found");
    f.api.control("GET", &format!("/v1/agents/{}", f.agent), &other, None).expect_error(404, "not_found");
    let list = f.api.control("GET", "/v1/widgets", &other, None).expect(200);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 0);
}

#[test]
fn a_key_created_while_the_server_runs_works_at_once() {
    let server = Server::start();
    let api = server.client();
    let key = server.create_key("late");
    api.control("GET", "/v1/widgets", &key, None).expect(200);
}

#[test]
fn invalid_configuration_gets_400_naming_the_field() {
    let f = Fixture::new();
    let cases = [
        (json!({"name": "W", "allowed_origins": ["example.com"]}), "allowed_origins[0]", "no scheme"),
        (json!({"name": "W", "colour": "red"}), "", "unknown field `colour`"),
        (
            json!({"name": "W", "privacy": {"consent_required": "yes"}}),
            "privacy.consent_required",
            "invalid type",
        ),
        (json!({"name": "x".repeat(201)}), "name", "limit is 200"),
        (
            json!({"name": "W", "appearance": {"primary_color": "blue"}}),
            "appearance.primary_color",
            "hex color",
        ),
        (json!({"name": "W", "modes": []}), "modes", "at least one"),
        (json!({"name": "W", "agent_id": "ag_doesnotexist"}), "agent_id", "no agent"),
        (
            json!({"name": "W", "privacy": {"trust_center": {"enabled": true}}}),
            "privacy.trust_center.privacy_policy_url",
            "must be set",
        ),
    ];
    for (body, field, needle) in cases {
        let r = f
            .api
            .control("POST", "/v1/widgets", &f.key, Some(body.clone()))
            .expect_error(400, "invalid_request");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
        if !field.is_empty() {
            assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.text);
            assert!(message.contains(field), "message names the field: {message}");
        }
    }
    // The same rules apply to PATCH, and a refused PATCH changes nothing.
    let path = format!("/v1/widgets/{}", f.widget);
    let before = f.api.control("GET", &path, &f.key, None).expect(200).body;
    f.api
        .control("PATCH", &path, &f.key, Some(json!({"allowed_origins": ["example.com"]})))
        .expect_error(400, "invalid_request");
    let after = f.api.control("GET", &path, &f.key, None).expect(200).body;
    assert_eq!(before, after);
    // Agents too.
    let r = f
        .api
        .control(
            "POST",
            "/v1/agents",
            &f.key,
            Some(json!({"name": "A", "backend": {"type": "bridge", "url": "http://x"}})),
        )
        .expect_error(400, "invalid_request");
    assert_eq!(r.body["error"]["field"], "backend.url");
    // Not JSON, not an object, wrong content type.
    let req = f
        .api
        .http
        .post(f.api.url("/v1/agents"))
        .header("Authorization", format!("Bearer {}", f.key))
        .header("Content-Type", "application/json")
        .body("{nope");
    f.api.send(req).expect_error(400, "invalid_request");
    f.api.control("POST", "/v1/agents", &f.key, Some(json!([1, 2]))).expect_error(400, "invalid_request");
    let req = f
        .api
        .http
        .post(f.api.url("/v1/agents"))
        .header("Authorization", format!("Bearer {}", f.key))
        .header("Content-Type", "text/plain")
        .body("{}");
    f.api.send(req).expect_error(415, "unsupported_media_type");
    // Oversized body.
    let huge = json!({"name": "A", "prompt": "x".repeat(9 * 1024 * 1024)});
    f.api.control("POST", "/v1/agents", &f.key, Some(huge)).expect_error(413, "payload_too_large");
}

#[test]
fn agents_and_widgets_round_trip_through_crud() {
    let f = Fixture::new();
    let agent = f
        .api
        .control(
            "POST",
            "/v1/agents",
            &f.key,
            Some(json!({"name": "Docs", "prompt": "Be brief.", "greeting": "Hello!", "knowledge": [{"title": "Hours", "text": "Open 9 to 5."}], "tests": [{"input": "hours?", "expect": {"contains": "9"}}]})),
        )
        .expect(201)
        .body;
    let id = agent["id"].as_str().unwrap();
    assert_eq!(agent["backend"]["type"], "builtin");
    let patched = f
        .api
        .control("PATCH", &format!("/v1/agents/{id}"), &f.key, Some(json!({"greeting": "Hi again"})))
        .expect(200)
        .body;
    assert_eq!(patched["greeting"], "Hi again");
    assert_eq!(patched["prompt"], "Be brief.");
    assert_eq!(patched["version"], 2);
    let list = f.api.control("GET", "/v1/agents", &f.key, None).expect(200).body;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    f.api.control("DELETE", &format!("/v1/agents/{id}"), &f.key, None).expect(200);
    f.api.control("GET", &format!("/v1/agents/{id}"), &f.key, None).expect_error(404, "not_found");

    let w = f
        .api
        .control(
            "POST",
            "/v1/widgets",
            &f.key,
            Some(json!({
                "name": "Full", "agent_id": f.agent, "environment": "staging", "modes": ["text"],
                "allowed_origins": ["HTTPS://Shop.Example.com:443/"],
                "appearance": {"title": "Ask us", "primary_color": "#112233", "position": "bottom-left"},
                "content": {"greeting": "Hey", "input_placeholder": "Ask…"},
                "features": {"transcript": false},
                "actions": [{"label": "Book a demo", "url": "https://example.com/demo"}],
                "privacy": {"consent_required": true, "terms_text": "We record calls.", "trust_center": {"enabled": true, "privacy_policy_url": "https://example.com/privacy"}}
            })),
        )
        .expect(201)
        .body;
    assert_eq!(w["allowed_origins"][0], "https://shop.example.com", "origins are canonicalized");
    assert_eq!(w["version"], 1);
    let wid = w["id"].as_str().unwrap();
    let cfg = f
        .api
        .browser("GET", &format!("/v1/widgets/{wid}/config"), Some("https://shop.example.com"), None)
        .expect(200)
        .body;
    assert_eq!(cfg["appearance"]["title"], "Ask us");
    assert_eq!(cfg["privacy"]["consent_required"], true);
    assert_eq!(cfg["modes"], json!(["text"]));
    assert_eq!(cfg["actions"][0]["label"], "Book a demo");
}

#[test]
fn unknown_routes_and_ids_answer_in_the_error_shape() {
    let f = Fixture::new();
    f.api.control("GET", "/v1/nothing-here", &f.key, None).expect_error(404, "not_found");
    f.api.control("GET", "/v1/widgets/not-a-widget-id", &f.key, None).expect_error(404, "not_found");
    f.api
        .control("GET", "/v1/sessions/ses_unknown0000000000000", &f.key, None)
        .expect_error(404, "not_found");
}
