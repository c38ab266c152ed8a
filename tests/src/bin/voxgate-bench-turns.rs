//! The end-of-turn benchmark (scripts/bench-turns), in the style of LiveKit's eot-bench: how
//! often a policy cuts in while the visitor pauses mid-sentence (a false cut-in), and how long
//! it waits after a visitor who has finished (latency).
//!
//! The set (bench/turn-holds.json) is spoken by espeak-ng in two voices: each sentence whole
//! and followed by silence (a complete turn), and with an SSML `<break>` between its two parts
//! (a hold), pauses cycling 300 to 1,500 ms; each clean and over continuous white noise. Every
//! turn is played, as the browser's Opus at 20 ms a packet on a simulated clock, through the
//! call's own talk machine (`engine::talk::Talk`: decoding, voice activity, the turn detector)
//! and, for `semantic`, the real end-of-turn model (Smart Turn v3.2 through ONNX Runtime, as
//! `--turn-model` loads it), whose answer arrives as late as its inference took. Each model
//! answer is computed once and replayed for every setting swept.
//!
//!   voxgate-bench-turns --turn-model target/turn-model [--set bench/turn-holds.json] [--snr-db 20]
//!                       [--holds ssml|splice] [--json PATH]

use clap::Parser;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_actors::talk::turn_model::{Judged, TurnModel};
use voxgate_engine::audio::OpusEncoder;
use voxgate_engine::talk::sentence_end::SentenceEnds;
use voxgate_engine::talk::{AgentEvent, SemanticTurn, Talk, TalkConfig, TalkEvent, TurnConfig, TurnDecision};
use voxgate_tests::speech::spoken_ssml;

#[derive(Parser)]
struct Args {
    /// The end-of-turn model's directory (`smart-turn-v3.2-cpu.onnx`, `libonnxruntime.so`).
    #[arg(long)]
    turn_model: std::path::PathBuf,
    #[arg(long, default_value = "bench/turn-holds.json")]
    set: String,
    /// The noise under the noisy copy, in dB below the speech.
    #[arg(long, default_value_t = 20.0)]
    snr_db: f64,
    /// Where to write every figure as JSON.
    #[arg(long)]
    json: Option<String>,
    /// How a hold's pause is made: `ssml` (espeak-ng's `<break>`, which ends the clause before
    /// it as a clause, with its falling tone) or `splice` (the sentence said whole, silence
    /// cut into it at the word boundary: the voice does not know it will pause).
    #[arg(long, default_value = "ssml", value_parser = ["ssml", "splice"])]
    holds: String,
    /// Where `semantic+words` gets the words said by each pause: `set` (the set's own, a
    /// perfect recogniser, `--words-ms` after the pause) or `builtin` (the builtin voice's
    /// recogniser, PocketSphinx, on the turn so far, listening for a shop agent's words
    /// (bench/spoken-questions.json) and common English; they come as late as it took).
    #[arg(long, default_value = "set", value_parser = ["set", "builtin"])]
    words: String,
    #[arg(long, default_value_t = 150)]
    words_ms: u64,
    /// The Python with pocketsphinx, for `--words builtin`.
    #[arg(long, env = "VOXGATE_TEST_SPEECH_PYTHON")]
    speech_python: Option<String>,
}

/// One spoken turn, as the browser would send it.
struct Turn {
    noisy: bool,
    /// What was said: the words before the hold (all of them in a complete turn), and the
    /// whole sentence.
    words: (String, String),
    /// The hold's pause; `None`: a complete turn.
    pause_ms: Option<u32>,
    /// Opus packets, one per 20 ms.
    packets: Vec<Vec<u8>>,
    /// When the visitor's speech really ended, from the start (the clean audio's last sound).
    speech_end: Duration,
}

const FRAME: Duration = Duration::from_millis(20);
/// Silence before the speech, and after it (longer than any policy waits).
const LEAD_FRAMES: usize = 15;
const TAIL_FRAMES: usize = 200;

/// The samples louder than this (about -50 dBFS) are the voice, not its silence.
const SOUND: i16 = 100;

