//! Does a device compute what the CPU computes? Tiny ViTAutoEnc and UNETR with the same weights
//! (moved by state dict) and the same inputs, on backend `B` and on the CPU with ssl3d's kernels:
//! outputs, the tutorials' losses, and every parameter's gradient norm after one backward pass.
//! `ssl-bench --model parity` prints it as JSON; the device check (`scripts/gpu_check.sh`) runs it
//! first. Asked for the CPU itself, the "device" side runs Burn's generic ops
//! (`kernels::with_generic_ops`): the CUDA code path against the CPU kernels.

use std::collections::BTreeMap;

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use serde::Serialize;

use crate::error::Result;
use crate::losses::DiceCeLossConfig;
use crate::networks::state_dict::{Arch, export_state_dict, load_state_dict};
use crate::networks::{UnetrConfig, VitAutoEncConfig, VitConfig};
use crate::train::ssl_step::ssl_losses;
use ssl3d_kernels::with_generic_ops;

type Cpu = Autodiff<Flex>;

/// One model's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct ModelParity {
    pub model: &'static str,
    /// Largest |device − CPU| over the output, and the output's largest |value|.
    pub output_max_abs_diff: f64,
    pub output_scale: f64,
    pub loss_cpu: f64,
    pub loss_device: f64,
    pub loss_rel_diff: f64,
    /// Parameters compared, and the largest relative difference of a gradient norm among those
    /// whose norm is at least 1e-3 of the largest (smaller ones, such as a bias just before an
    /// instance norm, whose true gradient is 0, are rounding noise).
    pub parameters: usize,
    pub grad_norm_max_rel_diff: f64,
    /// The parameter (module path) where that largest difference is.
    pub grad_norm_worst_parameter: String,
    /// √Σ‖g‖² over all parameters, on each side.
    pub grad_norm_total_cpu: f64,
    pub grad_norm_total_device: f64,
}

/// Both models' comparisons, and what the device side ran.
#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    pub device: String,
    /// `generic ops on the CPU` when the device is the CPU, else the backend's name.
    pub device_path: String,
    pub models: Vec<ModelParity>,
}

/// What one side computed: output values, loss, gradient norm per parameter (in module order).
struct Side {
    output: Vec<f64>,
    loss: f64,
    grad_norms: Vec<f64>,
    /// Each parameter's module path, in the same order.
    grad_names: Vec<String>,
}

/// Compares backend `B` on `device` with the CPU (see the module doc).
pub fn device_parity<B: AutodiffBackend>(device: &B::Device, name: &str) -> Result<ParityReport> {
    let on_cpu = ssl3d_kernels::is_cpu_backend::<B>();
    let device_side = |f: &dyn Fn() -> Result<Side>| {
        if on_cpu { with_generic_ops(f) } else { f() }
    };
    let cpu = Default::default();
    // Fixed weights, so a report is reproducible (both sides get the same weights by state dict
    // anyway).
    Cpu::seed(&cpu, 20261204);
    let autoenc = tiny_autoenc();
    let reference = autoenc.init::<Cpu>(&cpu);
    let weights = export_state_dict(&reference, Arch::VitAutoEnc)?;
    let ssl_cpu = ssl_side::<Cpu>(&autoenc, &weights, &cpu)?;
    let ssl_dev = device_side(&|| ssl_side::<B>(&autoenc, &weights, device))?;
    let unetr = tiny_unetr();
    let reference = unetr.init::<Cpu>(&cpu);
    let weights = export_state_dict(&reference, Arch::Unetr)?;
    let seg_cpu = seg_side::<Cpu>(&unetr, &weights, &cpu)?;
    let seg_dev = device_side(&|| seg_side::<B>(&unetr, &weights, device))?;
    Ok(ParityReport {
        device: name.to_string(),
        device_path: if on_cpu {
            "generic ops on the CPU".into()
        } else {
            B::name(device)
        },
        models: vec![
            compare("vitautoenc", &ssl_cpu, &ssl_dev),
            compare("unetr", &seg_cpu, &seg_dev),
        ],
    })
}

/// ViTAutoEnc for 32³ crops: 16³ patches (2³ tokens), 48 wide, 2 layers.
fn tiny_autoenc() -> VitAutoEncConfig {
    VitAutoEncConfig::new(tiny_vit(2)).with_deconv_chns(8)
}

/// UNETR for 32³ crops with the 10 layers its skips need, 3 classes.
fn tiny_unetr() -> UnetrConfig {
    UnetrConfig::new(tiny_vit(10))
        .with_feature_size(4)
        .with_out_channels(3)
}

fn tiny_vit(layers: usize) -> VitConfig {
    VitConfig::new()
        .with_img_size([32; 3])
        .with_hidden_size(48)
        .with_mlp_dim(96)
        .with_num_layers(layers)
        .with_num_heads(4)
}

