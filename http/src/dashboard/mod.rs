//! `/dashboard`: where a site owner configures agents and widgets, copies the snippet, previews,
//! and reviews conversations and usage. Server-rendered pages (askama templates) with a little
//! script; signed in with a cookie, never with a workspace API key. Every save goes through the
//! same actors and validation as the control plane.

pub mod agents;
pub mod assets;
pub mod auth;
pub mod conversations;
pub mod distribute;
pub mod form;
pub mod page;
pub mod patch;
pub mod preview;
pub mod sign_in;
pub mod usage;
pub mod webhooks;
pub mod widgets;

use crate::state::AppState;
use actix_web::web;
use auth::SignedIn;

/// What every signed-in page shows around its content.
pub struct Chrome {
    pub email: String,
    pub workspace: String,
    pub csrf: String,
    /// The nav entry of this page.
    pub active: &'static str,
}

impl Chrome {
    pub fn new(state: &AppState, who: &SignedIn, active: &'static str) -> Chrome {
        let workspace = state
            .control
            .config()
            .workspace(&who.user.workspace_id)
            .map_or_else(|| who.user.workspace_id.to_string(), |w| w.name);
        Chrome { email: who.user.email.clone(), workspace, csrf: who.csrf.clone(), active }
    }
}

async fn home(_who: SignedIn) -> actix_web::HttpResponse {
    page::redirect("/dashboard/agents")
}

/// Registers every dashboard route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(home))
        .route("/dashboard/", web::get().to(home))
        .route("/dashboard/assets/{file}", web::get().to(assets::get))
        .route("/dashboard/sign-in", web::get().to(sign_in::form))
        .route("/dashboard/sign-in", web::post().to(sign_in::submit))
        .route("/dashboard/sign-out", web::post().to(sign_in::sign_out))
        .route("/dashboard/agents", web::get().to(agents::list))
        .route("/dashboard/agents", web::post().to(agents::create))
        .route("/dashboard/agents/new", web::get().to(agents::new_form))
        .route("/dashboard/agents/{id}", web::get().to(agents::edit))
        .route("/dashboard/agents/{id}", web::post().to(agents::save))
        .route("/dashboard/agents/{id}/test-runs", web::post().to(agents::run_tests))
        .route("/dashboard/agents/{id}/latency", web::get().to(agents::latency))
        .route("/dashboard/conversations", web::get().to(conversations::list))
        .route("/dashboard/conversations/{id}", web::get().to(conversations::get))
        .route(
            "/dashboard/conversations/{id}/calls/{call}/recording",
            web::get().to(conversations::recording),
        )
        .route("/dashboard/usage", web::get().to(usage::page))
        .route("/dashboard/webhooks", web::get().to(webhooks::list))
        .route("/dashboard/webhooks", web::post().to(webhooks::create))
        .route("/dashboard/webhooks/{id}", web::get().to(webhooks::get))
        .route("/dashboard/webhooks/{id}/{action}", web::post().to(webhooks::act))
        .route("/dashboard/widgets", web::get().to(widgets::list))
        .route("/dashboard/widgets", web::post().to(widgets::create))
        .route("/dashboard/widgets/{id}", web::get().to(widgets::edit))
        .route("/dashboard/widgets/{id}/distribute", web::get().to(distribute::page))
        .route("/dashboard/widgets/{id}/preview", web::get().to(preview::page))
        .route("/dashboard/widgets/{id}/preview-sessions", web::post().to(preview::create_session))
        .route("/dashboard/widgets/{id}/{section}", web::post().to(widgets::save));
}
