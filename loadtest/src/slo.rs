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
            "loss" => {
                let v = value.trim();
                let pct = v
                    .strip_suffix('%')
                    .ok_or_else(|| format!("--slo loss: {v:?} must be a percentage like 0.1%"))?;
                let n: f64 = pct.parse().map_err(|_| format!("--slo loss: {v:?} is not a percentage"))?;
                Slo::Loss(n / 100.0)
            }
            other => {
                return Err(format!(
                    "--slo: unknown threshold {other:?} (known: rtt_p50, rtt_p99, setup_p99, loss, first_token_p50, first_token_p99)"
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
            _ => {}
        }
    }
    broken
}
