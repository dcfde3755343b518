//! ConVIRT's run configuration, the reference implementation's `config.yaml` (edreisMD/
//! ConVIRT-pytorch) read as it is, in YAML or as the same keys in JSON. A key the reference does
//! not have is an error naming it (a typo never silently does nothing); a key left out takes the
//! reference file's value (the `Default`s below), except the data paths, which have none. The
//! reference evaluates some values as Python (`learning_rate: 1e-4` through `eval`,
//! `input_shape: (224,224,3)`): the same spellings are accepted here as numbers and as text
//! (docs/CONVIRT.md, "Configuration"). Five keys are ssl3d's own, all optional: `seed`,
//! `checkpoint_every`, `model.res_weights`, `dataset.text_view` and the `ct` section (ConVIRT on
//! CT volumes with a 3-D ViT).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::data::report_pair_dataset::TextView;
use crate::error::{Error, Result};
use crate::networks::nets::VitConfig;
use crate::transforms::pipelines::Window;
use crate::transforms::volume_views::VolumeViews;

/// A number written as a number or as text (`1e-4`, `"1e-4"`), as the reference's `eval` takes.
fn number<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Spelled {
        Number(f64),
        Text(String),
    }
    match Spelled::deserialize(d)? {
        Spelled::Number(v) => Ok(v),
        Spelled::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{t:?} is not a number"))),
    }
}

/// `input_shape` as the reference writes it, `(224,224,3)`, or as a list `[224, 224, 3]`.
fn shape<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<[usize; 3], D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Spelled {
        List([usize; 3]),
        Text(String),
    }
    match Spelled::deserialize(d)? {
        Spelled::List(v) => Ok(v),
        Spelled::Text(t) => {
            let inner = t.trim().trim_start_matches('(').trim_end_matches(')');
            let parts: Vec<usize> = inner
                .split(',')
                .map(|p| p.trim().parse())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    serde::de::Error::custom(format!("{t:?} is not (height,width,channels)"))
                })?;
            <[usize; 3]>::try_from(parts).map_err(|_| {
                serde::de::Error::custom(format!("{t:?} is not (height,width,channels)"))
            })
        }
    }
}

/// `model:` — the two encoders and the embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvirtModelSection {
    pub out_dim: usize,
    /// torchvision's name: `resnet18` … `resnet152`.
    pub res_base_model: String,
    /// A folder with `config.json`, weights and `vocab.txt`, or a Hugging Face model name found
    /// in the local Hugging Face cache (nothing is downloaded).
    pub bert_base_model: String,
    /// BERT encoder layers that are not trained.
    pub freeze_layers: Vec<usize>,
    pub do_lower_case: bool,
    /// ssl3d's key: where the ResNet starts. `imagenet` (the reference's `pretrained=True`):
    /// torchvision's ImageNet file for `res_base_model` in the local torch hub cache (nothing is
    /// downloaded); `random`: torchvision's initialisation; otherwise a `.pth`/`.safetensors` path.
    pub res_weights: String,
}

impl Default for ConvirtModelSection {
    fn default() -> Self {
        ConvirtModelSection {
            out_dim: 512,
            res_base_model: "resnet50".into(),
            bert_base_model: "emilyalsentzer/Bio_ClinicalBERT".into(),
            freeze_layers: vec![0, 1, 2, 3, 4, 5],
            do_lower_case: false,
            res_weights: "imagenet".into(),
        }
    }
}

