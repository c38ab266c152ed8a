//! A small OpenAI-compatible `/v1/chat/completions` server for tests of the `openai` agent
//! backend. What it does depends on the visitor's last message: `fail` answers HTTP 500, `hang`
//! never answers, `stall` sends one chunk and then nothing, `garble` sends a malformed chunk, and
//! anything else streams `Hello from upstream.` in three chunks and `[DONE]`. It records each
//! request's JSON body and Authorization header.
//!
//! It is also a model that asks for tools, when the request offers some: `call NAME {json}`
//! streams a call of NAME with those arguments (in pieces, as OpenAI does), and once the last
//! message is a tool's result it answers `The tool said: RESULT`. `loop NAME {json}` calls the
//! tool again after every result, until the request says `tool_choice: none`.
//!
//! A request with `stream: false` (a post-call analysis) gets one JSON completion: a summary
//! naming how many lines the transcript had, and `data.email`, the first word with an `@` in
//! it; a transcript that says `analysis-fails` is answered 500.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A request the upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// The running upstream; it stops with the test process.
pub struct Upstream {
    /// `http://127.0.0.1:PORT/v1`, the agent's `base_url`.
    pub base_url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || serve(stream, &record));
            }
        });
        Upstream { base_url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let c = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": "test-model",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {c}\n\n")
}

/// A post-call analysis's completion, or `None` to fail it.
fn analysis_answer(body: &Value) -> Option<String> {
    let transcript = body["messages"].as_array()?.last()?["content"].as_str()?.to_string();
    if transcript.contains("analysis-fails") {
        return None;
    }
    let lines = transcript.lines().count();
    let email = transcript
        .split_whitespace()
        .find(|w| w.contains('@'))
        .unwrap_or("")
        .trim_end_matches(['.', ',', '?']);
    let content = json!({"summary": format!("A conversation of {lines} lines."), "data": {"email": email}});
    Some(
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content.to_string()}}]})
            .to_string(),
    )
}

/// The chunks of a tool-asking model's answer, when the request offers tools and asks for one.
fn tool_answer(body: &Value) -> Option<Vec<String>> {
    body["tools"].as_array().filter(|t| !t.is_empty())?;
    let messages = body["messages"].as_array()?;
    let last = messages.last()?;
    // The visitor's request: the last user message.
    let asked = messages.iter().rev().find(|m| m["role"] == "user")?["content"].as_str()?.to_string();
    let (mode, rest) = asked.split_once(' ')?;
    if mode != "call" && mode != "loop" {
        return None;
    }
    let (name, arguments) = rest.split_once(' ').unwrap_or((rest, "{}"));
    let calls_again = mode == "loop" && body["tool_choice"] != "none";
    if last["role"] == "tool" && !calls_again {
        let said = if body["tool_choice"] == "none" {
            "Enough tools.".to_string()
        } else {
            format!("The tool said: {}", last["content"].as_str().unwrap_or(""))
        };
        let (a, b) = said.split_at(said.len() / 2);
        return Some(vec![
            chunk(json!({"role": "assistant", "content": a}), None),
            chunk(json!({"content": b}), None),
            chunk(json!({}), Some("stop")),
        ]);
    }
    let round = messages.iter().filter(|m| m["role"] == "tool").count();
    let (head, tail) = arguments.split_at(arguments.len() / 2);
    Some(vec![
        chunk(
            json!({"role": "assistant", "content": null, "tool_calls": [
            {"index": 0, "id": format!("call_{round}"), "type": "function", "function": {"name": name, "arguments": ""}}]}),
            None,
        ),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": head}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": tail}}]}), None),
        chunk(json!({}), Some("tool_calls")),
    ])
}

fn serve(mut stream: TcpStream, record: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => authorization = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let last = body["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["content"].as_str());
    let last = last.unwrap_or("").to_string();
    let tool_turn = tool_answer(&body);
    let analysis = (body["stream"] == false).then(|| analysis_answer(&body));
    record.lock().expect("lock").push(Seen { path, authorization, body });
    let stream_head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    let mut send = |text: &str| stream.write_all(text.as_bytes()).and_then(|_| stream.flush());
    if let Some(answer) = analysis {
        let reply = match answer {
            Some(json) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            ),
            None => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
        };
        let _ = send(&reply);
        return;
    }
    if let Some(chunks) = tool_turn {
        let _ = send(stream_head);
        for c in chunks {
            let _ = send(&c);
        }
        let _ = send("data: [DONE]\n\n");
        return;
    }
    let _ = match last.as_str() {
        "fail" => send(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"error\": {\"message\": \"the model is overloaded\"}}",
        ),
        "hang" => {
            // Never answer: hold the connection until the client gives up.
            let _ = reader.read_to_end(&mut Vec::new());
            Ok(())
        }
        "stall" => {
            let _ = send(stream_head).and_then(|_| send(&chunk(json!({"role": "assistant", "content": "Let me"}), None)));
            let _ = reader.read_to_end(&mut Vec::new());
            Ok(())
        }
        "garble" => send(stream_head)
            .and_then(|_| send(&chunk(json!({"content": "Half"}), None)))
            .and_then(|_| send("data: {\"choices\": [oops\n\n")),
        _ => send(stream_head)
            .and_then(|_| send(&chunk(json!({"role": "assistant", "content": ""}), None)))
            .and_then(|_| send(&chunk(json!({"content": "Hello"}), None)))
            .and_then(|_| send(&chunk(json!({"content": " from"}), None)))
            .and_then(|_| send(&chunk(json!({"content": " upstream."}), None)))
            .and_then(|_| send(&chunk(json!({}), Some("stop"))))
            .and_then(|_| send("data: [DONE]\n\n")),
    };
}
