//! Liveness and readiness.

use crate::AppState;
use actix_web::{HttpResponse, get, web};

/// The process is up.
#[get("/healthz")]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// The process can serve: the database answers and the bus is connected (pop-ups, receipts
/// and presence reach this node's tabs only through it).
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = tokio::time::timeout(std::time::Duration::from_secs(2), state.deps.store.ping())
        .await
        .map_err(|_| "no answer".to_owned())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let bus = state.deps.bus.health().map_err(|e| e.to_string());
    match (database, bus) {
        (Ok(()), Ok(())) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        (database, bus) => {
            let mut body = String::new();
            if let Err(e) = database {
                tracing::warn!(error = %e, "not ready: database");
                body.push_str("database unavailable\n");
            }
            if let Err(e) = bus {
                tracing::warn!(error = %e, "not ready: bus");
                body.push_str("bus unavailable\n");
            }
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body(body)
        }
    }
}
