//! The build script of every crate in `tests/external` (each one's
//! Cargo.toml says `build = "../extract_examples.rs"`). A crate named
//! `<runtime>-user` is a user of the driver `runner-<runtime>`: this
//! extracts the doc examples such a user reads in that driver's rustdoc
//! (runner-core's host items it re-exports, and the driver's own) into
//! `OUT_DIR/driver_examples.md`, with `scripts/doc_examples.py`; the
//! crate's `src/lib.rs` includes the file, so each example is a doctest of
//! a crate with nothing but the driver and its runtime.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let package = env!("CARGO_PKG_NAME");
    let runtime = package
        .strip_suffix("-user")
        .unwrap_or_else(|| panic!("{package}: a tests/external crate is named <runtime>-user"));
    let driver = format!("runner-{runtime}");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let script = root.join("scripts/doc_examples.py");
    let output = Command::new("python3")
        .arg(&script)
        .args(["emit", &driver.replace('-', "_")])
        .output()
        .expect("python3 runs scripts/doc_examples.py");
    assert!(
        output.status.success(),
        "doc_examples.py emit failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("driver_examples.md");
    std::fs::write(out, output.stdout).unwrap();
    let driver_src = format!("{driver}/src");
    for watched in [
        "runner-core/src/host",
        &driver_src,
        "scripts/doc_examples.py",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
}
