//! ConVIRT on CT volumes (ssl3d's `ct` section): the views resize as MONAI's trilinear `Resize`
//! (tests/fixtures/volume_views.json, scripts/reference/gen_volume_views.py), keep the share of
//! the volume they are asked to, and a run on the synthetic corpus's CT trains, resumes bit for
//! bit and leaves a backbone that `ssl-finetune`'s UNETR takes.

use std::path::{Path, PathBuf};

use ndarray::Array3;
use serde_json::Value;
use ssl3d::networks::checkpoint::read_safetensors;
use ssl3d::networks::nets::{UnetrConfig, VitConfig};
use ssl3d::train::convirt_config::ConvirtConfig;
use ssl3d::train::{Init, starting_unetr};
use ssl3d::transforms::RandomState;
use ssl3d::transforms::volume_views::{VolumeDraws, VolumeViews, resize_trilinear};

use crate::common;
use crate::convirt_run::{convirt, ok, records, synth_pairs};

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/volume_views.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixture's input: `sin(0.7 x + 0.3) cos(0.45 y) + 0.1 z² − 0.05 x y`.
fn formula_volume(shape: [usize; 3]) -> Array3<f32> {
    Array3::from_shape_fn(shape, |(x, y, z)| {
        let (x, y, z) = (x as f64, y as f64, z as f64);
        ((0.7 * x + 0.3).sin() * (0.45 * y).cos() + 0.1 * z * z - 0.05 * x * y) as f32
    })
}

fn dims(v: &Value) -> [usize; 3] {
    let a: Vec<usize> = serde_json::from_value(v.clone()).unwrap();
    a.try_into().unwrap()
}

fn views(roi: [usize; 3]) -> VolumeViews {
    let ct = ssl3d::train::convirt_config::ConvirtCtSection {
        roi_size: roi,
        ..Default::default()
    };
    ct.views()
}

#[test]
fn ct_views_resize_and_flip_as_monai() {
    let f = fixture();
    let vol = formula_volume(dims(&f["shape"]));
    for case in f["cases"].as_array().unwrap() {
        let out = dims(&case["out"]);
        let draws = VolumeDraws {
            start: dims(&case["start"]),
            size: dims(&case["size"]),
            flip: case["flip"].as_bool().unwrap(),
        };
        let got = views(out).apply(&vol, &draws);
        let want: Vec<f32> = serde_json::from_value(case["values"].clone()).unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{draws:?} → {out:?}: voxel {i}: {g} vs MONAI's {w}"
            );
        }
        if draws.start == [0, 0, 0] && draws.size == <[usize; 3]>::from(vol.dim()) && !draws.flip {
            let whole: Vec<f32> = resize_trilinear(vol.view(), out).into_iter().collect();
            assert_eq!(whole, got, "a whole-volume box is the plain resize");
        }
    }
}

#[test]
fn ct_views_keep_their_share_of_the_volume() {
    let v = VolumeViews {
        crop_scale: (0.5, 0.9),
        flip_p: 0.3,
        ..views([32, 32, 32])
    };
    let base = v.base_shape();
    assert!(
        (0..3).all(|d| (base[d] as f64 * 0.5f64.cbrt()).round() as usize >= 32),
        "the smallest box of the base grid {base:?} still has the view's 32 voxels a side"
    );
    let mut rng = RandomState::new(3);
    let draws: Vec<VolumeDraws> = (0..400).map(|_| v.draw(base, &mut rng)).collect();
    for d in &draws {
        let share: f64 = (0..3).map(|a| d.size[a] as f64 / base[a] as f64).product();
        // Whole voxels: a side of 41 rounds by up to half a voxel.
        assert!((0.47..=0.96).contains(&share), "{d:?} keeps {share}");
        assert!((0..3).all(|a| d.start[a] + d.size[a] <= base[a]), "{d:?}");
    }
    let flips = draws.iter().filter(|d| d.flip).count();
    assert!((80..=160).contains(&flips), "{flips} flips of 400 at p 0.3");
    let mut again = RandomState::new(3);
    assert_eq!(
        v.draw(base, &mut again),
        draws[0],
        "the same seed, the same view"
    );
}

