//! bf16 compute (`--precision bf16`, autocast-style) on the CPU through Burn's generic ops: the
//! matrix products really run in bf16, outputs stay f32 and close to f32 compute, the f32 weights
//! get f32 gradients, and a few training steps give losses close to an f32 run's.

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{DType, Tensor, TensorData};
use ssl3d::kernels::precision::{Precision, precision, with_precision};
use ssl3d::losses::DiceCeLossConfig;
use ssl3d::networks::seeded_init::init_seeded;
use ssl3d::networks::{UnetrConfig, VitAutoEnc, VitAutoEncConfig, VitConfig};
use ssl3d::train::ssl_step::ssl_losses;

type A = Autodiff<Flex>;

fn vit(layers: usize, img: [usize; 3], patch: usize) -> VitConfig {
    VitConfig::new()
        .with_img_size(img)
        .with_patch_size([patch; 3])
        .with_hidden_size(48)
        .with_mlp_dim(96)
        .with_num_layers(layers)
        .with_num_heads(4)
}

/// The ViTAutoEnc's crop (4³ patches) and the UNETR's (its decoder needs 16³ patches).
const AUTOENC_IMG: [usize; 3] = [32, 32, 16];
const UNETR_IMG: [usize; 3] = [32, 32, 32];

/// A smooth deterministic volume `[batch, channels, img…]`.
fn volume(batch: usize, channels: usize, img: [usize; 3], phase: f64) -> Tensor<A, 5> {
    let n = batch * channels * img.iter().product::<usize>();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i as f64 * 0.0113 + phase).sin() * 0.5 + 0.5) as f32)
        .collect();
    let shape = [batch, channels, img[0], img[1], img[2]];
    Tensor::from_data(TensorData::new(v, shape), &Default::default())
}

/// max |a − b| ÷ max |b|.
fn rel_diff<const D: usize>(a: Tensor<A, D>, b: Tensor<A, D>) -> f64 {
    let scale = b.clone().abs().max().into_scalar() as f64;
    (a - b).abs().max().into_scalar() as f64 / scale
}

#[test]
fn bf16_compute_stays_close_to_f32_and_trains_like_it() {
    assert_eq!(precision(), Precision::F32);
    // ViTAutoEnc and UNETR forward: f32 out, different from f32 compute (bf16 really ran) by
    // about bf16's precision.
    // Seeded weights: a random draw put UNETR's difference past 3e-2 once in a few dozen runs.
    let device = Default::default();
    let autoenc_cfg = VitAutoEncConfig::new(vit(2, AUTOENC_IMG, 4)).with_deconv_chns(8);
    let autoenc = init_seeded::<A, _>(&autoenc_cfg, 1, &device).unwrap();
    let x = volume(2, 1, AUTOENC_IMG, 0.0);
    let (f32_out, _) = autoenc.forward(x.clone());
    let (bf16_out, _) = with_precision(Precision::Bf16, || autoenc.forward(x.clone()));
    assert_eq!(bf16_out.dtype(), DType::F32);
    let d = rel_diff(bf16_out, f32_out);
    eprintln!("ViTAutoEnc output, bf16 vs f32 compute: {d:.2e} of its largest value");
    assert!(d > 1e-5 && d < 3e-2, "ViTAutoEnc bf16 vs f32: {d}");
    let unetr_cfg = UnetrConfig::new(vit(10, UNETR_IMG, 16))
        .with_feature_size(4)
        .with_out_channels(3);
    let unetr = init_seeded::<A, _>(&unetr_cfg, 2, &device).unwrap();
    let x = volume(1, 1, UNETR_IMG, 0.0);
    let f32_out = unetr.forward(x.clone());
    let bf16_out = with_precision(Precision::Bf16, || unetr.forward(x.clone()));
    assert_eq!(bf16_out.dtype(), DType::F32);
    let d = rel_diff(bf16_out.clone(), f32_out);
    eprintln!("UNETR output, bf16 vs f32 compute: {d:.2e} of its largest value");
    assert!(d > 1e-5 && d < 3e-2, "UNETR bf16 vs f32: {d}");
    // Gradients reach the f32 weights as f32 through DiceCE.
    let labels = volume(1, 1, UNETR_IMG, 2.0).mul_scalar(2.999).floor();
    let grads = with_precision(Precision::Bf16, || {
        let out = unetr.forward(volume(1, 1, UNETR_IMG, 1.0));
        DiceCeLossConfig::tutorial().forward(out, labels).backward()
    });
    let g = unetr
        .out
        .conv
        .conv
        .weight
        .grad(&grads)
        .expect("the output conv gets a gradient");
    assert_eq!(g.dtype(), DType::F32);
    assert!(g.abs().sum().into_scalar() > 0.0);

    // Six SSL steps with Adam from the same weights: bf16 losses follow f32's.
    let train = |p: Precision| -> Vec<f64> {
        with_precision(p, || {
            let mut model: VitAutoEnc<A> = autoenc.clone();
            let mut optim = AdamConfig::new().init();
            (0..6)
                .map(|i| {
                    let phase = i as f64;
                    let (total, _, _) = ssl_losses(
                        &model,
                        volume(2, 1, AUTOENC_IMG, phase),
                        volume(2, 1, AUTOENC_IMG, phase + 0.3),
                        volume(2, 1, AUTOENC_IMG, phase + 0.1),
                        0.05,
                    );
                    let value = total.clone().into_scalar() as f64;
                    let grads = GradientsParams::from_grads(total.backward(), &model);
                    model = optim.step(1e-3, model.clone(), grads);
                    value
                })
                .collect()
        })
    };
    let (full, half) = (train(Precision::F32), train(Precision::Bf16));
    eprintln!("SSL losses, f32: {full:.4?}\n           bf16: {half:.4?}");
    for (i, (f, h)) in full.iter().zip(&half).enumerate() {
        assert!(
            h.is_finite() && (h - f).abs() <= 0.05 * f.abs(),
            "step {i}: bf16 {h} vs f32 {f}"
        );
    }
    assert!(full.last() < full.first(), "the f32 run learns: {full:?}");
    assert!(half.last() < half.first(), "the bf16 run learns: {half:?}");
    let _ = autoenc.valid();
}