/// `dataset:` — the image–report pairs and the image views.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvirtDatasetSection {
    /// Colour-jitter strength.
    pub s: f64,
    /// `(height, width, channels)` of the images the encoder sees; channels 1 or 3.
    #[serde(deserialize_with = "shape")]
    pub input_shape: [usize; 3],
    pub num_workers: usize,
    /// Share of the pairs held out for validation.
    #[serde(deserialize_with = "number")]
    pub valid_size: f64,
    /// The pairs: one row per image, with a header row. Required (no default).
    pub csv_file: PathBuf,
    /// Whether the text column holds file names under `text_root_dir` rather than the text.
    pub text_from_files: bool,
    /// Required (no default).
    pub img_root_dir: PathBuf,
    pub text_root_dir: PathBuf,
    pub img_path_col: usize,
    pub text_col: usize,
    /// ssl3d's key: the text tower's view of a report, `sentence` (the reference's: one random
    /// sentence) or `report` (the whole report).
    pub text_view: TextView,
}

/// The reference file's values; the two data paths empty, which [`ConvirtConfig::check`] refuses.
impl Default for ConvirtDatasetSection {
    fn default() -> Self {
        ConvirtDatasetSection {
            s: 1.0,
            input_shape: [224, 224, 3],
            num_workers: 4,
            valid_size: 0.1,
            csv_file: PathBuf::new(),
            text_from_files: true,
            img_root_dir: PathBuf::new(),
            text_root_dir: PathBuf::new(),
            img_path_col: 0,
            text_col: 5,
            text_view: TextView::Sentence,
        }
    }
}

/// `loss:` — ConVIRT's bidirectional InfoNCE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvirtLossSection {
    #[serde(deserialize_with = "number")]
    pub temperature: f64,
    /// Accepted as the reference has it; its loss always uses cosine similarity.
    pub use_cosine_similarity: bool,
    /// Weight of image→text; text→image gets the rest.
    #[serde(deserialize_with = "number")]
    pub alpha_weight: f64,
}

impl Default for ConvirtLossSection {
    fn default() -> Self {
        ConvirtLossSection {
            temperature: 0.1,
            use_cosine_similarity: true,
            alpha_weight: 0.75,
        }
    }
}

/// ssl3d's `ct:` section: ConVIRT on CT volumes. The image column then names NIfTI files, the
/// image encoder is MONAI's 3-D ViT (the backbone `ssl-pretrain` trains and UNETR takes), and
/// `input_shape`, `res_base_model` and `res_weights` are not used. Defaults: the tutorial's ViT
/// on 96³ views of 2 mm voxels, a lung-to-soft-tissue window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvirtCtSection {
    /// The view's shape, the ViT's `img_size`.
    pub roi_size: [usize; 3],
    pub patch_size: [usize; 3],
    pub hidden_size: usize,
    pub mlp_dim: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    /// Voxel size (mm) the volumes are resampled to first.
    pub pixdim: [f64; 3],
    /// HU window scaled to [b_min, b_max] (clipped with `clip`).
    pub window: Window,
    /// Share of the volume a view keeps, drawn uniformly from `[low, high]`.
    pub crop_scale: [f64; 2],
    /// Probability of a left–right flip, as the reference flips radiographs.
    pub flip_p: f64,
    /// Where the ViT starts, as `res_weights` for the ResNet: `random` (its seeded
    /// initialisation) or an image-only pretraining to start from — an `ssl-pretrain` run
    /// folder, its safetensors or `.mpk`, or MONAI's `best_model.pt`.
    pub vit_weights: String,
}

impl Default for ConvirtCtSection {
    fn default() -> Self {
        ConvirtCtSection {
            roi_size: [96, 96, 96],
            patch_size: [16, 16, 16],
            hidden_size: 768,
            mlp_dim: 3072,
            num_layers: 12,
            num_heads: 12,
            pixdim: [2.0, 2.0, 2.0],
            window: Window {
                a_min: -1000.0,
                a_max: 400.0,
                b_min: 0.0,
                b_max: 1.0,
                clip: true,
            },
            crop_scale: [0.8, 1.0],
            flip_p: 0.5,
            vit_weights: "random".into(),
        }
    }
}

