//! `GET /v1/conversations` and `/v1/conversations/{id}`: every session's record, text or voice,
//! filtered, paged with a cursor, and the same after a restart.

use serde_json::{json, Value};
use std::time::Duration;
use voxgate_tests::text::Answer;
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

fn list(f: &Fixture, query: &str) -> Value {
    f.api.control("GET", &format!("/v1/conversations{query}"), &f.key, None).expect(200).body
}

fn ids(page: &Value) -> Vec<String> {
    page["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

/// A text conversation with one question answered; returns its session values.
fn text_conversation(f: &Fixture, widget: &str, question: &str) -> Value {
    let s = f
        .api
        .control("POST", &format!("/v1/widgets/{widget}/sessions"), &f.key, Some(json!({"mode": "text"})))
        .expect(201)
        .body;
    let (url, token) = (s["messages_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    let events = Answer::ask(&f.api, url, SITE, token, question).expect("message taken").rest();
    assert_eq!(events.last().unwrap().event, "response.completed", "{events:?}");
    s
}

#[test]
fn conversations_are_listed_filtered_paged_and_kept_across_a_restart() {
    let f = Fixture::on(Server::start_with(ServerOptions {
        extra_args: vec!["--metering-minute-ms".into(), "300".into()],
        ..Default::default()
    }));
    f.patch_widget(json!({"modes": ["voice", "text"]}));
    let staging = f
        .api
        .control(
            "POST",
            "/v1/widgets",
            &f.key,
            Some(json!({"name": "Staging", "agent_id": f.agent, "environment": "staging", "allowed_origins": [SITE]})),
        )
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();

    let first = text_conversation(&f, &f.widget, "Hello?");
    let voice = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&voice);
    call.expect_echoes(20, Duration::from_secs(20));
    call.hang_up(&f.api, SITE, voice["session_token"].as_str().unwrap()).expect(200);
    let sid = voice["session_id"].as_str().unwrap();
    f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    let third = text_conversation(&f, &staging, "Anyone there?");

    // Newest first, each with its facts.
    let all = list(&f, "");
    assert_eq!(all["conversations"].as_array().unwrap().len(), 3, "{all:#}");
    assert_eq!(all["next_cursor"], Value::Null);
    let newest = &all["conversations"][0];
    assert_eq!(newest["session_id"], third["session_id"]);
    assert_eq!(
        (newest["environment"].as_str(), newest["widget_id"].as_str()),
        (Some("staging"), Some(staging.as_str()))
    );
    assert_eq!((newest["origin"].as_str(), newest["messages"].as_u64()), (Some(SITE), Some(2)));
    assert_eq!(newest["usage"]["text_messages"], 1);
    let voiced = &all["conversations"][1];
    assert_eq!(voiced["modes"], json!(["voice"]));
    assert_eq!((voiced["end_reason"].as_str(), voiced["ended_at"].is_string()), (Some("ended"), true));
    assert!(voiced["usage"]["voice_minutes"].as_u64().unwrap() >= 1, "{voiced:#}");
    assert_eq!(all["conversations"][2]["session_id"], first["session_id"]);
    assert_eq!(all["conversations"][2]["end_reason"], Value::Null, "still live");

    // Filters.
    assert_eq!(ids(&list(&f, &format!("?widget_id={}", f.widget))).len(), 2);
    assert_eq!(ids(&list(&f, "?environment=staging")), ids(&list(&f, &format!("?widget_id={staging}"))));
    assert_eq!(ids(&list(&f, &format!("?agent_id={}", f.agent))).len(), 3);
    // By mode: the voice-only session, and the text ones (each session enabled what it asked).
    assert_eq!(
        ids(&list(&f, "?mode=voice")),
        vec![all["conversations"][1]["id"].as_str().unwrap().to_string()]
    );
    assert_eq!(ids(&list(&f, "?mode=text")).len(), 2);
    let created = all["conversations"][1]["created_at"].as_str().unwrap();
    assert_eq!(ids(&list(&f, &format!("?to={created}"))), ids(&all)[2..].to_vec(), "to is exclusive");
    assert_eq!(ids(&list(&f, &format!("?from={created}"))), ids(&all)[..2].to_vec());

    // Paging: one at a time, the same three in the same order, then no cursor.
    let mut paged = Vec::new();
    let mut query = "?limit=1".to_string();
    loop {
        let page = list(&f, &query);
        paged.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, ids(&all));

    // One whole: transcript, calls, usage.
    let cid = all["conversations"][1]["id"].as_str().unwrap().to_string();
    let record = f.api.control("GET", &format!("/v1/conversations/{cid}"), &f.key, None).expect(200).body;
    assert_eq!(record["calls"].as_array().unwrap().len(), 1, "{record:#}");
    assert!(record["calls"][0]["connected_at"].is_string());
    let tid = all["conversations"][0]["id"].as_str().unwrap().to_string();
    let text_record =
        f.api.control("GET", &format!("/v1/conversations/{tid}"), &f.key, None).expect(200).body;
    let roles: Vec<&str> =
        text_record["transcript"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["visitor", "agent"]);
    assert_eq!(text_record["transcript"][0]["text"], "Anyone there?");

    // A restart keeps every record and the usage.
    let usage = f.api.control("GET", "/v1/usage", &f.key, None).expect(200).body["usage"].clone();
    let Fixture { server, key, .. } = f;
    let server = Server::start_with(ServerOptions { data_dir: Some(server.stop()), ..Default::default() });
    let api = server.client();
    let again = api.control("GET", "/v1/conversations", &key, None).expect(200).body;
    assert_eq!(ids(&again), ids(&all));
    let text_again = api.control("GET", &format!("/v1/conversations/{tid}"), &key, None).expect(200).body;
    assert_eq!(text_again["transcript"], text_record["transcript"]);
    assert_eq!(api.control("GET", "/v1/usage", &key, None).expect(200).body["usage"], usage);
}

#[test]
fn bad_queries_and_other_workspaces_are_refused() {
    let f = Fixture::new();
    let bad = |q: &str, field: &str| {
        let r = f
            .api
            .control("GET", &format!("/v1/conversations{q}"), &f.key, None)
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{q}: {}", r.text);
    };
    bad("?limit=0", "limit");
    bad("?limit=500", "limit");
    bad("?cursor=nonsense", "cursor");
    bad("?environment=prod", "environment");
    bad("?mode=fax", "mode");
    bad("?widget=wgt_x", "widget");
    bad("?from=yesterday", "from");
    bad("?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "to");
    f.api.control("GET", "/v1/conversations/cnv_doesnotexist", &f.key, None).expect_error(404, "not_found");

    // Another workspace's conversation is not found, and not listed.
    let s = f.session(json!({}));
    let cid = f.record(&s)["conversation_id"].as_str().unwrap().to_string();
    let other = f.server.create_key("someone-else");
    f.api.control("GET", &format!("/v1/conversations/{cid}"), &other, None).expect_error(404, "not_found");
    let theirs = f.api.control("GET", "/v1/conversations", &other, None).expect(200).body;
    assert_eq!(theirs["conversations"], json!([]));
}
