//! `GET /v1/conversations/{id}/calls/{call}/recording`: a recorded call as `audio/ogg` (Opus,
//! the visitor on the left channel, the agent on the right), with single range requests so a
//! player can seek. The dashboard serves the same through its sign-in.

use super::auth::Workspace;
use crate::error::{bad_id, ApiError};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use std::ops::Range;
use voxgate_engine::ids::{CallId, ConversationId, WorkspaceId};
use voxgate_engine::ErrorCode;

pub async fn get(
    state: web::Data<AppState>,
    ws: Workspace,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (conversation, call) = path.into_inner();
    let conversation = ConversationId::parse(&conversation).map_err(bad_id)?;
    let call = CallId::parse(&call).map_err(bad_id)?;
    serve(&state, &req, &ws.0, &conversation, &call).await
}

/// Answers a request for a recording of `ws`'s: all of it, or the one range asked for.
pub async fn serve(
    state: &AppState,
    req: &HttpRequest,
    ws: &WorkspaceId,
    conversation: &ConversationId,
    call: &CallId,
) -> Result<HttpResponse, ApiError> {
    let recordings = &state.recordings;
    let row = recordings.find(ws.as_str(), conversation.as_str(), call.as_str()).await?;
    let len = recordings.len(&row).await?;
    let asked = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match asked.and_then(parse_range) {
        None => None,
        Some(wanted) => Some(satisfiable(wanted, len).ok_or_else(|| {
            ApiError::new(
                ErrorCode::RangeNotSatisfiable,
                format!(
                    "the range {:?} starts past the recording's end ({len} bytes)",
                    asked.unwrap_or_default()
                ),
            )
            .with_field("Range")
        })?),
    };
    let mut res = match &range {
        Some(r) => {
            let mut res = HttpResponse::PartialContent();
            res.insert_header((header::CONTENT_RANGE, format!("bytes {}-{}/{len}", r.start, r.end - 1)));
            res
        }
        None => HttpResponse::Ok(),
    };
    let body = recordings.read(&row, range.unwrap_or(0..len)).await?;
    res.content_type("audio/ogg")
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header(("X-Recording-Status", row.status.clone()));
    Ok(res.body(body))
}

/// What a `Range` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// `bytes=a-` or `bytes=a-b` (inclusive).
    From { start: u64, end: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Last(u64),
}

/// One byte range; anything else (several ranges, another unit, garbage) is ignored, and the
/// whole recording sent, as RFC 9110 §14.2 allows.
fn parse_range(value: &str) -> Option<Wanted> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        return end.parse().ok().filter(|n| *n > 0).map(Wanted::Last);
    }
    let start = start.parse().ok()?;
    let end = if end.is_empty() { None } else { Some(end.parse().ok().filter(|e| *e >= start)?) };
    Some(Wanted::From { start, end })
}

/// The bytes to send of a file of `len`, or `None` when the range is past its end (416).
fn satisfiable(wanted: Wanted, len: u64) -> Option<Range<u64>> {
    match wanted {
        Wanted::From { start, .. } if start >= len => None,
        Wanted::From { start, end } => Some(start..end.map_or(len, |e| (e + 1).min(len))),
        Wanted::Last(_) if len == 0 => None,
        Wanted::Last(n) => Some(len.saturating_sub(n)..len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        let r = |v: &str| parse_range(v).and_then(|w| satisfiable(w, 100));
        assert_eq!(r("bytes=0-9"), Some(0..10));
        assert_eq!(r("bytes=90-"), Some(90..100));
        assert_eq!(r("bytes=90-500"), Some(90..100), "an end past the file is cut to it");
        assert_eq!(r("bytes=-10"), Some(90..100));
        assert_eq!(r("bytes=-500"), Some(0..100));
        assert_eq!(parse_range("bytes=100-").and_then(|w| satisfiable(w, 100)), None, "416");
        for ignored in ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=x-", "bytes=-0", "0-1", ""] {
            assert_eq!(parse_range(ignored), None, "{ignored:?}");
        }
    }
}
