//! Hostile fixture: plan() traps.

wit_bindgen::generate!({ world: "delivery-plugin", path: "../../wit" });

struct Plugin;

fn info(name: &str) -> Info {
    Info {
        name: name.into(),
        version: "1.0.0".into(),
        description: "A hostile test fixture.".into(),
    }
}

impl Guest for Plugin {
    fn info() -> Info {
        info("trap")
    }

    fn validate_config(_config: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn plan(request: PlanRequest) -> Result<Decision, PluginError> {
        // Behave during the host's load-time dry run (unless told "always"), so the run-time
        // limits are what is tested.
        if request.message.id.starts_with("dry-run") && request.config != "always" {
            return Ok(Decision::Pass);
        }
        panic!("hostile plugin traps on purpose")
    }
}

export!(Plugin);
