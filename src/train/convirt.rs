//! The `ssl-convirt` run (docs/CONVIRT.md, "Running"): ConVIRT's pairs, split and models set up
//! as the reference's train.py sets them up, trained on the run driver (resume, checkpoints,
//! `metrics.jsonl` and TensorBoard), with the best model by validation loss and the final model,
//! each with its config, in the run folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;

use super::convirt_config::ConvirtConfig;
use super::convirt_job::ConvirtJob;
use super::convirt_step::{ConvirtTrainer, ConvirtTraining};
use super::driver::{Plan, Schedule, drive};
use super::run_dir::prepare_logdir;
use super::run_identity::{InitIdentity, RunIdentity, pretrained_identity};
use crate::data::report_pair_dataset::{PairViews, ReportPairDataset};
use crate::data::report_pairs::{PairsSource, ReportPair, read_pairs, reference_split};
use crate::data::{BatchSource, LoaderConfig, batches_per_epoch};
use crate::error::{Error, Result};
use crate::io::write_json_atomic;
use crate::networks::checkpoint::save_best_model;
use crate::networks::convirt_weights::{
    bert_config_of, hf_weights_file, imagenet_resnet_file, load_bert_folder, load_modelclr,
    load_torchvision_resnet, load_vit_backbone, resolve_bert_folder,
};
use crate::networks::nets::{Convirt, ConvirtModelConfig, ResNetConfig};
use crate::networks::pretrained::{pretrained_file, read_pretrained};
use crate::networks::seeded_init::init_seeded;
use crate::networks::state_dict::Arch;
use crate::report::convirt_records::ConvirtSummary;
use crate::report::records::Record;
use crate::text::ReportTokenizer;
use crate::transforms::radiograph::RadiographViews;

/// Where a ConVIRT run goes and whether it continues.
#[derive(Debug, Clone)]
pub struct ConvirtRun {
    pub logdir: PathBuf,
    /// Continue from the latest checkpoint in `logdir`.
    pub resume: bool,
    /// For the summary (`cpu`, `cuda:0`).
    pub device_name: String,
}

/// How the model starts: a whole earlier model (`fine_tune_from`), or BERT from its folder and
/// the image encoder as [`ImageStart`] says.
pub(super) enum Start {
    FineTune(PathBuf),
    Towers {
        bert_weights: PathBuf,
        image: ImageStart,
    },
}

/// Where the image encoder starts: from a file, or (`None`) at its seeded initialisation.
pub(super) enum ImageStart {
    /// The reference's ResNet: ImageNet's or another `res_weights` file.
    ResNet(Option<PathBuf>),
    /// The CT variant's ViT: an image-only pretraining (`ct.vit_weights`).
    Vit(Option<PathBuf>),
}

/// `fine_tune_from`'s model file: a file; an ssl3d ConVIRT run folder (its
/// `best_model.safetensors`); the reference's run folder (`checkpoints/model.pth`); or either
/// folder by its name under `runs/`, where the reference looks. Unlike the reference, a start
/// that is not found is an error, not a silent start from scratch.
pub(super) fn fine_tune_file(from: &Path) -> Result<PathBuf> {
    let given = from.to_path_buf();
    if given.is_file() {
        return Ok(given);
    }
    for dir in [given.clone(), Path::new("runs").join(from)] {
        for file in ["best_model.safetensors", "checkpoints/model.pth"] {
            if dir.join(file).is_file() {
                return Ok(dir.join(file));
            }
        }
    }
    Err(Error::bad_file(
        given,
        "fine_tune_from: no such model file, and no best_model.safetensors or \
         checkpoints/model.pth in that folder or in runs/ under that name",
    ))
}

impl Start {
    pub(super) fn of(cfg: &ConvirtConfig, bert_dir: &Path) -> Result<Start> {
        if let Some(from) = &cfg.fine_tune_from {
            return Ok(Start::FineTune(fine_tune_file(Path::new(from))?));
        }
        let image = match &cfg.ct {
            Some(ct) if ct.vit_weights == "random" => ImageStart::Vit(None),
            Some(ct) => ImageStart::Vit(Some(pretrained_file(Path::new(&ct.vit_weights))?)),
            None => ImageStart::ResNet(match cfg.model.res_weights.as_str() {
                "random" => None,
                "imagenet" => Some(imagenet_resnet_file(&cfg.model.res_base_model)?),
                path => {
                    let p = PathBuf::from(path);
                    if !p.is_file() {
                        return Err(Error::bad_file(p, "model.res_weights: file not found"));
                    }
                    Some(p)
                }
            }),
        };
        Ok(Start::Towers {
            bert_weights: hf_weights_file(bert_dir)?,
            image,
        })
    }