impl ConvirtCtSection {
    /// The image encoder: MONAI's ViT on one-channel `roi_size` volumes.
    pub fn vit(&self) -> VitConfig {
        VitConfig::new()
            .with_img_size(self.roi_size)
            .with_patch_size(self.patch_size)
            .with_hidden_size(self.hidden_size)
            .with_mlp_dim(self.mlp_dim)
            .with_num_layers(self.num_layers)
            .with_num_heads(self.num_heads)
    }

    /// The views the section describes.
    pub fn views(&self) -> VolumeViews {
        VolumeViews {
            roi: self.roi_size,
            pixdim: self.pixdim,
            window: self.window,
            crop_scale: (self.crop_scale[0], self.crop_scale[1]),
            flip_p: self.flip_p,
        }
    }

    fn check(&self) -> Result<()> {
        let refuse = |why: String| Err(Error::InvalidArgument(format!("ct.{why}")));
        for d in 0..3 {
            let (r, p) = (self.roi_size[d], self.patch_size[d]);
            if p == 0 || r == 0 || !r.is_multiple_of(p) {
                return refuse(format!(
                    "patch_size {:?} must divide roi_size {:?} (sides above 0)",
                    self.patch_size, self.roi_size
                ));
            }
        }
        super::config::check_heads(self.hidden_size, self.num_heads).map_err(|_| {
            Error::InvalidArgument(format!(
                "ct.hidden_size {} must be divisible by ct.num_heads {}",
                self.hidden_size, self.num_heads
            ))
        })?;
        if self.num_layers == 0 || self.mlp_dim == 0 {
            return refuse("num_layers and mlp_dim must be at least 1".into());
        }
        super::config::check_pixdim(self.pixdim).map_err(|_| {
            Error::InvalidArgument(format!(
                "ct.pixdim {:?}: each spacing must be a finite number of mm above 0",
                self.pixdim
            ))
        })?;
        let w = &self.window;
        if !(w.a_min.is_finite() && w.a_max.is_finite() && w.a_max > w.a_min) {
            return refuse(format!(
                "window: a_max {} must lie above a_min {}",
                w.a_max, w.a_min
            ));
        }
        let [lo, hi] = self.crop_scale;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            return refuse(format!(
                "crop_scale [{lo}, {hi}]: shares with 0 < low <= high <= 1"
            ));
        }
        if !(0.0..=1.0).contains(&self.flip_p) {
            return refuse(format!("flip_p {} must lie in [0, 1]", self.flip_p));
        }
        Ok(())
    }
}

/// The whole `config.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvirtConfig {
    pub batch_size: usize,
    pub epochs: usize,
    pub eval_every_n_epochs: usize,
    /// A previous run (a run folder, or a run name under `runs/`) whose model starts this one.
    pub fine_tune_from: Option<String>,
    pub log_every_n_steps: usize,
    #[serde(deserialize_with = "number")]
    pub learning_rate: f64,
    #[serde(deserialize_with = "number")]
    pub weight_decay: f64,
    /// Half-precision training where the backend has it (the CPU computes in f32).
    pub fp16_precision: bool,
    /// Accepted as the reference has it: sentences are always cut to BERT's 512 positions (more
    /// cannot be embedded; the reference without truncation fails on them).
    pub truncation: bool,
    pub model: ConvirtModelSection,
    pub dataset: ConvirtDatasetSection,
    pub loss: ConvirtLossSection,
    /// ssl3d's key: the seed of every random choice (initial heads, data order, views).
    pub seed: u64,
    /// ssl3d's key: a checkpoint every this many steps besides each epoch's end (0: epoch ends
    /// only), so a long epoch never loses more than this many steps.
    pub checkpoint_every: usize,
    /// ssl3d's section: ConVIRT on CT volumes with a 3-D ViT (absent: radiographs, as the
    /// reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ct: Option<ConvirtCtSection>,
}

