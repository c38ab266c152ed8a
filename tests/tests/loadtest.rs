//! The load-test harness against the real binary: a few seconds of 10 voice and 10 text
//! visitors, its JSON checked figure by figure, and an impossible `--slo` failing the run.

use serde_json::{json, Value};
use std::process::Command;
use voxgate_tests::{workspace_bin, Fixture, SITE};

/// A fixture whose widget takes voice and text and whose agent knows a little.
fn fixture() -> Fixture {
    let f = Fixture::new();
    f.patch_agent(
        json!({"knowledge": [{"title": "Billing", "text": "Voice is billed per started minute."}]}),
    );
    f.patch_widget(json!({"modes": ["voice", "text"]}));
    f
}

fn loadtest(f: &Fixture, args: &[&str]) -> std::process::Output {
    Command::new(workspace_bin("voxgate-loadtest"))
        .args(["--target", &f.server.url, "--api-key", &f.key, "--widget", &f.widget, "--origin", SITE])
        .args(args)
        .output()
        .expect("voxgate-loadtest runs")
}

fn number(v: &Value, path: &str) -> f64 {
    path.split('.').fold(v, |v, k| &v[k]).as_f64().unwrap_or_else(|| panic!("{path} missing: {v:#}"))
}

#[test]
fn ten_voice_and_ten_text_visitors_all_succeed_with_plausible_figures() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("run.json");
    let out = loadtest(
        &f,
        &[
            "--voice",
            "10",
            "--text",
            "10",
            "--rate",
            "50",
            "--duration",
            "3s",
            "--text-think",
            "200ms",
            "--exact-frame-clock",
            "--json",
            json_path.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "harness failed: {stdout}\n{stderr}");
    assert!(stdout.contains("voice") && stdout.contains("text"), "a table row per kind: {stdout}");
    let run: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();

    for kind in ["voice", "text"] {
        assert_eq!(number(&run, &format!("{kind}.attempted")), 10.0, "{run:#}");
        assert_eq!(number(&run, &format!("{kind}.ok")), 10.0, "{run:#}");
        assert_eq!(run[kind]["failures"], json!({}), "{run:#}");
        let setup = number(&run, &format!("{kind}.setup_ms.p50"));
        assert!(setup > 0.0 && setup < 5_000.0, "{kind} setup p50 {setup} ms");
    }
    // Voice: echoes came back, about 50 frames a second each, within loopback times.
    let (sent, echoed) = (number(&run, "voice.frames_sent"), number(&run, "voice.frames_echoed"));
    assert!(sent >= 10.0 * 50.0 * 2.0, "10 peers over 3 s send at least 1,000 frames: {sent}");
    assert!(echoed >= sent * 0.99, "{echoed} of {sent} echoed");
    assert!(number(&run, "voice.loss_percent") <= 1.0);
    // The kernel's receive-buffer drops while the calls ran: a count (machine-wide, so other
    // tests' traffic may add to it), present wherever /proc/net/snmp is.
    assert!(run["voice"]["receive_buffer_drops"].as_u64().is_some(), "{run:#}");
    let (p50, p99, max) = (
        number(&run, "voice.rtt_ms.p50"),
        number(&run, "voice.rtt_ms.p99"),
        number(&run, "voice.rtt_ms.max"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max && max < 1_000.0, "RTT {p50} / {p99} / {max} ms");
    assert!(number(&run, "voice.rtt_ms.samples") >= echoed * 0.99);
    // The harness kept its own 20 ms clock: one lag sample per frame sent.
    assert_eq!(run["voice"]["exact_frame_clock"], true, "{run:#}");
    assert_eq!(number(&run, "voice.frame_lag_ms.samples"), sent, "{run:#}");
    let lag = number(&run, "voice.frame_lag_ms.p50");
    assert!((0.0..20.0).contains(&lag), "frames left {lag} ms late at the median");
    // Datagrams left in batches of up to 8, none refused; the harness judged its own headroom.
    assert_eq!(number(&run, "voice.send_batch"), 8.0, "{run:#}");
    assert_eq!(number(&run, "voice.send_refused"), 0.0, "{run:#}");
    assert!(run["harness_kept_up"].is_boolean(), "{run:#}");
    // Text: every visitor asked several questions and got each answer streamed.
    let (asked, completed) = (number(&run, "text.messages_asked"), number(&run, "text.messages_completed"));
    assert!(asked >= 20.0 && completed == asked, "{completed} of {asked} answered");
    let (first, done) = (number(&run, "text.first_token_ms.p50"), number(&run, "text.completed_ms.p50"));
    assert!(0.0 < first && first <= done && done < 5_000.0, "first token {first} ms, answer {done} ms");
    assert!(number(&run, "text.first_token_ms.p99") >= first);

    // The harness ended every session it created.
    let listed = f.api.send(f.api.http.get(f.api.url("/metrics"))).expect(200).text;
    assert!(listed.contains("voxgate_active_sessions{mode=\"voice\"} 0"), "{listed}");
    assert!(listed.contains("voxgate_active_sessions{mode=\"text\"} 0"), "{listed}");
}

#[test]
fn an_impossible_slo_fails_the_run_and_says_which() {
    let f = fixture();
    let out = loadtest(
        &f,
        &[
            "--voice",
            "2",
            "--text",
            "2",
            "--rate",
            "50",
            "--duration",
            "1s",
            // Each datagram as it is made, the unbatched path.
            "--send-batch",
            "1",
            "--slo",
            "rtt_p99=1us,first_token_p99=1us,loss=5%",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("SLO broken: rtt_p99"), "{stderr}");
    assert!(stderr.contains("SLO broken: first_token_p99"), "{stderr}");
    assert!(!stderr.contains("SLO broken: loss"), "loss was within 5 %: {stderr}");
    let bad = loadtest(&f, &["--voice", "1", "--slo", "latency=5ms"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown threshold \"latency\""));
    let bad = loadtest(&f, &["--voice", "1", "--send-batch", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--send-batch must be between 1 and 64"));
}
