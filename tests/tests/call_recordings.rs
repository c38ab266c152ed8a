//! Call recordings, end to end against the real binary: only with consent; each side in its own
//! channel of one Ogg Opus file (checked by Xiph's `opusdec`, not our code); served with range
//! requests; erased with the conversation; a call cut by `kill -9` keeps what was written; in
//! an S3-compatible store (moto) they are uploaded, read back by range, and expire with their
//! widget's retention.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use voxgate_tests::recording::{decode, tone_then_silence};
use voxgate_tests::s3::S3Server;
use voxgate_tests::{eventually, Fixture, Server, ServerOptions, SITE};

const TERMS: &str = "Calls are recorded so we can improve our answers.";

/// The fixture's widget records calls; its agent echoes after half a second.
fn record_calls(f: &Fixture, retention_days: u32) {
    f.patch_widget(json!({"privacy": {
        "consent_required": true, "terms_text": TERMS, "recording": "on",
        "recording_retention_days": retention_days,
    }}));
    f.patch_agent(json!({"echo_delay_ms": 500}));
}

/// A voice call that sends `frames` 20 ms frames of which the first `loud` are a tone, then
/// hangs up. Returns the session values.
fn talk(f: &Fixture, frames: u32, loud: u32) -> Value {
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    call.script = Some(tone_then_silence(loud));
    assert!(call.run_until(Duration::from_secs(30), |c| c.frames_sent() >= frames), "the call ran");
    call.hang_up(&f.api, SITE, s["session_token"].as_str().unwrap()).expect(200);
    s
}

/// The conversation record once its call's recording has `status`.
fn recorded(f: &Fixture, s: &Value, status: &str) -> Value {
    eventually(Duration::from_secs(15), || {
        let record = f.conversation(s);
        (record["calls"][0]["recording"]["status"] == status).then_some(record)
    })
}

struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

fn fetch(f: &Fixture, path: &str, range: Option<&str>) -> Fetched {
    let mut req = f.api.http.get(f.api.url(path)).bearer_auth(&f.key);
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let res = req.send().expect("GET recording");
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    Fetched { status, headers, body: res.bytes().expect("body").to_vec() }
}

/// The 20 ms slots in which `channel` is loud.
fn loud(slots: &[[f64; 2]], channel: usize) -> Vec<usize> {
    (0..slots.len()).filter(|&i| slots[i][channel] > 1e6).collect()
}

/// The visitor's tone on the left, the agent's echo of it on the right half a second later,
/// each about as long as it was sent.
fn assert_each_side_in_its_channel(ogg: &[u8], loud_frames: usize) {
    let (channels, slots) = decode(ogg);
    assert_eq!(channels, 2, "visitor and agent");
    let (visitor, agent) = (loud(&slots, 0), loud(&slots, 1));
    let near = |n: usize| (loud_frames - 3..=loud_frames + 3).contains(&n);
    assert!(near(visitor.len()), "visitor loud in {} slots: {visitor:?}", visitor.len());
    assert!(near(agent.len()), "agent loud in {} slots: {agent:?}", agent.len());
    let lag = agent[0] as i64 - visitor[0] as i64;
    assert!((23..=28).contains(&lag), "the echo is heard 500 ms after the visitor: {lag} slots");
    // Neither side leaks into the other's channel: the agent is quiet until its echo starts.
    assert!(
        visitor.iter().filter(|i| **i < agent[0]).all(|i| slots[*i][1] < 1e5),
        "the agent is quiet while the visitor speaks"
    );
}

