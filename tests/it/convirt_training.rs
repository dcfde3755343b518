//! ConVIRT's training step: a tiny model's loss falls on a fixed batch, frozen BERT layers stay as
//! they are while the others learn, a non-finite loss is refused leaving the model unchanged, and
//! the rate follows the reference's schedule (tests/fixtures/convirt_data.json, PyTorch's
//! `CosineAnnealingLR` stepped as its train.py steps it).

use burn::backend::Autodiff;
use burn::tensor::Tensor;
use ndarray::Array4;
use serde_json::Value;
use ssl3d::data::report_pair_dataset::{PairImages, ReportPairBatch};
use ssl3d::networks::nets::{BertConfig, ConvirtModelConfig, ResNetConfig};
use ssl3d::text::TokenBatch;
use ssl3d::train::Trainer;
use ssl3d::train::convirt_step::{ConvirtTrainer, ConvirtTraining, reference_lr};

use crate::networks::B;

type AB = Autodiff<B>;

fn tiny() -> ConvirtModelConfig {
    let bert = BertConfig {
        vocab_size: 30,
        hidden_size: 16,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 32,
        max_position_embeddings: 32,
        hidden_dropout_prob: 0.0,
        attention_probs_dropout_prob: 0.0,
        ..BertConfig::default()
    };
    ConvirtModelConfig::radiograph(ResNetConfig::new([1, 1, 1, 1], false), bert).with_out_dim(8)
}

/// Four pairs: distinct images and distinct token sequences (one padded).
fn batch() -> ReportPairBatch {
    let images = Array4::from_shape_fn((4, 3, 32, 32), |(b, c, y, x)| {
        ((x as f32 * 0.3 + y as f32 * 0.2 * (b + 1) as f32 + c as f32).sin()) * (b as f32 + 1.0)
    });
    let (n, t) = (4, 6);
    let mut input_ids = Vec::new();
    let mut attention_mask = Vec::new();
    for b in 0..n {
        for i in 0..t {
            let pad = b == 3 && i >= 4;
            input_ids.push(if pad {
                0
            } else {
                ((b * 7 + i * 3) % 25 + 4) as i64
            });
            attention_mask.push(if pad { 0 } else { 1 });
        }
    }
    ReportPairBatch {
        images: PairImages::Radiographs(images),
        tokens: TokenBatch {
            batch: n,
            tokens: t,
            input_ids,
            attention_mask,
            token_type_ids: vec![0; n * t],
        },
        texts: vec![String::new(); n],
    }
}

fn training(freeze: Vec<usize>) -> ConvirtTraining {
    ConvirtTraining {
        learning_rate: 1e-3,
        weight_decay: 1e-6,
        temperature: 0.1,
        alpha_weight: 0.75,
        batches_per_epoch: 1,
        freeze_layers: freeze,
    }
}

fn weights(t: Tensor<AB, 2>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

#[test]
fn the_loss_falls_and_frozen_layers_stay_as_they_are() {
    let device = Default::default();
    let model = tiny().init::<AB>(&device);
    let mut trainer = ConvirtTrainer::new(model, training(vec![0]), &device);
    let query = |t: &ConvirtTrainer<AB>, i: usize| {
        weights(
            t.model.bert_model.encoder.layer[i]
                .attention
                .self_attn
                .query
                .weight
                .val(),
        )
    };
    let (frozen, free) = (query(&trainer, 0), query(&trainer, 1));
    let conv1 = |t: &ConvirtTrainer<AB>| {
        let resnet = t.model.res_features.as_ref().unwrap();
        resnet.conv1.weight.val().into_data()
    };
    let conv = conv1(&trainer);
    let b = batch();
    let mut losses = Vec::new();
    for step in 0..8 {
        trainer.begin_step(step);
        losses.push(trainer.step(&b).unwrap());
    }
    assert!(
        losses[7].total < 0.5 * losses[0].total,
        "the loss falls on a fixed batch: {:?}",
        losses.iter().map(|l| l.total).collect::<Vec<_>>()
    );
    for l in &losses {
        let weighted = 0.75 * l.image_to_text + 0.25 * l.text_to_image;
        assert!(
            (l.total - weighted).abs() < 1e-5 * l.total.abs().max(1.0),
            "{l:?}"
        );
    }
    assert_eq!(query(&trainer, 0), frozen, "a frozen BERT layer changed");
    assert_ne!(
        query(&trainer, 1),
        free,
        "a trained BERT layer did not change"
    );
    assert_ne!(conv1(&trainer), conv);
}

#[test]
fn a_non_finite_loss_is_refused_and_the_model_kept() {
    let device = Default::default();
    // A temperature of 0 (which the config refuses) divides the similarities by zero.
    let broken = ConvirtTraining {
        temperature: 0.0,
        ..training(vec![])
    };
    let mut trainer = ConvirtTrainer::new(tiny().init::<AB>(&device), broken, &device);
    let before = trainer.model.res_l2.weight.val().into_data();
    let err = trainer.step(&batch()).unwrap_err().to_string();
    assert!(err.contains("not finite"), "{err}");
    assert_eq!(trainer.model.res_l2.weight.val().into_data(), before);
}

#[test]
fn the_rate_follows_the_reference_schedule() {
    let f: Value = serde_json::from_str(include_str!("../fixtures/convirt_data.json")).unwrap();
    for s in f["lr_schedules"].as_array().unwrap() {
        let per_epoch = s["batches_per_epoch"].as_u64().unwrap();
        let base = s["lr"].as_f64().unwrap();
        for (epoch, want) in s["per_epoch"].as_array().unwrap().iter().enumerate() {
            let got = reference_lr(base, epoch as u64, per_epoch);
            let want = want.as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-12 * base,
                "epoch {epoch}: {got} vs {want}"
            );
        }
        // The trainer's rate in a step is its epoch's.
        let device = Default::default();
        let mut trainer = ConvirtTrainer::new(
            tiny().init::<AB>(&device),
            ConvirtTraining {
                learning_rate: base,
                batches_per_epoch: per_epoch,
                ..training(vec![])
            },
            &device,
        );
        trainer.begin_step(12 * per_epoch + 1);
        assert_eq!(trainer.lr(), reference_lr(base, 12, per_epoch));
    }
}
