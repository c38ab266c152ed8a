//! The Conversations page with a big store (scripts/bench-conversations): seeds N conversations
//! (default 100,000) through the control plane as customer backends create them, one in a
//! hundred with a text exchange, then times the dashboard's list (first page, a filtered page,
//! a page deep in the cursor chain) and `GET /v1/conversations` as a signed-in user would.
//!
//!   voxgate-bench-conversations [--conversations 100000] [--requests 300] [--threads 8]
//!
//! Uses VOXGATE_BIN (the release binary in the script).

use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_tests::dashboard::{create_user, Dashboard};
use voxgate_tests::text::Answer;
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let (n, requests, threads) =
        (flag("--conversations", 100_000), flag("--requests", 300), flag("--threads", 8));
    // One machine seeding with one key: the rate limits are off, as for any load test.
    let f = Fixture::on(Server::start_with(ServerOptions {
        extra_args: [
            "--rate-limit-per-key",
            "0",
            "--rate-limit-per-address",
            "0",
            "--rate-limit-messages-per-session",
            "0",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    }));
    f.patch_widget(json!({"sessions_per_minute": 0}));
    // A second widget, so a filter has something to leave out.
    let staging = f
        .api
        .control(
            "POST",
            "/v1/widgets",
            &f.key,
            Some(json!({"name": "Staging", "agent_id": f.agent, "environment": "staging", "allowed_origins": [SITE], "sessions_per_minute": 0})),
        )
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (api, key, next) = (f.api.clone(), f.key.clone(), next.clone());
            let (production, staging) = (f.widget.clone(), staging.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let widget = if i % 10 == 0 { &staging } else { &production };
                let body = json!({"mode": "text", "metadata": {"seq": i}});
                let s = api
                    .control("POST", &format!("/v1/widgets/{widget}/sessions"), &key, Some(body))
                    .expect(201)
                    .body;
                if i % 100 == 0 {
                    let (url, token) = (
                        s["messages_url"].as_str().expect("url"),
                        s["session_token"].as_str().expect("token"),
                    );
                    if let Ok(mut a) = Answer::ask(&api, url, SITE, token, "What do you do?") {
                        a.rest();
                    }
                }
                if i > 0 && i % 10_000 == 0 {
                    eprintln!("seeded {i} conversations in {:.0} s", started.elapsed().as_secs_f64());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("seeder");
    }
    let seeding = started.elapsed();
    println!(
        "seeded {n} conversations in {:.1} s ({:.0}/s)",
        seeding.as_secs_f64(),
        n as f64 / seeding.as_secs_f64()
    );

    create_user(&f.server, "acme", "bench@example.com", "a long enough password");
    let d = Dashboard::sign_in(&f.server, "bench@example.com", "a long enough password");
    // A cursor from deep in the list: follow `next` links a few hundred rows down.
    let mut deep = "/dashboard/conversations".to_string();
    for _ in 0..20 {
        let page = d.get(&deep).text;
        let Some(at) = page.find("href=\"/dashboard/conversations?") else { break };
        let href = page[at + 6..].split('"').next().expect("href").replace("&amp;", "&");
        deep = href;
    }
    let cases = [
        ("dashboard, first page", "/dashboard/conversations".to_string()),
        (
            "dashboard, staging widget only",
            format!("/dashboard/conversations?widget={staging}&environment=staging&mode=text"),
        ),
        ("dashboard, page 21 (cursor)", deep),
        // The worst case: a filter nothing matches reads every row of the workspace.
        ("dashboard, mode=voice (matches none)", "/dashboard/conversations?mode=voice".to_string()),
        (
            "dashboard, staging widget and mode=voice (none)",
            format!("/dashboard/conversations?widget={staging}&mode=voice"),
        ),
    ];
    println!("| page | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (name, path) in cases {
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            let r = d.get(&path);
            times.push(t.elapsed());
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            let expected = !path.contains("mode=voice");
            assert_eq!(r.text.contains("data-conversation="), expected, "{path} lists conversations");
        }
        times.sort();
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            percentile(&times, 0.99),
            percentile(&times, 1.0)
        );
    }
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        f.api.control("GET", "/v1/conversations?limit=25", &f.key, None).expect(200);
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "| GET /v1/conversations?limit=25 | {:.1} | {:.1} | {:.1} | {:.1} |",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    );
}