/// Files under `dir` named `<call>.ogg`.
fn files_of(dir: &Path, call: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == format!("{call}.ogg").as_str()) {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_recorded_call_has_each_side_in_its_channel_and_is_served_by_range() {
    let f = Fixture::new();
    // Only with consent to terms that say so.
    let refused = f
        .api
        .control(
            "PATCH",
            &format!("/v1/widgets/{}", f.widget),
            &f.key,
            Some(json!({"privacy": {"recording": "on"}})),
        )
        .expect_error(400, "invalid_request");
    assert_eq!(refused.body["error"]["field"], "privacy.recording", "{}", refused.text);
    let vague = json!({"privacy": {"recording": "on", "consent_required": true, "terms_text": "Be nice."}});
    let refused = f
        .api
        .control("PATCH", &format!("/v1/widgets/{}", f.widget), &f.key, Some(vague))
        .expect_error(400, "invalid_request");
    assert_eq!(refused.body["error"]["field"], "privacy.terms_text", "{}", refused.text);
    record_calls(&f, 30);

    let s = talk(&f, 150, 25);
    let record = recorded(&f, &s, "complete");
    let (cid, call) = (record["id"].as_str().unwrap(), record["calls"][0]["call_id"].as_str().unwrap());
    let recording = &record["calls"][0]["recording"];
    let url = recording["url"].as_str().unwrap();
    assert_eq!(url, format!("/v1/conversations/{cid}/calls/{call}/recording"));
    assert!(recording["duration_ms"].as_i64().unwrap() >= 2000, "{recording}");

    let whole = fetch(&f, url, None);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.headers["content-type"], "audio/ogg");
    assert_eq!(whole.headers["accept-ranges"], "bytes");
    assert_eq!(whole.body.len() as i64, recording["bytes"].as_i64().unwrap());
    assert!(whole.body.starts_with(b"OggS"));
    assert_each_side_in_its_channel(&whole.body, 25);

    // Ranges: a player seeks.
    let len = whole.body.len();
    let head = fetch(&f, url, Some("bytes=0-99"));
    assert_eq!(head.status, 206);
    assert_eq!(head.headers["content-range"], format!("bytes 0-99/{len}").as_str());
    assert_eq!(head.body, whole.body[..100]);
    let tail = fetch(&f, url, Some("bytes=-10"));
    assert_eq!((tail.status, tail.body.as_slice()), (206, &whole.body[len - 10..]));
    let past = fetch(&f, url, Some(&format!("bytes={len}-")));
    assert_eq!(past.status, 416);
    assert!(String::from_utf8_lossy(&past.body).contains("range_not_satisfiable"));
    // The workspace's key only; another conversation's path is not found.
    let anonymous = f.api.http.get(f.api.url(url)).send().unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    f.api
        .control("GET", &format!("/v1/conversations/{cid}/calls/call_nosuch/recording"), &f.key, None)
        .expect_error(404, "not_found");

    // A widget that does not record: no recording.
    f.patch_widget(json!({"privacy": {"recording": "off"}}));
    let plain = talk(&f, 20, 5);
    let plain_record = f.record_after_call_end(&plain);
    assert!(plain_record["calls"][0]["recording"].is_null(), "{plain_record}");
    let plain_conversation = f.conversation(&plain);
    let plain_call = plain_conversation["calls"][0]["call_id"].as_str().unwrap();
    assert!(files_of(&f.server.data_dir, plain_call).is_empty());
    f.api
        .control(
            "GET",
            &format!(
                "/v1/conversations/{}/calls/{plain_call}/recording",
                plain_conversation["id"].as_str().unwrap()
            ),
            &f.key,
            None,
        )
        .expect_error(404, "not_found");

    // Erasure takes the recording with the conversation.
    assert_eq!(files_of(&f.server.data_dir, call).len(), 1);
    f.api.control("DELETE", &format!("/v1/conversations/{cid}"), &f.key, None).expect(200);
    assert!(files_of(&f.server.data_dir, call).is_empty(), "the file is gone when DELETE answers");
    assert_eq!(fetch(&f, url, None).status, 404);
}

#[test]
fn a_call_cut_by_kill_9_keeps_what_was_written() {
    let f = Fixture::new();
    record_calls(&f, 30);
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    call.script = Some(tone_then_silence(u32::MAX));
    assert!(call.run_until(Duration::from_secs(30), |c| c.frames_sent() >= 200));
    let conversation = f.conversation(&s);
    let call_id = conversation["calls"][0]["call_id"].as_str().unwrap().to_string();
    // Pages reach the file about every second as the call runs.
    let file = eventually(Duration::from_secs(10), || {
        files_of(&f.server.data_dir, &call_id)
            .pop()
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 4000))
    });
    assert!(file.exists());
    let Fixture { server, key, .. } = f;
    let data_dir = server.kill();
    drop(call);

    let server = Server::start_with(ServerOptions { data_dir: Some(data_dir), ..Default::default() });
    let f = Fixture::with_key(server, key);
    let record = recorded(&f, &s, "partial");
    let recording = &record["calls"][0]["recording"];
    assert!(recording["duration_ms"].as_i64().unwrap() >= 1000, "{recording}");
    let got = fetch(&f, recording["url"].as_str().unwrap(), None);
    assert_eq!(got.status, 200);
    let (channels, slots) = decode(&got.body);
    assert_eq!(channels, 2);
    // The visitor spoke all along (the agent echoes from half a second in); the file ends
    // where the last whole page was written.
    let visitor = loud(&slots, 0);
    assert!(
        visitor.len() >= 50 && visitor.len() * 2 >= slots.len(),
        "the tone was kept: {} of {} slots",
        visitor.len(),
        slots.len()
    );
}

#[test]
fn recordings_in_an_object_store_are_read_by_range_and_expire() {
    let s3 = S3Server::start("recordings");
    let server = Server::start_with(ServerOptions {
        extra_args: [
            "--recordings-url",
            "s3://recordings/calls",
            "--recording-day-ms",
            "4000",
            "--recordings-sweep-ms",
            "200",
        ]
        .map(String::from)
        .to_vec(),
        env: s3.env(),
        ..Default::default()
    });
    let f = Fixture::on(server);
    record_calls(&f, 1);
    let s = talk(&f, 100, 25);
    let record = recorded(&f, &s, "complete");
    let call = record["calls"][0]["call_id"].as_str().unwrap().to_string();
    let url = record["calls"][0]["recording"]["url"].as_str().unwrap().to_string();
    // Uploaded under the prefix, then gone from the data dir.
    let key = eventually(Duration::from_secs(15), || {
        let uploaded = s3.keys().into_iter().find(|k| k.ends_with(&format!("/{call}.ogg")));
        uploaded.filter(|_| files_of(&f.server.data_dir, &call).is_empty())
    });
    assert!(key.starts_with("calls/"), "{key}");
    let object = s3.get(&key).expect("the object");
    let whole = fetch(&f, &url, None);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, object, "served from the object store as uploaded");
    assert_each_side_in_its_channel(&whole.body, 25);
    let part = fetch(&f, &url, Some("bytes=10-19"));
    assert_eq!((part.status, part.body.as_slice()), (206, &object[10..20]));
    // A day of retention (4 s here) later, the sweeper deletes it.
    eventually(Duration::from_secs(20), || (s3.get(&key).is_none()).then_some(()));
    assert_eq!(fetch(&f, &url, None).status, 404);
    let record = f.conversation(&s);
    assert!(record["calls"][0]["recording"].is_null(), "{record}");
}
