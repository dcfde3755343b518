//! Shared test helpers: where the reference fixtures are, and scratch folders.
#![allow(dead_code)]

use std::path::PathBuf;

/// `$SSL3D_REFERENCE_DIR`, default `../shared/reference` next to the repository. `None` (with a
/// notice) when absent, so a user's clone without fixtures still passes `cargo test`.
pub fn reference_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SSL3D_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: reference fixtures not found at {} (set SSL3D_REFERENCE_DIR)",
            dir.display()
        );
        None
    }
}

/// A fresh empty scratch folder under the target directory, unique per test name.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `|a - b| <= rel * max(|b|, 1)`: relative for large values, absolute near zero.
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}
