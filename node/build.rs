//! Fingerprints the sources the node library is built from (its own, weft-proto's,
//! weft-keys' and the lock file) as `WEFT_SOURCES`, so that `weft` can tell whether the
//! `weft-node` it hands a command to was built from the same ones: `cargo run --bin weft`
//! rebuilds `weft` alone, and would otherwise run whatever `weft-node` an earlier build
//! left beside it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the node crate sits in the workspace")
        .to_path_buf();
    let inputs = ["node/src", "proto/src", "keys/src", "Cargo.lock"].map(|p| root.join(p));
    let mut files = Vec::new();
    for input in &inputs {
        println!("cargo::rerun-if-changed={}", input.display());
        collect(input, &mut files);
    }
    files.sort();
    // SipHash with fixed keys: the same sources give the same fingerprint on every build.
    let mut hasher = DefaultHasher::new();
    for file in &files {
        file.strip_prefix(&root).unwrap_or(file).hash(&mut hasher);
        std::fs::read(file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .hash(&mut hasher);
    }
    println!("cargo::rustc-env=WEFT_SOURCES={:016x}", hasher.finish());
}

/// Every file under `path` (or `path` itself).
fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    match std::fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries {
                collect(&entry.expect("a readable directory").path(), files);
            }
        }
        Err(_) => files.push(path.to_path_buf()),
    }
}
