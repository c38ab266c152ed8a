//! A crash (`kill -9`) with live calls and a streaming answer: at the next start every call is
//! closed with `server_restart` at its last durable evidence, its minutes equal what the usage
//! ledger holds, and no answer is left `streaming`. One "minute" is 300 ms here. On SQLite (the
//! same data dir) and on PostgreSQL (the same database and node name).

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use voxgate_tests::postgres::{create_key, fresh_database, node};
use voxgate_tests::text::Answer;
use voxgate_tests::{eventually, Fixture, Server, ServerOptions, SITE};

const CALLS: usize = 8;
const FLAGS: [&str; 4] = ["--metering-minute-ms", "300", "--builtin-word-delay-ms", "200"];

fn options(data_dir: Option<std::path::PathBuf>) -> ServerOptions {
    ServerOptions { data_dir, extra_args: FLAGS.map(String::from).to_vec(), ..Default::default() }
}

fn minutes_of(record: &Value) -> u64 {
    record["calls"].as_array().unwrap().iter().map(|c| c["minutes"].as_u64().unwrap()).sum()
}

#[test]
fn calls_and_answers_left_open_by_a_crash_are_closed_at_the_next_start() {
    let f = Fixture::on(Server::start_with(options(None)));
    crash_and_restart(f, |data_dir| Server::start_with(options(Some(data_dir))));
}

#[test]
fn on_postgresql_calls_and_answers_left_open_by_a_crash_are_closed_when_the_node_restarts() {
    let db = fresh_database();
    let f = Fixture::with_key(node(&db, "a", &FLAGS), create_key(&db, "acme"));
    crash_and_restart(f, |_| node(&db, "a", &FLAGS));
}

fn crash_and_restart(f: Fixture, restart: impl FnOnce(std::path::PathBuf) -> Server) {
    f.patch_agent(json!({"knowledge": [{"title": "Shipping", "text": "We ship to every country in the European Union within three working days, and to the rest of the world within ten."}]}));
    let sessions: Vec<Value> = (0..CALLS).map(|_| f.session(json!({"mode": "voice"}))).collect();
    let calls: Vec<_> = sessions.iter().map(|s| f.call(s)).collect();
    let text = f.session(json!({"mode": "text"}));
    let (messages_url, text_token) =
        (text["messages_url"].as_str().unwrap(), text["session_token"].as_str().unwrap());

    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let stop = &stop;
        for mut call in calls {
            scope.spawn(move || {
                call.run_until(Duration::from_secs(60), |_| stop.load(Ordering::Relaxed));
            });
        }
        // Every call connected and metered for a few minutes.
        for s in &sessions {
            eventually(Duration::from_secs(30), || (minutes_of(&f.record(s)) >= 3).then_some(()));
        }
        // An answer mid-stream.
        let mut answer =
            Answer::ask(&f.api, messages_url, SITE, text_token, "When do you ship?").expect("asked");
        assert_eq!(answer.next_event().unwrap().event, "message.created");
        assert_eq!(answer.next_event().unwrap().event, "response.delta");
        // kill -9 while the calls' visitors are still sending.
        let pid = f.server.pid().to_string();
        std::process::Command::new("kill").args(["-KILL", &pid]).status().expect("kill -9");
        stop.store(true, Ordering::Relaxed);
    });

    let Fixture { server, key, .. } = f;
    let data_dir = server.kill(); // reaps it
    let server = restart(data_dir);
    let api = server.client();
    let mut metered = 0;
    for s in &sessions {
        let sid = s["session_id"].as_str().unwrap();
        let record = api.control("GET", &format!("/v1/sessions/{sid}"), &key, None).expect(200).body;
        let call = &record["calls"][0];
        assert_eq!(call["end_reason"], "server_restart", "{record}");
        let (connected, ended) = (call["connected_at"].as_str().unwrap(), call["ended_at"].as_str().unwrap());
        assert!(ended >= connected, "a call ends at or after it connected: {record}");
        assert!(call["minutes"].as_u64().unwrap() >= 3, "minutes stay as metered: {record}");
        metered += minutes_of(&record);
        // The session itself survives the restart and takes a new call.
        assert_eq!(record["status"], "live");
    }
    let usage = api.control("GET", "/v1/usage", &key, None).expect(200).body;
    assert_eq!(
        usage["usage"]["production"]["voice_minutes"], metered,
        "the ledger and the calls agree: {usage}"
    );

    let url = format!("{}{}", api.base, &messages_url[messages_url.find("/v1/").unwrap()..]);
    let transcript = api.browser("GET", &url, Some(SITE), Some(text_token)).expect(200).body;
    let statuses: Vec<&str> =
        transcript["messages"].as_array().unwrap().iter().map(|m| m["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["complete", "interrupted"], "no answer is left streaming: {transcript}");
}
