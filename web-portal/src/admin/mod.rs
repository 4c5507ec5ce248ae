//! Administration (admins only; anyone else gets 403):
//!
//! - `/admin`: people — create, edit (name, e-mail, a new password), disable and enable
//!   (disabling ends their sessions and tokens, and the phone treats them as unknown), reset a
//!   PIN (and its lockout), remove.
//! - `/admin/groups`: every group — make the organisation's own, rename, change members,
//!   remove.
//! - `/admin/plugins`: delivery plugins — upload a `.wasm` with its configuration (validated
//!   in a real plugin host, [`PluginCheck`], before anything is stored; the report lists what
//!   was checked), enable, disable, reorder, remove; calls, failures, mean time, the last
//!   load error and the newest log lines. Every change is stored with `plugin.changed` in one
//!   transaction, so every router reloads.
//! - `/admin/system`: health — database and bus reachable, the nodes running (with IVR
//!   calls in progress), the outbox (events not yet published) and each queue's dead letters.

mod groups;
mod plugins;
mod system;
mod users;

pub use plugins::{PluginCheck, PluginReport};

use crate::{page::PageError, session::WebUser};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;

/// A signed-in admin.
#[derive(Clone, Debug)]
pub(crate) struct AdminUser(pub WebUser);

impl FromRequest for AdminUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = WebUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.user.is_admin() {
                Ok(AdminUser(user))
            } else {
                Err(PageError::Forbidden)
            }
        })
    }
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(users::users_page)
        .service(users::create_user)
        .service(users::edit_user)
        .service(users::remove_user)
        .service(users::set_disabled)
        .service(users::reset_pin)
        .service(groups::groups_page)
        .service(groups::create_group)
        .service(groups::update_group)
        .service(groups::delete_group)
        .service(plugins::plugins_page)
        .service(plugins::upload_plugin)
        .service(plugins::plugin_action)
        .service(system::system_page);
}
