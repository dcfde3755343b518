//! NIfTI reading edge cases a user will meet (broken and surprising files), and the writer's round
//! trip. Broken files are made here from the reference fixtures or from synthetic data.
#![allow(clippy::needless_range_loop)] // tests compare matrices element by element

use crate::common;

use std::io::Write;

use ndarray::Array3;
use ssl3d::io::{
    Affine, check_label_matches, load_labels, load_volume, read_header, read_nifti, write_volume,
};

fn oblique_affine() -> Affine {
    // 0.7 × 0.8 × 2.5 mm voxels, rotated 10° about z, x flipped, with a translation.
    let (s, c) = 10f64.to_radians().sin_cos();
    [
        [-0.7 * c, -0.8 * s, 0.0, 120.5],
        [-0.7 * s, 0.8 * c, 0.0, -33.25],
        [0.0, 0.0, 2.5, -400.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

fn ramp(shape: (usize, usize, usize)) -> Array3<f32> {
    Array3::from_shape_fn(shape, |(i, j, k)| {
        (i as f32) * 0.5 - (j as f32) * 3.0 + (k * k) as f32
    })
}

#[test]
fn written_volumes_read_back_identically_with_both_xforms() {
    let dir = common::scratch("nifti_roundtrip");
    let affine = oblique_affine();
    let data = ramp((7, 5, 3));
    let path = dir.join("ramp.nii.gz");
    write_volume(&path, &data, &affine).unwrap();
    let back = load_volume(&path).unwrap();
    assert_eq!(back.data, data);
    for r in 0..4 {
        for c in 0..4 {
            assert!(
                (back.affine[r][c] - affine[r][c]).abs() < 1e-4,
                "affine[{r}][{c}]"
            );
        }
    }
    // sform and qform both set (code 1, scanner) and describing the same grid.
    let h = read_header(&path).unwrap();
    assert_eq!((h.raw.sform_code, h.raw.qform_code), (1, 1));
    let q = ssl3d::io::affine::qform_affine(&h.raw).unwrap();
    for r in 0..3 {
        for c in 0..4 {
            assert!((q[r][c] - affine[r][c]).abs() < 1e-4, "qform[{r}][{c}]");
        }
    }
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["ramp.nii.gz"]);
}

#[test]
fn label_maps_and_int16_round_trip_losslessly() {
    let dir = common::scratch("nifti_labels");
    let affine = oblique_affine();
    let labels = Array3::from_shape_fn((6, 4, 3), |(i, j, k)| ((i + 2 * j + 3 * k) % 14) as u8);
    write_volume(&dir.join("lab.nii.gz"), &labels, &affine).unwrap();
    let back = load_labels(&dir.join("lab.nii.gz")).unwrap();
    assert_eq!(back.data, labels);
    let hu = Array3::from_shape_fn((6, 4, 3), |(i, j, k)| {
        (i as i16) * 300 - 1024 + (j * k) as i16
    });
    write_volume(&dir.join("hu.nii"), &hu, &affine).unwrap();
    let img = load_volume(&dir.join("hu.nii")).unwrap();
    assert_eq!(img.data, hu.mapv(|v| v as f32));
    // Image and label maps on the same grid match; unknown label values are named.
    check_label_matches(&img, &back, Some(13)).unwrap();
    let err = check_label_matches(&img, &back, Some(9))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lab.nii.gz") && err.contains("[10, 11, 12, 13]"),
        "{err}"
    );
}

#[test]
fn image_and_label_on_different_grids_are_rejected() {
    let dir = common::scratch("nifti_mismatch");
    let affine = oblique_affine();
    write_volume(&dir.join("img.nii.gz"), &ramp((6, 4, 3)), &affine).unwrap();
    write_volume(
        &dir.join("small.nii.gz"),
        &Array3::<u8>::zeros((6, 4, 2)),
        &affine,
    )
    .unwrap();
    let mut shifted = affine;
    shifted[0][3] += 5.0;
    write_volume(
        &dir.join("moved.nii.gz"),
        &Array3::<u8>::zeros((6, 4, 3)),
        &shifted,
    )
    .unwrap();
    let img = load_volume(&dir.join("img.nii.gz")).unwrap();
    let err = check_label_matches(&img, &load_labels(&dir.join("small.nii.gz")).unwrap(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("small.nii.gz") && err.contains("shape"),
        "{err}"
    );
    let err = check_label_matches(&img, &load_labels(&dir.join("moved.nii.gz")).unwrap(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("moved.nii.gz") && err.contains("affine"),
        "{err}"
    );
}

#[test]
fn an_intensity_image_is_not_accepted_as_labels() {
    let dir = common::scratch("nifti_not_labels");
    let path = dir.join("ct.nii.gz");
    let mut data = ramp((4, 4, 4));
    data[[1, 2, 3]] = 2.5;
    write_volume(&path, &data, &oblique_affine()).unwrap();
    let err = load_labels(&path).unwrap_err().to_string();
    assert!(
        err.contains("ct.nii.gz") && err.contains("label value"),
        "{err}"
    );
}

#[test]
fn truncated_gzip_and_short_files_are_clear_errors() {
    let dir = common::scratch("nifti_truncated");
    let full = dir.join("full.nii.gz");
    write_volume(&full, &ramp((40, 30, 20)), &oblique_affine()).unwrap();
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.join("cut.nii.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_nifti(&cut).unwrap_err().to_string();
    assert!(
        err.contains("cut.nii.gz") && err.contains("truncated"),
        "{err}"
    );

    let plain = dir.join("plain.nii");
    write_volume(&plain, &ramp((40, 30, 20)), &oblique_affine()).unwrap();
    let bytes = std::fs::read(&plain).unwrap();
    let short = dir.join("short.nii");
    std::fs::write(&short, &bytes[..bytes.len() - 100]).unwrap();
    let err = read_nifti(&short).unwrap_err().to_string();
    assert!(
        err.contains("short.nii") && err.contains("shorter than its header"),
        "{err}"
    );

    let tiny = dir.join("tiny.nii");
    std::fs::write(&tiny, &bytes[..100]).unwrap();
    let err = read_nifti(&tiny).unwrap_err().to_string();
    assert!(
        err.contains("tiny.nii") && err.contains("truncated"),
        "{err}"
    );

    let not_gz = dir.join("fake.nii.gz");
    std::fs::write(&not_gz, &bytes).unwrap();
    let err = read_nifti(&not_gz).unwrap_err().to_string();
    assert!(err.contains("fake.nii.gz") && err.contains("gzip"), "{err}");

    let missing = dir.join("missing.nii.gz");
    let err = read_nifti(&missing).unwrap_err().to_string();
    assert!(err.contains("missing.nii.gz"), "{err}");
}

#[test]
fn header_without_its_image_names_the_missing_file() {
    let Some(refdir) = common::reference_dir() else {
        return;
    };
    let Some(pair) = reference_file(
        &refdir,
        |f| file_name(f).ends_with(".hdr"),
        ".hdr/.img pair",
    ) else {
        return;
    };
    let dir = common::scratch("nifti_lonely_hdr");
    let src = refdir.join("nifti").join(file_name(&pair));
    std::fs::copy(&src, dir.join("alone.hdr")).unwrap();
    let err = read_nifti(&dir.join("alone.hdr")).unwrap_err().to_string();
    assert!(
        err.contains("alone.hdr") && err.contains("alone.img"),
        "{err}"
    );
    let err = read_header(&dir.join("alone.hdr")).unwrap_err().to_string();
    assert!(err.contains("alone"), "{err}");
    // Naming the .img of a pair finds its header.
    let img = read_nifti(&src.with_extension("img")).unwrap();
    assert_eq!(
        img.header.shape.to_vec(),
        shape_of(&pair),
        "{}",
        file_name(&pair)
    );
}

/// The first file of the reference set's `nifti/reference.json` that nibabel reads and that
/// `wanted` accepts; `None` (with a skip notice naming `what`) when the set has none.
fn reference_file(
    refdir: &std::path::Path,
    wanted: impl Fn(&serde_json::Value) -> bool,
    what: &str,
) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(refdir.join("nifti/reference.json")).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let found = doc["files"]
        .as_array()?
        .iter()
        .find(|f| f["expect"] != "error" && f["data"]["kind"] == "scalar" && wanted(f));
    if found.is_none() {
        eprintln!("SKIPPED: the reference set has no {what}");
    }
    found.cloned()
}

fn file_name(entry: &serde_json::Value) -> String {
    entry["file"].as_str().unwrap().to_string()
}

fn shape_of(entry: &serde_json::Value) -> Vec<usize> {
    entry["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn nan_voxels_and_4d_series_are_rejected_as_ct() {
    let dir = common::scratch("nifti_nan");
    let mut data = ramp((5, 5, 5));
    data[[2, 3, 4]] = f32::NAN;
    data[[0, 1, 0]] = f32::INFINITY;
    let path = dir.join("nan.nii.gz");
    write_volume(&path, &data, &oblique_affine()).unwrap();
    let err = load_volume(&path).unwrap_err().to_string();
    assert!(
        err.contains("nan.nii.gz") && err.contains("2 voxel(s) are NaN or infinite"),
        "{err}"
    );
    // read_nifti itself reads NaNs (inspect reports them).
    assert!(read_nifti(&path).is_ok());

    let Some(refdir) = common::reference_dir() else {
        return;
    };
    let path = |entry: &serde_json::Value| refdir.join("nifti").join(file_name(entry));
    let series = |f: &serde_json::Value| shape_of(f).len() == 4 && shape_of(f)[3] > 1;
    if let Some(entry) = reference_file(&refdir, series, "4-D series") {
        let err = load_volume(&path(&entry)).unwrap_err().to_string();
        let name = std::path::Path::new(&file_name(&entry))
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(
            err.contains(&name) && err.contains("wrong dimensions"),
            "{err}"
        );
    }
    if let Some(entry) = reference_file(&refdir, |f| shape_of(f).len() == 2, "2-D image") {
        let err = load_volume(&path(&entry)).unwrap_err().to_string();
        assert!(
            err.contains("wrong dimensions") && err.contains("2-D"),
            "{err}"
        );
    }
    // A 4-D file whose fourth dimension is 1 is a 3-D volume.
    let single = |f: &serde_json::Value| shape_of(f).len() == 4 && shape_of(f)[3] == 1;
    if let Some(entry) = reference_file(&refdir, single, "4-D file of one volume") {
        let v = load_volume(&path(&entry)).unwrap();
        assert_eq!(v.data.shape(), &shape_of(&entry)[..3]);
    }
}

#[test]
fn garbage_files_never_panic() {
    let dir = common::scratch("nifti_garbage");
    for (name, bytes) in [
        ("zeros.nii", vec![0u8; 400]),
        (
            "text.nii",
            b"hello, this is not a nifti file at all".repeat(20),
        ),
        ("empty.nii", vec![]),
    ] {
        let p = dir.join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        let r = std::panic::catch_unwind(|| read_nifti(&p));
        let err = r.expect("no panic").unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn concatenated_gzip_members_are_read_whole() {
    // `cat a.gz b.gz` is a valid gzip file; readers must not stop after the first member.
    use std::io::Read;
    let dir = common::scratch("nifti_multimember");
    let plain = dir.join("v.nii");
    write_volume(&plain, &ramp((16, 16, 8)), &oblique_affine()).unwrap();
    let bytes = std::fs::read(&plain).unwrap();
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let mut gz = Vec::new();
    for part in [a, b] {
        let mut e = flate2::read::GzEncoder::new(part, flate2::Compression::fast());
        e.read_to_end(&mut gz).unwrap();
    }
    std::fs::write(dir.join("multi.nii.gz"), gz).unwrap();
    let img = load_volume(&dir.join("multi.nii.gz")).unwrap();
    assert_eq!(img.data, ramp((16, 16, 8)));
}

/// `bytes` with the little-endian value `v` written at `offset`.
fn patched(bytes: &[u8], offset: usize, v: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[offset..offset + v.len()].copy_from_slice(v);
    out
}

#[test]
fn untrusted_sizes_in_files_are_clear_errors_not_allocations() {
    let dir = common::scratch("nifti_untrusted");
    let plain = dir.join("plain.nii");
    write_volume(&plain, &ramp((20, 16, 12)), &oblique_affine()).unwrap();
    let bytes = std::fs::read(&plain).unwrap();
    assert_eq!(
        &bytes[344..348],
        b"n+1\0",
        "a little-endian NIfTI-1 single file"
    );
    let ndim7: Vec<u8> = [7i16, 32767, 32767, 32767, 32767, 32767, 32767, 32767]
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .collect();
    for (name, file, expect) in [
        // Seven dimensions of 32767 voxels (bytes 40–55): more bytes than any file.
        (
            "huge.nii",
            patched(&bytes, 40, &ndim7),
            "would need more than",
        ),
        // vox_offset (bytes 108–111) = 1e30.
        (
            "offset.nii",
            patched(&bytes, 108, &1e30f32.to_le_bytes()),
            "invalid vox_offset",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, file).unwrap();
        for err in [
            read_nifti(&path).unwrap_err().to_string(),
            read_header(&path).unwrap_err().to_string(),
        ] {
            assert!(err.contains(name) && err.contains(expect), "{err}");
        }
    }

    // A truncated .nii.gz whose last four bytes claim ~4.3 GB uncompressed (the gzip trailer):
    // read under a 3 GiB address-space limit, it must be an error naming the file, not an abort
    // on a buffer sized from the trailer.
    let gz = dir.join("full.nii.gz");
    write_volume(&gz, &ramp((40, 30, 20)), &oblique_affine()).unwrap();
    let zipped = std::fs::read(&gz).unwrap();
    let mut lying = zipped[..zipped.len() / 2].to_vec();
    lying.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let liar = dir.join("liar.nii.gz");
    std::fs::write(&liar, &lying).unwrap();
    let err = read_nifti(&liar).unwrap_err().to_string();
    assert!(err.contains("liar.nii.gz"), "{err}");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -v 3145728 && exec {} inspect {}",
            env!("CARGO_BIN_EXE_ssl-data"),
            liar.display()
        ))
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("liar.nii.gz") && !stderr.contains("memory allocation"),
        "{stderr}"
    );
}
