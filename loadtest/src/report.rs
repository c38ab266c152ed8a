//! One run from start to finish, and what it reports: a table in the spirit of LiveKit's
//! `lk perf load-test`, and the same figures as JSON.

use crate::cli::Plan;
use crate::media::{Control, Live, MediaLoop, MediaResult};
use crate::probe;
use crate::signaling;
use futures_util::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::voice::MediaIdentity;

/// Voice figures of a run.
pub struct VoiceFigures {
    pub attempted: usize,
    pub connected: usize,
    pub failures: BTreeMap<String, usize>,
    pub setup_us: Histogram<u64>,
    pub rtt_us: Histogram<u64>,
    pub sent: u64,
    pub echoed: u64,
    pub jitter_mean_us: f64,
    pub jitter_max_us: f64,
    /// From the first session request to the last peer connected.
    pub all_connected_in: Option<Duration>,
}

impl VoiceFigures {
    pub fn rtt_us(&self, q: f64) -> u64 {
        if self.rtt_us.is_empty() {
            0
        } else {
            self.rtt_us.value_at_quantile(q / 100.0)
        }
    }
    pub fn setup_us(&self, q: f64) -> u64 {
        if self.setup_us.is_empty() {
            0
        } else {
            self.setup_us.value_at_quantile(q / 100.0)
        }
    }
    pub fn loss(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            1.0 - self.echoed as f64 / self.sent as f64
        }
    }
}

/// The server process's cost during the hold.
pub struct ServerFigures {
    pub cpu_percent: f64,
    pub rss_before_bytes: u64,
    pub rss_hold_bytes: u64,
    pub sessions: usize,
}

impl ServerFigures {
    pub fn bytes_per_session(&self) -> f64 {
        if self.sessions == 0 {
            return 0.0;
        }
        self.rss_hold_bytes.saturating_sub(self.rss_before_bytes) as f64 / self.sessions as f64
    }
}

/// A finished run.
pub struct Run {
    pub plan: Plan,
    pub voice: VoiceFigures,
    pub server: Option<ServerFigures>,
    /// This harness's own CPU during the hold (all its threads), to show it was not the limit.
    pub harness_cpu_percent: Option<f64>,
    pub hold: Duration,
}

fn progress_bar(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} {bar:30} {pos}/{len} connected  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

