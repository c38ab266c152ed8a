//! The control plane: server-to-server JSON API authenticated with a workspace API key.
//! It sends no CORS headers and refuses requests that a browser sent.

pub mod agents;
pub mod auth;
pub mod conversations;
pub mod recordings;
pub mod sessions;
pub mod usage;
pub mod webhooks;
pub mod widgets;

use actix_web::web;

/// Registers every control-plane route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/agents").route(web::post().to(agents::create)).route(web::get().to(agents::list)),
    )
    .service(web::resource("/v1/agents/{id}/test-runs").route(web::post().to(agents::test_run)))
    .service(web::resource("/v1/agents/{id}/latency").route(web::get().to(agents::latency)))
    .service(
        web::resource("/v1/agents/{id}")
            .route(web::get().to(agents::get))
            .route(web::patch().to(agents::update))
            .route(web::delete().to(agents::delete)),
    )
    .service(
        web::resource("/v1/widgets")
            .route(web::post().to(widgets::create))
            .route(web::get().to(widgets::list)),
    )
    .service(
        web::resource("/v1/widgets/{id}")
            .route(web::get().to(widgets::get))
            .route(web::patch().to(widgets::update))
            .route(web::delete().to(widgets::delete)),
    )
    .service(web::resource("/v1/widgets/{id}/sessions").route(web::post().to(sessions::create)))
    .service(web::resource("/v1/usage").route(web::get().to(usage::get)))
    .service(
        web::resource("/v1/webhooks")
            .route(web::post().to(webhooks::create))
            .route(web::get().to(webhooks::list)),
    )
    .service(
        web::resource("/v1/webhooks/{id}")
            .route(web::get().to(webhooks::get))
            .route(web::patch().to(webhooks::update))
            .route(web::delete().to(webhooks::delete)),
    )
    .service(web::resource("/v1/webhooks/{id}/rotate").route(web::post().to(webhooks::rotate)))
    .service(web::resource("/v1/webhooks/{id}/test").route(web::post().to(webhooks::test)))
    .service(
        web::resource("/v1/webhooks/{id}/deliveries/{delivery}/resend")
            .route(web::post().to(webhooks::resend)),
    )
    .service(web::resource("/v1/conversations").route(web::get().to(conversations::list)))
    .service(
        web::resource("/v1/conversations/{id}")
            .route(web::get().to(conversations::get))
            .route(web::delete().to(conversations::delete)),
    )
    .service(
        web::resource("/v1/conversations/{id}/calls/{call}/recording").route(web::get().to(recordings::get)),
    )
    .service(web::resource("/v1/sessions/{id}/refresh").route(web::post().to(sessions::refresh)))
    .service(
        web::resource("/v1/sessions/{id}")
            .route(web::get().to(sessions::get))
            .route(web::delete().to(sessions::end)),
    );
}
