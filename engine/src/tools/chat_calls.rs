//! The tool calls of a streamed chat completion, put together. OpenAI-compatible servers send
//! each call in pieces: its `index`, then its `id` and function `name`, then fragments of its
//! `arguments`, across many chunks, and several calls may interleave. Pushing each chunk's
//! `delta.tool_calls` and taking the calls when the stream ends gives whole [`ToolCall`]s.

use super::{ToolCall, RESULT_LIMIT};
use serde_json::Value;

/// Most calls one model round may ask for.
const MAX_CALLS: usize = 16;

/// A stream whose tool calls cannot be put together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatToolCallsError {
    #[error("a tool_calls delta is not an array of calls")]
    NotAnArray,
    #[error("the model asked for more than {MAX_CALLS} tool calls at once")]
    TooMany,
    #[error("a tool call's arguments are longer than {RESULT_LIMIT} bytes")]
    ArgumentsTooLong,
    #[error("tool call {0} has no function name")]
    NoName(usize),
}

/// Calls being assembled, by their `index`.
#[derive(Debug, Default)]
pub struct ChatToolCalls {
    calls: Vec<(u64, ToolCall)>,
}

impl ChatToolCalls {
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Adds one chunk's `choices[0].delta.tool_calls`.
    pub fn push(&mut self, deltas: &Value) -> Result<(), ChatToolCallsError> {
        let deltas = deltas.as_array().ok_or(ChatToolCallsError::NotAnArray)?;
        for (position, delta) in deltas.iter().enumerate() {
            // Some servers leave out `index` when they send whole calls: their order is it.
            let index = delta["index"].as_u64().unwrap_or(position as u64);
            let slot = match self.calls.iter().position(|(i, _)| *i == index) {
                Some(slot) => slot,
                None => {
                    if self.calls.len() == MAX_CALLS {
                        return Err(ChatToolCallsError::TooMany);
                    }
                    let call =
                        ToolCall { call_id: String::new(), name: String::new(), arguments: String::new() };
                    self.calls.push((index, call));
                    self.calls.len() - 1
                }
            };
            let call = &mut self.calls[slot].1;
            if let Some(id) = delta["id"].as_str().filter(|id| !id.is_empty()) {
                call.call_id = id.to_string();
            }
            if let Some(name) = delta["function"]["name"].as_str() {
                call.name.push_str(name);
            }
            if let Some(fragment) = delta["function"]["arguments"].as_str() {
                if call.arguments.len() + fragment.len() > RESULT_LIMIT {
                    return Err(ChatToolCallsError::ArgumentsTooLong);
                }
                call.arguments.push_str(fragment);
            }
        }
        Ok(())
    }

    /// The whole calls in index order. A call the server sent without an id gets one, so its
    /// result can still be matched to it.
    pub fn finish(self) -> Result<Vec<ToolCall>, ChatToolCallsError> {
        let mut calls = self.calls;
        calls.sort_by_key(|(i, _)| *i);
        calls
            .into_iter()
            .map(|(i, mut call)| {
                if call.name.is_empty() {
                    return Err(ChatToolCallsError::NoName(i as usize));
                }
                if call.call_id.is_empty() {
                    call.call_id = format!("call_{i}");
                }
                Ok(call)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn interleaved_pieces_make_whole_calls() {
        let mut calls = ChatToolCalls::default();
        calls
            .push(&json!([{"index": 0, "id": "call_a", "type": "function", "function": {"name": "check_order", "arguments": ""}}]))
            .unwrap();
        calls.push(&json!([{"index": 1, "id": "call_b", "function": {"name": "show_product", "arguments": "{\"sku\""}}])).unwrap();
        calls.push(&json!([{"index": 0, "function": {"arguments": "{\"order_id\":"}}])).unwrap();
        calls.push(&json!([{"index": 0, "function": {"arguments": "\"A1\"}"}}])).unwrap();
        calls.push(&json!([{"index": 1, "function": {"arguments": ":\"X\"}"}}])).unwrap();
        let calls = calls.finish().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].call_id.as_str(), calls[0].name.as_str()), ("call_a", "check_order"));
        assert_eq!(calls[0].parsed_arguments().unwrap()["order_id"], "A1");
        assert_eq!(calls[1].arguments, "{\"sku\":\"X\"}");
    }

    #[test]
    fn whole_calls_without_index_or_id_still_count() {
        let mut calls = ChatToolCalls::default();
        calls
            .push(&json!([{"function": {"name": "a", "arguments": "{}"}}, {"function": {"name": "b"}}]))
            .unwrap();
        let calls = calls.finish().unwrap();
        assert_eq!(calls[0].call_id, "call_0");
        assert_eq!(calls[1].name, "b");
    }

    #[test]
    fn bad_streams_are_refused() {
        assert_eq!(ChatToolCalls::default().push(&json!({"index": 0})), Err(ChatToolCallsError::NotAnArray));
        let mut calls = ChatToolCalls::default();
        let many: Vec<Value> = (0..17).map(|i| json!({"index": i, "function": {"name": "x"}})).collect();
        assert_eq!(calls.push(&Value::Array(many)), Err(ChatToolCallsError::TooMany));
        let mut calls = ChatToolCalls::default();
        calls.push(&json!([{"index": 0, "id": "c", "function": {"arguments": "{}"}}])).unwrap();
        assert_eq!(calls.finish(), Err(ChatToolCallsError::NoName(0)));
        let mut calls = ChatToolCalls::default();
        let long = "x".repeat(RESULT_LIMIT + 1);
        assert_eq!(
            calls.push(&json!([{"index": 0, "function": {"name": "a", "arguments": long}}])),
            Err(ChatToolCallsError::ArgumentsTooLong)
        );
    }
}