    /// The start as resume checks it: the bytes of every file it loads.
    fn identity(&self) -> Result<InitIdentity> {
        let files: Vec<&PathBuf> = match self {
            Start::FineTune(f) => vec![f],
            Start::Towers {
                bert_weights,
                image: ImageStart::ResNet(file) | ImageStart::Vit(file),
            } => std::iter::once(bert_weights).chain(file).collect(),
        };
        let parts = (files.iter())
            .map(|f| pretrained_identity(f))
            .collect::<Result<Vec<_>>>()?;
        let join = |f: fn(&InitIdentity) -> Option<String>| {
            Some(parts.iter().filter_map(f).collect::<Vec<_>>().join("+"))
        };
        Ok(InitIdentity {
            kind: match self {
                Start::FineTune(_) => "convirt fine_tune_from".into(),
                Start::Towers { image, .. } => match image {
                    ImageStart::ResNet(None) => "bert + random resnet",
                    ImageStart::ResNet(Some(_)) => "bert + resnet",
                    ImageStart::Vit(None) => "bert + random vit",
                    ImageStart::Vit(Some(_)) => "bert + pretrained vit",
                }
                .into(),
            },
            xxh3: join(|p| p.xxh3.clone()),
            file: join(|p| p.file.clone()),
        })
    }

    /// The model: heads drawn from `seed`, then the weights loaded.
    pub(super) fn model<B: AutodiffBackend>(
        &self,
        config: &ConvirtModelConfig,
        seed: u64,
        device: &B::Device,
    ) -> Result<Convirt<B>> {
        let mut model: Convirt<B> = init_seeded(config, seed, device)?;
        match self {
            Start::FineTune(file) => {
                load_modelclr(&mut model, file)?;
            }
            Start::Towers {
                bert_weights,
                image,
            } => {
                let dir = bert_weights.parent().expect("a file in the BERT folder");
                load_bert_folder(&mut model.bert_model, dir)?;
                if let (ImageStart::ResNet(Some(file)), Some(res)) =
                    (image, model.res_features.as_mut())
                {
                    load_torchvision_resnet(res, file)?;
                }
                if let ImageStart::Vit(Some(file)) = image {
                    let (file, tensors) = read_pretrained::<B::InnerBackend>(file, device)?;
                    let report = load_vit_backbone(&mut model, &tensors, &file)?;
                    eprintln!(
                        "ViT from {}: {} tensors loaded",
                        file.display(),
                        report.loaded.len()
                    );
                }
            }
        }
        Ok(model)
    }
}

/// What identifies a pair for resume: its image path and its report.
fn entries(pairs: &[ReportPair]) -> Vec<String> {
    (pairs.iter())
        .map(|p| format!("{}\0{}", p.image.display(), p.report))
        .collect()
}

/// What a run and an evaluation both set up from the config: the pairs and their split, the
/// model's settings, BERT's folder and tokeniser, the image views.
pub(super) struct ConvirtSetup {
    pub pairs: Vec<ReportPair>,
    pub train_idx: Vec<usize>,
    pub valid_idx: Vec<usize>,
    pub model_config: ConvirtModelConfig,
    pub bert_dir: PathBuf,
    pub tokenizer: Arc<ReportTokenizer>,
    pub views: PairViews,
}

impl ConvirtSetup {
    /// Reads the pairs (all checked), splits them as the reference does, and builds the model's
    /// settings and the tokeniser.
    pub fn of(cfg: &ConvirtConfig) -> Result<Self> {
        cfg.check()?;
        let d = &cfg.dataset;
        let pairs = read_pairs(&PairsSource {
            csv_file: &d.csv_file,
            img_root_dir: &d.img_root_dir,
            img_path_col: d.img_path_col,
            text_col: d.text_col,
            text_from_files: d.text_from_files,
            text_root_dir: &d.text_root_dir,
        })?;
        let (train_idx, valid_idx) = reference_split(pairs.len(), d.valid_size);
        let bert_dir = resolve_bert_folder(&cfg.model.bert_base_model)?;
        let bert = bert_config_of(&bert_dir)?;
        let max_tokens = 512.min(bert.max_position_embeddings);
        let model_config = match &cfg.ct {
            Some(ct) => ConvirtModelConfig::ct(ct.vit(), bert),
            None => ConvirtModelConfig::radiograph(
                ResNetConfig::torchvision(&cfg.model.res_base_model)?
                    .with_in_channels(d.input_shape[2]),
                bert,
            ),
        }
        .with_out_dim(cfg.model.out_dim)
        .with_freeze_layers(cfg.model.freeze_layers.clone());
        model_config.check()?;
        let tokenizer = Arc::new(ReportTokenizer::from_model_dir(
            &bert_dir,
            cfg.model.do_lower_case,
            max_tokens,
        )?);
        let views: PairViews = match &cfg.ct {
            Some(ct) => ct.views().into(),
            None => RadiographViews::reference(d.input_shape).into(),
        };
        Ok(ConvirtSetup {
            pairs,
            train_idx,
            valid_idx,
            model_config,
            bert_dir,
            tokenizer,
            views,
        })
    }

