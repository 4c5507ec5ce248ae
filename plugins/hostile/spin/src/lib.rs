//! Hostile fixture: plan() never returns. The host's epoch deadline must stop it. With the
//! configuration `loops:K` it counts to K and passes: a fixed amount of work, so a test can
//! find the fuel it takes and stand at that limit and one unit under it.

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
        info("spin")
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
        if let Some(k) = request.config.strip_prefix("loops:") {
            let k: u64 = k.parse().unwrap_or(0);
            let mut n: u64 = 0;
            while core::hint::black_box(n) < k {
                n += 1;
            }
            return Ok(Decision::Pass);
        }
        let mut n: u64 = 0;
        loop {
            n = core::hint::black_box(n.wrapping_add(1));
        }
    }
}

export!(Plugin);
