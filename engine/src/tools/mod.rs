//! Tools: what an agent may do besides talking. A `server` tool is a signed POST to the
//! customer's backend, a `client` tool a function the visitor's page registered with the
//! widget, and `end_call` lets the agent hang up after its last sentence. This module holds
//! the parts every driver shares: the saved specs and their validation, a call and its
//! outcome as the transcript keeps them, and the assembly of a model's streamed tool calls.

mod call;
mod chat_calls;
mod schema;
mod spec;

pub use call::{ToolCall, ToolLine, ToolOutcome, RESULT_LIMIT};
pub use chat_calls::{ChatToolCalls, ChatToolCallsError};
pub use schema::check as check_schema;
pub use spec::{validate_tools, ToolKind, ToolSpec, MAX_TOOLS};
