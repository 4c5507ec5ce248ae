//! Embed the prompts listed in `prompts/prompts.txt` (one `NAME|TEXT` per line) so the binary
//! always carries exactly the prompts the list names.

use std::{env, fmt::Write as _, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("prompts");
    println!("cargo:rerun-if-changed={}", dir.display());
    let list = std::fs::read_to_string(dir.join("prompts.txt")).expect("prompts/prompts.txt");
    let mut out = String::from("pub(crate) static PROMPTS: &[Prompt] = &[\n");
    for line in list.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, text) = line.split_once('|').expect("NAME|TEXT");
        let wav = dir.join(format!("{name}.wav"));
        assert!(
            wav.exists(),
            "{} is listed but missing: run scripts/prompts.sh",
            wav.display()
        );
        writeln!(
            out,
            "    Prompt {{ name: {name:?}, text: {text:?}, wav: include_bytes!({:?}) }},",
            wav.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("prompts.rs");
    std::fs::write(dest, out).expect("writing prompts.rs");
}
