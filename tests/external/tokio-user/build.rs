//! Extracts the doc examples a `runner_tokio` user reads in that driver's
//! rustdoc (runner-core's host items it re-exports, and the driver's own)
//! into `OUT_DIR/driver_examples.md`, with `scripts/doc_examples.py`;
//! `src/lib.rs` includes the file, so each example is a doctest of this
//! crate, which has nothing but the driver and its runtime.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let script = root.join("scripts/doc_examples.py");
    let output = Command::new("python3")
        .arg(&script)
        .args(["emit", "runner_tokio"])
        .output()
        .expect("python3 runs scripts/doc_examples.py");
    assert!(
        output.status.success(),
        "doc_examples.py emit failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("driver_examples.md");
    std::fs::write(out, output.stdout).unwrap();
    for watched in ["runner-core/src/host", "runner-tokio/src", "scripts/doc_examples.py"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
}
