//! `ssl-segment` applied with a fine-tuning run: the same labels as the run's own validation
//! predictions, organ volumes, reuse on rerun, and a bad scan skipped and reported. Called from
//! `finetune_run`'s test, which trains the model once for both.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use ssl3d::io::load_labels;

/// `ssl-segment --model run --input input --out out`.
fn segment_into(run: &Path, input: &Path, out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ssl-segment"));
    c.arg("--model")
        .arg(run)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out);
    c
}

/// `run` was fine-tuned with `--save-predictions` on `datalist` (paths under `data_dir`).
pub fn segments_like_the_runs_validation(run: &Path, datalist: &Path, data_dir: &Path, dir: &Path) {
    let out = dir.join("segmented");
    let segment_validation = || {
        segment_into(run, datalist, &out)
            .args(["--split", "validation", "--json"])
            .arg("--data-dir")
            .arg(data_dir)
            .output()
            .unwrap()
    };
    let first = segment_validation();
    let err = String::from_utf8_lossy(&first.stderr).to_string();
    assert!(first.status.success(), "{err}");
    let lines: Vec<Value> = String::from_utf8(first.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one line per validation scan");
    let mut liver_ml = Vec::new();
    for line in &lines {
        let scan = Path::new(line["scan"].as_str().unwrap());
        let stem = ssl3d::segment::scan_stem(scan);
        // The same model, transforms and window as the run's validation: the same labels.
        let ours = load_labels(&out.join(format!("{stem}_seg.nii.gz"))).unwrap();
        let runs = load_labels(&run.join(format!("predictions/{stem}_pred.nii.gz"))).unwrap();
        assert_eq!(ours.affine, runs.affine, "{stem}");
        assert!(
            ours.data == runs.data,
            "{stem}: labels differ from the run's"
        );
        let organs = line["organs"].as_array().unwrap();
        assert_eq!(organs.len(), 13, "{line}");
        let liver = &organs[5];
        assert_eq!(liver["organ"], "liver", "{line}");
        let voxels = ours.data.iter().filter(|&&l| l == 6).count() as u64;
        assert_eq!(liver["voxels"].as_u64().unwrap(), voxels, "{line}");
        assert!(voxels > 0, "the trained model finds the liver: {line}");
        let mm3 = ssl3d::segment::voxel_mm3(&ours.affine);
        let ml = liver["volume_ml"].as_f64().unwrap();
        assert!((ml - voxels as f64 * mm3 / 1000.0).abs() < 1e-9, "{line}");
        liver_ml.push(ml);
    }
    let csv = std::fs::read_to_string(out.join("volumes.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 13, "{csv}");
    assert!(csv.starts_with("scan,label,organ,voxels,volume_ml,mean_intensity,seconds\n"));

    // A rerun reuses the label maps and measures the same volumes.
    let again = segment_validation();
    let err = String::from_utf8_lossy(&again.stderr).to_string();
    assert!(
        again.status.success() && err.contains("2 more already done"),
        "{err}"
    );
    let csv_again = std::fs::read_to_string(out.join("volumes.csv")).unwrap();
    let volumes = |csv: &str| -> Vec<String> {
        csv.lines()
            .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(volumes(&csv_again), volumes(&csv));

    // A folder with one good scan and one broken one: the good one is segmented, the broken one
    // named with its problem, and the exit code says something failed.
    let folder = dir.join("new_scans");
    std::fs::create_dir_all(&folder).unwrap();
    let good = Path::new(lines[0]["scan"].as_str().unwrap());
    std::fs::copy(good, folder.join("good.nii.gz")).unwrap();
    std::fs::write(folder.join("broken.nii.gz"), b"not a gzip stream").unwrap();
    let out_folder = dir.join("segmented_folder");
    let run_folder = segment_into(run, &folder, &out_folder).output().unwrap();
    let err = String::from_utf8_lossy(&run_folder.stderr).to_string();
    assert_eq!(run_folder.status.code(), Some(2), "{err}");
    assert!(err.contains("broken.nii.gz"), "{err}");
    assert!(out_folder.join("good_seg.nii.gz").is_file(), "{err}");
    assert!(!out_folder.join("broken_seg.nii.gz").exists());
    let csv = std::fs::read_to_string(out_folder.join("volumes.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 13, "{csv}");
    assert!(out_folder.join("good_qc.png").is_file());
    assert!(liver_ml.iter().all(|&ml| ml > 0.0));

    stored_in_another_orientation_segments_the_same_voxels(run, good, dir);
    flips_and_probabilities_in_the_scans_own_header(run, good, &out_folder, dir);
}

/// `--tta flip --probabilities` on a scan whose qform and sform disagree (as many scanners'
/// files do): the outputs carry both, with their codes, as the scan has them; the probability
/// map has one channel per class summing to one, and its argmax is the label map. A rerun with
/// other settings into the same folder is refused.
fn flips_and_probabilities_in_the_scans_own_header(
    run: &Path,
    scan: &Path,
    plain_out: &Path,
    dir: &Path,
) {
    use ssl3d::io::{Placement, load_volume, read_header, read_nifti, write_image};
    let folder = dir.join("own_header");
    std::fs::create_dir_all(&folder).unwrap();
    let volume = load_volume(scan).unwrap();
    let mut header = read_header(scan).unwrap().raw;
    header.sform_code = 2;
    header.qform_code = 1;
    header.quatern_x += 3.0;
    let input = folder.join("good.nii.gz");
    write_image(&input, &volume.data, Placement::LikeHeader(&header)).unwrap();
    let out = dir.join("own_header_segmented");
    let segment_with = |tta: &str| {
        segment_into(run, &folder, &out)
            .args(["--tta", tta, "--probabilities", "--json"])
            .output()
            .unwrap()
    };
    let result = segment_with("flip");
    let err = String::from_utf8_lossy(&result.stderr).to_string();
    assert!(result.status.success(), "{err}");
    let line: Value = serde_json::from_slice(&result.stdout).unwrap();
    let seg_path = out.join("good_seg.nii.gz");
    let prob_path = out.join("good_prob.nii.gz");
    assert_eq!(line["probabilities"], prob_path.to_str().unwrap(), "{line}");
    for path in [&seg_path, &prob_path] {
        let h = read_header(path).unwrap().raw;
        assert_eq!((h.qform_code, h.sform_code), (1, 2), "{}", path.display());
        assert_eq!(
            [
                h.quatern_b,
                h.quatern_c,
                h.quatern_d,
                h.quatern_x,
                h.quatern_y,
                h.quatern_z
            ],
            [
                header.quatern_b,
                header.quatern_c,
                header.quatern_d,
                header.quatern_x,
                header.quatern_y,
                header.quatern_z
            ]
        );
        assert_eq!(
            [h.srow_x, h.srow_y, h.srow_z],
            [header.srow_x, header.srow_y, header.srow_z]
        );
        assert_eq!(h.pixdim[..4], header.pixdim[..4]);
    }
    let labels = load_labels(&seg_path).unwrap().data;
    let image = read_nifti(&prob_path).unwrap();
    let ssl3d::io::VoxelData::Scalar(probs) = image.data else {
        panic!("float probabilities")
    };
    let (x, y, z) = labels.dim();
    assert_eq!(probs.shape(), &[x, y, z, 14]);
    let mut argmax_differs = 0;
    for ((i, j, k), &label) in labels.indexed_iter() {
        let p: Vec<f32> = (0..14).map(|c| probs[[i, j, k, c]]).collect();
        let sum: f32 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "({i}, {j}, {k}) sums to {sum}");
        let best = p.iter().cloned().fold(f32::MIN, f32::max);
        if p[label as usize] < best - 1e-6 {
            argmax_differs += 1;
        }
    }
    assert_eq!(
        argmax_differs, 0,
        "the label map is the probabilities' argmax"
    );
    // Flipping changes a few border voxels at most: the same organs, mostly the same voxels.
    let plain = load_labels(&plain_out.join("good_seg.nii.gz"))
        .unwrap()
        .data;
    let agree = plain.iter().zip(&labels).filter(|(a, b)| a == b).count();
    assert!(
        agree as f64 > 0.9 * labels.len() as f64,
        "{agree} of {} voxels agree with the plain prediction",
        labels.len()
    );
    assert!(labels.iter().any(|&l| l == 6), "the liver is still found");

    // Into the same folder without flipping: refused, naming the setting.
    let again = segment_with("none");
    let err = String::from_utf8_lossy(&again.stderr).to_string();
    assert!(!again.status.success(), "{err}");
    assert!(err.contains("tta was \"flip\", now \"none\""), "{err}");
}

/// The same scan stored with its first two axes flipped (LPS-style storage of a RAS scan: the
/// same voxels and world positions, another array order) is segmented voxel for voxel like the
/// original, once read back and flipped again.
fn stored_in_another_orientation_segments_the_same_voxels(run: &Path, scan: &Path, dir: &Path) {
    use ndarray::{Axis, s};
    use ssl3d::io::{load_volume, write_volume};
    let folder = dir.join("orientations");
    std::fs::create_dir_all(&folder).unwrap();
    let volume = load_volume(scan).unwrap();
    write_volume(
        &folder.join("canonical.nii.gz"),
        &volume.data,
        &volume.affine,
    )
    .unwrap();
    let flipped = volume.data.slice(s![..;-1, ..;-1, ..]).to_owned();
    let mut affine = volume.affine;
    for axis in 0..2 {
        let n = volume.data.len_of(Axis(axis)) as f64 - 1.0;
        for row in affine.iter_mut().take(3) {
            row[3] += row[axis] * n;
            row[axis] = -row[axis];
        }
    }
    write_volume(&folder.join("flipped.nii.gz"), &flipped, &affine).unwrap();
    let out = dir.join("orientations_segmented");
    let result = segment_into(run, &folder, &out).output().unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let canonical = load_labels(&out.join("canonical_seg.nii.gz")).unwrap();
    let flipped = load_labels(&out.join("flipped_seg.nii.gz")).unwrap();
    for (got, want) in flipped.affine.iter().flatten().zip(affine.iter().flatten()) {
        assert!(
            (got - want).abs() < 1e-4,
            "the label map keeps its scan's affine"
        );
    }
    let back = flipped.data.slice(s![..;-1, ..;-1, ..]).to_owned();
    assert!(canonical.data.iter().any(|&l| l > 0));
    assert!(
        back == canonical.data,
        "{} of {} voxels differ",
        back.iter()
            .zip(&canonical.data)
            .filter(|(a, b)| a != b)
            .count(),
        back.len()
    );
}
