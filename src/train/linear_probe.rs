//! A linear probe on frozen image features, as ConVIRT's paper evaluates its encoders
//! (docs/CONVIRT.md, "Evaluation"): one logistic regression per finding, trained on the labelled
//! training pairs' features (standardised by their mean and deviation), full batch, from zero
//! weights (the problem is convex, so no seed enters), with Adam and a small L2 penalty; it
//! scores the test pairs.

use burn::module::AutodiffModule;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use ndarray::{Array2, Axis};

use crate::error::{Error, Result};

/// How the probe trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeSettings {
    pub steps: usize,
    pub learning_rate: f64,
    /// L2 penalty on the weights (not the biases), added to the mean loss.
    pub l2: f64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            steps: 300,
            learning_rate: 1e-2,
            l2: 1e-3,
        }
    }
}

fn tensor<B: Backend>(a: &Array2<f32>, device: &B::Device) -> Tensor<B, 2> {
    let (n, d) = a.dim();
    let v: Vec<f32> = a.iter().copied().collect();
    Tensor::from_data(TensorData::new(v, [n, d]), device)
}

/// Mean binary cross-entropy of `logits` for 0/1 `targets`, stable for large logits:
/// `max(s, 0) − s·y + log(1 + exp(−|s|))`.
fn bce_with_logits<B: AutodiffBackend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let stable =
        logits.clone().clamp_min(0.0) - logits.clone() * targets + logits.abs().neg().exp().log1p();
    stable.mean()
}

/// Trains one logistic regression per column of `train_y` (`[n_train][labels]`) on
/// `train_x` (`[n_train, d]`) and returns the test rows' scores (logits, `[n_test, labels]`).
pub fn linear_probe<B: AutodiffBackend>(
    train_x: &Array2<f32>,
    train_y: &[Vec<bool>],
    test_x: &Array2<f32>,
    settings: ProbeSettings,
    device: &B::Device,
) -> Result<Array2<f32>> {
    let (n, d) = train_x.dim();
    let labels = train_y.first().map_or(0, Vec::len);
    if n == 0 || labels == 0 || train_y.len() != n || test_x.ncols() != d {
        return Err(Error::InvalidArgument(format!(
            "a linear probe needs labelled training features: {n} rows of {d} features, {} \
             label rows of {labels}, test features of {}",
            train_y.len(),
            test_x.ncols()
        )));
    }
    let mean = train_x.mean_axis(Axis(0)).expect("rows");
    let std = train_x.std_axis(Axis(0), 0.0).mapv(|s| s.max(1e-6));
    let standardise = |x: &Array2<f32>| (x - &mean) / &std;
    let x = tensor::<B>(&standardise(train_x), device);
    let y: Vec<f32> = (train_y.iter().flatten())
        .map(|&b| f32::from(u8::from(b)))
        .collect();
    let y = Tensor::<B, 2>::from_data(TensorData::new(y, [n, labels]), device);
    let mut probe: Linear<B> = LinearConfig::new(d, labels)
        .with_initializer(Initializer::Zeros)
        .init(device);
    let mut optim = AdamConfig::new().init();
    for _ in 0..settings.steps {
        let weight = probe.weight.val();
        let loss = bce_with_logits(probe.forward(x.clone()), y.clone())
            + (weight.clone() * weight).sum().mul_scalar(settings.l2);
        let grads = GradientsParams::from_grads(loss.backward(), &probe);
        probe = optim.step(settings.learning_rate, probe, grads);
    }
    let probe = probe.valid();
    let test = tensor::<B::InnerBackend>(&standardise(test_x), device);
    let scores: Vec<f32> = (probe.forward(test).into_data().convert::<f32>())
        .to_vec()
        .expect("f32 scores");
    Ok(Array2::from_shape_vec((test_x.nrows(), labels), scores).expect("rows × labels"))
}
