//! The semantic end-of-turn model (Smart Turn v3.2 through ONNX Runtime, as scripts/test
//! installs them) tells a finished sentence from one cut off mid-way, in two voices; a request
//! whose deadline passed is not run; and a directory without the model is a clear error.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use voxgate_actors::talk::turn_model::{Judged, TurnModel, TurnModelError};
use voxgate_tests::speech::spoken;

fn model_dir() -> PathBuf {
    std::env::var_os("VOXGATE_TEST_TURN_MODEL")
        .expect("VOXGATE_TEST_TURN_MODEL names the end-of-turn model's directory (scripts/test installs it in target/turn-model)")
        .into()
}

/// `text` in `voice`, then 200 ms of silence (the pause the model is asked about), at 16 kHz.
fn turn(text: &str, voice: &str) -> std::sync::Arc<[i16]> {
    let at_48k: Vec<i16> = spoken(text, voice).concat();
    let mut resampler = voxgate_engine::audio::Resampler::new(48_000, 16_000).expect("a resampler");
    let mut at_16k = Vec::new();
    resampler.push(&at_48k, &mut at_16k).expect("resample");
    resampler.flush(&mut at_16k).expect("resample");
    at_16k.extend(std::iter::repeat_n(0, 3200));
    at_16k.into()
}

fn probability(model: &TurnModel, audio: std::sync::Arc<[i16]>) -> f32 {
    match model.judge_now(audio) {
        Judged::Finished { probability, .. } => probability,
        other => panic!("the model did not judge: {other:?}"),
    }
}

#[test]
fn a_finished_sentence_is_told_from_one_cut_off() {
    let model = TurnModel::load(&model_dir()).expect("the model loads");
    for voice in ["en-us", "en-gb"] {
        let finished =
            probability(&model, turn("I would like to rent an electric bike for Saturday.", voice));
        let cut = probability(&model, turn("I would like to rent an", voice));
        eprintln!("{voice}: finished {finished:.3}, cut off {cut:.3}");
        assert!(finished > 0.5, "{voice}: finished sentence judged {finished}");
        assert!(cut < finished - 0.2, "{voice}: cut-off sentence judged {cut}, finished {finished}");
    }
}

#[test]
fn a_late_request_is_not_run_and_a_missing_model_is_named() {
    let model = TurnModel::load(&model_dir()).expect("the model loads");
    let (tx, rx) = std::sync::mpsc::channel();
    model.judge(vec![0; 16_000].into(), Instant::now() - Duration::from_millis(1), move |j| {
        let _ = tx.send(j);
    });
    assert_eq!(rx.recv().unwrap(), Judged::Late);
    let empty = tempfile::tempdir().unwrap();
    match TurnModel::load(empty.path()) {
        Err(TurnModelError::Missing(file)) => {
            assert!(file.ends_with("smart-turn-v3.2-cpu.onnx"), "{}", file.display())
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("loaded a model from an empty directory"),
    }
}
