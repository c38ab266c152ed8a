//! `GET /widget.js`: the hosted widget script, with its version in a header and in the file,
//! cacheable for a few minutes (a new release reaches every site within that) and revalidated
//! by ETag.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The script's version: the server's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Script {
    body: String,
    etag: String,
}

fn script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        let body = include_str!("../../web/widget.js").replace("__VERSION__", VERSION);
        let digest = Sha256::digest(body.as_bytes());
        let etag = format!(
            "\"{VERSION}-{}\"",
            digest.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
        );
        Script { body, etag }
    })
}

pub async fn get(req: HttpRequest) -> HttpResponse {
    let s = script();
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == s.etag));
    let mut res = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::CACHE_CONTROL, "public, max-age=300, stale-while-revalidate=86400"))
        .insert_header((header::ETAG, s.etag.clone()))
        .insert_header(("X-Voxgate-Widget-Version", VERSION))
        // Any site may embed it; sites with COEP may load it too.
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header(("Cross-Origin-Resource-Policy", "cross-origin"));
    if fresh {
        return res.finish();
    }
    res.content_type("application/javascript; charset=utf-8").body(s.body.clone())
}