fn build_set(set: &Value, snr_db: f64, splice: bool) -> Vec<Turn> {
    let voices: Vec<String> =
        set["voices"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
    let pauses: Vec<u32> =
        set["pauses_ms"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as u32).collect();
    let mut turns = Vec::new();
    let mut seed = 1;
    for (v, voice) in voices.iter().enumerate() {
        for (i, s) in set["sentences"].as_array().unwrap().iter().enumerate() {
            let (before, after) = (s["before"].as_str().unwrap(), s["after"].as_str().unwrap());
            // Each voice takes the pauses in a different order, so every sentence is held at two.
            let pause = pauses[(i + v * 2) % pauses.len()];
            let whole = spoken_ssml(&format!("<speak>{before} {after}</speak>"), voice);
            let held = if splice {
                let first = spoken_ssml(&format!("<speak>{before}</speak>"), voice);
                spliced(&whole, &first, pause)
            } else {
                spoken_ssml(&format!("<speak>{before} <break time=\"{pause}ms\"/> {after}</speak>"), voice)
            };
            for (speech, pause_ms) in [(whole.clone(), None), (held, Some(pause))] {
                for noisy in [false, true] {
                    seed += 1;
                    let said = format!("{before} {after}");
                    let first = if pause_ms.is_some() { before.to_string() } else { said.clone() };
                    turns.push(turn((first, said), &speech, pause_ms, noisy.then_some((snr_db, seed))));
                }
            }
        }
    }
    turns
}

/// `whole` with `pause_ms` of silence cut in where `first` (its first words, said alone)
/// ends: at the quietest 10 ms within 150 ms of that point, so the cut falls between words.
fn spliced(whole: &[Vec<i16>], first: &[Vec<i16>], pause_ms: u32) -> Vec<Vec<i16>> {
    let (whole, first) = (whole.concat(), first.concat());
    let sounding = |pcm: &[i16]| {
        let from = pcm.iter().position(|s| s.unsigned_abs() > SOUND as u16).unwrap_or(0);
        let to = pcm.iter().rposition(|s| s.unsigned_abs() > SOUND as u16).unwrap_or(0);
        (from, to)
    };
    let (whole_from, _) = sounding(&whole);
    let (first_from, first_to) = sounding(&first);
    let guess = whole_from + (first_to - first_from);
    let window = 480; // 10 ms
    let energy = |at: usize| {
        whole[at..(at + window).min(whole.len())].iter().map(|s| i64::from(*s).pow(2)).sum::<i64>()
    };
    let search = guess.saturating_sub(7_200)..(guess + 7_200).min(whole.len().saturating_sub(window));
    let cut = search.step_by(window / 4).min_by_key(|at| energy(*at)).unwrap_or(guess) + window / 2;
    let mut out = whole[..cut].to_vec();
    out.extend(std::iter::repeat_n(0, 48 * pause_ms as usize));
    out.extend_from_slice(&whole[cut..]);
    out.chunks(960)
        .map(|c| {
            let mut frame = c.to_vec();
            frame.resize(960, 0);
            frame
        })
        .collect()
}

fn turn(
    words: (String, String),
    speech: &[Vec<i16>],
    pause_ms: Option<u32>,
    noise: Option<(f64, u64)>,
) -> Turn {
    use rand::{Rng, SeedableRng};
    let mut pcm: Vec<Vec<i16>> = vec![vec![0; 960]; LEAD_FRAMES];
    pcm.extend(speech.iter().cloned());
    pcm.extend(std::iter::repeat_n(vec![0; 960], TAIL_FRAMES));
    let flat: Vec<i16> = pcm.concat();
    let last_sound = flat.iter().rposition(|s| s.unsigned_abs() > SOUND as u16).unwrap_or(0);
    let speech_end = Duration::from_micros(last_sound as u64 * 1_000_000 / 48_000);
    if let Some((snr_db, seed)) = noise {
        let voiced: Vec<f64> = flat.iter().filter(|s| s.unsigned_abs() > 64).map(|s| f64::from(*s)).collect();
        let rms = (voiced.iter().map(|s| s * s).sum::<f64>() / voiced.len().max(1) as f64).sqrt();
        let sigma = rms / 10f64.powf(snr_db / 20.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for frame in &mut pcm {
            for s in frame.iter_mut() {
                let (u, w): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
                let n = sigma * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * w).cos();
                *s = (f64::from(*s) + n).clamp(-32768.0, 32767.0) as i16;
            }
        }
    }
    let mut encoder = OpusEncoder::browser_like(48_000).expect("an Opus encoder");
    let packets = pcm.iter().map(|f| encoder.encode(f).expect("encode").to_vec()).collect();
    Turn { noisy: noise.is_some(), words, pause_ms, packets, speech_end }
}

/// The model's answers, by turn and the end of the speech judged: its probability of
/// "finished", and how long the inference took.
#[derive(Default)]
struct Answers {
    known: HashMap<(usize, Duration), (f32, Duration)>,
    took: Vec<Duration>,
}

impl Answers {
    fn get(&mut self, model: &TurnModel, turn: usize, ended: Duration, audio: Arc<[i16]>) -> (f32, Duration) {
        *self.known.entry((turn, ended)).or_insert_with(|| match model.judge_now(audio) {
            Judged::Finished { probability, took } => {
                self.took.push(took);
                (probability, took)
            }
            other => panic!("the model did not judge: {other:?}"),
        })
    }
}

/// How a policy did on one turn: when the turn ended from the start, and what decided.
struct Outcome {
    ended_at: Option<Duration>,
    decided: Option<TurnDecision>,
}

/// What answers the turn detector's questions: the audio model (its answers remembered), and
/// the words at each pause (the set's own, judged by the sentence-end table), which come after
/// a recogniser's delay.
struct Judges<'a> {
    model: &'a TurnModel,
    answers: &'a mut Answers,
    words: Option<(&'a SentenceEnds, &'a mut Words)>,
}