/// The reference file's values (`fine_tune_from` none).
impl Default for ConvirtConfig {
    fn default() -> Self {
        ConvirtConfig {
            batch_size: 32,
            epochs: 1000,
            eval_every_n_epochs: 5,
            fine_tune_from: None,
            log_every_n_steps: 2,
            learning_rate: 1e-4,
            weight_decay: 1e-6,
            fp16_precision: true,
            truncation: true,
            model: ConvirtModelSection::default(),
            dataset: ConvirtDatasetSection::default(),
            loss: ConvirtLossSection::default(),
            seed: 0,
            checkpoint_every: 1000,
            ct: None,
        }
    }
}

impl ConvirtConfig {
    /// Settings a resumed run may change (the others must equal the run's saved config).
    pub const RESUMABLE: [&'static str; 4] = [
        "epochs",
        "eval_every_n_epochs",
        "log_every_n_steps",
        "checkpoint_every",
    ];

    /// Reads `path`: YAML, or JSON for a `.json` file; then [`Self::check`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::bad_file(path, format!("cannot read the ConVIRT config: {e}")))?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let parsed = if json {
            serde_json::from_str::<Self>(&text).map_err(|e| e.to_string())
        } else {
            serde_yaml_ng::from_str::<Self>(&text).map_err(|e| e.to_string())
        };
        let config =
            parsed.map_err(|e| Error::bad_file(path, format!("not a ConVIRT config: {e}")))?;
        config
            .check()
            .map_err(|e| Error::bad_file(path, e.to_string()))?;
        Ok(config)
    }

    /// Settings that cannot give a ConVIRT run, with their reason.
    pub fn check(&self) -> Result<()> {
        let refuse = |why: String| Err(Error::InvalidArgument(why));
        if self.batch_size < 2 {
            return refuse(format!(
                "batch_size {}: the contrastive loss needs at least 2 pairs per batch",
                self.batch_size
            ));
        }
        if self.epochs == 0 || self.eval_every_n_epochs == 0 || self.log_every_n_steps == 0 {
            return refuse(
                "epochs, eval_every_n_epochs and log_every_n_steps must be at least 1".into(),
            );
        }
        for (name, v) in [
            ("learning_rate", self.learning_rate),
            ("weight_decay", self.weight_decay),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return refuse(format!("{name} {v} must be a finite number, 0 or above"));
            }
        }
        let loss = &self.loss;
        if !(loss.temperature.is_finite() && loss.temperature > 0.0) {
            return refuse(format!(
                "loss.temperature {} must be above 0",
                loss.temperature
            ));
        }
        if !(0.0..=1.0).contains(&loss.alpha_weight) {
            return refuse(format!(
                "loss.alpha_weight {} must lie in [0, 1]",
                loss.alpha_weight
            ));
        }
        let data = &self.dataset;
        for (name, path) in [
            ("csv_file", &data.csv_file),
            ("img_root_dir", &data.img_root_dir),
        ] {
            if path.as_os_str().is_empty() {
                return refuse(format!("dataset.{name} is required (it has no default)"));
            }
        }
        if !(0.0..1.0).contains(&data.valid_size) {
            return refuse(format!(
                "dataset.valid_size {} must lie in [0, 1)",
                data.valid_size
            ));
        }
        let [h, w, c] = data.input_shape;
        if h < 32 || w < 32 || !(c == 1 || c == 3) {
            return refuse(format!(
                "dataset.input_shape ({h},{w},{c}): sides of 32 or more (the ResNet halves them 5 \
                 times) and 1 or 3 channels"
            ));
        }
        if !(data.s.is_finite() && data.s >= 0.0) {
            return refuse(format!("dataset.s {} must be 0 or above", data.s));
        }
        if data.img_path_col == data.text_col {
            return refuse(format!(
                "dataset.img_path_col and dataset.text_col are both column {}",
                data.text_col
            ));
        }
        if data.text_from_files && data.text_root_dir.as_os_str().is_empty() {
            return refuse("dataset.text_from_files needs dataset.text_root_dir".into());
        }
        if self.model.out_dim == 0 {
            return refuse("model.out_dim must be at least 1".into());
        }
        crate::networks::nets::ResNetConfig::torchvision(&self.model.res_base_model)
            .map_err(|e| Error::InvalidArgument(format!("model.res_base_model: {e}")))?;
        if let Some(ct) = &self.ct {
            ct.check()?;
        }
        Ok(())
    }
}

