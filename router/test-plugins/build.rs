//! Compile the plugin workspace (`plugins/`) for wasm32-wasip2 so tests use real components,
//! and export each one's path as a constant. Needs the target: `rustup target add
//! wasm32-wasip2` (scripts/test.sh does it).

use std::{env, fmt::Write as _, path::PathBuf, process::Command};

const PLUGINS: [(&str, &str); 10] = [
    ("TEMPLATE", "template"),
    ("PRESENCE_FIRST", "presence_first"),
    ("URGENT_ESCALATION", "urgent_escalation"),
    ("BUSINESS_HOURS", "business_hours"),
    ("SPIN", "hostile_spin"),
    ("MEMBOMB", "hostile_membomb"),
    ("TRAP", "hostile_trap"),
    ("SOCKETS", "hostile_sockets"),
    ("WRONG_WORLD", "hostile_wrong_world"),
    ("LIAR", "hostile_liar"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let plugins = manifest_dir.join("../../plugins");
    println!(
        "cargo:rerun-if-changed={}",
        plugins.join("Cargo.toml").display()
    );
    for dir in [
        "wit",
        "wit-1.1",
        "template",
        "presence-first",
        "urgent-escalation",
        "business-hours",
        "hostile",
    ] {
        println!("cargo:rerun-if-changed={}", plugins.join(dir).display());
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    let target_dir = out.join("wasm-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's wrappers and flags (clippy, coverage) are not for the guests.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("running cargo for the plugins");
    assert!(
        status.success(),
        "building plugins/ for wasm32-wasip2 failed (is the target installed? scripts/test.sh adds it)"
    );
    let mut consts = String::new();
    for (name, file) in PLUGINS {
        let path = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{file}.wasm"));
        assert!(path.exists(), "{} was not built", path.display());
        writeln!(
            consts,
            "pub const {name}: &str = {:?};",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    std::fs::write(out.join("plugins.rs"), consts).expect("writing plugins.rs");
}