/// Where the words said by a pause come from.
enum Words {
    /// The set's own, after a fixed delay.
    Set(Duration),
    /// The builtin recogniser's open-vocabulary words, remembered by turn and pause.
    Builtin { recogniser: Recogniser, heard: HashMap<(usize, Duration), (String, Duration)> },
}

/// The builtin voice's recogniser (speech/recognizer.py), run as voxgate runs it.
struct Recogniser {
    _child: std::process::Child,
    url: String,
    corpus: String,
    http: reqwest::blocking::Client,
}

impl Recogniser {
    fn start(python: &str, corpus: String) -> Recogniser {
        use std::io::BufRead;
        let mut child = std::process::Command::new(python)
            .args(["speech/recognizer.py", "--listen", "127.0.0.1:0"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the recogniser starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut line)
            .expect("its first line");
        let url = line
            .trim()
            .strip_prefix("voxgate recognizer listening on ")
            .expect("where it listens")
            .to_string();
        Recogniser { _child: child, url, corpus, http: reqwest::blocking::Client::new() }
    }

    /// The open-vocabulary words of 16 kHz `audio`, and how long recognising took.
    fn hear(&self, audio: &[i16]) -> (String, Duration) {
        let mut wav = Vec::new();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        {
            let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut wav), spec).expect("a WAV");
            for s in audio {
                w.write_sample(*s).expect("a sample");
            }
            w.finalize().expect("the WAV");
        }
        let form = reqwest::blocking::multipart::Form::new()
            .part("file", reqwest::blocking::multipart::Part::bytes(wav).file_name("turn.wav"))
            .text("model", "builtin")
            .text("prompt", self.corpus.clone());
        let asked = Instant::now();
        let reply: Value = self
            .http
            .post(format!("{}/v1/audio/transcriptions", self.url))
            .multipart(form)
            .send()
            .and_then(|r| r.json())
            .expect("the recogniser answers");
        (reply["open_text"].as_str().unwrap_or_default().to_string(), asked.elapsed())
    }
}

/// An answer on its way to the talk machine.
enum Due {
    Model { id: u64, p: f32 },
    Words { ended: Instant, finished: Option<f32> },
}

