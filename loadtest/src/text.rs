//! Text visitors: each creates a text session as a customer backend would, then, until the hold
//! ends, posts a message, reads the answer's Server-Sent Events (time to the first
//! `response.delta` and to `response.completed`), thinks, and asks again.

use crate::plan::Plan;
use crate::signaling::{create_session, error_code, short};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

/// What visitors ask: questions the bench agent's knowledge answers, and one it cannot.
const QUESTIONS: &[&str] = &[
    "How is voice billed?",
    "Which origins can embed the widget?",
    "How long does a session token live?",
    "What is the capital of Peru?",
];

/// What one text visitor measured.
pub struct TextVisitor {
    pub session_id: Option<String>,
    /// Session creation time, if it was created.
    pub setup_us: Option<u64>,
    /// Why the session could not be created.
    pub failure: Option<String>,
    pub first_token_us: Vec<u64>,
    pub completed_us: Vec<u64>,
    pub asked: u64,
    /// Messages that did not complete, by reason (`message 429 quota_exceeded`).
    pub errors: BTreeMap<String, usize>,
}

/// Every text visitor's figures, merged.
pub struct TextFigures {
    pub attempted: usize,
    pub ok: usize,
    pub failures: BTreeMap<String, usize>,
    pub setup_us: Histogram<u64>,
    pub first_token_us: Histogram<u64>,
    pub completed_us: Histogram<u64>,
    pub asked: u64,
    pub completed: u64,
    /// Answers completed during the hold (not the ramp).
    pub completed_in_hold: u64,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

impl TextFigures {
    pub fn merge(attempted: usize, visitors: &[TextVisitor], completed_in_hold: u64) -> TextFigures {
        let mut f = TextFigures {
            attempted,
            ok: 0,
            failures: BTreeMap::new(),
            setup_us: histogram(),
            first_token_us: histogram(),
            completed_us: histogram(),
            asked: 0,
            completed: 0,
            completed_in_hold,
        };
        for v in visitors {
            match (&v.failure, v.setup_us) {
                (Some(reason), _) => *f.failures.entry(reason.clone()).or_default() += 1,
                (None, Some(us)) => {
                    let _ = f.setup_us.record(us.max(1));
                    if v.errors.is_empty() {
                        f.ok += 1;
                    }
                }
                (None, None) => {}
            }
            for (reason, n) in &v.errors {
                *f.failures.entry(reason.clone()).or_default() += n;
            }
            for us in &v.first_token_us {
                let _ = f.first_token_us.record((*us).max(1));
            }
            for us in &v.completed_us {
                let _ = f.completed_us.record((*us).max(1));
            }
            f.asked += v.asked;
            f.completed += v.completed_us.len() as u64;
        }
        f
    }

    pub fn quantile_us(h: &Histogram<u64>, q: f64) -> u64 {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(q / 100.0)
        }
    }
}

/// Counters the progress line reads.
#[derive(Default)]
pub struct TextLive {
    pub asked: Cell<u64>,
    pub completed: Cell<u64>,
}

/// Runs visitor `index` from `start` until `stop` is set (`stop_now` cuts its thinking short);
/// `up` counts visitors whose session exists.
#[allow(clippy::too_many_arguments)]
pub async fn visitor(
    http: reqwest::Client,
    plan: &Plan,
    index: usize,
    start: Instant,
    stop: Rc<Cell<bool>>,
    stop_now: Rc<tokio::sync::Notify>,
    live: Rc<TextLive>,
    up: Rc<Cell<usize>>,
) -> TextVisitor {
    let mut v = TextVisitor {
        session_id: None,
        setup_us: None,
        failure: None,
        first_token_us: Vec::new(),
        completed_us: Vec::new(),
        asked: 0,
        errors: BTreeMap::new(),
    };
    tokio::time::sleep_until(start.into()).await;
    let began = Instant::now();
    let values = match create_session(&http, plan, "text").await {
        Ok(v) => v,
        Err(reason) => {
            v.failure = Some(reason);
            return v;
        }
    };
    v.setup_us = Some(began.elapsed().as_micros() as u64);
    up.set(up.get() + 1);
    v.session_id = values["session_id"].as_str().map(str::to_string);
    let (Some(url), Some(token)) = (values["messages_url"].as_str(), values["session_token"].as_str()) else {
        v.failure = Some("session: no messages_url (is text enabled on the widget?)".into());
        return v;
    };
    let mut n = index;
    while !stop.get() {
        let question = QUESTIONS[n % QUESTIONS.len()];
        n += 1;
        v.asked += 1;
        live.asked.set(live.asked.get() + 1);
        let answered = tokio::select! {
            answered = ask(&http, plan, url, token, question) => answered,
            // The hold ended mid-answer: leave, as a visitor closing the tab would. The question
            // was abandoned by the harness, not answered or failed: it is not counted.
            _ = stop_now.notified() => {
                v.asked -= 1;
                live.asked.set(live.asked.get() - 1);
                break;
            }
        };
        match answered {
            Ok((first, done)) => {
                v.first_token_us.push(first);
                v.completed_us.push(done);
                live.completed.set(live.completed.get() + 1);
            }
            Err(reason) => *v.errors.entry(reason).or_default() += 1,
        }
        if stop.get() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(plan.text_think) => {}
            _ = stop_now.notified() => {}
        }
    }
    v
}

/// One message: microseconds to the first delta and to `response.completed`.
async fn ask(
    http: &reqwest::Client,
    plan: &Plan,
    url: &str,
    token: &str,
    question: &str,
) -> Result<(u64, u64), String> {
    let sent = Instant::now();
    let res = http
        .post(url)
        .bearer_auth(token)
        .header("Origin", &plan.origin)
        .json(&serde_json::json!({ "text": question }))
        .send()
        .await
        .map_err(|e| format!("message: {}", short(&e)))?;
    let status = res.status().as_u16();
    if status != 200 {
        let body = res.text().await.unwrap_or_default();
        return Err(format!("message {status} {}", error_code(&body)));
    }
    let mut events = res.bytes_stream().eventsource();
    let mut first = None;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| format!("stream: {e}"))?;
        match event.event.as_str() {
            "response.delta" if first.is_none() => first = Some(sent.elapsed().as_micros() as u64),
            "response.completed" => {
                let done = sent.elapsed().as_micros() as u64;
                return Ok((first.unwrap_or(done), done));
            }
            "error" => {
                let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                return Err(format!("answer error {}", data["code"].as_str().unwrap_or("?")));
            }
            _ => {}
        }
    }
    Err("stream ended before response.completed".into())
}