/// ConVIRT's settings for the synthetic corpus in `dir` (`ssl-data synth --reports`): the
/// reference's, sized for a CPU in minutes (ResNet-18 from scratch on 64² views, the corpus's
/// BERT trained whole, validation every epoch).
pub fn corpus_config(dir: &Path) -> ConvirtConfig {
    let model = ConvirtModelSection {
        out_dim: 64,
        res_base_model: "resnet18".into(),
        res_weights: "random".into(),
        bert_base_model: dir.join("bert").display().to_string(),
        freeze_layers: Vec::new(),
        do_lower_case: true,
    };
    let dataset = ConvirtDatasetSection {
        input_shape: [64, 64, 3],
        num_workers: 2,
        valid_size: 0.25,
        csv_file: dir.join("pairs.csv"),
        img_root_dir: dir.to_path_buf(),
        text_root_dir: dir.to_path_buf(),
        text_from_files: true,
        img_path_col: 0,
        text_col: 1,
        ..ConvirtDatasetSection::default()
    };
    ConvirtConfig {
        batch_size: 8,
        epochs: 10,
        eval_every_n_epochs: 1,
        fp16_precision: false,
        learning_rate: 1e-3,
        checkpoint_every: 0,
        model,
        dataset,
        ..ConvirtConfig::default()
    }
}

/// ConVIRT on the synthetic corpus's CT volumes (the `ct` column) with the CPU demo's ViT
/// (`configs/finetune_demo.json`'s: 32³ views, 16³ patches, width 96, 12 layers), so
/// `ssl-finetune --config configs/finetune_demo.json --pretrained <run>` takes its backbone;
/// 6 mm voxels first; otherwise as [`corpus_config`].
pub fn corpus_ct_config(dir: &Path) -> ConvirtConfig {
    let mut cfg = corpus_config(dir);
    cfg.dataset.img_path_col = 2;
    cfg.ct = Some(ConvirtCtSection {
        roi_size: [32, 32, 32],
        patch_size: [16, 16, 16],
        hidden_size: 96,
        mlp_dim: 192,
        num_layers: 12,
        num_heads: 4,
        pixdim: [6.0, 6.0, 6.0],
        ..ConvirtCtSection::default()
    });
    cfg
}

/// Writes `config.yaml` (radiographs, [`corpus_config`]) and `config-ct.yaml` (CT volumes,
/// [`corpus_ct_config`]) for the synthetic corpus in `dir`; returns their paths.
pub fn write_corpus_config(dir: &Path) -> Result<[PathBuf; 2]> {
    let write = |name: &str, what: &str, cfg: ConvirtConfig| -> Result<PathBuf> {
        let config = dir.join(name);
        let yaml = serde_yaml_ng::to_string(&cfg)
            .map_err(|e| Error::InvalidArgument(format!("cannot write the config: {e}")))?;
        let text = format!(
            "# ConVIRT on ssl3d's synthetic chest pairs ({what}), sized for a CPU.\n\
             # Run: ssl-convirt --config {}\n{yaml}",
            config.display()
        );
        crate::io::write_atomic(&config, text.as_bytes())?;
        Ok(config)
    };
    Ok([
        write(
            "config.yaml",
            "radiographs, the reference's keys",
            corpus_config(dir),
        )?,
        write(
            "config-ct.yaml",
            "CT volumes and a 3-D ViT, ssl3d's ct section",
            corpus_ct_config(dir),
        )?,
    ])
}
