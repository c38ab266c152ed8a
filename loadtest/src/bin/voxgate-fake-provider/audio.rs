//! The HTTP endpoints: transcriptions, chat completions and speech.

use super::{Fake, Mode};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

const RATE: usize = 24_000;

/// Speech-like audio for `text` at 24 kHz, made once per length and kept: making it costs
/// milliseconds, which would otherwise count as the provider's delay.
pub fn speech_pcm(text: &str, ms_per_char: u64) -> Arc<Vec<i16>> {
    static MADE: OnceLock<Mutex<HashMap<usize, Arc<Vec<i16>>>>> = OnceLock::new();
    let ms = (text.chars().count() as u64 * ms_per_char).clamp(400, 10_000) as usize;
    let made = MADE.get_or_init(Mutex::default);
    if let Some(pcm) = made.lock().unwrap_or_else(|e| e.into_inner()).get(&ms) {
        return pcm.clone();
    }
    let pcm = Arc::new(make_speech(ms));
    made.lock().unwrap_or_else(|e| e.into_inner()).insert(ms, pcm.clone());
    pcm
}

/// `ms` of a 120 Hz voiced buzz with harmonics, its loudness rising and falling four times a
/// second like syllables.
fn make_speech(ms: usize) -> Vec<i16> {
    (0..RATE * ms / 1000)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let buzz: f64 =
                (1..=10).map(|h| (t * 120.0 * h as f64 * std::f64::consts::TAU).sin() / h as f64).sum();
            let syllables = 0.65 + 0.35 * (t * 4.0 * std::f64::consts::TAU).sin();
            (buzz * syllables * 6000.0) as i16
        })
        .collect()
}

fn failure(mode: Mode) -> Option<Response> {
    match mode {
        Mode::Fail | Mode::Drop => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"error": {"message": "the fake provider failed on purpose"}})),
            )
                .into_response(),
        ),
        _ => None,
    }
}

async fn hang() -> Response {
    Fake::delay(3_600_000).await;
    StatusCode::GATEWAY_TIMEOUT.into_response()
}

pub async fn transcribe(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    fake.saw(json!({"endpoint": "stt", "bytes": body.len()}));
    let mode = fake.mode("stt");
    if mode == Mode::Hang {
        return hang().await;
    }
    Fake::delay(fake.opts.stt_delay_ms).await;
    if let Some(r) = failure(mode) {
        return r;
    }
    if mode == Mode::Garble {
        return ([(header::CONTENT_TYPE, "application/json")], "{\"text\": ").into_response();
    }
    axum::Json(json!({"text": fake.next_transcript()})).into_response()
}

pub async fn chat(State(fake): State<Arc<Fake>>, axum::Json(body): axum::Json<Value>) -> Response {
    let last = body["messages"].as_array().and_then(|m| m.last()).cloned().unwrap_or(Value::Null);
    // Each message as `role: content`, so a test can check the history a turn was answered with.
    let history: Vec<String> = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| format!("{}: {}", m["role"].as_str().unwrap_or("?"), m["content"].as_str().unwrap_or("")))
        .collect();
    fake.saw(json!({"endpoint": "chat", "last": last, "messages": history.len(), "history": history}));
    let mode = fake.mode("chat");
    if mode == Mode::Hang {
        return hang().await;
    }
    Fake::delay(fake.opts.first_token_delay_ms).await;
    if let Some(r) = failure(mode) {
        return r;
    }
    let tool_result = (last["role"] == "tool").then(|| last["content"].as_str().unwrap_or("").to_string());
    if let (Some(name), None) = (fake.opts.tool_offered(&body["tools"]), &tool_result) {
        // Ask for the tool, its arguments in two pieces, as OpenAI streams them.
        let args = fake.opts.tool_arguments.clone();
        let (head, tail) = args.split_at(args.len() / 2);
        let pieces = [
            json!({"index": 0, "id": "call_fake_1", "type": "function", "function": {"name": name, "arguments": ""}}),
            json!({"index": 0, "function": {"arguments": head}}),
            json!({"index": 0, "function": {"arguments": tail}}),
        ];
        let mut events: Vec<String> = pieces
            .into_iter()
            .map(|p| {
                let c =
                    json!({"choices": [{"index": 0, "delta": {"tool_calls": [p]}, "finish_reason": null}]});
                format!("data: {c}\n\n")
            })
            .collect();
        let done = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
        events.push(format!("data: {done}\n\n"));
        events.push("data: [DONE]\n\n".to_string());
        let body = Body::from_stream(stream::iter(events.into_iter().map(Ok::<_, std::io::Error>)));
        return ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response();
    }
    let answer = match tool_result {
        Some(result) => format!("The tool said: {result}."),
        None => fake.opts.answer.clone(),
    };
    let words: Vec<String> = answer.split_inclusive(' ').map(str::to_string).collect();
    let mut events: Vec<String> = words
        .chunks(3)
        .map(|w| {
            let c =
                json!({"choices": [{"index": 0, "delta": {"content": w.concat()}, "finish_reason": null}]});
            format!("data: {c}\n\n")
        })
        .collect();
    if mode == Mode::Garble {
        events.insert(1, "data: {garbled\n\n".to_string());
    }
    events.push(format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    ));
    events.push("data: [DONE]\n\n".to_string());
    let body = Body::from_stream(stream::iter(events.into_iter().map(Ok::<_, std::io::Error>)));
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

pub async fn speech(State(fake): State<Arc<Fake>>, axum::Json(body): axum::Json<Value>) -> Response {
    let text = body["input"].as_str().unwrap_or_default().to_string();
    fake.saw(json!({"endpoint": "tts", "input": text, "response_format": body["response_format"]}));
    let mode = fake.mode("tts");
    if mode == Mode::Hang {
        return hang().await;
    }
    Fake::delay(fake.opts.first_audio_delay_ms).await;
    if let Some(r) = failure(mode) {
        return r;
    }
    if mode == Mode::Garble {
        return ([(header::CONTENT_TYPE, "application/json")], "{\"oops\": true}").into_response();
    }
    let pcm = speech_pcm(&text, fake.opts.speech_ms_per_char);
    // As a streaming synthesiser does: the first 200 ms at once, the rest in pieces.
    let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    let pieces: Vec<Bytes> = bytes.chunks(RATE * 2 / 5).map(Bytes::copy_from_slice).collect();
    let body = Body::from_stream(stream::iter(pieces).map(Ok::<_, std::io::Error>));
    ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}