impl Run {
    pub fn execute(plan: &Plan) -> Result<Run, String> {
        let identity = MediaIdentity::generate().map_err(|e| e.to_string())?;
        let epoch = Instant::now();
        let live = Arc::new(Live::default());
        let (tx, rx) = mpsc::channel();
        let (media, waker) = MediaLoop::new(plan.frame_bytes, plan.connect_timeout, rx, live.clone(), epoch)
            .map_err(|e| format!("cannot start the media loop: {e}"))?;
        let media_thread = std::thread::Builder::new()
            .name("loadtest-media".into())
            .spawn(move || media.run())
            .map_err(|e| e.to_string())?;
        let rss_before = plan.server_pid.and_then(probe::sample);
        let me = std::process::id();
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let bar = progress_bar(plan.voice);

        // Ramp: sessions and offers at --rate (all at once for 0).
        let mut failures: BTreeMap<String, usize> = BTreeMap::new();
        let mut calls = Vec::new();
        runtime.block_on(async {
            let mut pending = FuturesUnordered::new();
            let interval =
                if plan.rate > 0.0 { Duration::from_secs_f64(1.0 / plan.rate) } else { Duration::ZERO };
            for index in 0..plan.voice {
                let (http, identity) = (http.clone(), identity.clone());
                let at = epoch + interval.mul_f64(index as f64);
                pending.push(async move {
                    tokio::time::sleep_until(at.into()).await;
                    signaling::connect(&http, plan, &identity, index).await
                });
            }
            while let Some(outcome) = pending.next().await {
                match outcome {
                    Ok(s) => {
                        calls.push((s.location.clone(), s.token.clone()));
                        let _ = tx.send(Control::Add(Box::new(s)));
                        let _ = waker.wake();
                    }
                    Err(f) => {
                        *failures.entry(f.reason).or_default() += 1;
                        live.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                bar.set_position(live.connected.load(Ordering::Relaxed) as u64);
            }
        });
        // Wait for every answered peer to connect or fail.
        let answered = calls.len();
        let settle_deadline = Instant::now() + plan.connect_timeout + Duration::from_secs(2);
        while live.connected.load(Ordering::Relaxed) + live.failed.load(Ordering::Relaxed)
            - failures.values().sum::<usize>()
            < answered
            && Instant::now() < settle_deadline
        {
            bar.set_position(live.connected.load(Ordering::Relaxed) as u64);
            std::thread::sleep(Duration::from_millis(20));
        }
        let connected_now = live.connected.load(Ordering::Relaxed);
        let all_connected_in = (connected_now == plan.voice)
            .then(|| Duration::from_micros(live.last_connected_us.load(Ordering::Relaxed)));

        // Hold.
        let hold_start = plan.server_pid.and_then(probe::sample);
        let me_start = probe::sample(me);
        let hold_began = Instant::now();
        while hold_began.elapsed() < plan.duration {
            let sent = live.sent.load(Ordering::Relaxed);
            let echoed = live.echoed.load(Ordering::Relaxed);
            bar.set_position(live.connected.load(Ordering::Relaxed) as u64);
            bar.set_message(format!("frames {sent} sent, {echoed} echoed"));
            std::thread::sleep(
                Duration::from_millis(250).min(plan.duration.saturating_sub(hold_began.elapsed())),
            );
        }
        let hold_end = plan.server_pid.and_then(probe::sample);
        let me_end = probe::sample(me);
        let hold = hold_began.elapsed();

        // Stop sending, let echoes in flight land, hang up, close.
        let _ = tx.send(Control::StopSending);
        let _ = waker.wake();
        std::thread::sleep(Duration::from_millis(500));
        runtime.block_on(async {
            let mut hangups: FuturesUnordered<_> = calls
                .iter()
                .map(|(location, token)| signaling::hang_up(&http, &plan.origin, location, token))
                .collect();
            while let Some(r) = hangups.next().await {
                if let Err(e) = r {
                    *failures.entry(e).or_default() += 1;
                }
            }
        });
        let _ = tx.send(Control::Finish);
        let _ = waker.wake();
        let media: MediaResult = media_thread.join().map_err(|_| "the media thread panicked".to_string())?;
        bar.finish_and_clear();

        for f in &media.failures {
            *failures.entry(f.clone()).or_default() += 1;
        }
        let jitter_mean_us = if media.jitter_us.is_empty() {
            0.0
        } else {
            media.jitter_us.iter().sum::<f64>() / media.jitter_us.len() as f64
        };
        let jitter_max_us = media.jitter_us.iter().cloned().fold(0.0, f64::max);
        let server = match (rss_before, hold_start, hold_end) {
            (Some(b), Some(s), Some(e)) => Some(ServerFigures {
                cpu_percent: probe::cpu_percent(&s, &e),
                rss_before_bytes: b.rss_bytes,
                rss_hold_bytes: e.rss_bytes,
                sessions: media.connected,
            }),
            _ => None,
        };
        Ok(Run {
            plan: plan.clone(),
            voice: VoiceFigures {
                attempted: plan.voice,
                connected: media.connected,
                failures,
                setup_us: media.setup_us,
                rtt_us: media.rtt_us,
                sent: media.sent,
                echoed: media.echoed,
                jitter_mean_us,
                jitter_max_us,
                all_connected_in,
            },
            server,
            harness_cpu_percent: me_start.zip(me_end).map(|(a, b)| probe::cpu_percent(&a, &b)),
            hold,
        })
    }

    pub fn all_ok(&self) -> bool {
        self.voice.connected == self.voice.attempted && self.voice.failures.is_empty()
    }

    pub fn table(&self) -> String {
        let v = &self.voice;
        let ms = |us: u64| us as f64 / 1000.0;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "voxgate-loadtest: {} voice visitors at {} new/s, held {:.1} s against {}",
            self.plan.voice,
            if self.plan.rate > 0.0 { format!("{}", self.plan.rate) } else { "all-at-once".into() },
            self.hold.as_secs_f64(),
            self.plan.target
        );
        let _ = writeln!(
            out,
            "{:<6} {:>6} {:>7} | {:>26} | {:>34} | {:>8} {:>12}",
            "kind",
            "ok",
            "failed",
            "setup ms p50/p95/p99",
            "echo RTT ms p50/p95/p99/max",
            "loss",
            "jitter ms"
        );
        let _ = writeln!(
            out,
            "{:<6} {:>6} {:>7} | {:>26} | {:>34} | {:>7.3}% {:>5.3}/{:<6.3}",
            "voice",
            v.connected,
            v.attempted - v.connected,
            format!("{:.1}/{:.1}/{:.1}", ms(v.setup_us(50.0)), ms(v.setup_us(95.0)), ms(v.setup_us(99.0))),
            format!(
                "{:.3}/{:.3}/{:.3}/{:.3}",
                ms(v.rtt_us(50.0)),
                ms(v.rtt_us(95.0)),
                ms(v.rtt_us(99.0)),
                ms(v.rtt_us.max())
            ),
            v.loss() * 100.0,
            v.jitter_mean_us / 1000.0,
            v.jitter_max_us / 1000.0,
        );
        let _ = writeln!(out, "frames: {} sent, {} echoed", v.sent, v.echoed);
        match v.all_connected_in {
            Some(d) => {
                let _ = writeln!(
                    out,
                    "all {} connected {:.0} ms after the first request",
                    v.attempted,
                    d.as_secs_f64() * 1000.0
                );
            }
            None => {
                let _ = writeln!(out, "not every visitor connected");
            }
        }
        for (reason, n) in &v.failures {
            let _ = writeln!(out, "failure: {n} x {reason}");
        }
        if let Some(s) = &self.server {
            let _ = writeln!(
                out,
                "server: {:.1}% of one core during the hold; RSS {:.1} MiB -> {:.1} MiB ({:.1} KiB per session)",
                s.cpu_percent,
                s.rss_before_bytes as f64 / 1048576.0,
                s.rss_hold_bytes as f64 / 1048576.0,
                s.bytes_per_session() / 1024.0
            );
        }
        if let Some(h) = self.harness_cpu_percent {
            let _ = writeln!(out, "harness: {h:.1}% of one core during the hold");
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let v = &self.voice;
        let ms = |us: u64| us as f64 / 1000.0;
        json!({
            "target": self.plan.target,
            "rate": self.plan.rate,
            "hold_seconds": self.hold.as_secs_f64(),
            "voice": {
                "attempted": v.attempted,
                "ok": v.connected,
                "failed": v.attempted - v.connected,
                "failures": v.failures,
                "setup_ms": {"p50": ms(v.setup_us(50.0)), "p95": ms(v.setup_us(95.0)), "p99": ms(v.setup_us(99.0))},
                "rtt_ms": {
                    "p50": ms(v.rtt_us(50.0)), "p95": ms(v.rtt_us(95.0)), "p99": ms(v.rtt_us(99.0)),
                    "max": ms(if v.rtt_us.is_empty() { 0 } else { v.rtt_us.max() }),
                    "samples": v.rtt_us.len(),
                },
                "frames_sent": v.sent,
                "frames_echoed": v.echoed,
                "loss_percent": v.loss() * 100.0,
                "jitter_ms": {"mean": v.jitter_mean_us / 1000.0, "max": v.jitter_max_us / 1000.0},
                "all_connected_ms": v.all_connected_in.map(|d| d.as_secs_f64() * 1000.0),
            },
            "harness_cpu_percent_of_one_core": self.harness_cpu_percent,
            "server": self.server.as_ref().map(|s| json!({
                "cpu_percent_of_one_core": s.cpu_percent,
                "rss_before_bytes": s.rss_before_bytes,
                "rss_hold_bytes": s.rss_hold_bytes,
                "bytes_per_session": s.bytes_per_session(),
            })),
        })
    }
}
