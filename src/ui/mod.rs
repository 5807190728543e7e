//! `/ui`: a reference setup page for a mailbox's contact sync, plain HTML/JS/CSS compiled
//! into the binary (no CDN: it works offline). It uses only the public API with a pasted
//! bearer token, so the page itself needs none.
use actix_web::{HttpResponse, web};

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Scripts only from here; the page calls its own origin's API.
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:",
        ))
        .insert_header(("Cache-Control", "no-cache"))
        .body(body)
}

/// Registers `/ui`, `/ui/`, `/ui/app.js` and `/ui/style.css`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::redirect("/ui", "/ui/"))
        .route(
            "/ui/",
            web::get().to(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/ui/app.js",
            web::get().to(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/ui/style.css",
            web::get().to(|| async { asset("text/css; charset=utf-8", STYLE) }),
        );
}
