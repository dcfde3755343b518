//! `ssl-report`: collects fine-tuning runs into the tutorial's random-vs-pretrained table or a
//! multi-seed study, ConVIRT evaluations into a comparison, and summarises a run's step timing.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use ssl3d::cli::run;
use ssl3d::report::config_diff::config_differences;
use ssl3d::report::convirt_table::{read_evaluations, write_convirt_table};
use ssl3d::report::dice_table::{read_runs, write_table};
use ssl3d::report::step_timing::step_timing;
use ssl3d::report::study::read_study_runs;
use ssl3d::report::study_output::write_study;

/// Reports over ssl3d runs.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The tutorial's table from fine-tuning runs (their --logdir folders): rows = training
    /// volumes, columns = random init / pretrained / relative improvement, beside the published
    /// numbers, plus 13-organ and per-organ Dice. Writes table.md and table.png into --out.
    Table {
        /// Fine-tuning run folders (or their report.json files).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// A multi-seed study from fine-tuning runs (their --logdir folders): per network, training
    /// volumes and init the mean ± sd over seeds, the paired difference pretrained − random
    /// (same network, datalist and seed) with its 95 % interval, overall and per organ, learning
    /// curves and Dice against labelled volumes. Writes study.md, study.json,
    /// learning_curves.png and dice_vs_volumes.png into --out.
    Study {
        /// Fine-tuning run folders.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// ConVIRT evaluations side by side (ssl-convirt --evaluate's evaluation.json files, or run
    /// folders holding one): per encoder the zero-shot AUC, the linear probe's AUC (mean ± sd over
    /// seeds) at each share of labels and retrieval, and the zero-shot AUC per finding. Writes
    /// convirt.md and convirt.png into --out.
    Convirt {
        /// evaluation.json files or run folders.
        #[arg(required = true)]
        evaluations: Vec<PathBuf>,
        /// Row names, comma-separated, one per evaluation (default: the run folder's name, or
        /// the file's for `start`).
        #[arg(long, value_delimiter = ',')]
        names: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// A run's step timing from its metrics.jsonl, as JSON: steps, the first step's compute and
    /// data wait, then the median and mean compute time and the share spent waiting for data
    /// over the steps after the first.
    Steps {
        /// A run folder (--logdir of ssl-pretrain or ssl-finetune) or its metrics.jsonl.
        run: PathBuf,
    },
}

fn main() {
    let args = Args::parse();
    run(|| match &args.command {
        Command::Table { runs, out } => {
            let runs = read_runs(runs)?;
            // The table compares initialisations and training-set sizes; other settings should
            // be the same in every run.
            let dirs: Vec<_> = runs.iter().map(|r| r.dir.clone()).collect();
            for (dir, keys) in config_differences(&dirs) {
                eprintln!(
                    "warning: {} was run with other settings than the table's first run ({}): \
                     the table compares runs that differ in more than their start and training set",
                    dir.display(),
                    keys.join(", ")
                );
            }
            let md = write_table(&runs, out)?;
            println!("{md}");
            eprintln!("wrote {0}/table.md and {0}/table.png", out.display());
            Ok(())
        }
        Command::Study { runs, out } => {
            let runs = read_study_runs(runs)?;
            let md = write_study(&runs, out)?;
            println!("{md}");
            eprintln!(
                "wrote {0}/study.md, study.json, learning_curves.png and dice_vs_volumes.png",
                out.display()
            );
            Ok(())
        }
        Command::Convirt {
            evaluations,
            names,
            out,
        } => {
            let runs = read_evaluations(evaluations, names)?;
            let md = write_convirt_table(&runs, out)?;
            println!("{md}");
            eprintln!("wrote {0}/convirt.md and convirt.png", out.display());
            Ok(())
        }
        Command::Steps { run } => {
            let metrics = if run.is_dir() {
                run.join("metrics.jsonl")
            } else {
                run.clone()
            };
            let timing = step_timing(&metrics)?;
            println!(
                "{}",
                serde_json::to_string(&timing).expect("numbers serialise")
            );
            Ok(())
        }
    });
}
