//! The semantic end-of-turn model: Smart Turn v3.2 (BSD-2, Daily; an int8 ONNX Whisper-tiny
//! encoder with a classifier head), judging from the last 8 s of a visitor's turn whether they
//! have finished. It runs in this process through ONNX Runtime (the `ort` crate, loading the
//! `libonnxruntime.so` of PyPI's onnxruntime wheel at start, since no Debian package has it and
//! nothing may be downloaded at build time), on one thread of its own: an inference takes about
//! 50 ms of one core, which must never be a media worker's. Requests queue there with a
//! deadline; one that can no longer be answered by it (it waited, and an inference lately takes
//! this long) is answered `Late` without running, so a busy model costs nothing but its
//! answer, and the voice activity detector decides instead.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use voxgate_engine::talk::log_mel::{LogMel, FRAMES, MEL_BANDS, WINDOW_SAMPLES};
use voxgate_engine::talk::sentence_end::SentenceEnds;

/// The model's file in a `--turn-model` directory.
pub const MODEL_FILE: &str = "smart-turn-v3.2-cpu.onnx";
/// ONNX Runtime's library in the same directory.
pub const RUNTIME_FILE: &str = "libonnxruntime.so";
/// Beside them: the probability of a sentence ending after each word (`need_turn_model`).
pub const SENTENCE_ENDS_FILE: &str = "sentence-ends.tsv";

/// Requests waiting for the model: a few turns' worth; more are refused at once (`Busy`).
const QUEUE: usize = 32;

/// Why the model could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TurnModelError {
    #[error("the end-of-turn model is missing: {0} (scripts/test or `source scripts/system-packages.sh; need_turn_model` installs it)")]
    Missing(PathBuf),
    #[error("ONNX Runtime could not be loaded from {path}: {reason}")]
    Runtime { path: PathBuf, reason: String },
    #[error("the end-of-turn model could not be loaded: {0}")]
    Model(String),
}

/// The model's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Judged {
    /// The probability that the visitor has finished, and how long the inference took.
    Finished {
        probability: f32,
        took: Duration,
    },
    /// It could not be answered by its deadline: not run.
    Late,
    /// Too many requests waiting: not queued.
    Busy,
    Failed(String),
}

type Reply = Box<dyn FnOnce(Judged) + Send>;

struct Request {
    /// The turn so far at 16 kHz, shared with the call: converted (its last 8 s) on the
    /// model's thread, not the media worker's.
    audio: Arc<[i16]>,
    deadline: Instant,
    reply: Reply,
}

/// The model, loaded, and the thread that runs it.
pub struct TurnModel {
    requests: SyncSender<Request>,
}

/// ONNX Runtime is one library per process: loaded once, by the first model.
static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn runtime(path: &Path) -> Result<&'static ort::environment::Environment, TurnModelError> {
    let env = RUNTIME.get_or_init(|| {
        ort::init_from(path)
            .map_err(|e| e.to_string())?
            .with_name("voxgate")
            .build()
            .map_err(|e| e.to_string())
    });
    env.as_ref()
        .map_err(|reason| TurnModelError::Runtime { path: path.to_path_buf(), reason: reason.clone() })
}

/// One session of the model on one thread (ONNX Runtime's own threads stay at one).
fn session(dir: &Path) -> Result<ort::session::Session, TurnModelError> {
    let (model, lib) = (dir.join(MODEL_FILE), dir.join(RUNTIME_FILE));
    for file in [&model, &lib] {
        if !file.is_file() {
            return Err(TurnModelError::Missing(file.clone()));
        }
    }
    let env = runtime(&lib)?;
    let failed = |e: ort::Error| TurnModelError::Model(e.to_string());
    ort::session::Session::builder(env)
        .map_err(failed)?
        .with_intra_threads(1)
        .map_err(|e| TurnModelError::Model(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| TurnModelError::Model(e.to_string()))?
        .commit_from_file(&model)
        .map_err(failed)
}

/// Runs one inference: features, then the model's probability that the turn is finished.
fn infer(session: &mut ort::session::Session, features: &LogMel, audio: &[f32]) -> Result<f32, String> {
    let input = features.features(audio);
    let tensor = ort::value::Tensor::from_array(([1usize, MEL_BANDS, FRAMES], input.into_boxed_slice()))
        .map_err(|e| e.to_string())?;
    let outputs = session.run(ort::inputs!["input_features" => tensor]).map_err(|e| e.to_string())?;
    let (_, values) = outputs[0].try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
    values
        .first()
        .copied()
        .filter(|p| p.is_finite())
        .ok_or_else(|| "the model gave no probability".to_string())
}

/// The words half of semantic end of turn, from `dir/sentence-ends.tsv` (`need_turn_model`
/// writes it); `None` when the directory has none (the audio model decides alone).
pub fn sentence_ends(dir: &Path) -> Result<Option<Arc<SentenceEnds>>, TurnModelError> {
    let path = dir.join(SENTENCE_ENDS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(table) => SentenceEnds::parse(&table)
            .map(|ends| Some(Arc::new(ends)))
            .map_err(|e| TurnModelError::Model(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), "no sentence-end table: semantic turn detection hears the voice only");
            Ok(None)
        }
        Err(e) => Err(TurnModelError::Model(format!("{}: {e}", path.display()))),
    }
}

