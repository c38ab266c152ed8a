//! Erasure: `DELETE /v1/conversations/{id}` leaves nothing of a conversation but its anonymous
//! usage: no transcript, no calls, no metadata or variables, and no webhook payload that
//! carried them; it is idempotent, works on a live conversation (ending it first), and sends
//! `conversation.deleted`. Checked in the database itself (PostgreSQL).

use serde_json::json;
use std::time::Duration;
use voxgate_tests::postgres::{connect, create_key, fresh_database, node};
use voxgate_tests::text::Answer;
use voxgate_tests::tool_backend::WebhookReceiver;
use voxgate_tests::{eventually, Fixture, SITE};

const FLAGS: [&str; 3] = ["--allow-private-webhooks", "--webhook-retry-scale", "0.002"];
const PRIVATE: &str = "crm-7f3e-private-value";

#[test]
fn erasing_a_conversation_leaves_nothing_but_its_usage() {
    let receiver = WebhookReceiver::start();
    let db = fresh_database();
    let f = Fixture::with_key(node(&db, "a", &FLAGS), create_key(&db, "acme"));
    receiver.register(&f, json!(["conversation.ended", "conversation.deleted"]));
    f.patch_agent(json!({"knowledge": [{"title": "Shipping", "text": "Shipping costs five euros."}]}));

    let s = f.session(
        json!({"mode": "text", "metadata": {"crm": PRIVATE}, "variables": {"customer_name": PRIVATE}}),
    );
    let (url, token, sid) = (
        s["messages_url"].as_str().unwrap(),
        s["session_token"].as_str().unwrap(),
        s["session_id"].as_str().unwrap().to_string(),
    );
    Answer::ask(&f.api, url, SITE, token, &format!("What does shipping cost? I am {PRIVATE}"))
        .unwrap()
        .rest();
    f.api.control("DELETE", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    eventually(Duration::from_secs(10), || {
        receiver
            .seen()
            .iter()
            .any(|d| d["body"]["type"] == "conversation.ended" && d["status"] == 200)
            .then_some(())
    });
    let record = f.conversation(&s);
    let cid = record["id"].as_str().unwrap().to_string();

    let erased = f.api.control("DELETE", &format!("/v1/conversations/{cid}"), &f.key, None).expect(200).body;
    assert_eq!(erased, json!({"id": cid, "deleted": true}));
    // Idempotent.
    f.api.control("DELETE", &format!("/v1/conversations/{cid}"), &f.key, None).expect(200);
    f.api.control("GET", &format!("/v1/conversations/{cid}"), &f.key, None).expect_error(404, "not_found");
    f.api.control("GET", &format!("/v1/sessions/{sid}"), &f.key, None).expect_error(404, "not_found");
    let list = f.api.control("GET", "/v1/conversations", &f.key, None).expect(200).body;
    assert!(!list.to_string().contains(&cid), "{list}");
    f.api.control("DELETE", "/v1/conversations/cnv_nosuch", &f.key, None).expect_error(404, "not_found");

    // In the database: nothing of it but usage.
    let mut db = connect(&db);
    let count = |db: &mut postgres::Client, sql: &str, arg: &str| -> i64 {
        db.query_one(sql, &[&arg]).unwrap().get(0)
    };
    assert_eq!(count(&mut db, "SELECT COUNT(*) FROM messages WHERE conversation_id = $1", &cid), 0);
    assert_eq!(count(&mut db, "SELECT COUNT(*) FROM sessions WHERE id = $1", &sid), 0);
    assert_eq!(count(&mut db, "SELECT COUNT(*) FROM calls WHERE session_id = $1", &sid), 0);
    assert_eq!(
        count(
            &mut db,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE payload LIKE '%' || $1 || '%'",
            PRIVATE
        ),
        0
    );
    assert_eq!(count(&mut db, "SELECT COUNT(*) FROM messages WHERE text LIKE '%' || $1 || '%'", PRIVATE), 0);
    assert_eq!(
        count(&mut db, "SELECT COUNT(*) FROM usage_events WHERE session_id = $1", &sid),
        1,
        "the message's usage stays"
    );
    let usage = f.api.control("GET", "/v1/usage", &f.key, None).expect(200).body;
    assert_eq!(usage["usage"]["production"]["text_messages"], 1, "{usage}");

    // conversation.deleted reaches the receiver, with the id only.
    let deleted = eventually(Duration::from_secs(10), || {
        receiver
            .seen()
            .into_iter()
            .find(|d| d["body"]["type"] == "conversation.deleted" && d["status"] == 200)
    });
    assert_eq!(deleted["verified"], true);
    assert_eq!(deleted["body"]["data"]["conversation_id"], cid);

    // A live conversation is ended first, then erased; its token no longer works.
    let live = f.session(json!({"mode": "text"}));
    let live_cid = f.conversation(&live)["id"].as_str().unwrap().to_string();
    f.api.control("DELETE", &format!("/v1/conversations/{live_cid}"), &f.key, None).expect(200);
    let refused = Answer::ask(
        &f.api,
        live["messages_url"].as_str().unwrap(),
        SITE,
        live["session_token"].as_str().unwrap(),
        "hello",
    )
    .err()
    .expect("an erased conversation takes no message");
    assert!((400..500).contains(&refused.status), "{}", refused.text);
}
