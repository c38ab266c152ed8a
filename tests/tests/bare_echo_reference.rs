//! The benchmark's yardstick, `voxgate-bare-echo`, answers the harness as voxgate does: a
//! short run against it must connect every peer and echo every frame, or a comparison between
//! the two would measure a broken reference.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use voxgate_tests::{workspace_bin, KillOnDrop};

#[test]
fn the_harness_connects_to_the_bare_echo_loop_and_every_frame_comes_back() {
    let mut child = Command::new(workspace_bin("voxgate-bare-echo"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("voxgate-bare-echo starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = KillOnDrop(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).expect("a first line");
    let url = first.trim().strip_prefix("voxgate listening on ").expect("the listening line").to_string();

    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("run.json");
    let out = Command::new(workspace_bin("voxgate-loadtest"))
        .args(["--target", &url, "--api-key", "bare", "--widget", "bare", "--origin", "http://localhost"])
        .args(["--voice", "5", "--rate", "50", "--duration", "2s", "--json", json_path.to_str().unwrap()])
        .args(["--server-pid", &server.0.id().to_string()])
        .output()
        .expect("voxgate-loadtest runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "harness failed: {report}\n{}", String::from_utf8_lossy(&out.stderr));

    let run: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let voice = &run["voice"];
    assert_eq!(voice["ok"], 5, "{run:#}");
    let sent = voice["frames_sent"].as_f64().unwrap();
    let echoed = voice["frames_echoed"].as_f64().unwrap();
    assert!(sent >= 5.0 * 50.0, "5 peers over 2 s send at least 250 frames: {sent}");
    assert!(echoed >= sent * 0.99, "{echoed} of {sent} echoed");
    assert!(voice["rtt_ms"]["p50"].as_f64().unwrap() > 0.0, "{run:#}");
    // The harness measured the reference's CPU, as it does voxgate's.
    assert!(run["server"]["cpu_percent_of_one_core"].as_f64().is_some(), "{run:#}");
}
