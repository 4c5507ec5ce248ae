//! `/api/v1/openapi.json`: the JSON API described in OpenAPI 3.1 (hand-written beside the
//! handlers it describes; a test checks it parses and that its paths are served).

use actix_web::{HttpResponse, get};

pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

#[get("/api/v1/openapi.json")]
pub(crate) async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-cache"))
        .body(DOCUMENT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_openapi_3_1_json() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/api/v1/messages"]["post"].is_object());
    }
}