/// What the visitor had said by `at` (from the turn's start): a perfect recogniser's words.
fn said_by(turn: &Turn, at: Duration) -> String {
    let (before, whole) = &turn.words;
    if at + Duration::from_millis(100) >= turn.speech_end {
        return whole.clone();
    }
    if turn.pause_ms.is_some() {
        return before.clone();
    }
    // A pause inside a sentence said whole (a comma): its words in proportion to the time.
    let start = FRAME * LEAD_FRAMES as u32;
    let share = at.saturating_sub(start).as_secs_f64() / turn.speech_end.saturating_sub(start).as_secs_f64();
    let words: Vec<&str> = whole.split_whitespace().collect();
    words[..((words.len() as f64 * share) as usize).min(words.len())].join(" ")
}

/// Plays `turn` through a call's talk machine with `config`.
fn play(turn_no: usize, turn: &Turn, config: TurnConfig, judges: &mut Judges) -> Outcome {
    let t0 = Instant::now();
    let talk_config = TalkConfig { turn: config, stream_rate: None, hears_overlaps: false };
    let mut talk = Talk::new(talk_config, t0).expect("a talk machine");
    talk.connected(t0);
    let mut due: Vec<(Instant, Due)> = Vec::new();
    for (i, packet) in turn.packets.iter().enumerate() {
        let at = t0 + FRAME * (i as u32 + 1);
        due.sort_by_key(|d| d.0);
        while due.first().is_some_and(|d| d.0 <= at) {
            let (when, answer) = due.remove(0);
            match answer {
                Due::Model { id, p } => talk.on_turn_judged(when, id, Some(p)),
                Due::Words { ended, finished } => {
                    talk.on_agent(when, 0, AgentEvent::WordsJudged { ended, finished })
                }
            }
            if let Some(outcome) = ended(&mut talk, t0, when, turn_no, turn, judges, &mut due) {
                return outcome;
            }
        }
        talk.on_packet(at, packet);
        if let Some(outcome) = ended(&mut talk, t0, at, turn_no, turn, judges, &mut due) {
            return outcome;
        }
    }
    Outcome { ended_at: None, decided: None }
}

/// Takes the machine's events: a judgement asked is answered (later, by its inference time or
/// the recogniser's delay); the turn's end is the outcome.
fn ended(
    talk: &mut Talk,
    t0: Instant,
    now: Instant,
    turn_no: usize,
    turn: &Turn,
    judges: &mut Judges,
    due: &mut Vec<(Instant, Due)>,
) -> Option<Outcome> {
    while let Some(event) = talk.poll_event() {
        match event {
            TalkEvent::JudgeTurn { id, audio, ended, .. } => {
                let (p, took) = judges.answers.get(judges.model, turn_no, ended - t0, audio);
                due.push((now + took, Due::Model { id, p }));
            }
            TalkEvent::VisitorPaused { ended, audio } => {
                if let Some((ends, words)) = judges.words.as_mut() {
                    let (said, delay) = match words {
                        Words::Set(delay) => (said_by(turn, ended - t0), *delay),
                        Words::Builtin { recogniser, heard } => heard
                            .entry((turn_no, ended - t0))
                            .or_insert_with(|| recogniser.hear(&audio))
                            .clone(),
                    };
                    due.push((now + delay, Due::Words { ended, finished: ends.finished(&said) }));
                }
            }
            TalkEvent::TurnEnded { decided, .. } => {
                return Some(Outcome { ended_at: Some(now - t0), decided: Some(decided) });
            }
            _ => {}
        }
    }
    None
}

/// A policy swept: its name, its settings as shown, and its turn config.
struct Policy {
    kind: &'static str,
    setting: String,
    config: TurnConfig,
}

fn policies(words: bool) -> Vec<Policy> {
    let mut all = Vec::new();
    for silence in (200..=2000).step_by(100) {
        let config = TurnConfig { silence_duration_ms: silence, ..TurnConfig::default() };
        all.push(Policy { kind: "server_vad", setting: format!("silence_duration_ms {silence}"), config });
    }
    for finished_at in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95] {
        for max_wait_ms in [1000, 1500, 2000, 3000] {
            let semantic = SemanticTurn { min_silence_ms: 200, max_wait_ms, finished_at, words: false };
            let config = TurnConfig { semantic: Some(semantic), ..TurnConfig::default() };
            let setting = format!("finished at p >= {finished_at}, max_wait_ms {max_wait_ms}");
            all.push(Policy { kind: "semantic", setting: setting.clone(), config });
            if words {
                // The words at each pause too: recognition starts when the model is asked.
                let semantic = SemanticTurn { words: true, ..semantic };
                let config =
                    TurnConfig { semantic: Some(semantic), pause_ms: Some(200), ..TurnConfig::default() };
                all.push(Policy { kind: "semantic+words", setting, config });
            }
        }
    }
    all
}

