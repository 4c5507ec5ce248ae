//! Loading a plugin: everything is checked before it can be used, so a bad upload never
//! replaces a working version.

use super::{
    PluginError, PluginHost, bindings::DeliveryPluginPre, bindings_1_1, breaker::Stats, call,
    sandbox::GuestState,
};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

/// Import namespaces a plugin may use: the host's log, and the WASI interfaces a Rust guest
/// links, which the host provides with no capabilities behind them. Sockets, HTTP and anything
/// else are refused.
const ALLOWED_IMPORTS: [&str; 6] = [
    "hark:delivery/",
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
}

/// A compiled, validated plugin, ready to instantiate per call.
pub struct LoadedPlugin {
    pub info: PluginInfo,
    pub sha256: String,
    pub config: String,
    pub(super) pre: Pre,
    pub stats: Stats,
}

/// A plugin ready to instantiate, by the WIT version it was built for.
pub(super) enum Pre {
    V1_0(DeliveryPluginPre<GuestState>),
    V1_1(bindings_1_1::DeliveryPluginPre<GuestState>),
}

impl LoadedPlugin {
    /// The `hark:delivery` version the plugin was built for.
    pub fn wit_version(&self) -> &'static str {
        match self.pre {
            Pre::V1_0(_) => "1.0.0",
            Pre::V1_1(_) => "1.1.0",
        }
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("info", &self.info)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The store's row for this plugin, installed from `wasm` at `priority`.
    pub fn upsert_form(
        &self,
        wasm: Vec<u8>,
        priority: i32,
        enabled: bool,
    ) -> hark_core::store::plugins::PluginUpsertForm {
        hark_core::store::plugins::PluginUpsertForm {
            name: self.info.name.clone(),
            version: self.info.version.clone(),
            sha256: self.sha256.clone(),
            wasm,
            config: self.config.clone(),
            priority,
            enabled,
        }
    }
}

/// Requests the dry run sends: someone online and someone offline, urgent and not.
fn samples() -> Vec<call::PlanInput> {
    let base = call::PlanInput {
        message_id: "dry-run-1".into(),
        sender_extension: "101".into(),
        sender_name: "Dry Run".into(),
        origin: "phone".into(),
        duration_ms: 12_000,
        urgent: false,
        recording: false,
        recipient_id: "dry-run-recipient".into(),
        extension: "102".into(),
        timezone: "UTC".into(),
        presence: "available".into(),
        phone_registered: false,
        endpoints: vec![
            ("e-mail".into(), "email".into(), true),
            ("phone".into(), "callback".into(), true),
        ],
        profile: vec![("email".into(), 0), ("callback".into(), 300)],
        now_unix_ms: 1_767_225_600_000,
        local_minute_of_day: 10 * 60,
        local_weekday: 3,
    };
    let offline_urgent = call::PlanInput {
        message_id: "dry-run-2".into(),
        urgent: true,
        recording: true,
        presence: "offline".into(),
        phone_registered: true,
        local_minute_of_day: 23 * 60,
        local_weekday: 7,
        ..base.clone()
    };
    vec![base, offline_urgent]
}

impl PluginHost {
    /// Validate and compile `bytes` with `config`: size, component, imports, exports, `info`,
    /// `validate-config`, and a dry run on sample requests.
    pub fn load(&self, bytes: &[u8], config: &str) -> Result<LoadedPlugin, PluginError> {
        if bytes.len() > self.limits.max_module_bytes {
            return Err(PluginError::TooLarge {
                size: bytes.len(),
                limit: self.limits.max_module_bytes,
            });
        }
        let component =
            Component::new(&self.engine, bytes).map_err(|e| PluginError::NotAComponent {
                what: not_a_component(bytes).into(),
                detail: format!("{e:#}"),
            })?;
        let ty = component.component_type();
        for (name, _) in ty.imports(&self.engine) {
            if !ALLOWED_IMPORTS.iter().any(|p| name.starts_with(p)) {
                return Err(PluginError::ForbiddenImport(name.to_owned()));
            }
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
        // 1.1 first; a component whose exports have 1.0's types is a 1.0 plugin.
        let pre = match bindings_1_1::DeliveryPluginPre::new(pre.clone()) {
            Ok(p) => Pre::V1_1(p),
            Err(_) => Pre::V1_0(
                DeliveryPluginPre::new(pre)
                    .map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?,
            ),
        };
        // The same calls on either version's bindings (their types differ, their shape not).
        macro_rules! on_either {
            ($pre:expr, $p:ident => $body:expr) => {
                match $pre {
                    Pre::V1_0($p) => $body,
                    Pre::V1_1($p) => $body,
                }
            };
        }
        let mut store = self.store("loading")?;
        let info = on_either!(&pre, p => {
            let i = p
                .instantiate(&mut store)
                .map_err(|e| call::classify(&e, self))?
                .call_info(&mut store)
                .map_err(|e| call::classify(&e, self))?;
            PluginInfo {
                name: i.name,
                version: i.version,
                description: i.description,
            }
        });
        let mut store = self.store(&info.name)?;
        let validated = on_either!(&pre, p => p
            .instantiate(&mut store)
            .map_err(|e| call::classify(&e, self))?
            .call_validate_config(&mut store, config)
            .map_err(|e| call::classify(&e, self))?
            .map_err(|e| format!("{e:?}")));
        validated.map_err(PluginError::InvalidConfig)?;
        let plugin = LoadedPlugin {
            info,
            sha256: hex::encode(Sha256::digest(bytes)),
            config: config.to_owned(),
            pre,
            stats: Stats::default(),
        };
        for sample in samples() {
            self.plan_blocking(&plugin, &sample)?;
        }
        Ok(plugin)
    }
}

/// What a file that is not a component is, in words an admin can act on.
fn not_a_component(bytes: &[u8]) -> &'static str {
    match bytes {
        [0, b'a', b's', b'm', 1, 0, 0, 0, ..] => {
            "this is a core WebAssembly module, not a component: build the plugin for the \
             wasm32-wasip2 target (cargo build --target wasm32-wasip2), or wrap the module with \
             wasm-tools component new"
        }
        [0, b'a', b's', b'm', ..] => {
            "this WebAssembly file is damaged or of a kind Hark cannot load"
        }
        _ => "this is not a WebAssembly file (it does not begin with \\0asm)",
    }
}
