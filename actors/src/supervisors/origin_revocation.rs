//! Ends live sessions whose browser origin a widget save no longer allows (`origin_revoked`).
//! Runs right after the save is committed, so revocation is as immediate as the save.

use crate::sessions::SessionRegistry;
use voxgate_engine::origin::Origin;
use voxgate_engine::session::EndReason;
use voxgate_engine::widget::Widget;

/// Ends every live session of `widget` bound to an origin its allowlist now refuses.
pub async fn end_disallowed(sessions: &SessionRegistry, widget: &Widget) {
    for s in sessions.live_of_widget(&widget.id) {
        let Some(origin) = s.origin.as_deref() else {
            continue;
        };
        let allowed = Origin::parse_header(origin).is_ok_and(|o| widget.origins.allows(&o));
        if !allowed {
            if let Err(e) = sessions.end(&s.id, EndReason::OriginRevoked).await {
                tracing::error!(session = %s.id, error = %e, "could not record origin revocation");
            }
        }
    }
}
