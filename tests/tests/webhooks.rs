//! Webhooks against the real binary: endpoints through `/v1/webhooks`, events from a durable
//! outbox, signed the Standard Webhooks way and checked by a receiver that verifies with PyPI's
//! `standardwebhooks` (tests/tools/webhook_receiver.py). A conversation with a tool line ends
//! and `conversation.ended` brings its record; a receiver that answers 503 twice gets the
//! event on the third attempt under the same `webhook-id`; private targets need the flag.

use serde_json::{json, Value};
use std::time::Duration;
use voxgate_tests::dashboard::{create_user, Dashboard};
use voxgate_tests::text::Answer;
use voxgate_tests::tool_backend::{ToolBackend, WebhookReceiver};
use voxgate_tests::upstream::Upstream;
use voxgate_tests::{eventually, Fixture, Server, ServerOptions, SITE};

const SECRET_ENV: &str = "VOXGATE_TEST_TOOL_SECRET";
const TOOL_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn fixture(private: bool) -> Fixture {
    let mut extra_args = vec!["--webhook-retry-scale".to_string(), "0.002".to_string()];
    if private {
        extra_args.push("--allow-private-webhooks".into());
    }
    Fixture::on(Server::start_with(ServerOptions {
        extra_args,
        env: vec![(SECRET_ENV.into(), TOOL_SECRET.into())],
        ..Default::default()
    }))
}

/// Registers `receiver` for `events`; returns the endpoint (with its secret, shown once).
fn endpoint(f: &Fixture, receiver: &WebhookReceiver, events: Value) -> Value {
    receiver.register(f, events)
}

fn delivered(receiver: &WebhookReceiver, kind: &str) -> Vec<Value> {
    receiver.seen().into_iter().filter(|d| d["body"]["type"] == kind).collect()
}

