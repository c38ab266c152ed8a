//! One run from start to finish, and what it reports: a table in the spirit of LiveKit's
//! `lk perf load-test`, and the same figures as JSON.

use crate::media::{Control, Live, MediaLoop, MediaResult};
use crate::plan::Plan;
use crate::probe;
use crate::signaling;
use crate::sockets::{Addressing, PeerSocket};
use crate::text::{self, TextFigures, TextLive};
use futures_util::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::media::MediaIdentity;

/// Above this share of its core the harness has no room left, and may be what limits a run.
const HARNESS_BUSY_PERCENT: f64 = 95.0;
/// Frames leaving later than this at p99 (half a frame interval) mean the harness's clock slipped.
const HARNESS_LATE_US: u64 = 10_000;

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
    /// How late frames left against their clock (see `MediaResult::frame_lag_us`).
    pub frame_lag_us: Histogram<u64>,
    /// Datagrams the kernel dropped for full receive buffers while calls ran (machine-wide).
    pub receive_buffer_drops: Option<u64>,
    /// Datagrams the harness's own send buffers refused (counted in the loss too).
    pub send_refused: u64,
    /// What talking visitors measured (`--speech`).
    pub talk: Option<crate::media::TalkResult>,
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
    /// Frames lost: of the echoes, or (talking visitors) of the replies.
    pub fn loss(&self) -> f64 {
        if let Some(t) = &self.talk {
            return t.reply_lost as f64 / (t.reply_frames + t.reply_lost).max(1) as f64;
        }
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
    /// With `--restart-at`: every call's network change and ICE restart.
    pub restart: Option<RestartFigures>,
    pub text: TextFigures,
    pub server: Option<ServerFigures>,
    /// This harness's own CPU during the hold (all its threads), to show it was not the limit.
    pub harness_cpu_percent: Option<f64>,
    pub hold: Duration,
}

/// What every call's ICE restart measured (`--restart-at`).
pub struct RestartFigures {
    /// From the network change to the first echo after it.
    pub resumed_us: Histogram<u64>,
    pub failed: u64,
    /// The server's CPU from the hold's start to the change, and from 2 s after it to the end.
    pub cpu_before_percent: Option<f64>,
    pub cpu_after_percent: Option<f64>,
}

fn progress_bar(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} {bar:30} {pos}/{len} visitors up  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// When visitor `index` of a kind starts, ramping at `rate` per second (0: all at once).
fn start_of(epoch: Instant, rate: f64, index: usize) -> Instant {
    if rate > 0.0 {
        epoch + Duration::from_secs_f64(index as f64 / rate)
    } else {
        epoch
    }
}

/// Everything the voice side collected before the media thread finished.
struct VoiceCalls {
    calls: Vec<(String, String, String)>,
    failures: BTreeMap<String, usize>,
    all_connected_in: Option<Duration>,
}

