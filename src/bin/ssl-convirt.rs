//! `ssl-convirt`: ConVIRT's image–report contrastive pretraining, configured by the reference
//! implementation's `config.yaml` (docs/CONVIRT.md).

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use clap::Parser;
use ssl3d::cli::{DeviceArgs, run};
use ssl3d::device::{DeviceSpec, OnBackend};
use ssl3d::kernels::precision::Precision;
use ssl3d::report::convirt_records::ConvirtEvaluation;
use ssl3d::report::convirt_records::ConvirtSummary;
use ssl3d::train::convirt_config::ConvirtConfig;
use ssl3d::train::convirt_evaluate::{Encoder, EvaluationSpec, evaluate_convirt, read_prompts};
use ssl3d::train::linear_probe::ProbeSettings;
use ssl3d::train::{ConvirtRun, convirt};

/// ConVIRT (Zhang et al. 2020): pretrains a ResNet image encoder by pulling each radiograph toward
/// its own report and away from the batch's other reports, with a BERT text encoder, as the
/// reference implementation (edreisMD/ConVIRT-pytorch) configured by its config.yaml.
///
/// Writes to the run folder: config.json (the effective configuration), run.json,
/// metrics.jsonl and events.out.tfevents.ssl3d (TensorBoard: train loss, validation_loss,
/// cosine_lr_decay, retrieval Recall@K), best_model.mpk (+ .config.json) and
/// best_model.safetensors (the reference's ModelCLR key names) by validation loss,
/// final_model.* the same way, summary.json and checkpoints/ (continue with --resume).
///
/// With --evaluate, trains nothing: scores a run's model (or the config's starting model) on
/// the config's held-out pairs — zero-shot classification of each finding from prompts, linear
/// probes with shares of the labels, retrieval — and writes evaluation.json.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// The reference's config.yaml, or the same keys in a .json file.
    #[arg(long, default_value = "config.yaml")]
    config: PathBuf,
    /// Run folder; default a new runs/convirt-<unix time> (never an existing run's folder).
    #[arg(long)]
    logdir: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    /// Continue from the last good checkpoint in --logdir.
    #[arg(long, requires = "logdir")]
    resume: bool,
    /// The config's `seed` (every random choice: initial heads, data order, views).
    #[arg(long)]
    seed: Option<u64>,
    /// The config's `epochs`.
    #[arg(long)]
    epochs: Option<usize>,
    /// Print the effective configuration as JSON and exit.
    #[arg(long)]
    print_config: bool,
    /// Evaluate instead of training: a ConVIRT run folder or model file, or `start` (the model
    /// the config's training starts from: random, ImageNet or image-only pretrained).
    #[arg(long, value_name = "RUN|start")]
    evaluate: Option<String>,
    /// Where --evaluate writes its JSON (default: evaluation.json in the run folder,
    /// <model>.evaluation.json beside a model file, or evaluation-start.json beside the config).
    #[arg(long, requires = "evaluate")]
    out: Option<PathBuf>,
    /// Label columns of the pairs CSV (comma-separated; default: every 0/1 column).
    #[arg(long, requires = "evaluate", value_delimiter = ',')]
    labels: Option<Vec<String>>,
    /// Shares of the training pairs' labels the linear probe sees.
    #[arg(
        long,
        requires = "evaluate",
        value_delimiter = ',',
        default_value = "0.01,0.1,1"
    )]
    fractions: Vec<f64>,
    /// Seeds choosing the labelled pairs (0 … N−1).
    #[arg(long, requires = "evaluate", default_value_t = 3)]
    seeds: u64,
    /// Zero-shot prompts, JSON {"label": {"positive": [...], "negative": [...]}} (default: the
    /// synthetic corpus's labels).
    #[arg(long, requires = "evaluate")]
    prompts: Option<PathBuf>,
}

// As ssl-pretrain: mimalloc keeps freed buffers for reuse (`ssl3d::allocator`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Convirt {
    cfg: ConvirtConfig,
    run: ConvirtRun,
}

impl OnBackend for &Convirt {
    type Output = ConvirtSummary;
    fn run<B: AutodiffBackend>(self, device: &B::Device) -> ssl3d::Result<ConvirtSummary> {
        convirt::<B>(&self.cfg, &self.run, device)
    }
}

struct Evaluate {
    cfg: ConvirtConfig,
    spec: EvaluationSpec,
}