/// A smooth deterministic volume `[batch, channels, 32, 32, 32]` (no random generator involved,
/// so both sides see the same values).
fn volume(batch: usize, channels: usize, phase: f64) -> TensorData {
    smooth_volume([batch, channels, 32, 32, 32], phase)
}

/// Smooth deterministic values in [0, 1] of `shape`, the same on every backend.
pub(super) fn smooth_volume(shape: [usize; 5], phase: f64) -> TensorData {
    let n = shape.iter().product::<usize>();
    let values: Vec<f32> = (0..n)
        .map(|i| ((i as f64 * 0.0137 + phase).sin() * 0.5 + 0.5) as f32)
        .collect();
    TensorData::new(values, shape)
}

fn ssl_side<B: AutodiffBackend>(
    config: &VitAutoEncConfig,
    weights: &BTreeMap<String, TensorData>,
    device: &B::Device,
) -> Result<Side> {
    let mut model = config.init::<B>(device);
    load_state_dict(&mut model, Arch::VitAutoEnc, weights)?;
    let x = |phase| Tensor::<B, 5>::from_data(volume(2, 1, phase), device);
    let (total, _, _) = ssl_losses(&model, x(0.0), x(1.0), x(2.0), 0.05);
    let (output, _) = model.forward(x(0.0));
    finish(model, output, total)
}

fn seg_side<B: AutodiffBackend>(
    config: &UnetrConfig,
    weights: &BTreeMap<String, TensorData>,
    device: &B::Device,
) -> Result<Side> {
    let mut model = config.init::<B>(device);
    load_state_dict(&mut model, Arch::Unetr, weights)?;
    let x = Tensor::<B, 5>::from_data(volume(1, 1, 0.5), device);
    let labels = Tensor::<B, 5>::from_data(volume(1, 1, 3.0), device)
        .mul_scalar(2.999)
        .floor();
    let output = model.forward(x);
    let loss = DiceCeLossConfig::tutorial().forward(output.clone(), labels);
    finish(model, output, loss)
}

/// Backward through `loss`, then every parameter's gradient norm.
fn finish<B: AutodiffBackend, M: Module<B>>(
    model: M,
    output: Tensor<B, 5>,
    loss: Tensor<B, 1>,
) -> Result<Side> {
    let grads = loss.backward();
    let mut norms = GradNorms::<B> {
        grads: &grads,
        norms: Vec::new(),
        names: Vec::new(),
        path: Vec::new(),
    };
    model.visit(&mut norms);
    Ok(Side {
        output: floats(output.inner()),
        loss: floats(loss.inner())[0],
        grad_norms: norms.norms,
        grad_names: norms.names,
    })
}

/// Collects ‖∂loss/∂p‖ for every float parameter `p` (0 where a parameter got no gradient).
struct GradNorms<'a, B: AutodiffBackend> {
    grads: &'a B::Gradients,
    norms: Vec<f64>,
    names: Vec<String>,
    /// The modules entered so far.
    path: Vec<String>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradNorms<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let norm = param
            .grad(self.grads)
            .map(|g| {
                floats(g.square().sum())
                    .first()
                    .copied()
                    .unwrap_or(0.0)
                    .sqrt()
            })
            .unwrap_or(0.0);
        self.norms.push(norm);
        self.names.push(self.path.join("."));
    }

    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
}

pub(super) fn floats<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec()
        .expect("converted to f64 just before")
}

fn compare(model: &'static str, cpu: &Side, dev: &Side) -> ModelParity {
    let max_abs = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let output_max_abs_diff = cpu
        .output
        .iter()
        .zip(&dev.output)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    let largest = max_abs(&cpu.grad_norms);
    let (grad_norm_max_rel_diff, worst) = cpu
        .grad_norms
        .iter()
        .zip(&dev.grad_norms)
        .enumerate()
        .filter(|(_, (c, _))| **c >= 1e-3 * largest)
        .map(|(i, (c, d))| ((c - d).abs() / c, i))
        .fold(
            (0.0f64, None),
            |(m, w), (r, i)| {
                if r > m { (r, Some(i)) } else { (m, w) }
            },
        );
    let total = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    ModelParity {
        model,
        output_max_abs_diff,
        output_scale: max_abs(&cpu.output),
        loss_cpu: cpu.loss,
        loss_device: dev.loss,
        loss_rel_diff: (cpu.loss - dev.loss).abs() / cpu.loss.abs().max(f64::MIN_POSITIVE),
        parameters: cpu.grad_norms.len().min(dev.grad_norms.len()),
        grad_norm_max_rel_diff,
        grad_norm_worst_parameter: worst.map_or(String::new(), |i| cpu.grad_names[i].clone()),
        grad_norm_total_cpu: total(&cpu.grad_norms),
        grad_norm_total_device: total(&dev.grad_norms),
    }
}