/// A policy's figures on one condition (clean or noisy).
#[derive(Debug, Clone)]
struct Score {
    /// False cut-ins over all holds, and by pause.
    cut_in: f64,
    cut_in_by_pause: Vec<(u32, f64)>,
    /// After complete turns: p50 and p95 of the wait from the speech's end, in ms.
    latency: [u32; 2],
    /// Complete turns that ended before their speech did, and turns never ended.
    early: usize,
    never: usize,
    decided: HashMap<&'static str, usize>,
}

fn percentile(sorted: &[u32], p: usize) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) * p).div_ceil(100)]
}

fn score(turns: &[(usize, &Turn)], outcomes: &[Outcome], pauses: &[u32]) -> Score {
    let mut holds_by_pause: HashMap<u32, (usize, usize)> = HashMap::new();
    let mut waits = Vec::new();
    let (mut early, mut never) = (0, 0);
    let mut decided = HashMap::new();
    for ((_, turn), outcome) in turns.iter().zip(outcomes) {
        let Some(at) = outcome.ended_at else {
            never += 1;
            continue;
        };
        *decided.entry(outcome.decided.map_or("none", TurnDecision::as_str)).or_default() += 1;
        let cut = at < turn.speech_end;
        match turn.pause_ms {
            Some(pause) => {
                let entry = holds_by_pause.entry(pause).or_default();
                entry.0 += 1;
                entry.1 += usize::from(cut);
            }
            None if cut => early += 1,
            None => waits.push((at - turn.speech_end).as_millis() as u32),
        }
    }
    waits.sort_unstable();
    let (holds, cuts) = holds_by_pause.values().fold((0, 0), |(h, c), (n, k)| (h + n, c + k));
    Score {
        cut_in: cuts as f64 / holds.max(1) as f64,
        cut_in_by_pause: pauses
            .iter()
            .map(|p| {
                let (n, k) = holds_by_pause.get(p).copied().unwrap_or_default();
                (*p, k as f64 / n.max(1) as f64)
            })
            .collect(),
        latency: [percentile(&waits, 50), percentile(&waits, 95)],
        early,
        never,
        decided,
    }
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn main() {
    let args = Args::parse();
    let set: Value =
        serde_json::from_str(&std::fs::read_to_string(&args.set).expect("the set")).expect("the set is JSON");
    let pauses: Vec<u32> =
        set["pauses_ms"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as u32).collect();
    let model = TurnModel::load(&args.turn_model).expect("the end-of-turn model loads");
    let started = Instant::now();
    let turns = build_set(&set, args.snr_db, args.holds == "splice");
    let holds = turns.iter().filter(|t| t.pause_ms.is_some()).count();
    eprintln!(
        "{} turns ({} holds, {} complete) in {} voices, clean and at {} dB SNR, made in {:.1} s",
        turns.len(),
        holds,
        turns.len() - holds,
        set["voices"].as_array().unwrap().len(),
        args.snr_db,
        started.elapsed().as_secs_f64()
    );
    let ends =
        voxgate_actors::talk::turn_model::sentence_ends(&args.turn_model).expect("the sentence-end table");
    let mut words = match args.words.as_str() {
        "builtin" => {
            let shop: Value = serde_json::from_str(
                &std::fs::read_to_string("bench/spoken-questions.json").expect("the shop"),
            )
            .expect("the shop is JSON");
            let corpus: Vec<String> = shop["knowledge"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| {
                    format!("{}. {}", k["title"].as_str().unwrap_or(""), k["text"].as_str().unwrap_or(""))
                })
                .collect();
            let python = args.speech_python.as_deref().expect("--speech-python (a Python with pocketsphinx)");
            Words::Builtin { recogniser: Recogniser::start(python, corpus.join(" ")), heard: HashMap::new() }
        }
        _ => Words::Set(Duration::from_millis(args.words_ms)),
    };
    let mut answers = Answers::default();
    let mut report = Vec::new();
    for (condition, noisy) in [("clean", false), ("noise", true)] {
        let these: Vec<(usize, &Turn)> = turns.iter().enumerate().filter(|(_, t)| t.noisy == noisy).collect();
        let mut scores = Vec::new();
        for policy in policies(ends.is_some()) {
            let words = ends.as_deref().map(|e| (e, &mut words));
            let mut judges = Judges { model: &model, answers: &mut answers, words };
            let outcomes: Vec<Outcome> =
                these.iter().map(|(n, t)| play(*n, t, policy.config, &mut judges)).collect();
            scores.push((policy, score(&these, &outcomes, &pauses)));
        }
        report.push((condition, scores));
    }
    print_report(&report, &pauses, &answers);
    if let Some(path) = args.json {
        let json = json!({
            "turns": turns.len(),
            "voices": set["voices"],
            "snr_db": args.snr_db,
            "conditions": report.iter().map(|(condition, scores)| json!({
                "condition": condition,
                "policies": scores.iter().map(|(p, s)| json!({
                    "type": p.kind, "setting": p.setting, "false_cut_in": s.cut_in,
                    "false_cut_in_by_pause": s.cut_in_by_pause.iter().map(|(p, r)| json!({"pause_ms": p, "rate": r})).collect::<Vec<_>>(),
                    "latency_ms_p50": s.latency[0], "latency_ms_p95": s.latency[1],
                    "complete_turns_cut_early": s.early, "never_ended": s.never,
                    "decided": s.decided,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).expect("write the JSON");
        eprintln!("wrote {path}");
    }
}

type Report<'a> = [(&'a str, Vec<(Policy, Score)>)];

fn print_report(report: &Report, pauses: &[u32], answers: &Answers) {
    let is_default_vad = |p: &Policy| p.kind == "server_vad" && p.config.silence_duration_ms == 500;
    let is_default_semantic = |p: &Policy| {
        p.kind.starts_with("semantic")
            && p.config
                .semantic
                .is_some_and(|s| SemanticTurn { words: false, ..s } == SemanticTurn::default())
    };
    for (condition, scores) in report {
        println!("\n== {condition}");
        let header: Vec<String> = pauses.iter().map(|p| format!("{p} ms")).collect();
        println!(
            "{:<58} {:>8} | false cut-ins at holds of {} | latency p50 / p95 | complete cut early",
            "policy",
            "all",
            header.join(" / ")
        );
        let line = |p: &Policy, s: &Score| {
            let by: Vec<String> = s.cut_in_by_pause.iter().map(|(_, r)| pct(*r)).collect();
            println!(
                "{:<58} {:>8} | {} | {} / {} ms | {}{}",
                format!("{} {}", p.kind, p.setting),
                pct(s.cut_in),
                by.join(" / "),
                s.latency[0],
                s.latency[1],
                s.early,
                if s.never > 0 { format!(" ({} never ended)", s.never) } else { String::new() }
            );
        };
        println!("-- as configured by default");
        for (p, s) in scores.iter().filter(|(p, _)| is_default_vad(p) || is_default_semantic(p)) {
            line(p, s);
        }
        println!("-- the fastest setting with at most 5 % false cut-ins");
        for kind in ["server_vad", "semantic", "semantic+words"] {
            let best = scores
                .iter()
                .filter(|(p, s)| p.kind == kind && s.cut_in <= 0.05)
                .min_by_key(|(_, s)| s.latency[0]);
            match best {
                Some((p, s)) => line(p, s),
                None => println!("{kind}: no setting stays under 5 %"),
            }
        }
        println!("-- every setting");
        for (p, s) in scores {
            line(p, s);
        }
    }
    let mut took: Vec<u32> = answers.took.iter().map(|d| d.as_micros() as u32).collect();
    took.sort_unstable();
    println!(
        "\nend-of-turn model: {} inferences, p50 {:.1} ms, p95 {:.1} ms",
        took.len(),
        f64::from(percentile(&took, 50)) / 1000.0,
        f64::from(percentile(&took, 95)) / 1000.0
    );
}
