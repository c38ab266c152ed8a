//! Several nodes (scripts/bench-nodes), with the same harness on each backend:
//!
//!   voxgate-bench-nodes sessions --backend sqlite|postgres [--seconds 10] [--backends 16]
//!     [--rate R]
//!     session creations per second on one node, and their latency (p50, p99). Without `--rate`,
//!     `--backends` customer backends each create sessions back to back (the most the machine
//!     takes). With `--rate R`, sessions are asked for at R a second on a fixed schedule,
//!     whatever the answers do, on up to 256 connections, and each latency counts from the
//!     moment its request was due (as wrk2 does): a stall shows in the tail instead of slowing
//!     the load (`--connections N` caps requests in flight, `--trace` prints the worst latency
//!     of each tenth of a second);
//!   voxgate-bench-nodes propagation [--saves 300]
//!     two nodes on one PostgreSQL: a widget saved on node a, then node b polled until it serves
//!     the new version; the time from a's answer to b's (p50, p99), and b's own measure of the
//!     same (voxgate_cluster_propagation_seconds).
//!
//! Uses VOXGATE_BIN (the release binary in the script) and the test PostgreSQL (or the one
//! VOXGATE_TEST_DATABASE_URL names). Run `scripts/test-postgres warm` before measuring, as
//! scripts/bench-nodes does: a fresh server creates WAL segments under load, and every commit
//! waits while it does (docs/BENCHMARKS.md).

use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_tests::postgres::{create_key, fresh_database, node, node_with_lease};
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

fn flag(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or(default.to_string())
}

fn number(name: &str, default: usize) -> usize {
    flag(name, &default.to_string()).parse().unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Load-test flags: one machine, one key, one address.
const UNLIMITED: [&str; 6] =
    ["--rate-limit-per-key", "0", "--rate-limit-per-address", "0", "--rate-limit-messages-per-session", "0"];

/// A key, an agent and a widget without a session rate limit, on `server` (key made by `key`).
fn fixture(server: Server, key: String) -> Fixture {
    let api = server.client();
    let agent = api.control("POST", "/v1/agents", &key, Some(json!({"name": "bench"}))).expect(201).body
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body =
        json!({"name": "bench", "agent_id": agent, "allowed_origins": [SITE], "sessions_per_minute": 0});
    let widget = api.control("POST", "/v1/widgets", &key, Some(body)).expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    Fixture { server, api, key, agent, widget }
}

/// Sessions created so far (the server's own counter).
fn count_sessions(f: &Fixture) -> usize {
    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).text;
    metrics
        .lines()
        .filter(|l| l.starts_with("voxgate_sessions_created_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as usize
}

fn sessions() {
    let backend = flag("--backend", "sqlite");
    let (seconds, concurrent) = (number("--seconds", 10), number("--backends", 16));
    let f = match backend.as_str() {
        "postgres" => {
            let db = fresh_database();
            // Production's lease (10 s), not the tests' 1 s.
            let server = node_with_lease(&db, "bench", 10, &UNLIMITED);
            fixture(server, create_key(&db, "bench"))
        }
        _ => {
            let server = Server::start_with(ServerOptions {
                extra_args: UNLIMITED.map(String::from).to_vec(),
                ..Default::default()
            });
            let key = server.create_key("bench");
            fixture(server, key)
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let url = f.api.url(&format!("/v1/widgets/{}/sessions", f.widget));
    let rate = number("--rate", 0);
    // The load runs as tasks on one thread of an async client, so the load generator takes as
    // little of the machine's two cores as it can (the server and PostgreSQL share them).
    let load = {
        let (key, stop) = (f.key.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let warm_until = Instant::now() + WARM_UP;
            let load = Load { http: reqwest::Client::new(), url, key, stop, warm_until };
            rt.block_on(async move {
                if rate > 0 {
                    load.at_rate(rate as f64).await
                } else {
                    load.back_to_back(concurrent).await
                }
            })
        })
    };
    std::thread::sleep(WARM_UP);
    let warm = count_sessions(&f);
    let counted_from = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds as u64));
    let n = count_sessions(&f) - warm;
    let elapsed = counted_from.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<Duration> = load.join().unwrap();
    all.sort();
    let load = if rate > 0 {
        format!("asked for at {rate}/s")
    } else {
        format!("with {concurrent} concurrent backends")
    };
    println!(
        "{backend}: {n} sessions in {:.1} s = {:.0}/s {load}; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
    );
    // Where the time goes on the server, bucket by bucket (warm-up included): session creation
    // from request to response head, and its store's commit and read latency. Set beside the
    // generator's figures, they tell the server's share of a slow answer.
    let metrics = f.api.send(f.api.http.get(f.api.url("/metrics"))).text;
    let server: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            (l.starts_with("voxgate_http_request_duration_seconds_") && l.contains("/sessions\""))
                || l.starts_with("voxgate_store_commit_seconds_bucket")
                || l.starts_with("voxgate_store_commit_seconds_count")
                || l.starts_with("voxgate_store_read_seconds_bucket")
                || l.starts_with("voxgate_store_read_seconds_count")
        })
        .collect();
    println!("  server: {}", server.join("\n  server: "));
}

/// The first second warms connections and caches; only what starts after it counts.
const WARM_UP: Duration = Duration::from_secs(1);