impl Run {
    pub fn execute(plan: &Plan) -> Result<Run, String> {
        let identity = MediaIdentity::generate().map_err(|e| e.to_string())?;
        let epoch = Instant::now();
        let live = Arc::new(Live::default());
        let (tx, rx) = mpsc::channel();
        // On loopback, a few sockets carry every voice peer (see `sockets`).
        let shared: Vec<PeerSocket> =
            if plan.voice > 0 && matches!(plan.client_ip, IpAddr::V4(ip) if ip.is_loopback()) {
                (0..plan.sockets.min(plan.voice))
                    .map(|_| PeerSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0)), plan.send_batch))
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("cannot bind the harness's UDP sockets: {e}"))?
            } else {
                Vec::new()
            };
        let addressing =
            Addressing::for_client(plan.client_ip, shared.iter().map(|s| s.local_addr().port()).collect());
        let (restarts_tx, mut restarts) = tokio::sync::mpsc::unbounded_channel();
        let (media, waker) = MediaLoop::new(shared, plan, rx, live.clone(), epoch, restarts_tx)
            .map_err(|e| format!("cannot start the media loop: {e}"))?;
        let media_thread = std::thread::Builder::new()
            .name("loadtest-media".into())
            .spawn(move || media.run())
            .map_err(|e| e.to_string())?;
        let rss_before = plan.server_pid.and_then(probe::sample);
        let drops_before = probe::udp_receive_buffer_drops();
        let me = std::process::id();
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let bar = progress_bar(plan.voice + plan.text);
        let stop = Rc::new(Cell::new(false));
        let stop_now = Rc::new(tokio::sync::Notify::new());
        let text_live = Rc::new(TextLive::default());
        let text_up = Rc::new(Cell::new(0usize));
        let mut hold_samples = (None, None, None, None);
        let mut restart_samples = (None, None);
        let held_answers = Cell::new(0u64);
        let mut hold = Duration::ZERO;

        let (voice, texts) = runtime.block_on(async {
            // Text visitors run on their own from their start until the hold ends.
            let text_visitors = async {
                let visitors: FuturesUnordered<_> = (0..plan.text)
                    .map(|i| {
                        let (http, stop, stop_now, live, up) = (
                            http.clone(),
                            stop.clone(),
                            stop_now.clone(),
                            text_live.clone(),
                            text_up.clone(),
                        );
                        async move {
                            text::visitor(
                                http,
                                plan,
                                i,
                                start_of(epoch, plan.rate, i),
                                stop,
                                stop_now,
                                live,
                                up,
                            )
                            .await
                        }
                    })
                    .collect();
                visitors.collect::<Vec<_>>().await
            };
            let conductor = async {
                let mut failures: BTreeMap<String, usize> = BTreeMap::new();
                let mut calls = Vec::new();
                let show = |bar: &indicatif::ProgressBar| {
                    bar.set_position((live.connected.load(Ordering::Relaxed) + text_up.get()) as u64);
                    bar.set_message(format!(
                        "frames {} sent, {} echoed; messages {} asked, {} answered",
                        live.sent.load(Ordering::Relaxed),
                        live.echoed.load(Ordering::Relaxed),
                        text_live.asked.get(),
                        text_live.completed.get()
                    ));
                };
                // Voice ramp: sessions and offers at --rate.
                let mut pending: FuturesUnordered<_> = (0..plan.voice)
                    .map(|index| {
                        let (http, identity, addressing) = (http.clone(), identity.clone(), &addressing);
                        async move {
                            tokio::time::sleep_until(start_of(epoch, plan.rate, index).into()).await;
                            signaling::connect(&http, plan, &identity, addressing, index).await
                        }
                    })
                    .collect();
                while let Some(outcome) = pending.next().await {
                    match outcome {
                        Ok(s) => {
                            calls.push((s.location.clone(), s.token.clone(), s.session_id.clone()));
                            let _ = tx.send(Control::Add(Box::new(s)));
                            let _ = waker.wake();
                        }
                        Err(f) => {
                            *failures.entry(f.reason).or_default() += 1;
                            live.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    show(&bar);
                }
                // Every answered peer connects or fails; every text visitor has started.
                let answered = calls.len();
                let settle_deadline = Instant::now() + plan.connect_timeout + Duration::from_secs(2);
                while live.connected.load(Ordering::Relaxed) + live.failed.load(Ordering::Relaxed)
                    - failures.values().sum::<usize>()
                    < answered
                    && Instant::now() < settle_deadline
                {
                    show(&bar);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::time::sleep_until(start_of(epoch, plan.rate, plan.text).into()).await;
                let connected_now = live.connected.load(Ordering::Relaxed);
                let all_connected_in = (plan.voice > 0 && connected_now == plan.voice)
                    .then(|| Duration::from_micros(live.last_connected_us.load(Ordering::Relaxed)));

                // Hold.
                let began = Instant::now();
                let answered_before = text_live.completed.get();
                let samples_start = (plan.server_pid.and_then(probe::sample), probe::sample(me));
                // With --restart-at, every call's network changes once during the hold: the
                // media thread moves each peer and hands out its new credentials; they are
                // PATCHed here and the answers go back.
                let mut restarted: Option<Instant> = None;
                let mut taken = (None, None);
                let mut patches = FuturesUnordered::new();
                while began.elapsed() < plan.duration {
                    show(&bar);
                    if plan.restart_at.is_some_and(|at| restarted.is_none() && began.elapsed() >= at) {
                        taken.0 = plan.server_pid.and_then(probe::sample);
                        restarted = Some(Instant::now());
                        let _ = tx.send(Control::RestartAll);
                        let _ = waker.wake();
                    }
                    if taken.1.is_none() && restarted.is_some_and(|t| t.elapsed() >= Duration::from_secs(2)) {
                        taken.1 = plan.server_pid.and_then(probe::sample);
                    }
                    let left = plan.duration.saturating_sub(began.elapsed());
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50).min(left)) => {}
                        Some(r) = restarts.recv() => {
                            let http = http.clone();
                            patches.push(async move {
                                let answer =
                                    signaling::restart_ice(&http, &plan.origin, &r.location, &r.token, r.fragment).await;
                                (r.index, answer)
                            });
                        }
                        Some((index, answer)) = patches.next(), if !patches.is_empty() => {
                            let _ = tx.send(Control::Restarted { index, answer });
                            let _ = waker.wake();
                        }
                    }
                }
                restart_samples = taken;
                let samples_end = (plan.server_pid.and_then(probe::sample), probe::sample(me));
                let held = began.elapsed();
                held_answers.set(text_live.completed.get() - answered_before);
                stop.set(true);
                stop_now.notify_waiters();
                // Stop sending frames and let echoes in flight land.
                let _ = tx.send(Control::StopSending);
                let _ = waker.wake();
                tokio::time::sleep(Duration::from_millis(500)).await;
                (VoiceCalls { calls, failures, all_connected_in }, samples_start, samples_end, held)
            };
            let (texts, (voice, s0, s1, held)) = futures_util::join!(text_visitors, conductor);
            hold_samples = (s0.0, s1.0, s0.1, s1.1);
            hold = held;
            (voice, texts)
        });
        let VoiceCalls { calls, mut failures, all_connected_in } = voice;

        // Hang up every call, then end every session, as a backend would.
        runtime.block_on(async {
            let hangups: FuturesUnordered<_> = calls
                .iter()
                .map(|(location, token, _)| signaling::hang_up(&http, &plan.origin, location, token))
                .collect();
            let ends: FuturesUnordered<_> = calls
                .iter()
                .map(|(_, _, sid)| sid.as_str())
                .chain(texts.iter().filter_map(|t| t.session_id.as_deref()))
                .map(|sid| signaling::end_session(&http, plan, sid))
                .collect();
            for r in hangups.collect::<Vec<_>>().await.into_iter().chain(ends.collect::<Vec<_>>().await) {
                if let Err(e) = r {
                    *failures.entry(e).or_default() += 1;
                }
            }
        });
        let _ = tx.send(Control::Finish);
        let _ = waker.wake();
        let media: MediaResult = media_thread.join().map_err(|_| "the media thread panicked".to_string())?;
        let receive_buffer_drops =
            drops_before.zip(probe::udp_receive_buffer_drops()).map(|(a, b)| b.saturating_sub(a));
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
        let (server_start, server_end, me_start, me_end) = hold_samples;
        let server = match (rss_before, server_start, server_end) {
            (Some(b), Some(s), Some(e)) => Some(ServerFigures {
                cpu_percent: probe::cpu_percent(&s, &e),
                rss_before_bytes: b.rss_bytes,
                rss_hold_bytes: e.rss_bytes,
                sessions: media.connected + texts.iter().filter(|t| t.setup_us.is_some()).count(),
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
                frame_lag_us: media.frame_lag_us,
                receive_buffer_drops,
                send_refused: media.send_refused,
                talk: plan.talk.as_ref().map(|_| media.talk),
            },
            restart: plan.restart_at.map(|_| RestartFigures {
                resumed_us: media.restart_us,
                failed: media.restarts_failed,
                cpu_before_percent: server_start
                    .as_ref()
                    .zip(restart_samples.0.as_ref())
                    .map(|(a, b)| probe::cpu_percent(a, b)),
                cpu_after_percent: restart_samples
                    .1
                    .as_ref()
                    .zip(server_end.as_ref())
                    .map(|(a, b)| probe::cpu_percent(a, b)),
            }),
            text: TextFigures::merge(plan.text, &texts, held_answers.get()),
            server,
            harness_cpu_percent: me_start.zip(me_end).map(|(a, b)| probe::cpu_percent(&a, &b)),
            hold,
        })
    }

    pub fn all_ok(&self) -> bool {
        self.voice.connected == self.voice.attempted
            && self.voice.failures.is_empty()
            && self.text.ok == self.text.attempted
            && self.text.failures.is_empty()
            && self.restart.as_ref().is_none_or(|r| r.failed == 0)
    }

    pub fn table(&self) -> String {
        let v = &self.voice;
        let t = &self.text;
        let ms = |us: u64| us as f64 / 1000.0;
        let q = TextFigures::quantile_us;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "voxgate-loadtest: {} voice and {} text visitors at {} new/s each, held {:.1} s against {}{}",
            self.plan.voice,
            self.plan.text,
            if self.plan.rate > 0.0 { format!("{}", self.plan.rate) } else { "all-at-once".into() },
            self.hold.as_secs_f64(),
            self.plan.target,
            if self.plan.exact_frame_clock { " (exact frame clock)" } else { "" }
        );
        let _ = writeln!(
            out,
            "{:<6} {:>6} {:>7} | {:>22} | {:>32} | {:>8} {:>12} | {:>18} | {:>18}",
            "kind",
            "ok",
            "failed",
            "setup ms p50/p95/p99",
            "echo RTT ms p50/p95/p99/max",
            "loss",
            "jitter ms",
            "first token ms p50/p99",
            "answer ms p50/p99"
        );
        if self.plan.voice > 0 {
            let _ = writeln!(
                out,
                "{:<6} {:>6} {:>7} | {:>22} | {:>32} | {:>7.3}% {:>5.3}/{:<6.3} | {:>22} | {:>18}",
                "voice",
                v.connected,
                v.attempted - v.connected,
                format!(
                    "{:.1}/{:.1}/{:.1}",
                    ms(v.setup_us(50.0)),
                    ms(v.setup_us(95.0)),
                    ms(v.setup_us(99.0))
                ),
                if v.talk.is_some() {
                    "- (talking: see below)".to_string()
                } else {
                    format!(
                        "{:.3}/{:.3}/{:.3}/{:.3}",
                        ms(v.rtt_us(50.0)),
                        ms(v.rtt_us(95.0)),
                        ms(v.rtt_us(99.0)),
                        ms(v.rtt_us.max())
                    )
                },
                v.loss() * 100.0,
                v.jitter_mean_us / 1000.0,
                v.jitter_max_us / 1000.0,
                "-",
                "-",
            );
        }
        if self.plan.text > 0 {
            let _ = writeln!(
                out,
                "{:<6} {:>6} {:>7} | {:>22} | {:>32} | {:>8} {:>12} | {:>22} | {:>18}",
                "text",
                t.ok,
                t.attempted - t.ok,
                format!(
                    "{:.1}/{:.1}/{:.1}",
                    ms(q(&t.setup_us, 50.0)),
                    ms(q(&t.setup_us, 95.0)),
                    ms(q(&t.setup_us, 99.0))
                ),
                "-",
                "-",
                "-",
                format!("{:.2}/{:.2}", ms(q(&t.first_token_us, 50.0)), ms(q(&t.first_token_us, 99.0))),
                format!("{:.2}/{:.2}", ms(q(&t.completed_us, 50.0)), ms(q(&t.completed_us, 99.0))),
            );
        }
        if let Some(t) = &v.talk {
            let q = |h: &Histogram<u64>, p: f64| ms(TextFigures::quantile_us(h, p));
            let _ = writeln!(
                out,
                "talk: {} questions, {} unanswered | response ms p50/p95/p99 {:.0}/{:.0}/{:.0} (end of speech to first reply frame) | \
                 barge-in stop ms p50/p95 {} | reply frames {} received, {} lost | gaps > 60 ms in replies: {}{}",
                t.questions,
                t.unanswered,
                q(&t.response_us, 50.0),
                q(&t.response_us, 95.0),
                q(&t.response_us, 99.0),
                if t.barge_in_stop_us.is_empty() {
                    "-".to_string()
                } else {
                    format!("{:.0}/{:.0}", q(&t.barge_in_stop_us, 50.0), q(&t.barge_in_stop_us, 95.0))
                },
                t.reply_frames,
                t.reply_lost,
                t.gaps_us.len(),
                if t.gaps_us.is_empty() { String::new() } else { format!(" (max {:.0} ms)", ms(t.gaps_us.max())) },
            );
        }
        if self.plan.voice > 0 {
            let _ = write!(out, "voice frames: {} sent, {} echoed", v.sent, v.echoed);
            if v.send_refused > 0 {
                let _ = write!(out, "; the harness's send buffers refused {} datagrams", v.send_refused);
            }
            match v.receive_buffer_drops {
                Some(n) => {
                    let _ = writeln!(out, "; the kernel dropped {n} datagrams for full receive buffers");
                }
                None => {
                    let _ = writeln!(out);
                }
            }
            match v.all_connected_in {
                Some(d) => {
                    let _ = writeln!(
                        out,
                        "all {} voice visitors connected {:.0} ms after the first request",
                        v.attempted,
                        d.as_secs_f64() * 1000.0
                    );
                }
                None => {
                    let _ = writeln!(out, "not every voice visitor connected");
                }
            }
        }
        if self.plan.text > 0 {
            let _ = writeln!(
                out,
                "text messages: {} asked, {} answered ({:.0}/s during the hold)",
                t.asked,
                t.completed,
                t.completed_in_hold as f64 / self.hold.as_secs_f64().max(0.001)
            );
        }
        for (reason, n) in &v.failures {
            let _ = writeln!(out, "voice failure: {n} x {reason}");
        }
        for (reason, n) in &t.failures {
            let _ = writeln!(out, "text failure: {n} x {reason}");
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
            let _ = write!(out, "harness: {h:.1}% of one core during the hold");
            if !v.frame_lag_us.is_empty() {
                let lag = |q: f64| ms(v.frame_lag_us.value_at_quantile(q / 100.0));
                let _ = write!(
                    out,
                    "; frames left {:.3}/{:.3}/{:.3} ms late (p50/p99/max)",
                    lag(50.0),
                    lag(99.0),
                    ms(v.frame_lag_us.max())
                );
            }
            let _ = writeln!(out);
            if self.harness_kept_up() == Some(false) {
                let _ = writeln!(
                    out,
                    "harness: WARNING: no room to spare (limits: {HARNESS_BUSY_PERCENT:.0}% of its core, frames \
                     left at most {} ms late at p99): its own load or the machine's stalls may have limited \
                     this run, not the server; try fewer peers per harness or a larger --send-batch",
                    HARNESS_LATE_US / 1000
                );
            }
        }
        if let Some(r) = &self.restart {
            let h = &r.resumed_us;
            let pct = |p: Option<f64>| p.map_or("-".to_string(), |p| format!("{p:.1} %"));
            let _ = writeln!(
                out,
                "ICE restarts: {} resumed, {} failed; network change to echo p50 {:.1} / p95 {:.1} / max {:.1} ms; \
                 server CPU {} before, {} after",
                h.len(),
                r.failed,
                ms(q(h, 50.0)),
                ms(q(h, 95.0)),
                ms(if h.is_empty() { 0 } else { h.max() }),
                pct(r.cpu_before_percent),
                pct(r.cpu_after_percent),
            );
        }
        out
    }

    /// Whether the harness had room to spare: below `HARNESS_BUSY_PERCENT` of its core, with
    /// 99 % of its frames leaving within `HARNESS_LATE_US` of their time. `None` when it did
    /// not measure itself.
    pub fn harness_kept_up(&self) -> Option<bool> {
        let cpu = self.harness_cpu_percent?;
        let lag_p99 = if self.voice.frame_lag_us.is_empty() {
            0
        } else {
            self.voice.frame_lag_us.value_at_quantile(0.99)
        };
        Some(cpu < HARNESS_BUSY_PERCENT && lag_p99 <= HARNESS_LATE_US)
    }

    pub fn json(&self) -> serde_json::Value {
        let v = &self.voice;
        let t = &self.text;
        let ms = |us: u64| us as f64 / 1000.0;
        let q = TextFigures::quantile_us;
        let quantiles = |h: &Histogram<u64>| {
            json!({"p50": ms(q(h, 50.0)), "p95": ms(q(h, 95.0)), "p99": ms(q(h, 99.0)),
                   "max": ms(if h.is_empty() { 0 } else { h.max() }), "samples": h.len()})
        };
        json!({
            "target": self.plan.target,
            "rate": self.plan.rate,
            "hold_seconds": self.hold.as_secs_f64(),
            "voice": {
                "attempted": v.attempted,
                "ok": v.connected,
                "failed": v.attempted - v.connected,
                "failures": v.failures,
                "setup_ms": quantiles(&v.setup_us),
                "rtt_ms": quantiles(&v.rtt_us),
                "frames_sent": v.sent,
                "frames_echoed": v.echoed,
                "receive_buffer_drops": v.receive_buffer_drops,
                "send_refused": v.send_refused,
                "send_batch": self.plan.send_batch,
                "loss_percent": v.loss() * 100.0,
                "jitter_ms": {"mean": v.jitter_mean_us / 1000.0, "max": v.jitter_max_us / 1000.0},
                "all_connected_ms": v.all_connected_in.map(|d| d.as_secs_f64() * 1000.0),
                "frame_lag_ms": quantiles(&v.frame_lag_us),
                "exact_frame_clock": self.plan.exact_frame_clock,
                "talk": v.talk.as_ref().map(|t| json!({
                    "questions": t.questions,
                    "unanswered": t.unanswered,
                    "response_ms": quantiles(&t.response_us),
                    "barge_in_stop_ms": quantiles(&t.barge_in_stop_us),
                    "reply_frames": t.reply_frames,
                    "reply_frames_lost": t.reply_lost,
                    "reply_gaps": quantiles(&t.gaps_us),
                    "barge_in_ms": self.plan.talk.as_ref().and_then(|p| p.barge_in).map(|d| d.as_millis() as u64),
                })),
            },
            "restart": self.restart.as_ref().map(|r| json!({
                "resumed": r.resumed_us.len(),
                "failed": r.failed,
                "network_change_to_echo_ms": quantiles(&r.resumed_us),
                "server_cpu_percent_before": r.cpu_before_percent,
                "server_cpu_percent_after": r.cpu_after_percent,
            })),
            "text": {
                "attempted": t.attempted,
                "ok": t.ok,
                "failed": t.attempted - t.ok,
                "failures": t.failures,
                "setup_ms": quantiles(&t.setup_us),
                "first_token_ms": quantiles(&t.first_token_us),
                "completed_ms": quantiles(&t.completed_us),
                "messages_asked": t.asked,
                "messages_completed": t.completed,
                "messages_per_second_in_hold": t.completed_in_hold as f64 / self.hold.as_secs_f64().max(0.001),
            },
            "harness_cpu_percent_of_one_core": self.harness_cpu_percent,
            "harness_kept_up": self.harness_kept_up(),
            "server": self.server.as_ref().map(|s| json!({
                "cpu_percent_of_one_core": s.cpu_percent,
                "rss_before_bytes": s.rss_before_bytes,
                "rss_hold_bytes": s.rss_hold_bytes,
                "bytes_per_session": s.bytes_per_session(),
            })),
        })
    }
}
