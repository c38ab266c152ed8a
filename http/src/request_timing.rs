//! Times every HTTP request into `voxgate_http_request_duration_seconds`, so an SRE sees the
//! server's own share of a slow answer (a load balancer or client adds the network's).

use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use std::time::Instant;

/// Middleware (`middleware::from_fn`): the time to the response head, by the route that
/// matched. A streamed answer counts until its stream opens, not until it ends.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics.clone());
    let method = req.method().clone();
    let answer = next.call(req).await;
    if let Some(metrics) = metrics {
        let (route, status) = match &answer {
            Ok(res) => (res.request().match_pattern(), res.status()),
            Err(e) => (None, e.as_response_error().status_code()),
        };
        metrics.http_request(route.as_deref(), method.as_str(), status.as_u16(), started.elapsed());
    }
    answer
}
