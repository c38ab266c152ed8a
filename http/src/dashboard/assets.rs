//! The dashboard's own stylesheet and script, compiled into the binary (no build step, no
//! third-party scripts).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

const CSS: &str = include_str!("../../../web/dashboard/dashboard.css");
const JS: &str = include_str!("../../../web/dashboard/dashboard.js");

pub async fn get(file: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match file.as_str() {
        "dashboard.css" => (CSS, "text/css; charset=utf-8"),
        "dashboard.js" => (JS, "application/javascript; charset=utf-8"),
        _ => {
            return HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body("no such dashboard asset")
        }
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .content_type(content_type)
        .body(body)
}
