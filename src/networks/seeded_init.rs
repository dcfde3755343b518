//! Seeded random initialisation that gives the same weights on every device and in every use.
//! Two things would otherwise change them: each Burn backend has its own random generator (so
//! `B::seed(s)` then `init` draws other weights on CUDA or wgpu than on the CPU), and Burn draws a
//! parameter lazily, when it is first used, so the order in which the weights are drawn follows
//! the first forward pass rather than the network's definition. The network is therefore drawn on
//! the CPU from the seed, every parameter in definition order (by taking its record), and the
//! weights moved to the device. A run's seed means one network on every machine, and a GPU run
//! can be compared with its CPU run step by step.

use std::path::Path;

use burn::backend::Flex;
use burn::module::Module;
use burn::tensor::backend::Backend;

use super::native::{record_bytes, record_from_bytes};
use super::{
    DynUnet, DynUnetConfig, SegResNet, SegResNetConfig, SwinSslHead, SwinSslHeadConfig, SwinUnetr,
    SwinUnetrConfig, Unetr, UnetrConfig, VitAutoEnc, VitAutoEncConfig,
};
use crate::error::Result;

/// A network config that builds its network on any backend.
pub trait InitOn {
    type Network<B: Backend>: Module<B>;
    fn init_on<B: Backend>(&self, device: &B::Device) -> Self::Network<B>;
}

impl InitOn for VitAutoEncConfig {
    type Network<B: Backend> = VitAutoEnc<B>;
    fn init_on<B: Backend>(&self, device: &B::Device) -> VitAutoEnc<B> {
        self.init(device)
    }
}

impl InitOn for UnetrConfig {
    type Network<B: Backend> = Unetr<B>;
    fn init_on<B: Backend>(&self, device: &B::Device) -> Unetr<B> {
        self.init(device)
    }
}

impl InitOn for DynUnetConfig {
    type Network<B: Backend> = DynUnet<B>;
    fn init_on<B: Backend>(&self, device: &B::Device) -> DynUnet<B> {
        self.init(device)
    }
}

impl InitOn for SegResNetConfig {
    type Network<B: Backend> = SegResNet<B>;
    fn init_on<B: Backend>(&self, device: &B::Device) -> SegResNet<B> {
        self.init(device)
    }
}

impl InitOn for SwinUnetrConfig {
    type Network<B: Backend> = SwinUnetr<B>;
    fn init_on<B: Backend>(&self, device: &B::Device) -> SwinUnetr<B> {
        self.init(device)
    }
}

impl InitOn for super::nets::ConvirtModelConfig {
    type Network<B: Backend> = super::nets::Convirt<B>;
    fn init_on<B: Backend>(&self, device: &B::Device) -> super::nets::Convirt<B> {
        self.init(device)
    }
}

impl InitOn for super::nets::BertConfig {
    type Network<B: Backend> = super::nets::BertModel<B>;
    fn init_on<B: Backend>(&self, device: &B::Device) -> super::nets::BertModel<B> {
        self.init(device)
    }
}

impl InitOn for SwinSslHeadConfig {
    type Network<B: Backend> = SwinSslHead<B>;
    fn init_on<B: Backend>(&self, device: &B::Device) -> SwinSslHead<B> {
        self.init(device)
    }
}

/// `cfg`'s network with the random weights `seed` gives on the CPU, on `device`.
pub fn init_seeded<B: Backend, C: InitOn>(
    cfg: &C,
    seed: u64,
    device: &B::Device,
) -> Result<C::Network<B>> {
    // Flex has one global generator: seeding it and drawing a whole network must not interleave
    // with another seeded draw on another thread (concurrent runs in one process, parallel tests).
    static SEEDED_DRAW: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // Held to the end: building the device's network draws too (its eager initial values).
    let _guard = SEEDED_DRAW.lock().unwrap_or_else(|e| e.into_inner());
    let cpu = Default::default();
    Flex::seed(&cpu, seed);
    let here = Path::new("(initial weights)");
    let bytes = record_bytes::<Flex, _>(
        cfg.init_on::<Flex>(&cpu).into_record(),
        "the initial weights",
        here,
    )?;
    let network = cfg.init_on::<B>(device);
    let record = record_from_bytes::<B, _>(bytes, "the initial weights", here, device)?;
    Ok(network.load_record(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks::VitConfig;
    use burn::backend::Autodiff;

    fn floats<B: Backend>(m: &VitAutoEnc<B>) -> Vec<f32> {
        m.vit
            .patch_embedding
            .position_embeddings
            .val()
            .into_data()
            .to_vec()
            .unwrap()
    }

    #[test]
    fn the_cpu_draws_the_same_weights_with_and_without_autodiff() {
        let cfg = VitAutoEncConfig::new(
            VitConfig::new()
                .with_img_size([16; 3])
                .with_hidden_size(12)
                .with_mlp_dim(24)
                .with_num_heads(3)
                .with_num_layers(1),
        )
        .with_deconv_chns(4);
        let device = Default::default();
        let plain = init_seeded::<Flex, _>(&cfg, 7, &device).unwrap();
        let tracked = init_seeded::<Autodiff<Flex>, _>(&cfg, 7, &device).unwrap();
        let other = init_seeded::<Flex, _>(&cfg, 8, &device).unwrap();
        assert_eq!(floats(&plain), floats(&tracked));
        assert_ne!(floats(&plain), floats(&other));
    }
}
