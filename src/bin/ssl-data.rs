//! `ssl-data`: look at, check and generate CT data — NIfTI inspection, datalist validation,
//! synthetic phantoms, slice views, and I/O benchmarks.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ssl3d::bench;
use ssl3d::cli::run;
use ssl3d::data::synthetic::report_corpus::ReportCorpusOptions;
use ssl3d::data::synthetic::{Involvement, SynthOptions, SynthSize, generate};
use ssl3d::data::{Split, check_contents, load_datalist};
use ssl3d::io::{inspect, load_labels, load_volume};
use ssl3d::transforms::pipelines::PipelineSpec;
use ssl3d::transforms::{ChainSummary, Pipeline, PipelineKind};
use ssl3d::{Error, Result};

#[derive(Parser, Debug)]
#[command(version, about = "Inspect, check and generate CT data for ssl3d", long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show what ssl3d reads from a NIfTI file: shape, stored type, spacing, affine, intensity
    /// statistics (after scl_slope/scl_inter) and chosen voxel values.
    Inspect {
        /// A .nii, .nii.gz, .hdr(.gz) or .img(.gz) file.
        file: PathBuf,
        /// Also print the value at voxel I,J,K (one index per dimension; repeatable).
        #[arg(long = "voxel", value_name = "I,J,K", value_parser = parse_index)]
        voxels: Vec<Vec<usize>>,
        /// Print exactly one JSON line (a stable contract; errors as {"file", "error"}).
        #[arg(long)]
        json: bool,
    },
    /// Check that every file a datalist names exists and is a NIfTI-1 volume that reads in full with
    /// finite voxels (and that labels hold known values on their image's grid), reporting every
    /// problem at once. The same checks training runs before its first step.
    Check {
        /// MONAI-style datalist JSON.
        #[arg(long = "json")]
        datalist: PathBuf,
        /// Folder the datalist's paths are relative to (default: the datalist's folder).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Require and check "label" files too (fine-tuning data).
        #[arg(long)]
        labels: bool,
        /// With --labels: label values must lie in 0..N (BTCV: 13 organs and background).
        #[arg(long, default_value_t = 14)]
        num_classes: usize,
    },
    /// Generate synthetic CT phantoms with MONAI-format datalists: unlabelled chest CT
    /// (TCIA-COVID19 style, for pretraining) and labelled abdominal CT (BTCV's 13 organs).
    Synth {
        /// Data folder to create (outside the repository): gets tcia/ and btcv/ subfolders.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the datalists (tcia/dataset_split.json, btcv/dataset_0*.json).
        #[arg(long, default_value = "json_files/synthetic")]
        json_dir: PathBuf,
        /// Same seed, same bytes.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// tiny = 64×64×32 (tests, CPU demo), small = 192×192×64, full = 512×512×100–140.
        #[arg(long, value_enum, default_value = "tiny")]
        size: SynthSize,
        /// Number of chest volumes, split like TCIA's 600 training / 171 validation.
        #[arg(long, default_value_t = 16)]
        count: usize,
        /// Labelled abdominal training volumes (dataset_0.json; the _init_12, _init_6, _init_4
        /// and _init_2 splits take the first 12, 6, 4 and 2).
        #[arg(long, default_value_t = 24)]
        labelled: usize,
        /// Labelled abdominal validation volumes, shared by all three splits (BTCV: 6).
        #[arg(long, default_value_t = 6)]
        validation: usize,
        /// Instead of the CT sets: ConVIRT's image–report pairs in --out (radiographs rendered
        /// from chest phantoms, their CT, reports of their findings, pairs.csv, a small BERT
        /// folder and a config.yaml for ssl-convirt).
        #[arg(long)]
        reports: bool,
        /// With --reports: how many pairs.
        #[arg(long, default_value_t = 48, requires = "reports")]
        pairs: usize,
        /// With --reports: the share of normal chests (the others have 1–5 lesions).
        #[arg(long, default_value_t = 0.3, requires = "reports")]
        normal_share: f64,
        /// With --reports: how large the lesions are — focal (24–80 mm, the pretraining
        /// chests') or extensive (20 mm more radius: widespread, as in COVID-19 pneumonia).
        #[arg(long, value_enum, default_value_t = Involvement::Focal, requires = "reports")]
        involvement: Involvement,
        /// With --reports: masked-language-model steps that pretrain the corpus's BERT on its
        /// reports (as a clinical BERT is pretrained on notes); 0 leaves it at random.
        #[arg(long, default_value_t = 300, requires = "reports")]
        bert_steps: usize,
    },
    /// Draw a volume into a PNG: its three orthogonal mid-slices (labels as a colour overlay), or
    /// with --pipeline, the crops a tutorial pipeline makes of it (pretrain: original crop, view 1,
    /// view 2; finetune-train: crops with labels).
    Views {
        /// The volume (or use --image).
        file: Option<PathBuf>,
        #[arg(long = "image", conflicts_with = "file")]
        image: Option<PathBuf>,
        /// Label map to overlay (same grid as the image).
        #[arg(long)]
        label: Option<PathBuf>,
        /// Show what this pipeline makes of the volume instead of its mid-slices.
        #[arg(long, value_enum)]
        pipeline: Option<PipelineKind>,
        #[arg(long, default_value_t = 0)]
        seed: u32,
        /// Pipeline config (JSON), as for `chain`.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run one of the tutorial's transform pipelines on a file, seeded like MONAI's
    /// `Compose.set_random_state(seed)`, and print each output sample's shape, sum and checksum.
    Chain {
        /// pretrain (SSL views), finetune-train (label-balanced crops) or finetune-val.
        #[arg(long, value_enum)]
        pipeline: PipelineKind,
        /// CT volume (NIfTI).
        #[arg(long)]
        image: PathBuf,
        /// Label map (fine-tuning pipelines).
        #[arg(long)]
        label: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u32,
        /// Pipeline config (JSON); fields left out keep the tutorial's values.
        #[arg(long)]
        config: Option<PathBuf>,
        /// One JSON line: {"samples": [{"<key>": {"shape", "sum", "wsum"}, ...}, ...]}.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Subcommand, Debug)]
enum Bench {
    /// Time each transform of the pretraining and fine-tuning pipelines on a CT volume (default:
    /// a full-size synthetic abdominal CT generated in a temporary folder).
    Transforms {
        /// CT volume to use instead of the synthetic one.
        #[arg(long)]
        image: Option<PathBuf>,
        /// Its label map (needed for the fine-tuning chain when --image is given).
        #[arg(long)]
        label: Option<PathBuf>,
        /// Timed runs per pipeline (after one warm-up run); the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Throughput of the data pipeline over a datalist: crops/s on the first epoch (cache filling)
    /// and the second (cached), and how long a consumer taking --consumer-ms per batch waits.
    Pipeline {
        #[arg(long, value_enum)]
        pipeline: PipelineKind,
        /// Datalist; its training list is used.
        #[arg(long = "json")]
        datalist: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Pipeline config (JSON).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        workers: Option<usize>,
        /// Volumes per batch (pretraining tutorial: 4, fine-tuning: 1).
        #[arg(long, default_value_t = 4)]
        volumes_per_batch: usize,
        /// A stand-in training step of this many milliseconds per batch.
        #[arg(long, default_value_t = 0)]
        consumer_ms: u64,
    },
    /// Time sliding-window inference's own work (padding, window extraction, blending, averaging)
    /// with a predictor that costs nothing: the overhead around the network.
    SlidingWindow {
        /// Volume size after BTCV preprocessing (default: the 253×165×150).
        #[arg(long, value_delimiter = ',', default_value = "253,165,150")]
        size: Vec<usize>,
        /// Output channels of the stand-in predictor (BTCV: 14).
        #[arg(long, default_value_t = 14)]
        channels: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Time reading a NIfTI file into f32 (decompression + conversion + scaling).
    Read {
        file: PathBuf,
        /// Timed repetitions after one warm-up read.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
}

// Large buffers are allocated and freed every item and layer: mimalloc, told in `main` to keep
// freed memory (`ssl3d::allocator`), reuses them instead of faulting fresh pages in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn parse_index(s: &str) -> std::result::Result<Vec<usize>, String> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("'{s}' is not a voxel index like 10,20,5"))
        })
        .collect()
}

fn main() {
    ssl3d::allocator::keep_freed_memory();
    let args = Args::parse();
    match args.command {
        Command::Inspect {
            file,
            voxels,
            json: true,
        } => inspect_json(file, voxels),
        command => run(|| dispatch(command)),
    }
}

/// `inspect --json`: exactly one JSON line on stdout, success or not.
fn inspect_json(file: PathBuf, voxels: Vec<Vec<usize>>) {
    match inspect(&file, &voxels) {
        Ok(report) => println!("{}", serde_json::to_string(&report).expect("serialisable")),
        Err(e) => {
            let line =
                serde_json::json!({ "file": file.display().to_string(), "error": e.to_string() });
            println!("{line}");
            std::process::exit(e.exit_code());
        }
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Inspect { file, voxels, .. } => {
            let r = inspect(&file, &voxels)?;
            println!("{}", r.file);
            println!("  shape    {:?}  ({})", r.shape, r.dtype);
            println!("  spacing  {:?}", r.spacing);
            println!("  affine");
            for row in &r.affine {
                println!(
                    "    [{:>10.4} {:>10.4} {:>10.4} {:>10.4}]",
                    row[0], row[1], row[2], row[3]
                );
            }
            match (r.min, r.max, r.mean) {
                (Some(lo), Some(hi), Some(m)) => {
                    println!(
                        "  values   min {lo}  max {hi}  mean {m:.4}  NaN {}",
                        r.nan_count
                    )
                }
                _ => println!("  values   (no scalar statistics; NaN {})", r.nan_count),
            }
            for v in &r.voxels {
                println!("  voxel {:?} = {}", v.index, v.value);
            }
            Ok(())
        }
        Command::Check {
            datalist,
            data_dir,
            labels,
            num_classes,
        } => {
            let mut items = Vec::new();
            for split in [Split::Training, Split::Validation] {
                let split_items = load_datalist(&datalist, split, data_dir.as_deref(), labels)?;
                println!("{}: {} entries", split.key(), split_items.len());
                items.extend(split_items);
            }
            // Every file read in full with training's checks, both splits' problems in one list.
            check_contents(&items, labels, labels.then_some(num_classes))?;
            println!(
                "all {} entries of {} are readable, with finite voxels{}",
                items.len(),
                datalist.display(),
                if labels {
                    format!(", labels in 0..{num_classes} on their image's grid")
                } else {
                    String::new()
                }
            );
            Ok(())
        }
        Command::Synth {
            out,
            json_dir,
            seed,
            size,
            count,
            labelled,
            validation,
            reports,
            pairs,
            normal_share,
            involvement,
            bert_steps,
        } => {
            if reports {
                let corpus = ReportCorpusOptions {
                    out_dir: out,
                    seed,
                    size,
                    count: pairs,
                    normal_share,
                    involvement,
                };
                return synth_reports(corpus, bert_steps);
            }
            let opts = SynthOptions {
                out_dir: out,
                json_dir,
                seed,
                size,
                chest_count: count,
                labelled,
                validation,
            };
            let bar = ProgressBar::new((count + labelled + validation) as u64);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} volumes, ETA {eta}")
                    .expect("valid template"),
            );
            bar.set_message("synthesising");
            let start = Instant::now();
            let written = generate(&opts, &|| bar.inc(1))?;
            bar.finish_and_clear();
            println!(
                "wrote {} images and {} label maps under {} in {:.1} s",
                written.images.len(),
                written.labels.len(),
                opts.out_dir.display(),
                start.elapsed().as_secs_f64()
            );
            for d in &written.datalists {
                println!("  datalist {}", d.display());
            }
            println!(
                "pretraining data: --json {}/tcia/dataset_split.json --data-dir {}/tcia",
                opts.json_dir.display(),
                opts.out_dir.display()
            );
            println!(
                "fine-tuning data: --json {}/btcv/dataset_0_init_6.json --data-dir {}/btcv",
                opts.json_dir.display(),
                opts.out_dir.display()
            );
            Ok(())
        }
        Command::Views {
            file,
            image,
            label,
            pipeline,
            seed,
            config,
            out,
        } => {
            let file = file.or(image).ok_or_else(|| {
                Error::InvalidArgument("views needs a volume: FILE or --image FILE".into())
            })?;
            if let Some(kind) = pipeline {
                let mut p = Pipeline::from_config(kind, config.as_deref())?;
                p.set_random_state(seed);
                let samples = p.run(&file, label.as_deref())?;
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                ssl3d::report::write_augmentation_views(
                    &samples,
                    &format!("{name}: {kind:?} pipeline, seed {seed}"),
                    &out,
                )?;
                println!("wrote {}", out.display());
                return Ok(());
            }
            let volume = load_volume(&file)?;
            let labels = label.as_deref().map(load_labels).transpose()?;
            if let Some(l) = &labels {
                ssl3d::io::check_label_matches(&volume, l, None)?;
            }
            ssl3d::report::write_views(&volume, labels.as_ref(), &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::Chain {
            pipeline,
            image,
            label,
            seed,
            config,
            json,
        } => {
            let summary =
                ChainSummary::run(pipeline, config.as_deref(), seed, &image, label.as_deref())?;
            match json {
                true => println!("{}", summary.json_line()),
                false => print!("{}", summary.text()),
            }
            Ok(())
        }
        Command::Bench(Bench::Transforms {
            image,
            label,
            repeat,
        }) => {
            let (image, header, chains) =
                bench::data::time_transforms(image.as_deref(), label.as_deref(), repeat)?;
            println!(
                "{}: {:?} {}, {} threads, median of {repeat} runs",
                image.display(),
                header.shape,
                header.stored_type.name(),
                rayon::current_num_threads()
            );
            for chain in chains {
                println!("\n{:?} pipeline", chain.kind);
                println!("| stage | median s |");
                println!("|---|---:|");
                for (stage, t) in &chain.stages {
                    println!("| {stage} | {t:.3} |");
                }
                let total: f64 = chain.stages.iter().map(|s| s.1).sum();
                println!("| **total** | **{total:.3}** |");
            }
            Ok(())
        }
        Command::Bench(Bench::Pipeline {
            pipeline,
            datalist,
            data_dir,
            config,
            workers,
            volumes_per_batch,
            consumer_ms,
        }) => {
            if let Some(n) = workers {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build_global()
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
            }
            let spec = PipelineSpec::from_config(pipeline, config.as_deref())?;
            let consumer = std::time::Duration::from_millis(consumer_ms);
            let (volumes, epochs) = bench::data::time_loader(
                spec,
                &datalist,
                data_dir.as_deref(),
                volumes_per_batch,
                consumer,
            )?;
            println!(
                "{pipeline:?} over {volumes} volumes, {} batches of {volumes_per_batch} volumes, {} threads, consumer {consumer_ms} ms/batch",
                volumes.div_ceil(volumes_per_batch),
                rayon::current_num_threads()
            );
            for (name, e) in ["cold (cache filling)", "warm (cached)"].iter().zip(epochs) {
                println!(
                    "  {name}: {} crops in {:.2} s = {:.2} crops/s, data wait {:.0} % of the epoch",
                    e.crops,
                    e.seconds,
                    e.crops as f64 / e.seconds,
                    100.0 * e.wait_s / e.seconds
                );
            }
            Ok(())
        }
        Command::Bench(Bench::SlidingWindow {
            size,
            channels,
            repeat,
        }) => {
            let size: [usize; 3] = size
                .try_into()
                .map_err(|_| Error::InvalidArgument("--size takes X,Y,Z".into()))?;
            let (windows, median) = bench::data::time_sliding_window(size, channels, repeat)?;
            println!(
                "sliding window over {size:?} -> {channels} channels, {windows} windows of 96^3 (sw batch 4, overlap 0.25): median {median:.3} s over {} runs, {} threads",
                repeat.max(1),
                rayon::current_num_threads()
            );
            Ok(())
        }
        Command::Bench(Bench::Read { file, repeat }) => {
            let t = bench::data::time_read(&file, repeat)?;
            println!(
                "read {} ({:?} {}, {:.1} MB on disk) into f32: median {:.3} s, min {:.3} s over {} runs, {} threads",
                file.display(),
                t.header.shape,
                t.header.stored_type.name(),
                t.bytes_on_disk as f64 / 1e6,
                t.median_s,
                t.min_s,
                t.runs,
                rayon::current_num_threads()
            );
            Ok(())
        }
    }
}

/// `synth --reports`: ConVIRT's paired corpus and the config that trains on it.
fn synth_reports(opts: ReportCorpusOptions, bert_steps: usize) -> Result<()> {
    use ssl3d::data::synthetic::report_corpus::write_report_corpus;
    let seed = opts.seed;
    let bar = ProgressBar::new(opts.count as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} pairs, ETA {eta}")
            .expect("valid template"),
    );
    bar.set_message("synthesising");
    let start = Instant::now();
    let corpus = write_report_corpus(&opts, &|| bar.inc(1))?;
    bar.finish_and_clear();
    if bert_steps > 0 {
        let mlm = ssl3d::train::text_pretraining::pretrain_bert_folder::<
            burn::backend::Autodiff<burn::backend::Flex>,
        >(
            &corpus.bert_dir,
            &corpus.reports,
            bert_steps,
            seed,
            &Default::default(),
        )?;
        ssl3d::io::write_json_atomic(&mlm, &corpus.bert_dir.join("pretraining.json"))?;
        println!(
            "BERT pretrained on the reports: {} masked-LM steps, loss {:.2} -> {:.2}",
            mlm.steps, mlm.first_loss, mlm.last_loss
        );
    }
    let [config, config_ct] = ssl3d::train::convirt_config::write_corpus_config(&corpus.dir)?;
    println!(
        "wrote {} image–report pairs ({} normal) under {} in {:.1} s",
        corpus.pairs,
        corpus.normal,
        corpus.dir.display(),
        start.elapsed().as_secs_f64()
    );
    println!("  pairs {}", corpus.pairs_csv.display());
    println!("  BERT  {}", corpus.bert_dir.display());
    println!("train: ssl-convirt --config {}", config.display());
    println!(
        "       ssl-convirt --config {}   (CT volumes, 3-D ViT)",
        config_ct.display()
    );
    Ok(())
}
