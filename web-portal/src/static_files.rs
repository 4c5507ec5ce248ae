//! The portal's few static files, compiled into the binary: no asset folder to deploy and
//! nothing on disk to go stale. Scripts are small ES modules, one per page's job.

use actix_web::{HttpResponse, get, http::header, web};

const FILES: &[(&str, &str, &str)] = &[
    (
        "hark.css",
        "text/css; charset=utf-8",
        include_str!("../static/hark.css"),
    ),
    (
        "listen.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/listen.js"),
    ),
    (
        "portal.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/portal.js"),
    ),
];

#[get("/static/{name}")]
pub(crate) async fn file(name: web::Path<String>) -> HttpResponse {
    match FILES.iter().find(|(n, _, _)| *n == name.as_str()) {
        Some((_, kind, body)) => HttpResponse::Ok()
            .content_type(*kind)
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(*body),
        None => HttpResponse::NotFound().finish(),
    }
}
