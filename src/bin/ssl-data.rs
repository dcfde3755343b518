//! `ssl-data`: look at, check and generate CT data — NIfTI inspection, datalist validation,
//! synthetic phantoms, slice views, and I/O benchmarks.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ssl3d::cli::run;
use ssl3d::data::synthetic::{SynthOptions, SynthSize, generate};
use ssl3d::data::{Split, load_datalist, validate_items};
use ssl3d::io::{inspect, load_labels, load_volume, read_nifti};
use ssl3d::transforms::{self, Pipeline, PipelineKind};
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
    /// Check that every file a datalist names exists and is a readable NIfTI-1 volume (and that
    /// labels match their images), reporting every problem at once.
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
        /// Labelled abdominal training volumes (dataset_0.json; the _init_12 and _init_6 splits
        /// take the first 12 and 6).
        #[arg(long, default_value_t = 24)]
        labelled: usize,
        /// Labelled abdominal validation volumes, shared by all three splits (BTCV: 6).
        #[arg(long, default_value_t = 6)]
        validation: usize,
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
        } => {
            let mut total = 0;
            for split in [Split::Training, Split::Validation] {
                let items = load_datalist(&datalist, split, data_dir.as_deref(), labels)?;
                validate_items(&items, labels)?;
                println!("{}: {} entries OK", split.key(), items.len());
                total += items.len();
            }
            println!("all {total} entries of {} are readable", datalist.display());
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
        } => {
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
            let mut p = Pipeline::from_config(pipeline, config.as_deref())?;
            p.set_random_state(seed);
            let samples = p.run(&image, label.as_deref())?;
            let summary: Vec<serde_json::Value> = samples
                .iter()
                .map(|s| {
                    let keys: serde_json::Map<String, serde_json::Value> = s
                        .images
                        .iter()
                        .map(|(k, img)| {
                            (
                                k.clone(),
                                serde_json::json!({
                                    "shape": img.data.shape(),
                                    "sum": transforms::sum(&img.data),
                                    "wsum": transforms::wsum(&img.data),
                                }),
                            )
                        })
                        .collect();
                    serde_json::Value::Object(keys)
                })
                .collect();
            if json {
                println!("{}", serde_json::json!({ "samples": summary }));
            } else {
                for (i, s) in summary.iter().enumerate() {
                    println!("sample {i}");
                    for (k, v) in s.as_object().unwrap() {
                        println!(
                            "  {k:<9} shape {}  sum {}  wsum {}",
                            v["shape"], v["sum"], v["wsum"]
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Bench(Bench::Transforms {
            image,
            label,
            repeat,
        }) => bench_transforms(image, label, repeat),
        Command::Bench(Bench::Pipeline {
            pipeline,
            datalist,
            data_dir,
            config,
            workers,
            volumes_per_batch,
            consumer_ms,
        }) => {
            use ssl3d::data::{CacheMode, LoaderConfig, VolumeDataset, epoch_batches};
            use ssl3d::transforms::pipelines::PipelineSpec;
            if let Some(n) = workers {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build_global()
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
            }
            let spec = PipelineSpec::from_config(pipeline, config.as_deref())?;
            let items = load_datalist(
                &datalist,
                Split::Training,
                data_dir.as_deref(),
                spec.needs_label(),
            )?;
            let ds = std::sync::Arc::new(VolumeDataset::new(
                items,
                spec,
                CacheMode::Ram {
                    budget_bytes: 16 << 30,
                },
            )?);
            let cfg = LoaderConfig {
                volumes_per_batch,
                shuffle: true,
                drop_last: false,
                prefetch: 2,
                run_seed: 0,
            };
            println!(
                "{pipeline:?} over {} volumes, {} batches of {volumes_per_batch} volumes, {} threads, consumer {consumer_ms} ms/batch",
                ds.len(),
                ds.len().div_ceil(volumes_per_batch),
                rayon::current_num_threads()
            );
            for (epoch, name) in [(0u64, "cold (cache filling)"), (1, "warm (cached)")] {
                let start = Instant::now();
                let (mut crops, mut wait) = (0usize, 0f64);
                for b in epoch_batches(ds.clone(), cfg, epoch) {
                    let b = b?;
                    crops += b.tensors.values().next().map_or(0, |t| t.shape()[0]);
                    wait += b.wait.as_secs_f64();
                    std::thread::sleep(std::time::Duration::from_millis(consumer_ms));
                }
                let total = start.elapsed().as_secs_f64();
                println!(
                    "  {name}: {crops} crops in {total:.2} s = {:.2} crops/s, data wait {:.0} % of the epoch",
                    crops as f64 / total,
                    100.0 * wait / total
                );
            }
            Ok(())
        }
        Command::Bench(Bench::SlidingWindow {
            size,
            channels,
            repeat,
        }) => {
            use ssl3d::inferers::SlidingWindow;
            if size.len() != 3 {
                return Err(Error::InvalidArgument("--size takes X,Y,Z".into()));
            }
            let input = ndarray::Array5::<f32>::from_shape_fn(
                (1, 1, size[0], size[1], size[2]),
                |(_, _, i, j, k)| ((i + 2 * j + 3 * k) % 97) as f32 / 97.0,
            );
            let sw = SlidingWindow::default();
            let mut times = Vec::new();
            let mut windows = 0;
            for _ in 0..=repeat.max(1) {
                let t = Instant::now();
                windows = 0;
                let out = sw.infer(input.view(), |x| {
                    windows += x.shape()[0];
                    // A free "network": broadcast the window to the output channels.
                    Ok(x.broadcast((
                        x.shape()[0],
                        channels,
                        x.shape()[2],
                        x.shape()[3],
                        x.shape()[4],
                    ))
                    .expect("one input channel")
                    .to_owned())
                })?;
                times.push(t.elapsed().as_secs_f64());
                drop(out);
            }
            times.remove(0);
            times.sort_by(f64::total_cmp);
            println!(
                "sliding window over {size:?} -> {channels} channels, {windows} windows of 96^3 (sw batch 4, overlap 0.25): median {:.3} s over {} runs, {} threads",
                times[times.len() / 2],
                times.len(),
                rayon::current_num_threads()
            );
            Ok(())
        }
        Command::Bench(Bench::Read { file, repeat }) => {
            let bytes = std::fs::metadata(&file)
                .map_err(|e| Error::io(&file, e))?
                .len();
            let first = read_nifti(&file)?;
            let mut times = Vec::with_capacity(repeat);
            for _ in 0..repeat.max(1) {
                let t = Instant::now();
                let img = read_nifti(&file)?;
                times.push(t.elapsed().as_secs_f64());
                drop(img);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "read {} ({:?} {}, {:.1} MB on disk) into f32: median {:.3} s, min {:.3} s over {} runs, {} threads",
                file.display(),
                first.header.shape,
                first.header.stored_type.name(),
                bytes as f64 / 1e6,
                times[times.len() / 2],
                times[0],
                times.len(),
                rayon::current_num_threads()
            );
            Ok(())
        }
    }
}

/// Per-stage median times of the pretrain and finetune-train chains.
fn bench_transforms(image: Option<PathBuf>, label: Option<PathBuf>, repeat: usize) -> Result<()> {
    use ssl3d::data::synthetic::{PhantomKind, synthesize};
    let tmp = std::env::temp_dir().join(format!("ssl3d-bench-{}", std::process::id()));
    let (image, label) = match image {
        Some(i) => (i, label),
        None => {
            let v = synthesize(PhantomKind::Abdomen, SynthSize::Full, 0, 1);
            let (i, l) = (tmp.join("img.nii.gz"), tmp.join("label.nii.gz"));
            ssl3d::io::write_volume(&i, &v.hu, &v.affine)?;
            ssl3d::io::write_volume(&l, v.labels.as_ref().unwrap(), &v.affine)?;
            (i, Some(l))
        }
    };
    let header = ssl3d::io::read_header(&image)?;
    println!(
        "{}: {:?} {}, {} threads, median of {repeat} runs",
        image.display(),
        header.shape,
        header.stored_type.name(),
        rayon::current_num_threads()
    );
    let mut kinds = vec![PipelineKind::Pretrain];
    if label.is_some() {
        kinds.push(PipelineKind::FinetuneTrain);
    }
    for kind in kinds {
        let mut p = Pipeline::from_config(kind, None)?;
        let mut runs: Vec<Vec<(&str, f64)>> = Vec::new();
        for i in 0..=repeat.max(1) {
            p.set_random_state(i as u32);
            let (_, times) = p.run_timed(&image, label.as_deref())?;
            if i > 0 {
                runs.push(times.iter().map(|(n, t)| (*n, t.as_secs_f64())).collect());
            }
        }
        println!("\n{kind:?} pipeline");
        println!("| stage | median s |");
        println!("|---|---:|");
        let mut total = 0.0;
        for s in 0..runs[0].len() {
            let mut v: Vec<f64> = runs.iter().map(|r| r[s].1).collect();
            v.sort_by(f64::total_cmp);
            let m = v[v.len() / 2];
            total += m;
            println!("| {} | {m:.3} |", runs[0][s].0);
        }
        println!("| **total** | **{total:.3}** |");
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
