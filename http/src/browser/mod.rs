//! Browser endpoints: reached by the embedded widget with a session token, from the origins a
//! widget allows. Each checks the `Origin` against the allowlist as saved now, answers CORS
//! preflight for allowed origins only, and never accepts a workspace API key.

pub mod config;
pub mod cors;
pub mod guard;
pub mod messages;
pub mod tool_results;
pub mod webrtc;

use actix_web::web;

/// Registers every browser route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/widgets/{id}/config")
            .route(web::get().to(config::get))
            .route(web::method(actix_web::http::Method::OPTIONS).to(config::preflight)),
    )
    .service(
        web::resource("/v1/sessions/{id}/messages")
            .route(web::get().to(messages::list))
            .route(web::post().to(messages::post))
            .route(web::method(actix_web::http::Method::OPTIONS).to(messages::preflight)),
    )
    .service(
        web::resource("/v1/sessions/{id}/tool-results")
            .route(web::post().to(tool_results::post))
            .route(web::method(actix_web::http::Method::OPTIONS).to(tool_results::preflight)),
    )
    .service(
        web::resource("/v1/sessions/{id}/webrtc")
            .route(web::post().to(webrtc::offer))
            .route(web::method(actix_web::http::Method::OPTIONS).to(webrtc::preflight)),
    )
    .service(
        web::resource("/v1/sessions/{id}/webrtc/{call}")
            .route(web::patch().to(webrtc::trickle))
            .route(web::delete().to(webrtc::hangup))
            .route(web::method(actix_web::http::Method::OPTIONS).to(webrtc::preflight_call)),
    );
}
