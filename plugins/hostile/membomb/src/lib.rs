//! Hostile fixture: plan() allocates without end. The host's memory limit must stop it.
//! With the configuration `pages:N` it instead grows its linear memory to exactly N 64 KiB
//! pages and passes, so a test can stand at the limit and one page past it.

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
        info("membomb")
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
        if let Some(pages) = request.config.strip_prefix("pages:") {
            let want: usize = pages.parse().unwrap_or(0);
            let have = core::arch::wasm32::memory_size(0);
            if want > have && core::arch::wasm32::memory_grow(0, want - have) == usize::MAX {
                return Err(PluginError::Internal("memory.grow refused".into()));
            }
            return Ok(Decision::Pass);
        }
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(core::hint::black_box(vec![7u8; 1 << 20]));
        }
    }
}

export!(Plugin);
