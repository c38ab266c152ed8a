//! A text visitor for tests: `POST {messages_url}` and the answer read as Server-Sent Events,
//! event by event as they arrive.

use crate::{Api, Reply};
use serde_json::Value;
use std::io::{BufRead, BufReader};

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: String,
    pub event: String,
    pub data: Value,
}

/// An answer stream being read.
pub struct Answer {
    reader: BufReader<reqwest::blocking::Response>,
    pub content_type: String,
}

impl Answer {
    /// Posts `text` as the visitor; a refusal comes back as its reply.
    pub fn ask(
        api: &Api,
        messages_url: &str,
        origin: &str,
        token: &str,
        text: &str,
    ) -> Result<Answer, Box<Reply>> {
        Answer::post(api, messages_url, origin, token, serde_json::json!({ "text": text }).to_string())
    }

    /// Posts a raw JSON body.
    pub fn post(
        api: &Api,
        messages_url: &str,
        origin: &str,
        token: &str,
        body: String,
    ) -> Result<Answer, Box<Reply>> {
        let res = api
            .http
            .post(api.url(messages_url))
            .header("Origin", origin)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .expect("request");
        Answer::from_response(res)
    }

    /// The stream of a `200`; any other status is the reply.
    fn from_response(res: reqwest::blocking::Response) -> Result<Answer, Box<Reply>> {
        if res.status().as_u16() != 200 {
            return Err(Box::new(Reply::from(res)));
        }
        let content_type =
            res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Ok(Answer { reader: BufReader::new(res), content_type })
    }

    /// Resumes a stream that dropped: `GET messages_url` with `Last-Event-ID: last_event_id`.
    pub fn resume(
        api: &Api,
        messages_url: &str,
        origin: &str,
        token: &str,
        last_event_id: &str,
    ) -> Result<Answer, Box<Reply>> {
        let res = api
            .http
            .get(api.url(messages_url))
            .header("Origin", origin)
            .header("Authorization", format!("Bearer {token}"))
            .header("Last-Event-ID", last_event_id)
            .send()
            .expect("request");
        Answer::from_response(res)
    }

    /// The next event, skipping keep-alive comments; None when the stream ends.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if data.is_empty() {
                    continue;
                }
                let data =
                    serde_json::from_str(&data).unwrap_or_else(|e| panic!("data is not JSON ({e}): {data}"));
                return Some(SseEvent { id, event, data });
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => id = value.to_string(),
                "event" => event = value.to_string(),
                "data" => data.push_str(value),
                _ => {}
            }
        }
    }

    /// Every remaining event.
    pub fn rest(&mut self) -> Vec<SseEvent> {
        std::iter::from_fn(|| self.next_event()).collect()
    }
}