/// Customer backends creating sessions until `stop`.
struct Load {
    http: reqwest::Client,
    url: String,
    key: String,
    stop: Arc<AtomicBool>,
    warm_until: Instant,
}

impl Load {
    /// One session; panics on anything but 201 (the run is void then).
    async fn create(http: &reqwest::Client, url: &str, key: &str) {
        let r = http.post(url).bearer_auth(key).json(&json!({"mode": "text"})).send().await.expect("request");
        assert_eq!(r.status().as_u16(), 201);
        r.bytes().await.expect("body");
    }

    /// `concurrent` backends, each asking again as soon as it has its answer (closed loop).
    async fn back_to_back(self, concurrent: usize) -> Vec<Duration> {
        let backends: Vec<_> = (0..concurrent)
            .map(|_| {
                let (http, url, key, stop) =
                    (self.http.clone(), self.url.clone(), self.key.clone(), self.stop.clone());
                let warm_until = self.warm_until;
                tokio::spawn(async move {
                    let mut took = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let at = Instant::now();
                        Self::create(&http, &url, &key).await;
                        if at >= warm_until {
                            took.push(at.elapsed());
                        }
                    }
                    took
                })
            })
            .collect();
        let mut all = Vec::new();
        for b in backends {
            all.extend(b.await.expect("backend"));
        }
        all
    }

    /// Sessions asked for at `rate` a second on a fixed schedule (open loop); each latency
    /// from the moment its request was due. At most `--connections` (256) in flight: past
    /// that the schedule waits, and the wait counts in the latency of the requests it delays.
    /// `--trace` prints each tenth of a second's worst latency beside how late the generator
    /// itself sent (so a stall of the server is told from one of the load generator).
    async fn at_rate(self, rate: f64) -> Vec<Duration> {
        let slots = Arc::new(tokio::sync::Semaphore::new(number("--connections", 256)));
        let (done, mut samples) = tokio::sync::mpsc::unbounded_channel::<Sample>();
        let start = Instant::now();
        let mut i = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            i += 1;
            tokio::time::sleep_until(due.into()).await;
            let Ok(slot) = slots.clone().acquire_owned().await else { break };
            let (http, url, key, done) =
                (self.http.clone(), self.url.clone(), self.key.clone(), done.clone());
            let counted = due >= self.warm_until;
            tokio::spawn(async move {
                let late = due.elapsed();
                Self::create(&http, &url, &key).await;
                if counted {
                    let _ = done.send(Sample { at: due - start, took: due.elapsed(), late });
                }
                drop(slot);
            });
        }
        drop(done);
        let mut all = Vec::new();
        let mut tenths: std::collections::BTreeMap<u128, (Duration, Duration)> = Default::default();
        let mut latest = Duration::ZERO;
        while let Some(s) = samples.recv().await {
            all.push(s.took);
            latest = latest.max(s.late);
            let worst = tenths.entry(s.at.as_millis() / 100).or_default();
            *worst = (worst.0.max(s.took), worst.1.max(s.late));
        }
        println!("  load generator: sent at most {:.2} ms after a request was due", ms(latest));
        if std::env::args().any(|a| a == "--trace") {
            for (tenth, (took, late)) in tenths {
                println!(
                    "  {:5.1} s: worst {:7.2} ms, sent late by {:5.2} ms",
                    tenth as f64 / 10.0,
                    ms(took),
                    ms(late)
                );
            }
        }
        all
    }
}

/// One request of an open-loop run: when it was due (from the start), how long from then to
/// its answer, and how late the generator sent it.
struct Sample {
    at: Duration,
    took: Duration,
    late: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn propagation() {
    let saves = number("--saves", 300);
    let db = fresh_database();
    let a = node(&db, "a", &UNLIMITED);
    let b = node(&db, "b", &UNLIMITED);
    let f = fixture(a, create_key(&db, "bench"));
    let b_api = b.client();
    let path = format!("/v1/widgets/{}", f.widget);
    let mut took = Vec::with_capacity(saves);
    for i in 0..saves {
        let saved = f
            .api
            .control("PATCH", &path, &f.key, Some(json!({"name": format!("bench {i}")})))
            .expect(200)
            .body;
        let version = saved["version"].as_u64().unwrap();
        let answered = Instant::now();
        loop {
            let on_b = b_api.control("GET", &path, &f.key, None).expect(200).body;
            if on_b["version"].as_u64() == Some(version) {
                took.push(answered.elapsed());
                break;
            }
            assert!(answered.elapsed() < Duration::from_secs(5), "b never saw version {version}");
        }
    }
    took.sort();
    println!(
        "propagation a -> b over {saves} saves (a's answer to b serving it, polled): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&took, 0.5),
        percentile(&took, 0.99),
        percentile(&took, 1.0)
    );
    let metrics = b_api.send(b_api.http.get(b_api.url("/metrics"))).text;
    for line in metrics.lines().filter(|l| l.starts_with("voxgate_cluster_propagation_seconds")) {
        println!("  b: {line}");
    }
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("sessions") => sessions(),
        Some("propagation") => propagation(),
        _ => {
            eprintln!("usage: voxgate-bench-nodes sessions --backend sqlite|postgres | propagation");
            std::process::exit(2);
        }
    }
}
