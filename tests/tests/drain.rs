//! A graceful drain on SIGTERM, for a node behind a load balancer during a rolling deploy:
//! `/readyz` turns 503 at once, new sessions and offers get `503 draining` with `Retry-After`,
//! live calls keep echoing and answers keep streaming until `--drain-seconds`, then what is left
//! ends with `server_shutdown`. A second SIGTERM ends everything at once. Nothing committed is
//! lost either way.

use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};
use voxgate_tests::text::Answer;
use voxgate_tests::voice::VoiceCall;
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

fn draining_server(seconds: u32, data_dir: Option<std::path::PathBuf>) -> Server {
    Server::start_with(ServerOptions {
        data_dir,
        extra_args: vec![
            "--drain-seconds".into(),
            seconds.to_string(),
            "--builtin-word-delay-ms".into(),
            "100".into(),
        ],
        ..Default::default()
    })
}

fn sigterm(server: &Server) {
    let status = Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().expect("kill");
    assert!(status.success());
}

fn readyz(f: &Fixture) -> u16 {
    f.api.send(f.api.http.get(f.api.url("/readyz"))).status
}

#[test]
fn sigterm_drains_then_ends_what_is_left_with_server_shutdown() {
    let f = Fixture::on(draining_server(3, None));
    f.patch_agent(json!({"knowledge": [{"title": "Shipping", "text": "We ship to every country in the European Union within three working days."}]}));
    let s = f.session(json!({}));
    let token = s["session_token"].as_str().unwrap();
    let mut call = f.call(&s);
    call.expect_echoes(10, Duration::from_secs(20));
    let idle = f.session(json!({"mode": "voice"}));
    assert_eq!(readyz(&f), 200);
    let mut answer =
        Answer::ask(&f.api, s["messages_url"].as_str().unwrap(), SITE, token, "When do you ship?")
            .expect("asked");
    assert_eq!(answer.next_event().unwrap().event, "message.created");

    let signalled = Instant::now();
    sigterm(&f.server);
    // Not ready, at once, so the load balancer stops sending.
    loop {
        if readyz(&f) == 503 {
            break;
        }
        assert!(signalled.elapsed() < Duration::from_secs(5), "/readyz never turned 503");
    }
    let not_ready_after = signalled.elapsed();
    assert!(not_ready_after < Duration::from_millis(100), "/readyz turned 503 after {not_ready_after:?}");

    // No new sessions or calls; each refusal says when to come back.
    let path = format!("/v1/widgets/{}/sessions", f.widget);
    let refused = f.api.control("POST", &path, &f.key, Some(json!({}))).expect_error(503, "draining");
    assert!(refused.header("retry-after").is_some_and(|v| v.parse::<u64>().is_ok()), "{:?}", refused.headers);
    let offer = VoiceCall::offer(
        &f.api,
        idle["webrtc_url"].as_str().unwrap(),
        SITE,
        idle["session_token"].as_str().unwrap(),
    );
    let refused = offer.err().expect("no new call while draining");
    assert_eq!((refused.status, refused.code()), (503, "draining"), "{}", refused.text);
    assert!(refused.header("retry-after").is_some(), "{:?}", refused.headers);

    // The live answer streams to its end, and the live call keeps echoing.
    let rest = answer.rest();
    assert_eq!(rest.last().unwrap().event, "response.completed", "{rest:?}");
    let before = call.echoes.len();
    call.run_until(Duration::from_millis(1500), |_| false);
    assert!(call.echoes.len() >= before + 40, "echoes went on: {} -> {}", before, call.echoes.len());

    // Then the drain time is up: the call ends, and the process exits cleanly.
    let ended = call.expect_server_hangup(Duration::from_secs(20));
    let drained_for = ended - signalled;
    assert!(drained_for >= Duration::from_millis(2900), "the call ended after only {drained_for:?}");
    let Fixture { server, key, .. } = f;
    let data_dir = server.wait_exit(Duration::from_secs(30));
    let server = draining_server(3, Some(data_dir));
    let api = server.client();
    let sid = s["session_id"].as_str().unwrap();
    let record = api.control("GET", &format!("/v1/sessions/{sid}"), &key, None).expect(200).body;
    assert_eq!(record["calls"][0]["end_reason"], "server_shutdown", "{record}");
}

#[test]
fn a_second_sigterm_ends_the_drain_at_once() {
    let f = Fixture::on(draining_server(60, None));
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    call.expect_echoes(5, Duration::from_secs(20));
    sigterm(&f.server);
    while readyz(&f) != 503 {}
    call.expect_echoes(15, Duration::from_secs(20));
    let second = Instant::now();
    sigterm(&f.server);
    call.expect_server_hangup(Duration::from_secs(20));
    let Fixture { server, key, .. } = f;
    let data_dir = server.wait_exit(Duration::from_secs(20));
    assert!(second.elapsed() < Duration::from_secs(20), "the second signal did not wait out the 60 s drain");
    let server = draining_server(60, Some(data_dir));
    let sid = s["session_id"].as_str().unwrap();
    let record = server.client().control("GET", &format!("/v1/sessions/{sid}"), &key, None).expect(200).body;
    assert_eq!(record["calls"][0]["end_reason"], "server_shutdown", "{record}");
}
