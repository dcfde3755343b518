//! The `ssl-data chain --json` contract against real MONAI on real CT: every run of
//! `tests/fixtures/monai_chains.json` (made by `scripts/reference/gen_monai_chains.py` with MONAI 1.5.0,
//! and MONAI 1.6.1 for the `oneof_per_sample: false` runs) must give the same samples, shapes and
//! checksums (1e-6 relative: Spacing interpolates in f64 and stores f32).

use crate::common;

use std::process::Command;

use serde_json::Value;

#[test]
fn ssl_data_chain_equals_monai_on_real_ct() {
    let Some(refdir) = common::reference_dir() else {
        return;
    };
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/monai_chains.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let scratch = common::scratch("chain_contract");
    let runs = doc["runs"].as_array().unwrap();
    assert!(runs.len() >= 10);
    let mut failures = Vec::new();
    let mut compared = 0;
    for (i, run) in runs.iter().enumerate() {
        // MONAI's own output at exact nearest-neighbour ties depends on torch's CPU kernels (the
        // fixture records both): only the keys that do not are compared for those runs.
        let skip: Vec<&str> = run["cpu_dependent_keys"]
            .as_array()
            .map(|a| a.iter().filter_map(|k| k.as_str()).collect())
            .unwrap_or_default();
        let what = format!(
            "run {i}: {} {} seed {}",
            run["pipeline"], run["image"], run["seed"]
        );
        let config = scratch.join(format!("config{i}.json"));
        std::fs::write(&config, run["config"].to_string()).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssl-data"));
        cmd.args([
            "chain",
            "--json",
            "--pipeline",
            run["pipeline"].as_str().unwrap(),
        ])
        .arg("--image")
        .arg(refdir.join(run["image"].as_str().unwrap()))
        .args(["--seed", &run["seed"].to_string()])
        .arg("--config")
        .arg(&config);
        if let Some(label) = run["label"].as_str() {
            cmd.arg("--label").arg(refdir.join(label));
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{what}: one JSON line");
        let got: Value = serde_json::from_str(stdout.trim()).unwrap();
        let (got, want) = (
            got["samples"].as_array().unwrap(),
            run["samples"].as_array().unwrap(),
        );
        assert_eq!(got.len(), want.len(), "{what}: number of samples");
        for (s, (g, w)) in got.iter().zip(want).enumerate() {
            let (g, w) = (g.as_object().unwrap(), w.as_object().unwrap());
            assert_eq!(
                g.keys().collect::<Vec<_>>(),
                w.keys().collect::<Vec<_>>(),
                "{what} sample {s}: keys"
            );
            for (k, wv) in w.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
                compared += 1;
                assert_eq!(g[k]["shape"], wv["shape"], "{what} sample {s} {k}: shape");
                for m in ["sum", "wsum"] {
                    let (a, b) = (g[k][m].as_f64().unwrap(), wv[m].as_f64().unwrap());
                    if (a - b).abs() > 1e-6 * b.abs().max(1.0) {
                        failures.push(format!("{what} sample {s} {k} {m}: {a} vs {b}"));
                    }
                }
            }
        }
    }
    assert!(compared > 100, "only {compared} keys compared");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
