//! Every file of `$SSL3D_REFERENCE_DIR/nifti/reference.json` read by ssl3d must give what nibabel
//! gives (shape, affine, statistics, NaN count, the recorded voxels), or a clear error naming the
//! file for the ones a NIfTI-1 reader must reject. The file list comes from the JSON.

use crate::common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use ssl3d::io::{VoxelData, inspect, load_volume, read_nifti};

fn entries(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("nifti/reference.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["files"].as_array().unwrap().clone()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn uints(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as usize)
        .collect()
}

fn file_name(rel: &str) -> String {
    Path::new(rel)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string()
}

#[test]
fn every_reference_file_matches_nibabel_or_is_rejected_clearly() {
    let Some(dir) = common::reference_dir() else {
        return;
    };
    let entries = entries(&dir);
    assert!(!entries.is_empty());
    let mut failures = Vec::new();
    for e in &entries {
        let rel = e["file"].as_str().unwrap();
        let path = dir.join("nifti").join(rel);
        let result = std::panic::catch_unwind(|| read_nifti(&path));
        let Ok(result) = result else {
            failures.push(format!("{rel}: PANIC"));
            continue;
        };
        if e["expect"] == "error" {
            match result {
                Ok(_) => failures.push(format!("{rel}: expected an error, read fine")),
                Err(err) => {
                    if !err.to_string().contains(&file_name(rel)) {
                        failures.push(format!("{rel}: error does not name the file: {err}"));
                    }
                }
            }
            continue;
        }
        let img = match result {
            Ok(img) => img,
            Err(err) => {
                failures.push(format!("{rel}: unexpected error {err}"));
                continue;
            }
        };
        let mut fail = |m: String| failures.push(format!("{rel}: {m}"));
        let shape = uints(&e["shape"]);
        if img.header.shape != shape {
            fail(format!("shape {:?} != {shape:?}", img.header.shape));
            continue;
        }
        let zooms: Vec<f64> = e["zooms"].as_array().unwrap().iter().map(f).collect();
        if img.header.zooms.len() != zooms.len()
            || img
                .header
                .zooms
                .iter()
                .zip(&zooms)
                .any(|(a, b)| !common::close(*a, *b, 1e-6))
        {
            fail(format!("zooms {:?} != {zooms:?}", img.header.zooms));
        }
        if img.header.affine_source.as_str() != e["affine_source"].as_str().unwrap() {
            fail(format!(
                "affine source {} != {}",
                img.header.affine_source.as_str(),
                e["affine_source"]
            ));
        }
        for (r, row) in e["affine"].as_array().unwrap().iter().enumerate() {
            for (c, v) in row.as_array().unwrap().iter().enumerate() {
                if (img.header.affine[r][c] - f(v)).abs() > 1e-3 {
                    fail(format!(
                        "affine[{r}][{c}] {} != {}",
                        img.header.affine[r][c],
                        f(v)
                    ));
                }
            }
        }
        let data = &e["data"];
        match (&img.data, data["kind"].as_str().unwrap()) {
            (VoxelData::Scalar(a), "scalar") => {
                let finite: Vec<f64> = a
                    .iter()
                    .filter(|v| !v.is_nan())
                    .map(|&v| v as f64)
                    .collect();
                let nans = a.len() - finite.len();
                if nans as u64 != data["nan_count"].as_u64().unwrap() {
                    fail(format!("NaN count {nans} != {}", data["nan_count"]));
                }
                let min = finite.iter().cloned().fold(f64::INFINITY, f64::min);
                let max = finite.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let mean = finite.iter().sum::<f64>() / finite.len() as f64;
                for (name, got, want) in [
                    ("min", min, f(&data["scaled_min"])),
                    ("max", max, f(&data["scaled_max"])),
                    ("mean", mean, f(&data["scaled_mean"])),
                ] {
                    if !common::close(got, want, 1e-3) {
                        fail(format!("{name} {got} != {want}"));
                    }
                }
                for v in e["voxels"].as_array().unwrap() {
                    let idx = uints(&v["index"]);
                    let got = a[idx.as_slice()] as f64;
                    let want = f(&v["value"]);
                    let ok = (got.is_nan() && v["value"].is_null())
                        || (got.is_nan() && want.is_nan())
                        || common::close(got, want, 1e-3);
                    if !ok {
                        fail(format!("voxel {idx:?} {got} != {want}"));
                    }
                }
            }
            (VoxelData::Rgb24(a), "rgb24") => {
                for v in e["voxels"].as_array().unwrap() {
                    let idx = uints(&v["index"]);
                    let want: Vec<u8> = uints(&v["rgb"]).iter().map(|&c| c as u8).collect();
                    if a[idx.as_slice()].to_vec() != want {
                        fail(format!("rgb {idx:?} {:?} != {want:?}", a[idx.as_slice()]));
                    }
                }
                // RGB is never accepted where CT is expected.
                let err = load_volume(&path).unwrap_err().to_string();
                if !err.contains("RGB") || !err.contains(&file_name(rel)) {
                    fail(format!("load_volume on RGB: unclear error {err}"));
                }
            }
            (_, kind) => fail(format!("data kind mismatch, reference says {kind}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `ssl-data inspect --json` is a contract: one JSON line with fixed keys, or `{file, error}` and
/// exit code 2. Checked on every reference file against the library and the fixture.
#[test]
fn inspect_json_contract_on_every_reference_file() {
    let Some(dir) = common::reference_dir() else {
        return;
    };
    for e in entries(&dir) {
        let rel = e["file"].as_str().unwrap();
        let path = dir.join("nifti").join(rel);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssl-data"));
        cmd.arg("inspect").arg(&path).arg("--json");
        let voxels = e["voxels"].as_array().cloned().unwrap_or_default();
        for v in &voxels {
            let idx: Vec<String> = v["index"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.to_string())
                .collect();
            cmd.arg("--voxel").arg(idx.join(","));
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{rel}: expected exactly one line, got {stdout:?}"
        );
        let j: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(j["file"], path.display().to_string(), "{rel}");
        if e["expect"] == "error" {
            assert_eq!(out.status.code(), Some(2), "{rel}");
            let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["error", "file"], "{rel}");
            assert!(
                j["error"].as_str().unwrap().contains(&file_name(rel)),
                "{rel}"
            );
            continue;
        }
        assert!(out.status.success(), "{rel}: {j}");
        let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "affine",
                "dtype",
                "file",
                "max",
                "mean",
                "min",
                "nan_count",
                "shape",
                "spacing",
                "voxels"
            ],
            "{rel}"
        );
        assert_eq!(j["shape"], e["shape"], "{rel}");
        assert_eq!(j["dtype"], e["header"]["dtype"], "{rel}");
        assert_eq!(j["voxels"].as_array().unwrap().len(), voxels.len(), "{rel}");
        if e["data"]["kind"] == "scalar" {
            assert_eq!(j["nan_count"], e["data"]["nan_count"], "{rel}");
            assert!(
                common::close(f(&j["mean"]), f(&e["data"]["scaled_mean"]), 1e-3),
                "{rel}"
            );
            for (got, want) in j["voxels"].as_array().unwrap().iter().zip(&voxels) {
                assert_eq!(got["index"], want["index"], "{rel}");
                if want["value"].is_null() || f(&want["value"]).is_nan() {
                    assert!(got["value"].is_null(), "{rel}: NaN voxel must be null");
                } else {
                    assert!(
                        common::close(f(&got["value"]), f(&want["value"]), 1e-3),
                        "{rel}"
                    );
                }
            }
        } else {
            for (got, want) in j["voxels"].as_array().unwrap().iter().zip(&voxels) {
                assert_eq!(got["value"], want["rgb"], "{rel}");
            }
        }
        // The library and the binary agree.
        let lib = inspect(&path, &[]).unwrap();
        for (r, row) in lib.affine.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                assert!(
                    (v - f(&j["affine"][r][c])).abs() < 1e-9,
                    "{rel}: affine[{r}][{c}]"
                );
            }
        }
    }
}
