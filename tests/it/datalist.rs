//! MONAI datalists: the tutorial's copies in `json_files/` read like `load_decathlon_datalist`, and
//! up-front validation reports every missing or broken file in one error.

use crate::common;

use std::path::{Path, PathBuf};

use ndarray::Array3;
use ssl3d::Error;
use ssl3d::data::{Split, load_datalist, validate_items};
use ssl3d::io::write_volume;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn tutorial_datalists_are_byte_identical_copies() {
    let Some(refdir) = common::reference_dir() else {
        return;
    };
    for rel in [
        "tcia/dataset_split.json",
        "btcv/dataset_0.json",
        "btcv/dataset_0_init_12.json",
        "btcv/dataset_0_init_6.json",
    ] {
        let ours = std::fs::read(repo("json_files").join(rel)).unwrap();
        let theirs = std::fs::read(refdir.join("json_files").join(rel)).unwrap();
        assert_eq!(ours, theirs, "{rel}");
    }
}

#[test]
fn btcv_splits_read_like_monai() {
    let base = Path::new("/data/btcv");
    for (file, n) in [
        ("dataset_0.json", 24),
        ("dataset_0_init_12.json", 12),
        ("dataset_0_init_6.json", 6),
    ] {
        let path = repo("json_files/btcv").join(file);
        let train = load_datalist(&path, Split::Training, Some(base), true).unwrap();
        let val = load_datalist(&path, Split::Validation, Some(base), true).unwrap();
        assert_eq!((train.len(), val.len()), (n, 6), "{file}");
        assert_eq!(train[0].image, base.join("imagesTr/img0001.nii.gz"));
        assert_eq!(
            train[0].label.as_deref(),
            Some(base.join("labelsTr/label0001.nii.gz").as_path())
        );
        assert_eq!(val[0].image, base.join("imagesTr/img0035.nii.gz"));
        // Bare strings in "test" become images.
        let test = load_datalist(&path, Split::Test, Some(base), true).unwrap();
        assert_eq!(test.len(), 20);
        assert_eq!(test[0].image, base.join("imagesTs/img0061.nii.gz"));
        assert!(test[0].label.is_none());
    }
    // Without is_segmentation, labels are not joined (MONAI keeps them as extra keys).
    let items = load_datalist(
        &repo("json_files/btcv/dataset_0.json"),
        Split::Training,
        Some(base),
        false,
    )
    .unwrap();
    assert!(items[0].label.is_none() && items[0].extra.contains_key("label"));
    let tcia = repo("json_files/tcia/dataset_split.json");
    assert_eq!(
        load_datalist(&tcia, Split::Training, Some(base), false)
            .unwrap()
            .len(),
        600
    );
    assert_eq!(
        load_datalist(&tcia, Split::Validation, Some(base), false)
            .unwrap()
            .len(),
        171
    );
    // Default data dir: the datalist's folder.
    let items = load_datalist(&tcia, Split::Training, None, false).unwrap();
    assert!(items[0].image.starts_with(repo("json_files/tcia/data")));
    let err = load_datalist(&tcia, Split::Test, None, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dataset_split.json") && err.contains("\"test\""),
        "{err}"
    );
}

#[test]
fn validation_reports_every_bad_file_at_once() {
    let dir = common::scratch("datalist_validate");
    let affine = ssl3d::io::affine::identity();
    write_volume(
        &dir.join("good.nii.gz"),
        &Array3::<i16>::zeros((8, 8, 4)),
        &affine,
    )
    .unwrap();
    write_volume(
        &dir.join("good_label.nii.gz"),
        &Array3::<u8>::zeros((8, 8, 4)),
        &affine,
    )
    .unwrap();
    write_volume(
        &dir.join("other_label.nii.gz"),
        &Array3::<u8>::zeros((8, 8, 5)),
        &affine,
    )
    .unwrap();
    std::fs::write(dir.join("broken.nii.gz"), b"not gzip").unwrap();
    let list = serde_json::json!({
        "training": [
            {"image": "good.nii.gz", "label": "good_label.nii.gz"},
            {"image": "missing.nii.gz", "label": "good_label.nii.gz"},
            {"image": "broken.nii.gz", "label": "missing_label.nii.gz"},
            {"image": "good.nii.gz", "label": "other_label.nii.gz"},
        ],
        "validation": []
    });
    let path = dir.join("list.json");
    std::fs::write(&path, format!("  \n {list}")).unwrap();
    let items = load_datalist(&path, Split::Training, Some(&dir), true).unwrap();
    let err = validate_items(&items, true).unwrap_err();
    let Error::Files(errors) = &err else {
        panic!("expected a list of file errors, got {err}");
    };
    assert_eq!(errors.len(), 4, "{err}");
    let text = err.to_string();
    for name in [
        "missing.nii.gz",
        "broken.nii.gz",
        "missing_label.nii.gz",
        "other_label.nii.gz",
    ] {
        assert!(text.contains(name), "{name} not reported in:\n{text}");
    }
    validate_items(&items[..1], true).unwrap();
}