#[test]
fn a_conversation_with_a_tool_line_ends_and_its_record_arrives_signed() {
    let upstream = Upstream::start();
    let tools = ToolBackend::start(TOOL_SECRET);
    let receiver = WebhookReceiver::start();
    let f = fixture(true);
    let hook = endpoint(&f, &receiver, json!(["conversation.started", "conversation.ended"]));
    f.patch_agent(json!({
        "backend": {"type": "openai", "base_url": upstream.base_url, "model": "m"},
        "tools": [{"type": "server", "name": "check_order", "description": "Where is an order?",
                   "url": tools.tool_url("ok"), "secret_env": SECRET_ENV}],
    }));
    let s =
        f.session(json!({"mode": "text", "metadata": {"crm": "7"}, "variables": {"customer_name": "Ana"}}));
    let (url, token) = (s["messages_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    Answer::ask(&f.api, url, SITE, token, r#"call check_order {"order_id": "W-1"}"#).unwrap().rest();
    let sid = s["session_id"].as_str().unwrap();
    f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);

    let ended = eventually(Duration::from_secs(10), || delivered(&receiver, "conversation.ended").pop());
    assert_eq!(ended["verified"], true, "{ended}");
    assert_eq!(ended["status"], 200);
    let record = &ended["body"]["data"];
    assert_eq!(record["session_id"], sid);
    assert_eq!(record["end_reason"], "ended", "{record:#}");
    assert_eq!(record["metadata"], json!({"crm": "7"}));
    assert_eq!(record["variables"], json!({"customer_name": "Ana"}));
    let roles: Vec<&str> =
        record["transcript"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["visitor", "tool", "agent"], "{record:#}");
    assert_eq!(record["transcript"][1]["tool"]["result"]["status"], "shipped");
    assert!(record["usage"].is_object(), "{record:#}");
    let started = delivered(&receiver, "conversation.started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["body"]["data"]["variables"], json!({"customer_name": "Ana"}));
    assert_ne!(started[0]["webhook_id"], ended["webhook_id"]);

    // The endpoint lists its deliveries.
    let id = hook["id"].as_str().unwrap();
    let view = f.api.control("GET", &format!("/v1/webhooks/{id}"), &f.key, None).expect(200).body;
    assert!(view.get("secret").is_none(), "the secret is shown once: {view}");
    let deliveries = view["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{view:#}");
    assert!(deliveries
        .iter()
        .all(|d| d["status"] == "delivered" && d["attempts"] == 1 && d["last_status"] == 200));
}

#[test]
fn a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt_with_the_same_id() {
    let receiver = WebhookReceiver::start();
    let f = fixture(true);
    let hook = endpoint(&f, &receiver, json!(["conversation.ended"]));
    receiver.control(json!({"fail": 2}));
    let s = f.session(json!({"mode": "text"}));
    let sid = s["session_id"].as_str().unwrap();
    f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    let attempts = eventually(Duration::from_secs(10), || {
        let seen = delivered(&receiver, "conversation.ended");
        (seen.len() == 3).then_some(seen)
    });
    let statuses: Vec<i64> = attempts.iter().map(|a| a["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert!(attempts.iter().all(|a| a["webhook_id"] == attempts[0]["webhook_id"] && a["verified"] == true));
    // The outbox says delivered, after three attempts: nothing more is owed.
    let id = hook["id"].as_str().unwrap();
    let row = eventually(Duration::from_secs(5), || {
        let view = f.api.control("GET", &format!("/v1/webhooks/{id}"), &f.key, None).expect(200).body;
        let row = view["deliveries"][0].clone();
        (row["status"] == "delivered").then_some(row)
    });
    assert_eq!((row["attempts"].as_i64(), row["last_status"].as_i64()), (Some(3), Some(200)), "{row}");
}

#[test]
fn endpoints_are_validated_and_private_targets_need_the_flag() {
    let f = fixture(false);
    for (body, field) in [
        (json!({"url": "http://127.0.0.1:9/hook", "events": ["conversation.ended"]}), "url"),
        (json!({"url": "https://10.0.0.7/hook", "events": ["conversation.ended"]}), "url"),
        (json!({"url": "https://localhost/hook", "events": ["conversation.ended"]}), "url"),
        (json!({"url": "https://hooks.example.com/x", "events": []}), "events"),
        (json!({"url": "https://hooks.example.com/x", "events": ["conversation.exploded"]}), "events[0]"),
        (json!({"url": "not a url", "events": ["call.ended"]}), "url"),
    ] {
        let r = f
            .api
            .control("POST", "/v1/webhooks", &f.key, Some(body.clone()))
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.text);
    }
    // At most ten endpoints, each with its own secret.
    let mut ids = Vec::new();
    for n in 0..10 {
        let created = f
            .api
            .control(
                "POST",
                "/v1/webhooks",
                &f.key,
                Some(json!({"url": format!("https://hooks.example.com/{n}"), "events": ["call.ended"]})),
            )
            .expect(201)
            .body;
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let r = f.api.control(
        "POST",
        "/v1/webhooks",
        &f.key,
        Some(json!({"url": "https://hooks.example.com/x", "events": ["call.ended"]})),
    );
    assert!(r.expect_error(400, "invalid_request").text.contains("at most 10"));
    // Update, rotate and delete.
    let id = &ids[0];
    let updated = f
        .api
        .control(
            "PATCH",
            &format!("/v1/webhooks/{id}"),
            &f.key,
            Some(json!({"events": ["call.started", "call.ended"]})),
        )
        .expect(200)
        .body;
    assert_eq!(updated["events"], json!(["call.started", "call.ended"]));
    f.api
        .control(
            "PATCH",
            &format!("/v1/webhooks/{id}"),
            &f.key,
            Some(json!({"url": "https://192.168.0.1/x"})),
        )
        .expect_error(400, "invalid_request");
    let rotated = f.api.control("POST", &format!("/v1/webhooks/{id}/rotate"), &f.key, None).expect(200).body;
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    assert!(rotated["previous_secret_signs_until"].is_string(), "{rotated}");
    f.api.control("DELETE", &format!("/v1/webhooks/{id}"), &f.key, None).expect(200);
    f.api.control("GET", &format!("/v1/webhooks/{id}"), &f.key, None).expect_error(404, "not_found");
    f.api.control("GET", "/v1/webhooks/whk_nope", &f.key, None).expect_error(404, "not_found");
    f.api.control("GET", "/v1/webhooks/nonsense", &f.key, None).expect_error(404, "not_found");
    let list = f.api.control("GET", "/v1/webhooks", &f.key, None).expect(200).body;
    assert_eq!(list["data"].as_array().unwrap().len(), 9);
}

/// Post-call analysis: a conversation of an agent that asks for one is analysed by its model
/// once it ends; the result is on the record and arrives as `conversation.analyzed`. A model
/// that fails is tried three times and recorded as failed, and never holds up
/// `conversation.ended`.
#[test]
fn an_ended_conversation_is_analysed_and_a_failing_analysis_blocks_nothing() {
    let upstream = Upstream::start();
    let receiver = WebhookReceiver::start();
    let f = fixture(true);
    receiver.register(&f, json!(["conversation.ended", "conversation.analyzed"]));
    f.patch_agent(json!({
        "backend": {"type": "openai", "base_url": upstream.base_url, "model": "m"},
        "analysis": {"summary": true, "data": {"type": "object", "properties": {"email": {"type": "string"}}}},
    }));
    let talk = |text: &str| {
        let s = f.session(json!({"mode": "text"}));
        let (url, token) = (s["messages_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
        Answer::ask(&f.api, url, SITE, token, text).unwrap().rest();
        let sid = s["session_id"].as_str().unwrap();
        f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
        s
    };
    let good = talk("Mail me at ana@example.com please");
    let record = eventually(Duration::from_secs(10), || {
        let r = f.conversation(&good);
        (r["analysis_status"] == "done").then_some(r)
    });
    assert_eq!(record["analysis"]["summary"], "A conversation of 2 lines.", "{record:#}");
    assert_eq!(record["analysis"]["data"]["email"], "ana@example.com");
    let analyzed =
        eventually(Duration::from_secs(10), || delivered(&receiver, "conversation.analyzed").pop());
    assert_eq!(analyzed["verified"], true);
    assert_eq!(analyzed["body"]["data"]["analysis"]["data"]["email"], "ana@example.com");
    // What the model was asked: the transcript, for a JSON Schema answer.
    let asked = upstream.requests().into_iter().find(|r| r.body["stream"] == false).unwrap();
    assert_eq!(asked.body["response_format"]["type"], "json_schema");

    let bad = talk("analysis-fails here");
    // conversation.ended comes at once, whatever the analysis does.
    let sid = bad["session_id"].clone();
    eventually(Duration::from_secs(10), || {
        delivered(&receiver, "conversation.ended")
            .into_iter()
            .find(|d| d["body"]["data"]["session_id"] == sid)
    });
    let record = eventually(Duration::from_secs(20), || {
        let r = f.conversation(&bad);
        (r["analysis_status"] == "failed").then_some(r)
    });
    assert!(record["analysis"]["error"].as_str().unwrap().contains("500"), "{record:#}");
    let tries = upstream.requests().into_iter().filter(|r| r.body["stream"] == false).count();
    assert_eq!(tries, 1 + 3, "one good analysis, then three attempts of the failing one");

    // Saving analysis on an agent without a model is refused.
    let r = f.api.control(
        "PATCH",
        &format!("/v1/agents/{}", f.agent),
        &f.key,
        Some(json!({"backend": {"type": "builtin"}})),
    );
    let r = r.expect_error(400, "invalid_request");
    assert_eq!(r.body["error"]["field"], "analysis", "{}", r.text);
}

/// The dashboard's webhooks: an endpoint made there shows its secret once; "Send test event"
/// delivers a signed `webhook.test`; the deliveries list shows it; "Resend" sends it again
/// under the same `webhook-id`. The same through the API.
#[test]
fn the_dashboard_sends_a_test_event_and_resends_it_with_the_same_id() {
    let receiver = WebhookReceiver::start();
    let f = fixture(true);
    create_user(&f.server, "acme", "owner@example.com", "a long enough password");
    let d = Dashboard::sign_in(&f.server, "owner@example.com", "a long enough password");
    let refused = d.post("/dashboard/webhooks", &[("url", "ftp://nope"), ("events", "conversation.ended")]);
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.text.contains("data-notice") && refused.text.contains("ftp://nope"), "{}", refused.text);
    let made = d.post(
        "/dashboard/webhooks",
        &[("url", &format!("{}/hook", receiver.url)), ("events", "conversation.ended")],
    );
    assert_eq!(made.status, 201, "{}", made.text);
    let secret = made
        .text
        .split("<code>whsec_")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("the secret, once");
    receiver.control(json!({"secret": format!("whsec_{secret}")}));
    let id = made
        .text
        .split("<code class=\"id\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .unwrap()
        .to_string();
    assert!(!d.get(&format!("/dashboard/webhooks/{id}")).text.contains(secret), "shown once");

    let sent = d.post(&format!("/dashboard/webhooks/{id}/test"), &[]);
    assert!(sent.status == 200 || sent.status == 303, "{}", sent.text);
    let test = eventually(Duration::from_secs(10), || delivered(&receiver, "webhook.test").pop());
    assert_eq!((test["verified"].as_bool(), test["status"].as_i64()), (Some(true), Some(200)));
    let page = eventually(Duration::from_secs(5), || {
        let page = d.get(&format!("/dashboard/webhooks/{id}")).text;
        page.contains("<td>delivered</td>").then_some(page)
    });
    let delivery = test["webhook_id"].as_str().unwrap();
    assert!(page.contains(&format!("data-delivery=\"{delivery}\"")), "{page}");

    d.post(&format!("/dashboard/webhooks/{id}/resend"), &[("delivery", delivery)]);
    let again = eventually(Duration::from_secs(10), || {
        let seen = delivered(&receiver, "webhook.test");
        (seen.len() == 2).then_some(seen)
    });
    assert_eq!(again[1]["webhook_id"], again[0]["webhook_id"], "the same id: the receiver's idempotency key");

    // The API does the same.
    f.api.control("POST", &format!("/v1/webhooks/{id}/test"), &f.key, None).expect(202);
    eventually(Duration::from_secs(10), || (delivered(&receiver, "webhook.test").len() == 3).then_some(()));
    f.api
        .control("POST", &format!("/v1/webhooks/{id}/deliveries/evt_nosuch/resend"), &f.key, None)
        .expect_error(404, "not_found");
    let list = d.get("/dashboard/webhooks").text;
    assert!(list.contains(&id) && list.contains("enabled"), "{list}");
}
