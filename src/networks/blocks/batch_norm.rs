//! PyTorch's `BatchNorm2d`, with torchvision's key names (`weight`, `bias`, `running_mean`,
//! `running_var`). Burn's own `BatchNorm` differs in the one place a torchvision model shows: it
//! updates the running variance with the batch's biased variance, where PyTorch uses the unbiased
//! one (`n / (n − 1)` times larger). A ResNet trained here and evaluated in PyTorch, or the other
//! way round, would see other statistics. As in Burn, the mode follows the backend: batch
//! statistics (and a running-statistics update) under autodiff, running statistics otherwise.

use burn::config::Config;
use burn::module::{Module, Param, RunningState};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

#[derive(Config, Debug)]
pub struct BatchNorm2dConfig {
    pub num_features: usize,
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// PyTorch's momentum: `running = (1 − momentum) · running + momentum · batch`.
    #[config(default = 0.1)]
    pub momentum: f64,
}

impl BatchNorm2dConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> BatchNorm2d<B> {
        let c = self.num_features;
        BatchNorm2d {
            weight: Param::from_tensor(Tensor::ones([c], device)),
            bias: Param::from_tensor(Tensor::zeros([c], device)),
            running_mean: RunningState::new(Tensor::zeros([c], device)),
            running_var: RunningState::new(Tensor::ones([c], device)),
            epsilon: self.epsilon,
            momentum: self.momentum,
        }
    }
}

#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub bias: Param<Tensor<B, 1>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
    pub epsilon: f64,
    pub momentum: f64,
}

impl<B: Backend> BatchNorm2d<B> {
    /// `x: [batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [n, c, h, w] = x.dims();
        let flat = x.reshape([n, c, h * w]);
        let (mean, var) = if B::ad_enabled(&flat.device()) {
            let count = (n * h * w) as f64;
            let mean = flat.clone().sum_dim(2).sum_dim(0).div_scalar(count);
            let var = (flat.clone() - mean.clone())
                .square()
                .sum_dim(2)
                .sum_dim(0)
                .div_scalar(count);
            let unbiased = var
                .clone()
                .detach()
                .reshape([c])
                .mul_scalar(if count > 1.0 {
                    count / (count - 1.0)
                } else {
                    1.0
                });
            let keep = 1.0 - self.momentum;
            let running_mean = self.running_mean.value_sync().mul_scalar(keep)
                + mean.clone().detach().reshape([c]).mul_scalar(self.momentum);
            let running_var =
                self.running_var.value_sync().mul_scalar(keep) + unbiased.mul_scalar(self.momentum);
            self.running_mean.update(running_mean.detach());
            self.running_var.update(running_var.detach());
            (mean, var)
        } else {
            (
                self.running_mean.value().reshape([1, c, 1]),
                self.running_var.value().reshape([1, c, 1]),
            )
        };
        // One scale and one shift per channel, then a single pass over the activations.
        let scale = self.weight.val().reshape([1, c, 1]) / (var + self.epsilon).sqrt();
        let shift = self.bias.val().reshape([1, c, 1]) - mean * scale.clone();
        (flat * scale + shift).reshape([n, c, h, w])
    }
}