#[test]
fn ct_section_is_checked() {
    let base = r#"{"dataset": {"csv_file": "p.csv", "img_root_dir": ".", "text_root_dir": "."},
        "ct": "#;
    let parse = |ct: &str| -> ssl3d::error::Result<ConvirtConfig> {
        let cfg: ConvirtConfig = serde_json::from_str(&format!("{base}{ct}}}"))
            .map_err(|e| ssl3d::error::Error::InvalidArgument(e.to_string()))?;
        cfg.check().map(|_| cfg)
    };
    let cfg = parse("{}").unwrap();
    let ct = cfg.ct.unwrap();
    assert_eq!(ct.roi_size, [96, 96, 96], "the tutorial's ViT by default");
    assert_eq!(ct.vit().hidden_size, VitConfig::new().hidden_size);
    for (bad, says) in [
        (r#"{"patch_size": [16, 16, 7]}"#, "must divide roi_size"),
        (r#"{"num_heads": 5}"#, "divisible by ct.num_heads"),
        (r#"{"crop_scale": [0.9, 0.5]}"#, "crop_scale"),
        (r#"{"flip_p": 2}"#, "flip_p"),
        (r#"{"pixdim": [0, 2, 2]}"#, "ct.pixdim"),
        (r#"{"roi": [32, 32, 32]}"#, "unknown field"),
    ] {
        let err = parse(bad).unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

fn step_losses(dir: &Path) -> Vec<Value> {
    (records(dir, "step").iter())
        .map(|r| r["losses"].clone())
        .collect()
}

/// The corpus's `config-ct.yaml` at batch 4.
fn ct_config(dir: &Path) -> PathBuf {
    crate::convirt_run::edited_config(
        dir,
        "config-ct.yaml",
        "ct4.yaml",
        &[("batch_size: 8", "batch_size: 4")],
    )
}

#[test]
fn ssl_convirt_on_ct_trains_resumes_and_feeds_unetr() {
    let root = common::scratch("convirt_ct_run");
    let data = root.join("pairs");
    synth_pairs(&data, 16, 5);
    let cfg_path = ct_config(&data);
    let cfg = ConvirtConfig::load(&cfg_path).unwrap();
    let ct = cfg.ct.clone().expect("config-ct.yaml has the ct section");
    assert_eq!(cfg.dataset.img_path_col, 2, "the image column is the CT");

    let straight = root.join("straight");
    ok(&convirt(&cfg_path, &straight, 2, &[]));
    // 16 pairs, 4 held out: 12 training pairs, 3 batches an epoch.
    assert_eq!(step_losses(&straight).len(), 6);
    let resumed = root.join("resumed");
    ok(&convirt(&cfg_path, &resumed, 1, &[]));
    ok(&convirt(&cfg_path, &resumed, 2, &["--resume"]));
    assert_eq!(
        step_losses(&resumed),
        step_losses(&straight),
        "a resumed CT run trains otherwise"
    );
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["init"]["kind"], "bert + random vit", "{run}");

    // The export holds the ViT under UNETR's names beside BERT and the heads.
    let saved = read_safetensors(&straight.join("best_model.safetensors")).unwrap();
    for key in [
        "vit.patch_embedding.patch_embeddings.weight",
        "vit.blocks.0.attn.qkv.weight",
        "vit.norm.weight",
        "res_l1.weight",
        "bert_model.embeddings.word_embeddings.weight",
    ] {
        assert!(
            saved.contains_key(key),
            "best_model.safetensors lacks {key}"
        );
    }
    assert!(!saved.keys().any(|k| k.starts_with("res_features")));

    // A CT run can start its ViT from an image-only pretraining (here: that run's export,
    // which holds the backbone under UNETR's names as ssl-pretrain's holds it at the top).
    let from_run = format!("  vit_weights: {}", straight.display());
    let text = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace("  vit_weights: random", &from_run);
    assert!(text.contains(&from_run), "config-ct.yaml names vit_weights");
    let warm_cfg = data.join("warm.yaml");
    std::fs::write(&warm_cfg, text).unwrap();
    let warm = root.join("warm");
    ok(&convirt(&warm_cfg, &warm, 1, &[]));
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(warm.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["init"]["kind"], "bert + pretrained vit", "{run}");
    // A start with no ViT in it is refused: the radiograph corpus config's run has none.
    let radiographs = root.join("radiographs");
    ok(&convirt(
        &crate::convirt_run::config(&data, "r.yaml", 4, 0.25, &[]),
        &radiographs,
        1,
        &[],
    ));
    let no_vit = data.join("no_vit.yaml");
    std::fs::write(
        &no_vit,
        std::fs::read_to_string(&cfg_path).unwrap().replace(
            "  vit_weights: random",
            &format!("  vit_weights: {}", radiographs.display()),
        ),
    )
    .unwrap();
    let out = convirt(&no_vit, &root.join("refused"), 1, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no ViT backbone"), "{err}");

    // ssl-finetune's UNETR takes that backbone from the run folder.
    type A = burn::backend::Autodiff<burn::backend::Flex>;
    let unetr = UnetrConfig::new(ct.vit()).with_out_channels(3);
    assert_eq!(
        ct.vit().num_layers,
        12,
        "UNETR takes skips from blocks 4, 7 and 10"
    );
    let (model, init) =
        starting_unetr::<A>(&unetr, 0, Some(&straight), &Default::default()).unwrap();
    let Init::Pretrained { report, path } = init else {
        panic!("the ConVIRT run was not taken as pretrained weights")
    };
    assert!(path.ends_with("best_model.safetensors"));
    assert!(
        report.loaded.iter().any(|k| k.starts_with("vit.blocks.")),
        "{report:?}"
    );
    let qkv: Vec<f32> = model.vit.blocks[0]
        .attn
        .qkv
        .weight
        .val()
        .into_data()
        .to_vec()
        .unwrap();
    let want = &saved["vit.blocks.0.attn.qkv.weight"];
    let [rows, cols] = [want.shape[0], want.shape[1]];
    let want: Vec<f32> = want.to_vec().unwrap();
    // Burn keeps Linear weights transposed.
    for (i, w) in want.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        assert_eq!(qkv[c * rows + r], *w, "qkv weight ({r}, {c})");
    }
}