    /// The pairs at `idx`.
    pub fn pick(&self, idx: &[usize]) -> Vec<ReportPair> {
        idx.iter().map(|&i| self.pairs[i].clone()).collect()
    }

    /// A dataset of `pairs` with the config's views, tokeniser and text view.
    pub fn dataset(&self, cfg: &ConvirtConfig, pairs: Vec<ReportPair>) -> ReportPairDataset {
        ReportPairDataset::new(pairs, self.views.clone(), self.tokenizer.clone())
            .with_text_view(cfg.dataset.text_view)
    }
}

/// Runs (or resumes) a ConVIRT pretraining as `cfg` says.
pub fn convirt<B: AutodiffBackend>(
    cfg: &ConvirtConfig,
    run: &ConvirtRun,
    device: &B::Device,
) -> Result<ConvirtSummary> {
    let setup = ConvirtSetup::of(cfg)?;
    let d = &cfg.dataset;
    let (train, valid) = (setup.pick(&setup.train_idx), setup.pick(&setup.valid_idx));
    let pairs = &setup.pairs;
    let batch = cfg.batch_size;
    if train.len() < batch {
        return Err(Error::InvalidArgument(format!(
            "{} training pairs (of {}) make no whole batch of batch_size {batch}; the reference \
             drops incomplete batches",
            train.len(),
            pairs.len()
        )));
    }
    if !valid.is_empty() && valid.len() < batch {
        return Err(Error::InvalidArgument(format!(
            "{} validation pairs (valid_size {} of {}) make no whole batch of batch_size {batch}, \
             so the validation loss has no batch to average (the reference divides by zero); \
             raise valid_size, or set it to 0 to train without validation",
            valid.len(),
            d.valid_size,
            pairs.len()
        )));
    }
    let (model_config, bert_dir) = (&setup.model_config, &setup.bert_dir);
    let start = Start::of(cfg, bert_dir)?;
    let identity =
        RunIdentity::from_entries(&entries(&train), &entries(&valid), Some(start.identity()?));
    let logdir = &run.logdir;
    let (_lock, config_changes) = prepare_logdir(
        cfg,
        &identity,
        logdir,
        run.resume,
        &ConvirtConfig::RESUMABLE,
    )?;
    let (train, validation) = (
        Arc::new(setup.dataset(cfg, train)),
        Arc::new(setup.dataset(cfg, valid)),
    );
    let loader = LoaderConfig {
        volumes_per_batch: batch,
        shuffle: true,
        drop_last: true,
        prefetch: d.num_workers.max(1),
        run_seed: cfg.seed,
        shard: crate::data::shard::Shard::WHOLE,
    };
    let model = start.model::<B>(model_config, cfg.seed, device)?;
    let training = ConvirtTraining {
        learning_rate: cfg.learning_rate,
        weight_decay: cfg.weight_decay,
        temperature: cfg.loss.temperature,
        alpha_weight: cfg.loss.alpha_weight,
        batches_per_epoch: batches_per_epoch(train.len(), &loader) as u64,
        freeze_layers: model_config.freeze_layers.clone(),
    };
    let mut trainer = ConvirtTrainer::new(model, training, device);
    let mut job = ConvirtJob {
        cfg,
        model_config,
        validation: validation.clone(),
    };
    let plan = Plan {
        train: train.clone(),
        model_config,
        schedule: Schedule::Epochs(cfg.epochs),
        loader,
        checkpoint_every: cfg.checkpoint_every,
        checkpoint_at_epoch_end: true,
        config_changes,
        writes: true,
    };
    let done = drive(&mut job, &mut trainer, plan, (logdir, run.resume), device)?;
    save_best_model(
        trainer.model.valid(),
        model_config,
        Arch::Convirt,
        logdir,
        "final_model",
    )?;
    let best = done.state.job.best;
    let summary = ConvirtSummary {
        epochs: done.state.epoch,
        steps: done.state.step,
        train_pairs: train.len(),
        validation_pairs: validation.len(),
        best_val_loss: best.map(|(l, _)| l),
        best_epoch: best.map(|(_, e)| e),
        retrieval: done.state.job.last_retrieval.clone(),
        final_train_loss: done.records().iter().rev().find_map(|r| match r {
            Record::Epoch(e) => Some(e.total),
            _ => None,
        }),
        wall_s: done.state.wall_s,
        data_wait_share: done.state.data_wait_share(),
        device: run.device_name.clone(),
    };
    write_json_atomic(&summary, &logdir.join("summary.json"))?;
    Ok(summary)
}
