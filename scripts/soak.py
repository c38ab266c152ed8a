#!/usr/bin/env python3
"""The soak's driver (scripts/soak starts the server and calls this).

For MINUTES it keeps a mixed load on one voxgate process with the bundled harness and the
control plane, and samples the server's RSS and open descriptors every few seconds:
- voice visitors joining and leaving: a new voxgate-loadtest run starts every WAVE seconds and
  holds its calls for two waves, so runs overlap, calls ramp in and hang up every wave, and
  each run also keeps text visitors asking;
- a backend loop: config saves (a widget's appearance, alternating), sessions created,
  their tokens refreshed and read back, and ended.
Waves keep starting until MINUTES, so the load is steady to the end of the sampled time; the
runs still live then finish (their frames count) before the verdict. It writes
target/soak/samples.csv, summary.json and soak.png, prints the verdict
(RSS growth after warm-up, descriptor growth, frame loss, errors) and exits 1 if it fails.
"""

import csv
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

URL = os.environ["SOAK_URL"]
KEY = os.environ["SOAK_KEY"]
WIDGET = os.environ["SOAK_WIDGET"]
PID = int(os.environ["SOAK_PID"])
HARNESS = os.environ.get("SOAK_HARNESS", "./target/release/voxgate-loadtest")
MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
WARMUP = float(os.environ.get("SOAK_WARMUP_MINUTES", "5"))
VOICE = int(os.environ.get("SOAK_VOICE", "100"))
TEXT = int(os.environ.get("SOAK_TEXT", "10"))
WAVE = float(os.environ.get("SOAK_WAVE_SECONDS", "60"))
SAMPLE_EVERY = float(os.environ.get("SOAK_SAMPLE_SECONDS", "5"))
OUT = os.environ.get("SOAK_OUT", "target/soak")

stop = threading.Event()
errors = []
counts = {"config_saves": 0, "sessions": 0, "refreshes": 0, "ends": 0}


def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {KEY}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read()
        return json.loads(text) if text else None


def rss_and_fds():
    with open(f"/proc/{PID}/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{PID}/fd"))
    return rss, fds


def live_calls():
    try:
        with urllib.request.urlopen(URL + "/metrics", timeout=10) as r:
            page = r.read().decode()
    except OSError:
        return None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in page.splitlines()
        if line.startswith("voxgate_media_worker_active_peers{")
    )


def sampler(samples, started):
    while not stop.is_set():
        try:
            rss, fds = rss_and_fds()
        except OSError as e:
            errors.append(f"the server is gone: {e}")
            stop.set()
            return
        samples.append({"t": time.monotonic() - started, "rss": rss, "fds": fds, "calls": live_calls()})
        stop.wait(SAMPLE_EVERY)


