//! `--slo 'rtt_p99=5ms,loss=0.1%,setup_p99=200ms,first_token_p99=50ms'`: thresholds that fail
//! the run. `setup_p99` is the voice setup (session, offer, ICE and DTLS).

use crate::report::Run;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Slo {
    RttP99(Duration),
    RttP50(Duration),
    SetupP99(Duration),
    /// Loss as a fraction (0.001 = 0.1 %).
    Loss(f64),
    FirstTokenP99(Duration),
    FirstTokenP50(Duration),
    /// Talking visitors: end of speech to the first reply frame.
    ResponseP50(Duration),
    ResponseP95(Duration),
    ResponseP99(Duration),
    BargeInStopP95(Duration),
    /// Reply frames lost, as a fraction.
    ReplyLoss(f64),
}

pub fn parse(text: &str) -> Result<Vec<Slo>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) =
            part.split_once('=').ok_or_else(|| format!("--slo: {part:?} is not name=value"))?;
        let dur = || {
            humantime::parse_duration(value.trim())
                .map_err(|e| format!("--slo {name}: {value:?} is not a duration ({e})"))
        };
        let slo = match name.trim() {
            "rtt_p99" => Slo::RttP99(dur()?),
            "rtt_p50" => Slo::RttP50(dur()?),
            "setup_p99" => Slo::SetupP99(dur()?),
            "first_token_p99" => Slo::FirstTokenP99(dur()?),
            "first_token_p50" => Slo::FirstTokenP50(dur()?),
            "response_p50" => Slo::ResponseP50(dur()?),
            "response_p95" => Slo::ResponseP95(dur()?),
            "response_p99" => Slo::ResponseP99(dur()?),
            "barge_in_stop_p95" => Slo::BargeInStopP95(dur()?),
            "loss" | "reply_loss" => {
                let v = value.trim();
                let pct = v
                    .strip_suffix('%')
                    .ok_or_else(|| format!("--slo {name}: {v:?} must be a percentage like 0.1%"))?;
                let n: f64 = pct.parse().map_err(|_| format!("--slo {name}: {v:?} is not a percentage"))?;
                if name.trim() == "loss" {
                    Slo::Loss(n / 100.0)
                } else {
                    Slo::ReplyLoss(n / 100.0)
                }
            }
            other => {
                return Err(format!(
                    "--slo: unknown threshold {other:?} (known: rtt_p50, rtt_p99, setup_p99, loss, first_token_p50, first_token_p99, response_p50, response_p95, response_p99, barge_in_stop_p95, reply_loss)"
                ))
            }
        };
        out.push(slo);
    }
    Ok(out)
}

/// Every broken threshold, described.
pub fn check(slos: &[Slo], run: &Run) -> Vec<String> {
    let mut broken = Vec::new();
    let v = &run.voice;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let first_token =
        |q: f64| crate::text::TextFigures::quantile_us(&run.text.first_token_us, q) as f64 / 1000.0;
    for slo in slos {
        match slo {
            Slo::RttP99(max) if v.rtt_us(99.0) as f64 / 1000.0 > ms(*max) => {
                broken.push(format!("rtt_p99 {:.3} ms > {:.3} ms", v.rtt_us(99.0) as f64 / 1000.0, ms(*max)))
            }
            Slo::RttP50(max) if v.rtt_us(50.0) as f64 / 1000.0 > ms(*max) => {
                broken.push(format!("rtt_p50 {:.3} ms > {:.3} ms", v.rtt_us(50.0) as f64 / 1000.0, ms(*max)))
            }
            Slo::SetupP99(max) if v.setup_us(99.0) as f64 / 1000.0 > ms(*max) => broken.push(format!(
                "setup_p99 {:.1} ms > {:.1} ms",
                v.setup_us(99.0) as f64 / 1000.0,
                ms(*max)
            )),
            Slo::Loss(max) if v.loss() > *max => {
                broken.push(format!("loss {:.4}% > {:.4}%", v.loss() * 100.0, max * 100.0))
            }
            Slo::FirstTokenP99(max) if first_token(99.0) > ms(*max) => {
                broken.push(format!("first_token_p99 {:.3} ms > {:.3} ms", first_token(99.0), ms(*max)))
            }
            Slo::FirstTokenP50(max) if first_token(50.0) > ms(*max) => {
                broken.push(format!("first_token_p50 {:.3} ms > {:.3} ms", first_token(50.0), ms(*max)))
            }
            Slo::ResponseP50(max)
            | Slo::ResponseP95(max)
            | Slo::ResponseP99(max)
            | Slo::BargeInStopP95(max) => {
                let (what, h, q) = match (slo, &v.talk) {
                    (_, None) => {
                        broken.push(format!("{slo:?}: no talking visitors (give --speech)"));
                        continue;
                    }
                    (Slo::ResponseP50(_), Some(t)) => ("response_p50", &t.response_us, 50.0),
                    (Slo::ResponseP95(_), Some(t)) => ("response_p95", &t.response_us, 95.0),
                    (Slo::ResponseP99(_), Some(t)) => ("response_p99", &t.response_us, 99.0),
                    (_, Some(t)) => ("barge_in_stop_p95", &t.barge_in_stop_us, 95.0),
                };
                if h.is_empty() {
                    broken.push(format!("{what}: nothing was measured"));
                    continue;
                }
                let got = crate::text::TextFigures::quantile_us(h, q) as f64 / 1000.0;
                if got > ms(*max) {
                    broken.push(format!("{what} {got:.1} ms > {:.1} ms", ms(*max)));
                }
            }
            Slo::ReplyLoss(max) => {
                let Some(t) = &v.talk else {
                    broken.push("reply_loss: no talking visitors (give --speech)".into());
                    continue;
                };
                let loss = t.reply_lost as f64 / (t.reply_frames + t.reply_lost).max(1) as f64;
                if loss > *max {
                    broken.push(format!("reply_loss {:.4}% > {:.4}%", loss * 100.0, max * 100.0));
                }
            }
            _ => {}
        }
    }
    broken
}
