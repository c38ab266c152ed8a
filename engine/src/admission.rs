//! Browser admission on a session URL, as policy: given the session as held, the claims of the
//! token the request carried (already verified), the mode the endpoint serves and what the
//! request does, whether it may go on. The HTTP edge gathers the facts (origin, token, session)
//! and acts on the answer; the rules live here, sans-IO, time passed in.

use crate::error::ErrorCode;
use crate::session::{EndReason, Mode, Session, SessionState};
use crate::token::TokenClaims;
use crate::Timestamp;

/// What a request on a session URL does, which decides what it may do with a session its visitor
/// left (`visitor_left`, token still valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// A message or an offer: the visitor is back, so the session reopens.
    Returns,
    /// Reads the transcript: allowed, and the session stays ended.
    Reads,
    /// Acts on a call (trickle, hang-up): a left session has none, so it is refused as ended.
    Acts,
}

/// A request that may go on, and what the caller must do first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The session is live.
    Live,
    /// The visitor left and is back: reopen the session, then go on.
    Reopen,
    /// The visitor left; reading is allowed and the session stays as it is.
    ReadEnded,
}

/// A refusal, with the code and the message the browser gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal { code, message: message.into() }
    }
}

/// Whether a request with `claims` may use `session` for `mode` at `now`, doing `visit`.
pub fn admit(
    session: &Session,
    claims: &TokenClaims,
    mode: Mode,
    visit: Visit,
    now: Timestamp,
) -> Result<Admission, Refusal> {
    if claims.sid != session.id || claims.wid != session.widget_id {
        return Err(Refusal::new(ErrorCode::TokenInvalid, "the session token belongs to another session"));
    }
    let admission = match session.state {
        SessionState::Live => Admission::Live,
        SessionState::Ended { reason: EndReason::VisitorLeft, .. }
            if visit != Visit::Acts && session.may_reopen(now) =>
        {
            if visit == Visit::Returns {
                Admission::Reopen
            } else {
                Admission::ReadEnded
            }
        }
        SessionState::Ended { reason: EndReason::TokenExpired, .. } => {
            return Err(Refusal::new(
                ErrorCode::TokenExpired,
                "the session expired; ask your backend for a new session",
            ))
        }
        SessionState::Ended { reason, .. } => {
            return Err(Refusal::new(
                ErrorCode::SessionEnded,
                format!("the session has ended ({})", reason.as_str()),
            ))
        }
    };
    if !session.modes.contains(mode) || !claims.modes.contains(mode) {
        return Err(Refusal::new(
            ErrorCode::ModeNotEnabled,
            format!("{} is not enabled for this session", mode.as_str()),
        ));
    }
    Ok(admission)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AgentId, ConversationId, SessionId, WidgetId, WorkspaceId};
    use crate::session::{Environment, ModeSet};

    fn session(state: SessionState, modes: &[Mode]) -> Session {
        Session {
            id: SessionId::parse("ses_a").unwrap(),
            workspace_id: WorkspaceId::parse("ws_a").unwrap(),
            widget_id: WidgetId::parse("wgt_a").unwrap(),
            agent_id: AgentId::parse("ag_a").unwrap(),
            conversation_id: ConversationId::parse("cnv_a").unwrap(),
            environment: Environment::Production,
            modes: ModeSet::of(modes),
            preview: false,
            variables: Default::default(),
            metadata: serde_json::Value::Null,
            origin: None,
            created_at: Timestamp(0),
            expires_at: Timestamp(10_000),
            state,
            node: None,
        }
    }

    fn claims(s: &Session) -> TokenClaims {
        TokenClaims {
            sid: s.id.clone(),
            wid: s.widget_id.clone(),
            modes: s.modes,
            exp: 10_000,
            kid: String::new(),
        }
    }

    const BOTH: &[Mode] = &[Mode::Voice, Mode::Text];

    fn ended(reason: EndReason) -> SessionState {
        SessionState::Ended { at: Timestamp(500), reason }
    }

    #[test]
    fn a_live_session_admits_its_modes_only() {
        let s = session(SessionState::Live, &[Mode::Text]);
        assert_eq!(admit(&s, &claims(&s), Mode::Text, Visit::Returns, Timestamp(1)), Ok(Admission::Live));
        let refused = admit(&s, &claims(&s), Mode::Voice, Visit::Returns, Timestamp(1)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::ModeNotEnabled);
        // The token's own modes bound it too.
        let both = session(SessionState::Live, BOTH);
        let mut narrow = claims(&both);
        narrow.modes = ModeSet::of(&[Mode::Text]);
        assert_eq!(
            admit(&both, &narrow, Mode::Voice, Visit::Returns, Timestamp(1)).unwrap_err().code,
            ErrorCode::ModeNotEnabled
        );
    }

    #[test]
    fn a_token_of_another_session_is_invalid() {
        let s = session(SessionState::Live, BOTH);
        let mut other = claims(&s);
        other.sid = SessionId::parse("ses_b").unwrap();
        assert_eq!(
            admit(&s, &other, Mode::Text, Visit::Reads, Timestamp(1)).unwrap_err().code,
            ErrorCode::TokenInvalid
        );
    }

    #[test]
    fn a_visitor_who_left_is_back_with_a_message_or_an_offer_while_the_token_lives() {
        let s = session(ended(EndReason::VisitorLeft), BOTH);
        let c = claims(&s);
        assert_eq!(admit(&s, &c, Mode::Text, Visit::Returns, Timestamp(9_999)), Ok(Admission::Reopen));
        assert_eq!(admit(&s, &c, Mode::Text, Visit::Reads, Timestamp(9_999)), Ok(Admission::ReadEnded));
        assert_eq!(
            admit(&s, &c, Mode::Voice, Visit::Acts, Timestamp(1)).unwrap_err().code,
            ErrorCode::SessionEnded
        );
        // Past its expiry, nothing reopens it.
        assert_eq!(
            admit(&s, &c, Mode::Text, Visit::Returns, Timestamp(10_000)).unwrap_err().code,
            ErrorCode::SessionEnded
        );
    }

    #[test]
    fn other_ends_are_final_and_say_why() {
        let s = session(ended(EndReason::TokenExpired), BOTH);
        assert_eq!(
            admit(&s, &claims(&s), Mode::Text, Visit::Returns, Timestamp(1)).unwrap_err().code,
            ErrorCode::TokenExpired
        );
        let s = session(ended(EndReason::OriginRevoked), BOTH);
        let refused = admit(&s, &claims(&s), Mode::Text, Visit::Returns, Timestamp(1)).unwrap_err();
        assert_eq!(
            (refused.code, refused.message.as_str()),
            (ErrorCode::SessionEnded, "the session has ended (origin_revoked)")
        );
    }
}
