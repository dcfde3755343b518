//! Proof that the SSL step learns: a small ViTAutoEnc trained with the tutorial's losses and Adam on
//! synthetic chest CT (the real pipeline, small patches) clearly lowers its reconstruction loss.

mod common;

use std::sync::Arc;

use burn::backend::{Autodiff, Flex};
use ssl3d::data::synthetic::{SynthOptions, SynthSize, generate};
use ssl3d::data::{CacheMode, LoaderConfig, Split, VolumeDataset, epoch_batches, load_datalist};
use ssl3d::networks::{VitAutoEncConfig, VitConfig};
use ssl3d::train::ssl_step::SslTrainer;
use ssl3d::transforms::PretrainTransforms;
use ssl3d::transforms::pipelines::PipelineSpec;

#[test]
fn reconstruction_loss_falls_on_synthetic_ct() {
    let dir = common::scratch("ssl_learning");
    let opts = SynthOptions {
        out_dir: dir.join("data"),
        json_dir: dir.join("json"),
        seed: 21,
        size: SynthSize::Tiny,
        chest_count: 5,
        labelled: 1,
        validation: 1,
    };
    generate(&opts, &|| {}).unwrap();
    let items = load_datalist(
        &dir.join("json/tcia/dataset_split.json"),
        Split::Training,
        Some(&dir.join("data/tcia")),
        false,
    )
    .unwrap();
    let spec = PipelineSpec::Pretrain(PretrainTransforms {
        pixdim: [6.0, 6.0, 8.0],
        patch_size: [32, 32, 16],
        ..Default::default()
    });
    let ds = Arc::new(
        VolumeDataset::new(
            items,
            spec,
            CacheMode::Ram {
                budget_bytes: 1 << 30,
            },
        )
        .unwrap(),
    );
    let vit = VitConfig::new()
        .with_img_size([32, 32, 16])
        .with_patch_size([4, 4, 4])
        .with_hidden_size(48)
        .with_mlp_dim(96)
        .with_num_layers(2)
        .with_num_heads(4);
    let model = VitAutoEncConfig::new(vit)
        .with_deconv_chns(8)
        .init::<Autodiff<Flex>>(&Default::default());
    let mut trainer = SslTrainer::new(model, 1e-3, 0.05);
    let cfg = LoaderConfig {
        volumes_per_batch: 2,
        shuffle: true,
        drop_last: false,
        prefetch: 2,
        run_seed: 7,
    };
    let mut recon = Vec::new();
    for epoch in 0..12 {
        for batch in epoch_batches(ds.clone(), cfg, epoch) {
            let losses = trainer.step(&batch.unwrap().tensors).unwrap();
            assert!(losses.total.is_finite() && losses.contrastive.is_finite());
            recon.push(losses.recon);
        }
    }
    let k = 4;
    let first: f64 = recon[..k].iter().sum::<f64>() / k as f64;
    let last: f64 = recon[recon.len() - k..].iter().sum::<f64>() / k as f64;
    eprintln!(
        "reconstruction L1: {first:.4} -> {last:.4} over {} steps",
        recon.len()
    );
    assert!(
        last < 0.7 * first,
        "reconstruction L1 went from {first:.4} to {last:.4} over {} steps",
        recon.len()
    );
    // Validation runs without gradients and is finite.
    let batch = epoch_batches(ds, cfg, 99).next().unwrap().unwrap();
    assert!(trainer.validate(&batch.tensors).unwrap().is_finite());
}
