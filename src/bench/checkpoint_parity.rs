//! Does a checkpoint written on one device give the same outputs on the CPU? An ssl3d native
//! checkpoint (`model.mpk` beside its `model.config.json`: ViTAutoEnc or UNETR) is loaded through
//! the CPU backend with ssl3d's kernels and through backend `B` on its device, both run the same
//! deterministic crop, and the outputs are compared. The device check runs it on the checkpoints
//! its short GPU runs wrote (`ssl-bench --model checkpoint-parity --checkpoint FILE`).

use std::path::Path;

use burn::backend::Flex;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::Serialize;

use super::device_parity::{floats, smooth_volume};
use crate::error::{Error, Result};
use crate::networks::native::{NativeConfig, load_native, native_config};
use ssl3d_kernels::{is_cpu_backend, with_generic_ops};

/// The comparison of one checkpoint's outputs.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointParity {
    pub checkpoint: String,
    pub model: &'static str,
    pub device: String,
    /// Largest |device − CPU| over the output, and the output's largest |value| on the CPU.
    pub output_max_abs_diff: f64,
    pub output_scale: f64,
    /// ‖device − CPU‖ / ‖CPU‖ over the whole output.
    pub output_rel_l2: f64,
}

/// Loads `weights` (with its config beside it) on the CPU and on `device` and compares one
/// forward pass over the same crop.
pub fn checkpoint_parity<B: Backend>(
    weights: &Path,
    device: &B::Device,
    name: &str,
) -> Result<CheckpointParity> {
    let device_side = |f: &dyn Fn() -> Result<Vec<f64>>| {
        if is_cpu_backend::<B>() {
            with_generic_ops(f)
        } else {
            f()
        }
    };
    let cpu = Default::default();
    let (model, cpu_out, dev_out) = match native_config(weights)? {
        NativeConfig::Unetr(cfg) => {
            let on_cpu = load_native(cfg.init::<Flex>(&cpu), weights, &cpu)?;
            let a = floats(on_cpu.forward(crop::<Flex>(cfg.vit.img_size, &cpu)));
            let b = device_side(&|| {
                let on_dev = load_native(cfg.init::<B>(device), weights, device)?;
                Ok(floats(on_dev.forward(crop::<B>(cfg.vit.img_size, device))))
            })?;
            ("unetr", a, b)
        }
        NativeConfig::VitAutoEnc(cfg) => {
            let on_cpu = load_native(cfg.init::<Flex>(&cpu), weights, &cpu)?;
            let a = floats(on_cpu.forward(crop::<Flex>(cfg.vit.img_size, &cpu)).0);
            let b = device_side(&|| {
                let on_dev = load_native(cfg.init::<B>(device), weights, device)?;
                Ok(floats(
                    on_dev.forward(crop::<B>(cfg.vit.img_size, device)).0,
                ))
            })?;
            ("vitautoenc", a, b)
        }
        NativeConfig::DynUnet(_)
        | NativeConfig::SegResNet(_)
        | NativeConfig::SwinUnetr(_)
        | NativeConfig::SwinSslHead(_) => {
            return Err(Error::bad_file(
                weights,
                "checkpoint-parity compares ViTAutoEnc and UNETR checkpoints; this is another network's",
            ));
        }
    };
    let max_abs = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let diff: Vec<f64> = cpu_out.iter().zip(&dev_out).map(|(a, b)| a - b).collect();
    let l2 = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    Ok(CheckpointParity {
        checkpoint: weights.display().to_string(),
        model,
        device: name.to_string(),
        output_max_abs_diff: max_abs(&diff),
        output_scale: max_abs(&cpu_out),
        output_rel_l2: l2(&diff) / l2(&cpu_out).max(f64::MIN_POSITIVE),
    })
}

/// One smooth deterministic crop `[1, 1, size]` (`device_parity`'s values).
fn crop<B: Backend>(size: [usize; 3], device: &B::Device) -> Tensor<B, 5> {
    Tensor::from_data(
        smooth_volume([1, 1, size[0], size[1], size[2]], 0.0),
        device,
    )
}
