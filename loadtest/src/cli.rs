//! Command line of the harness.

use crate::plan::{Plan, TalkPlan};
use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "voxgate-loadtest",
    version,
    about = "Load test a voxgate deployment with simulated visitors."
)]
pub struct Args {
    /// Base URL of the voxgate server (its control plane).
    #[arg(long)]
    pub target: String,
    /// Workspace API key, as a customer backend holds it.
    #[arg(long, env = "VOXGATE_API_KEY")]
    pub api_key: String,
    /// The widget to create sessions on.
    #[arg(long)]
    pub widget: String,
    /// Concurrent voice visitors.
    #[arg(long, default_value_t = 0)]
    pub voice: usize,
    /// Concurrent text visitors (each asks, reads the streamed answer, thinks, asks again).
    #[arg(long, default_value_t = 0)]
    pub text: usize,
    /// A text visitor's pause between an answer and its next question.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub text_think: Duration,
    /// New sessions per second of each kind while ramping up (0: all at once, a connect storm).
    #[arg(long, default_value = "50")]
    pub rate: f64,
    /// How long to hold every visitor connected after the ramp.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The Origin visitors' browsers send (must be in the widget's allowed_origins).
    #[arg(long, default_value = "http://localhost")]
    pub origin: String,
    /// Local IP of the simulated visitors. On loopback each voice peer gets its own 127.1.x.y
    /// address on a few shared sockets; elsewhere each binds its own socket on this IP.
    #[arg(long, default_value = "127.0.0.1")]
    pub client_ip: IpAddr,
    /// UDP sockets the voice peers share on loopback.
    #[arg(long, default_value_t = 4)]
    pub sockets: usize,
    /// Bytes per 20 ms frame (80 is Opus at about 32 kbit/s).
    #[arg(long, default_value_t = 80)]
    pub frame_bytes: usize,
    /// Give up on a visitor not connected this long after its offer was answered.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Send each frame at its own deadline to the microsecond (a timer per deadline), as
    /// independent browsers would, instead of waking once a millisecond and sending every frame
    /// then due back to back. Costs the harness, and the server, more CPU (docs/BENCHMARKS.md).
    #[arg(long)]
    pub exact_frame_clock: bool,
    /// Datagrams per `sendmmsg`. Whatever is queued also goes after each round of due frames
    /// and each receive batch; RTT is timed from when a frame's batch left, so a larger batch
    /// costs the harness less CPU and shows only in its frame lag. 1 sends each datagram as made.
    #[arg(long, default_value_t = 8)]
    pub send_batch: usize,
    /// Also report this server process's CPU and memory (read from /proc; same machine only).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Voice visitors speak: this WAV (16-bit PCM, for example made with espeak-ng) is their
    /// question, sent as Opus after a pause, then silence, and asked again after each reply.
    /// They measure end of speech to the first reply frame, gaps in replies and lost reply
    /// frames, for a widget whose agent talks (pipeline, realtime).
    #[arg(long)]
    pub speech: Option<PathBuf>,
    /// With --speech: talk over each reply this long after it starts, and time how long the
    /// reply audio takes to stop (from the first frame of the visitor's barge-in speech).
    #[arg(long)]
    pub barge_in_ms: Option<u64>,
    /// With --speech: silence between a reply's end and the next question.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub talk_pause: Duration,
    /// Write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Thresholds that make the run fail, e.g.
    /// 'rtt_p99=5ms,loss=0.1%,setup_p99=200ms,first_token_p99=50ms'.
    #[arg(long)]
    pub slo: Option<String>,
    /// This far into the hold every call's network changes: each visitor moves to a new
    /// address and restarts ICE (PATCH with If-Match: *). Reports the time from the change to
    /// the first echo after it, and the server's CPU before and after (loopback only).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub restart_at: Option<Duration>,
}

impl Args {
    pub fn plan(&self) -> Result<Plan, String> {
        if self.voice == 0 && self.text == 0 {
            return Err("nothing to do: give --voice N and/or --text M".into());
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return Err("--rate must be a non-negative number of sessions per second".into());
        }
        if !(16..=1200).contains(&self.frame_bytes) {
            return Err("--frame-bytes must be between 16 and 1200".into());
        }
        if !(1..=64).contains(&self.send_batch) {
            return Err("--send-batch must be between 1 and 64 datagrams".into());
        }
        if let Some(at) = self.restart_at {
            if at >= self.duration {
                return Err("--restart-at must fall inside the hold (--duration)".into());
            }
            if !matches!(self.client_ip, IpAddr::V4(ip) if ip.is_loopback()) {
                return Err(
                    "--restart-at needs loopback addressing (the harness moves peers to new 127.x addresses)"
                        .into(),
                );
            }
        }
        if self.barge_in_ms.is_some() && self.speech.is_none() {
            return Err("--barge-in-ms needs --speech (only a speaking visitor can talk over a reply)".into());
        }
        let talk = match &self.speech {
            Some(path) => Some(TalkPlan {
                speech: crate::speech::Speech::load(path)?,
                barge_in: self.barge_in_ms.map(Duration::from_millis),
                pause: self.talk_pause,
            }),
            None => None,
        };
        Ok(Plan {
            target: self.target.trim_end_matches('/').to_string(),
            api_key: self.api_key.clone(),
            widget: self.widget.clone(),
            voice: self.voice,
            text: self.text,
            text_think: self.text_think,
            rate: self.rate,
            duration: self.duration,
            origin: self.origin.clone(),
            client_ip: self.client_ip,
            sockets: self.sockets.max(1),
            frame_bytes: self.frame_bytes,
            connect_timeout: self.connect_timeout,
            exact_frame_clock: self.exact_frame_clock,
            send_batch: self.send_batch,
            server_pid: self.server_pid,
            restart_at: self.restart_at,
            talk,
        })
    }
}
