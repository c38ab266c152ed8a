//! `voxgate-stalls`: how much time this machine's CPUs lose to stalls nobody in it can see. On a
//! virtual machine the host may take a vCPU away for milliseconds; the guest counts that time as
//! the running thread's own, so neither `perf` nor `/proc` shows it, yet every packet in flight
//! waits it out. A load test's tail latency is only as good as the machine's stalls allow, so
//! the benchmark script prints these figures beside each run.
//!
//! One thread per CPU spins on the monotonic clock, pinned, and records every gap between two
//! readings (a stall) longer than 20 µs. Run it with all CPUs busy to see what a loaded machine
//! loses.

use clap::Parser;
use std::time::{Duration, Instant};

/// Measures stalls on each CPU while all of them spin.
#[derive(Parser)]
#[command(name = "voxgate-stalls", version)]
struct Args {
    /// How long to measure.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// CPUs to measure (default: every CPU this process may run on).
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
}

/// Stall thresholds reported, in microseconds.
const THRESHOLDS_US: [u64; 4] = [100, 1_000, 2_000, 5_000];

struct Stalls {
    cpu: usize,
    /// Per threshold: how many stalls exceeded it, and the time they took.
    over: [(u64, Duration); THRESHOLDS_US.len()],
    longest: Duration,
    measured: Duration,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let cpus = if args.cpus.is_empty() { allowed_cpus() } else { args.cpus };
    if cpus.is_empty() {
        eprintln!("voxgate-stalls: no CPU to measure");
        return std::process::ExitCode::FAILURE;
    }
    let threads: Vec<_> = cpus
        .into_iter()
        .map(|cpu| {
            let duration = args.duration;
            std::thread::spawn(move || measure(cpu, duration))
        })
        .collect();
    for t in threads {
        let Ok(s) = t.join() else { continue };
        let share = |d: Duration| 100.0 * d.as_secs_f64() / s.measured.as_secs_f64().max(1e-9);
        let parts: Vec<String> = THRESHOLDS_US
            .iter()
            .zip(s.over)
            .map(|(us, (n, d))| format!("> {} ms: {n} ({:.2} %)", *us as f64 / 1000.0, share(d)))
            .collect();
        println!(
            "cpu {}: stalls {}; longest {:.2} ms",
            s.cpu,
            parts.join(", "),
            s.longest.as_secs_f64() * 1000.0
        );
    }
    std::process::ExitCode::SUCCESS
}

fn measure(cpu: usize, duration: Duration) -> Stalls {
    pin(cpu);
    let mut stalls = Stalls {
        cpu,
        over: [(0, Duration::ZERO); THRESHOLDS_US.len()],
        longest: Duration::ZERO,
        measured: duration,
    };
    let start = Instant::now();
    let mut last = start;
    while last.duration_since(start) < duration {
        let now = Instant::now();
        let gap = now.duration_since(last);
        if gap > Duration::from_micros(20) {
            stalls.longest = stalls.longest.max(gap);
            for (threshold, over) in THRESHOLDS_US.iter().zip(stalls.over.iter_mut()) {
                if gap > Duration::from_micros(*threshold) {
                    over.0 += 1;
                    over.1 += gap;
                }
            }
        }
        last = now;
    }
    stalls
}

fn allowed_cpus() -> Vec<usize> {
    nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map(|set| (0..nix::sched::CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false)).collect())
        .unwrap_or_default()
}

fn pin(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longer_stalls_are_counted_under_every_shorter_threshold() {
        let cpu = allowed_cpus().first().copied().unwrap_or(0);
        let s = measure(cpu, Duration::from_millis(50));
        assert_eq!(s.cpu, cpu);
        for pair in s.over.windows(2) {
            assert!(pair[0].0 >= pair[1].0 && pair[0].1 >= pair[1].1);
        }
        // No stall outlasts the measurement by more than one reading of the clock.
        assert!(s.over[0].1 <= s.measured + s.longest);
    }
}
