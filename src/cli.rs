//! Shared plumbing for the binaries: one place that turns a library error into one readable
//! message and an exit code (2 for bad input), and the `--device` option.

use crate::device::{DeviceSpec, OnBackend};
use crate::error::Error;
use ssl3d_kernels::precision::{Precision, set_precision};

/// Runs a binary's body; prints any error once as `error: ...` and exits with its code.
pub fn run(body: impl FnOnce() -> crate::Result<()>) {
    if let Err(e) = body() {
        match std::env::var(crate::distributed::RANK_ENV) {
            Ok(rank) => eprintln!("error: rank {rank}: {e}"),
            Err(_) => eprintln!("error: {e}"),
        }
        std::process::exit(e.exit_code());
    }
}

/// The `--device` flag shared by every binary that computes.
#[derive(Debug, Clone, clap::Args)]
pub struct DeviceArgs {
    /// Where to compute: `cpu`, `cuda` (GPU 0) or `cuda:N`, `wgpu` (the best Metal, Vulkan or
    /// DX12 adapter) or `wgpu:N` (discrete GPU N). CUDA needs a build with `--features cuda` and
    /// an NVIDIA driver; wgpu a build with `--features wgpu` (docs/GPU.md).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: DeviceSpec,
    /// Matrix products and convolutions in `f32`, or in `bf16` with everything else in f32 (as
    /// PyTorch's autocast; see docs/GPU.md). bf16 is meant for CUDA; on the CPU it runs Burn's
    /// generic ops, slowly; wgpu refuses it.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
}

impl DeviceArgs {
    /// The device of this process: in a data-parallel run on GPUs, process k of a machine takes
    /// the GPU k after the one `--device` names.
    pub fn for_this_rank(&self) -> crate::Result<DeviceArgs> {
        let Some(world) = crate::distributed::World::from_env()? else {
            return Ok(self.clone());
        };
        let k = world.local_rank;
        let device = match self.device {
            DeviceSpec::Cpu => DeviceSpec::Cpu,
            DeviceSpec::Cuda(i) => DeviceSpec::Cuda(i + k),
            DeviceSpec::Wgpu(i) => DeviceSpec::Wgpu(Some(i.unwrap_or(0) + k)),
        };
        Ok(DeviceArgs {
            device,
            ..self.clone()
        })
    }

    /// Sets the precision for this process, then runs `work` on the device's backend.
    pub fn run<W: OnBackend>(&self, work: W) -> Result<W::Output, Error> {
        if !set_precision(self.precision) {
            return Err(Error::InvalidArgument(format!(
                "--precision {}: this process already computes in another precision",
                self.precision
            )));
        }
        self.device.run(work)
    }
}

fn parse_device(s: &str) -> Result<DeviceSpec, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// The options shared by `ssl-pretrain` and `ssl-finetune`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Training configuration (JSON). Fields left out keep the tutorial's values.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// MONAI-style datalist JSON with "training" and "validation" lists.
    #[arg(long = "json")]
    pub datalist: Option<std::path::PathBuf>,
    /// Folder the datalist's relative paths are joined to (MONAI's `base_dir`/`data_root`).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Run folder: metrics, plots, checkpoints and the effective config go here.
    #[arg(long)]
    pub logdir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub launch: crate::distributed::LaunchArgs,
    /// Continue from the last good checkpoint in --logdir.
    #[arg(long)]
    pub resume: bool,
    /// Seed for every random choice of the run (data order, augmentations, initial weights).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override one config field, e.g. `--set lr=2e-4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl RunArgs {
    /// The effective config: defaults, then `--config`, then each `--set`, then `--seed`.
    pub fn layered<C>(&self) -> crate::Result<C>
    where
        C: crate::train::RunConfig,
    {
        let mut sets = self.overrides.clone();
        if let Some(seed) = self.seed {
            sets.push(format!("seed={seed}"));
        }
        crate::train::layered_config(self.config.as_deref(), &sets)
    }

    /// These arguments with `--network` (when given) as the config's `network`, over the file's.
    pub fn with_network(&self, network: Option<crate::networks::NetworkKind>) -> RunArgs {
        let mut args = self.clone();
        if let Some(network) = network {
            (args.overrides).push(format!("network=\"{}\"", network.name()));
        }
        args
    }

    /// A training job from the effective config and the checked inputs ([`Self::spec`]); `None`
    /// after printing the config as JSON when `print_config` (`--print-config`).
    pub fn job<C, J>(
        &self,
        print_config: bool,
        labels: bool,
        make: impl FnOnce(C, crate::train::RunSpec) -> J,
    ) -> crate::Result<Option<J>>
    where
        C: crate::train::RunConfig,
    {
        let cfg: C = self.layered()?;
        if print_config {
            println!(
                "{}",
                serde_json::to_string_pretty(&cfg).expect("configs serialise")
            );
            return Ok(None);
        }
        Ok(Some(make(cfg, self.spec(labels)?)))
    }

    /// Checks the device, requires `--json` and `--logdir`, and reads both splits of the datalist
    /// with every missing or unreadable file of both reported in one error, before anything starts.
    pub fn spec(&self, labels: bool) -> crate::Result<crate::train::RunSpec> {
        use crate::data::{Split, load_datalist, validate_items};
        self.device.device.check_available()?;
        let datalist = self.datalist.clone().ok_or_else(|| {
            Error::InvalidArgument("--json DATALIST is required (see --help)".into())
        })?;
        let logdir = self.logdir.clone().ok_or_else(|| {
            Error::InvalidArgument("--logdir DIR is required (see --help)".into())
        })?;
        let dir = self.data_dir.as_deref();
        let train = load_datalist(&datalist, Split::Training, dir, labels)?;
        let validation = load_datalist(&datalist, Split::Validation, dir, labels)?;
        validate_items(&[train.clone(), validation.clone()].concat(), labels)?;
        Ok(crate::train::RunSpec {
            train,
            validation,
            datalist,
            logdir,
            resume: self.resume,
            device_name: self.device.for_this_rank()?.device.to_string(),
            world: crate::distributed::World::from_env()?,
        })
    }
}
