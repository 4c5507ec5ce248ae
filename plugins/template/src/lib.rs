//! A template for new Hark delivery plugins: copy this folder, rename the package, and fill in
//! `plan`. As it stands it has no opinion on anything (`pass`), so the recipient's own profile
//! decides. See docs/PLUGINS.md.

wit_bindgen::generate!({ world: "delivery-plugin", path: "../wit-1.1" });

use hark::delivery::log::{Level, log};

struct Plugin;

impl Guest for Plugin {
    fn info() -> Info {
        Info {
            name: "template".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Has no opinion: the recipient's profile decides.".into(),
        }
    }

    fn validate_config(_config: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn plan(request: PlanRequest) -> Result<Decision, PluginError> {
        log(
            Level::Debug,
            &format!("passing on message {}", request.message.id),
        );
        Ok(Decision::Pass)
    }
}

export!(Plugin);
