//! Hostile fixture: imports WASI sockets. The host must refuse it at load.

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
        info("sockets")
    }

    fn validate_config(_config: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn plan(_request: PlanRequest) -> Result<Decision, PluginError> {
        match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => Err(PluginError::Internal("reached the network".into())),
            Err(_) => Ok(Decision::Pass),
        }
    }
}

export!(Plugin);
