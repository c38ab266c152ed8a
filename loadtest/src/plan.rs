//! A load test's plan: what the command line asked for, validated (`cli`), and what every part
//! of the run reads. Its own module, so the parts that read it and the command line that makes
//! it do not import each other in a circle.

use crate::speech::Speech;
use std::net::IpAddr;
use std::time::Duration;

/// A validated run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: String,
    pub api_key: String,
    pub widget: String,
    pub voice: usize,
    pub text: usize,
    pub text_think: Duration,
    pub rate: f64,
    pub duration: Duration,
    pub origin: String,
    pub client_ip: IpAddr,
    pub sockets: usize,
    pub frame_bytes: usize,
    pub connect_timeout: Duration,
    pub exact_frame_clock: bool,
    pub send_batch: usize,
    pub server_pid: Option<u32>,
    /// Every call's network changes this far into the hold: a new address and an ICE restart
    /// (`--restart-at`).
    pub restart_at: Option<Duration>,
    /// Talking visitors (`--speech`).
    pub talk: Option<TalkPlan>,
}

/// How talking visitors talk.
#[derive(Clone, Debug)]
pub struct TalkPlan {
    pub speech: Speech,
    pub barge_in: Option<Duration>,
    pub pause: Duration,
}
