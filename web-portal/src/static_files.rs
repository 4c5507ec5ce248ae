//! The portal's few static files, compiled into the binary: no asset folder to deploy and
//! nothing on disk to go stale. Scripts are small ES modules, one per page's job.

use actix_web::{HttpResponse, get, http::header, web};

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! files {
    ($(($name:literal, $kind:expr)),* $(,)?) => {
        &[$(($name, $kind, include_str!(concat!("../static/", $name)))),*]
    };
}

const FILES: &[(&str, &str, &str)] = files![
    ("hark.css", CSS),
    ("listen.js", JS),
    ("portal.js", JS),
    ("compose.js", JS),
    ("recorder.js", JS),
    ("name.js", JS),
    ("live.js", JS),
    ("timezone.js", JS),
    ("favicon.svg", SVG),
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

#[cfg(test)]
mod tests {
    use super::FILES;

    #[test]
    fn every_file_a_page_names_is_served() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let page = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for (i, _) in page.match_indices("/static/") {
                let rest = &page[i + 8..];
                let name = &rest[..rest.find('"').unwrap()];
                assert!(
                    FILES.iter().any(|(n, _, _)| *n == name),
                    "/static/{name} is not served"
                );
            }
        }
    }
}