/// How long an inference takes here, lately (its wall time, which a busy machine stretches):
/// an exponentially weighted mean, starting at 50 ms.
struct Pace {
    mean: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Pace { mean: Duration::from_millis(50) }
    }
}

impl Pace {
    fn expected(&self) -> Duration {
        self.mean
    }

    fn took(&mut self, took: Duration) {
        self.mean = (self.mean * 7 + took) / 8;
    }
}

/// Makes this thread the last to get a core (nice 10): the media workers, which pace audio
/// every 20 ms, always come first, and a model that cannot keep up answers `Late` (the
/// silence rule decides) instead of taking their CPU.
fn lower_priority() {
    // SAFETY: gettid has no preconditions; setpriority only reads its arguments.
    let done = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10)
    };
    if done != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "the end-of-turn model's thread keeps its priority");
    }
}

impl TurnModel {
    /// Loads the model from `dir` (`smart-turn-v3.2-cpu.onnx` and `libonnxruntime.so`) and
    /// starts its thread.
    pub fn load(dir: &Path) -> Result<Arc<TurnModel>, TurnModelError> {
        let mut session = session(dir)?;
        let (requests, queue): (SyncSender<Request>, Receiver<Request>) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("voxgate-turns".into())
            .spawn(move || {
                lower_priority();
                let features = LogMel::new();
                let mut pace = Pace::default();
                // Ends when the model is dropped.
                while let Ok(request) = queue.recv() {
                    let started = Instant::now();
                    // An answer after the deadline is of no use: a request that cannot be
                    // answered in time is not run (under load, the silence rule decides).
                    let judged = if started + pace.expected() > request.deadline {
                        Judged::Late
                    } else {
                        let audio = &request.audio[request.audio.len().saturating_sub(WINDOW_SAMPLES)..];
                        let samples: Vec<f32> = audio.iter().map(|s| f32::from(*s) / 32768.0).collect();
                        let judged = match infer(&mut session, &features, &samples) {
                            Ok(probability) => Judged::Finished { probability, took: started.elapsed() },
                            Err(e) => Judged::Failed(e),
                        };
                        pace.took(started.elapsed());
                        judged
                    };
                    (request.reply)(judged);
                }
            })
            .map_err(|e| TurnModelError::Model(format!("its thread did not start: {e}")))?;
        Ok(Arc::new(TurnModel { requests }))
    }

    /// Asks whether the visitor has finished, from `audio` (the turn so far, 16 kHz); `reply`
    /// gets the answer on the model's thread (`Late` if it cannot be answered by `deadline`; `Busy` at once,
    /// on this thread, when the queue is full).
    pub fn judge(&self, audio: Arc<[i16]>, deadline: Instant, reply: impl FnOnce(Judged) + Send + 'static) {
        let request = Request { audio, deadline, reply: Box::new(reply) };
        match self.requests.try_send(request) {
            Ok(()) => {}
            Err(TrySendError::Full(r)) => (r.reply)(Judged::Busy),
            Err(TrySendError::Disconnected(r)) => {
                (r.reply)(Judged::Failed("the model's thread stopped".into()))
            }
        }
    }

    /// `judge`, waiting for the answer (benchmarks and tests).
    pub fn judge_now(&self, audio: Arc<[i16]>) -> Judged {
        let (tx, rx) = std::sync::mpsc::channel();
        self.judge(audio, Instant::now() + Duration::from_secs(60), move |j| {
            let _ = tx.send(j);
        });
        rx.recv().unwrap_or_else(|_| Judged::Failed("no answer".into()))
    }
}