impl OnBackend for &Evaluate {
    type Output = ConvirtEvaluation;
    fn run<B: AutodiffBackend>(self, device: &B::Device) -> ssl3d::Result<ConvirtEvaluation> {
        evaluate_convirt::<B>(&self.cfg, &self.spec, device)
    }
}

/// Runs --evaluate and prints what it found.
fn evaluate(args: &Args, cfg: ConvirtConfig, encoder: &str) -> ssl3d::Result<()> {
    let encoder = Encoder::parse(encoder);
    let out = args.out.clone().unwrap_or_else(|| match &encoder {
        Encoder::Run(p) if p.is_dir() => p.join("evaluation.json"),
        // A model file: beside it, named after it.
        Encoder::Run(p) => p.with_extension("evaluation.json"),
        Encoder::Start => {
            (args.config.parent().unwrap_or(Path::new("."))).join("evaluation-start.json")
        }
    });
    let spec = EvaluationSpec {
        encoder,
        labels: args.labels.clone(),
        fractions: args.fractions.clone(),
        seeds: args.seeds,
        prompts: args.prompts.as_deref().map(read_prompts).transpose()?,
        probe: ProbeSettings::default(),
    };
    let e = args.device.run(&Evaluate { cfg, spec })?;
    let auc = |a: Option<f64>| a.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    eprintln!(
        "{} ({}): {} training / {} test pairs",
        e.encoder, e.variant, e.train_pairs, e.test_pairs
    );
    for z in &e.zero_shot {
        eprintln!("  zero-shot {}: AUC {}", z.label, auc(z.auc));
    }
    for p in &e.linear_probe {
        eprintln!(
            "  linear probe, {} % of the labels ({} pairs): mean AUC {} ± {}",
            p.fraction * 100.0,
            p.labelled,
            auc(p.mean_auc),
            auc(p.sd_auc)
        );
    }
    eprintln!("  retrieval: {}", e.retrieval.describe());
    ssl3d::io::write_json_atomic(&e, &out)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// The precision a run computes in: `fp16_precision` asks for half precision, which ssl3d gives
/// on CUDA as bf16 matrix products (PyTorch's autocast); elsewhere the run stays in f32.
fn precision(cfg: &ConvirtConfig, args: &DeviceArgs) -> DeviceArgs {
    let mut args = args.clone();
    if cfg.fp16_precision && args.precision == Precision::F32 {
        match args.device {
            DeviceSpec::Cuda(_) => {
                eprintln!("fp16_precision: computing matrix products in bf16 on CUDA");
                args.precision = Precision::Bf16;
            }
            _ => eprintln!(
                "fp16_precision: {} has no half-precision path in ssl3d; computing in f32",
                args.device
            ),
        }
    }
    args
}

fn main() {
    ssl3d::allocator::keep_freed_memory();
    let args = Args::parse();
    run(|| {
        let mut cfg = ConvirtConfig::load(&args.config)?;
        if let Some(seed) = args.seed {
            cfg.seed = seed;
        }
        if let Some(epochs) = args.epochs {
            cfg.epochs = epochs;
        }
        cfg.check()?;
        if args.print_config {
            println!(
                "{}",
                serde_json::to_string_pretty(&cfg).expect("configs serialise")
            );
            return Ok(());
        }
        if let Some(encoder) = &args.evaluate {
            return evaluate(&args, cfg, encoder);
        }
        let logdir = args.logdir.clone().unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            PathBuf::from("runs").join(format!("convirt-{now}"))
        });
        let device = precision(&cfg, &args.device);
        let job = Convirt {
            run: ConvirtRun {
                logdir: logdir.clone(),
                resume: args.resume,
                device_name: device.device.to_string(),
            },
            cfg,
        };
        let summary = device.run(&job)?;
        let best = match (summary.best_val_loss, summary.best_epoch) {
            (Some(l), Some(e)) => format!("best validation loss {l:.4} (epoch {e})"),
            _ => "no validation (valid_size 0)".to_string(),
        };
        let retrieval = (summary.retrieval.as_ref()).map_or(String::new(), |r| {
            format!("; last retrieval {}", r.describe())
        });
        eprintln!(
            "done: {} epochs, {} steps in {:.1} s; {best}{retrieval}; see {}",
            summary.epochs,
            summary.steps,
            summary.wall_s,
            logdir.display()
        );
        Ok(())
    });
}
