//! `voxgate backup` while a server runs: the copy is a data dir of its own, and a server started
//! on it has the workspace, its key, agents and widgets, the conversations and usage, and accepts
//! the session tokens the first server issued.

use serde_json::json;
use voxgate_tests::text::Answer;
use voxgate_tests::{voxgate, Fixture, Server, ServerOptions, SITE};

#[test]
fn a_backup_taken_while_serving_restores_everything() {
    let f = Fixture::new();
    f.patch_agent(
        json!({"knowledge": [{"title": "Hours", "text": "We are open 9 to 5, Monday to Friday."}]}),
    );
    let s = f.session(json!({"mode": "text"}));
    let (url, token) = (s["messages_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    let mut answer = Answer::ask(&f.api, url, SITE, token, "When are you open?").expect("asked");
    assert_eq!(answer.rest().last().unwrap().event, "response.completed");

    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("monday");
    let out = voxgate(&[
        "backup",
        "--data-dir",
        &f.server.data_dir.to_string_lossy(),
        "--to",
        &copy.to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A second backup into the same folder would overwrite one: refused.
    let again = voxgate(&[
        "backup",
        "--data-dir",
        &f.server.data_dir.to_string_lossy(),
        "--to",
        &copy.to_string_lossy(),
    ]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already holds"));

    let restored = Server::start_with(ServerOptions { data_dir: Some(copy), ..Default::default() });
    let api = restored.client();
    let agent = api.control("GET", &format!("/v1/agents/{}", f.agent), &f.key, None).expect(200).body;
    assert_eq!(agent["knowledge"][0]["title"], "Hours");
    api.control("GET", &format!("/v1/widgets/{}", f.widget), &f.key, None).expect(200);
    let usage = api.control("GET", "/v1/usage", &f.key, None).expect(200).body;
    assert_eq!(usage["usage"]["production"]["text_messages"], 1, "{usage}");
    // The first server's session token opens the same conversation on the restored one.
    let url = format!("{}{}", api.base, &url[url.find("/v1/").unwrap()..]);
    let transcript = api.browser("GET", &url, Some(SITE), Some(token)).expect(200).body;
    let texts: Vec<&str> =
        transcript["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["When are you open?", "We are open 9 to 5, Monday to Friday."]);
}
