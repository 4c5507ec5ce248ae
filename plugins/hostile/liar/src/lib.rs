//! Hostile fixture: returns plans the host must refuse. The config picks the lie:
//! "channel" (a channel that does not exist), "endpoint" (someone else's phone), "empty" (a
//! plan with no attempts).

wit_bindgen::generate!({ world: "delivery-plugin", path: "../../wit" });

use hark::delivery::types::Attempt;

struct Plugin;

impl Guest for Plugin {
    fn info() -> Info {
        Info {
            name: "liar".into(),
            version: "1.0.0".into(),
            description: "A hostile test fixture.".into(),
        }
    }

    fn validate_config(_config: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn plan(request: PlanRequest) -> Result<Decision, PluginError> {
        if request.message.id.starts_with("dry-run") && request.config != "always" {
            return Ok(Decision::Pass);
        }
        let attempt = |channel: &str, endpoint: Option<&str>| Attempt {
            channel: channel.into(),
            endpoint_id: endpoint.map(Into::into),
            start_after_secs: 0,
            give_up_after_secs: None,
        };
        Ok(Decision::Plan(match request.config.as_str() {
            "endpoint" => vec![attempt("callback", Some("sip:attacker@evil.example"))],
            "empty" => vec![],
            _ => vec![attempt("carrier-pigeon", None)],
        }))
    }
}

export!(Plugin);