def backend():
    """Config saves and the session lifecycle a customer backend drives, every second."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            api("PATCH", f"/v1/widgets/{WIDGET}", {"appearance": {"title": f"Soak {n % 2}"}})
            counts["config_saves"] += 1
            s = api("POST", f"/v1/widgets/{WIDGET}/sessions", {"mode": "text"})
            counts["sessions"] += 1
            fresh = api("POST", f"/v1/sessions/{s['session_id']}/refresh", {})
            if not fresh.get("session_token") or fresh["session_token"] == s["session_token"]:
                errors.append("refresh did not give a new token")
            counts["refreshes"] += 1
            api("GET", f"/v1/sessions/{s['session_id']}")
            api("DELETE", f"/v1/sessions/{s['session_id']}")
            counts["ends"] += 1
        except (urllib.error.URLError, OSError, KeyError, ValueError) as e:
            errors.append(f"backend loop: {e}")
        stop.wait(1.0)


def wave(index, runs):
    path = os.path.join(OUT, f"run-{index:03d}.json")
    hold = max(WAVE * 2 - VOICE / 10.0, 10.0)
    cmd = [
        HARNESS, "--target", URL, "--api-key", KEY, "--widget", WIDGET,
        "--voice", str(VOICE), "--text", str(TEXT), "--rate", "10", "--duration", f"{hold:.0f}s",
        "--origin", "http://localhost", "--json", path,
    ]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with open(path) as f:
            runs.append(json.load(f))
    except (OSError, ValueError) as e:
        errors.append(f"run {index} left no result (exit {done.returncode}): {e} {done.stderr[-500:]}")
        return
    if done.returncode != 0:
        errors.append(f"run {index} exited {done.returncode}: {done.stderr[-500:]}")


def window(samples, start_min, end_min):
    return [s for s in samples if start_min * 60 <= s["t"] < end_min * 60]


def plot(samples, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] / 60 for s in samples]
    fig, (a, b, c) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    a.plot(t, [s["rss"] / 2**20 for s in samples])
    a.set_ylabel("RSS (MiB)")
    b.plot(t, [s["fds"] for s in samples], color="tab:orange")
    b.set_ylabel("open descriptors")
    c.plot(t, [s["calls"] or 0 for s in samples], color="tab:green")
    c.set_ylabel("live calls")
    c.set_xlabel("minutes")
    for ax in (a, b, c):
        ax.axvline(WARMUP, color="grey", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    fig.suptitle(f"voxgate soak: {MINUTES:g} min, {VOICE} voice visitors per wave every {WAVE:g} s")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    os.makedirs(OUT, exist_ok=True)
    samples, runs = [], []
    started = time.monotonic()
    threads = [threading.Thread(target=sampler, args=(samples, started)), threading.Thread(target=backend)]
    for th in threads:
        th.start()
    waves = []
    index = 0
    end = started + MINUTES * 60
    while time.monotonic() < end and not stop.is_set():
        w = threading.Thread(target=wave, args=(index, runs))
        w.start()
        waves.append(w)
        index += 1
        stop.wait(min(WAVE, max(0.0, end - time.monotonic())))
    # Sampling (and the backend loop) cover MINUTES; the runs still live finish after.
    stop.set()
    for th in threads:
        th.join()
    for w in waves:
        w.join()

    with open(os.path.join(OUT, "samples.csv"), "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=["t", "rss", "fds", "calls"])
        out.writeheader()
        out.writerows(samples)
    after_warmup = window(samples, WARMUP, WARMUP + 5)
    last = window(samples, MINUTES - 5, MINUTES + 1)
    rss_early = statistics.median(s["rss"] for s in after_warmup) if after_warmup else 0
    rss_last = statistics.median(s["rss"] for s in last) if last else 0
    growth = (rss_last - rss_early) / rss_early * 100 if rss_early else float("nan")
    fds_early = max((s["fds"] for s in after_warmup), default=0)
    fds_last = max((s["fds"] for s in last), default=0)
    sent = sum(r["voice"]["frames_sent"] for r in runs)
    echoed = sum(r["voice"]["frames_echoed"] for r in runs)
    calls = sum(r["voice"]["ok"] for r in runs)
    attempted = sum(r["voice"]["attempted"] for r in runs)
    messages = sum(r["text"]["messages_completed"] for r in runs)
    rtt_p99 = max((r["voice"]["rtt_ms"]["p99"] for r in runs), default=0)
    summary = {
        "minutes": MINUTES,
        "warmup_minutes": WARMUP,
        "voice_per_wave": VOICE,
        "text_per_wave": TEXT,
        "wave_seconds": WAVE,
        "runs": len(runs),
        "calls_connected": calls,
        "calls_attempted": attempted,
        "frames_sent": sent,
        "frames_echoed": echoed,
        "frames_lost": sent - echoed,
        "worst_run_rtt_p99_ms": rtt_p99,
        "text_messages_answered": messages,
        "backend": counts,
        "rss_after_warmup_mib": rss_early / 2**20,
        "rss_last_5_min_mib": rss_last / 2**20,
        "rss_growth_percent": growth,
        "fds_max_after_warmup": fds_early,
        "fds_max_last_5_min": fds_last,
        "peak_live_calls": max((s["calls"] or 0 for s in samples), default=0),
        "errors": errors,
    }
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    try:
        plot(samples, os.path.join(OUT, "soak.png"))
    except ImportError:
        print("matplotlib is missing: no plot (scripts/soak installs it)", file=sys.stderr)
    print(json.dumps(summary, indent=2))
    failed = []
    if not growth < 5:
        failed.append(f"RSS grew {growth:.1f} % after warm-up (limit 5 %)")
    if fds_last > fds_early:
        failed.append(f"descriptors grew: {fds_early} -> {fds_last}")
    if sent - echoed != 0 or sent == 0:
        failed.append(f"{sent - echoed} of {sent} frames lost")
    if attempted != calls or not runs:
        failed.append(f"{attempted - calls} of {attempted} calls failed")
    if errors:
        failed.append(f"{len(errors)} errors: {errors[:3]}")
    for f in failed:
        print("SOAK FAILED:", f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
