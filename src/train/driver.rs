//! The one training loop every job runs in. A job (`pretrain`, `finetune`, and later ones) says
//! what a step is, what happens after a step and at an epoch's end, and what its own part of the
//! state is; the driver owns everything else: the epoch and batch order, resume, the typed log
//! (`metrics.jsonl` and TensorBoard), progress, Ctrl-C, and when checkpoints are written.
//!
//! Exact resume: data are a pure function of (seed, epoch, item) and the models draw no random
//! numbers after initialisation, so a checkpoint holding the weights, the optimiser state and
//! [`LoopState`] (with the job's part) is a run's whole state; a resumed run logs bit for bit
//! what the uninterrupted run logged after the checkpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::config::Config;
use burn::module::Module;
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::interrupt;
use super::progress::RunProgress;
use super::run_checkpoint::RunCheckpoints;
use super::run_dir::prepare_logdir;
use super::run_identity::RunIdentity;
use super::run_lock::RunLock;
use super::run_log::RunLog;
use super::run_spec::RunSpec;
use crate::data::{
    Batch, BatchSource, FromCollated, LoaderConfig, VolumeDataset, batches_per_epoch,
    epoch_batches_from, report_all,
};
use crate::error::{Error, Result};
use crate::report::config_diff::ConfigChanges;
use crate::report::records::{NamedLosses, Record as LogRecord, ResumeRecord, Scalars, StepRecord};
use crate::transforms::pipelines::PipelineSpec;

/// A model with its optimiser: what a step changes and a checkpoint holds.
pub trait Trainer<B: AutodiffBackend> {
    type Model: Module<B>;
    type OptimizerRecord: Record<B>;
    /// What a step takes; the run's data source collates into it (`drive`'s bound).
    type Batch;
    type Losses: NamedLosses + Serialize + DeserializeOwned + Copy;

    /// One optimisation step. A loss that is not finite is `Error::Training` and leaves the
    /// model unchanged.
    fn step(&mut self, batch: &Self::Batch) -> Result<Self::Losses>;
    /// Called before each step with the number of steps done (a resumed run's included), for a
    /// learning-rate schedule; the tutorial's constant rate ignores it.
    fn begin_step(&mut self, _done: u64) {}
    /// Called once before the first step with the run's length in steps as the driver plans it,
    /// for a schedule over the whole run; the others ignore it.
    fn plan_steps(&mut self, _total: u64) {}
    fn lr(&self) -> f64;
    fn model(&self) -> &Self::Model;
    fn optimizer_record(&self) -> Self::OptimizerRecord;
    /// Puts a checkpoint's weights and optimiser state back.
    fn restore(&mut self, model: Self::Model, optimizer: Self::OptimizerRecord);
}

/// `Error::Training` when a step's loss `total` is not finite (`what` describes the loss): the step
/// is then not taken, and the model stays at its last good state.
pub(crate) fn refuse_non_finite(total: f64, what: impl FnOnce() -> String) -> Result<()> {
    if total.is_finite() {
        return Ok(());
    }
    Err(Error::Training(format!(
        "{} is not finite; the model is left at its last good state",
        what()
    )))
}

/// The log line type of job `J`.
pub(crate) type JobRecord<B, J> = LogRecord<
    <<J as Job<B>>::Trainer as Trainer<B>>::Losses,
    <J as Job<B>>::EpochRecord,
    <J as Job<B>>::ValRecord,
>;

/// The run context a job's hooks see.
pub(crate) type JobContext<B, J> = RunContext<<J as Job<B>>::State, JobRecord<B, J>>;

/// What one kind of training run does around the steps of its trainer.
pub trait Job<B: AutodiffBackend>: Sized {
    type Trainer: Trainer<B>;
    /// The job's part of the checkpointed state (best so far, running sums).
    type State: Serialize + DeserializeOwned + Default;
    type EpochRecord: Serialize + DeserializeOwned + Scalars;
    type ValRecord: Serialize + DeserializeOwned + Scalars;

    /// After each step has been logged (fine-tuning validates here).
    fn after_step(
        &mut self,
        _trainer: &Self::Trainer,
        _run: &mut JobContext<B, Self>,
        _losses: &<Self::Trainer as Trainer<B>>::Losses,
    ) -> Result<()> {
        Ok(())
    }
    /// At the end of each epoch, before the driver moves to the next (pretraining logs its epoch
    /// and validates here).
    fn end_epoch(
        &mut self,
        _trainer: &Self::Trainer,
        _run: &mut JobContext<B, Self>,
    ) -> Result<()> {
        Ok(())
    }
}

/// How long a run goes on.
#[derive(Debug, Clone, Copy)]
pub enum Schedule {
    /// Whole epochs.
    Epochs(usize),
    /// Until this many steps; epochs always run to their end, as in the tutorial.
    Iterations(u64),
}

impl Schedule {
    /// Whether a run in `state` has gone the whole way (checked at each epoch's start).
    fn done<S>(&self, state: &LoopState<S>) -> bool {
        match *self {
            Schedule::Epochs(n) => state.epoch >= n,
            Schedule::Iterations(n) => state.step >= n,
        }
    }

    /// Steps of the whole run at `per_epoch` batches an epoch.
    fn total_steps(&self, per_epoch: usize) -> u64 {
        let per_epoch = per_epoch as u64;
        match *self {
            Schedule::Epochs(n) => n as u64 * per_epoch,
            Schedule::Iterations(n) => n.div_ceil(per_epoch.max(1)) * per_epoch,
        }
    }
}

/// How a job is driven: on which data, how long, which batches, when to checkpoint (with the
/// config that rebuilds the model).
#[derive(Clone)]
pub struct Plan<'a, C, D: BatchSource = VolumeDataset> {
    pub train: Arc<D>,
    pub model_config: &'a C,
    pub schedule: Schedule,
    pub loader: LoaderConfig,
    /// A checkpoint every this many steps (0: not by count).
    pub checkpoint_every: usize,
    /// And one after every epoch (then a count-due checkpoint on an epoch's last batch waits
    /// for it).
    pub checkpoint_at_epoch_end: bool,
    /// The settings a resume changed ([`RunData::config_changes`]): logged as a `resume` record.
    pub config_changes: ConfigChanges,
    /// Whether this process writes the run folder (log, checkpoints): every process but ranks
    /// 1.. of a data-parallel run, which train alongside rank 0 and keep their log in memory.
    pub writes: bool,
}

/// Where a run stands; saved in every checkpoint with the job's own part.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoopState<S> {
    /// The (0-based) epoch the run is in, and its first batch not trained yet.
    pub epoch: usize,
    pub next_batch: usize,
    /// Optimisation steps done, and how many of them in this epoch.
    pub step: u64,
    pub step_in_epoch: usize,
    /// Records of `metrics.jsonl` that belong to this state (resume cuts the log back to them).
    pub log_records: usize,
    /// Training wall time, and time spent waiting for data and computing, over all sessions.
    pub wall_s: f64,
    pub data_wait_s: f64,
    pub compute_s: f64,
    /// The same two for the current epoch.
    pub epoch_data_wait_s: f64,
    pub epoch_compute_s: f64,
    pub job: S,
}

impl<S> LoopState<S> {
    /// The share of training time spent waiting for data.
    pub fn data_wait_share(&self) -> f64 {
        let busy = self.data_wait_s + self.compute_s;
        if busy > 0.0 {
            self.data_wait_s / busy
        } else {
            0.0
        }
    }
}

/// What a job's hooks work with: the state, the log, progress output and the run folder.
pub struct RunContext<S, R> {
    pub state: LoopState<S>,
    log: RunLog<R>,
    progress: RunProgress,
    logdir: PathBuf,
    writes: bool,
}

impl<S, R: Serialize + DeserializeOwned + Scalars> RunContext<S, R> {
    /// Appends a record to the log and counts it in the state.
    pub fn log(&mut self, r: R) -> Result<()> {
        self.log.push(r)?;
        self.state.log_records += 1;
        Ok(())
    }

    pub fn records(&self) -> &[R] {
        self.log.records()
    }

    /// A line that stays (epoch summaries, validation results).
    pub fn println(&self, line: &str) {
        self.progress.println(line);
    }

    pub fn logdir(&self) -> &Path {
        &self.logdir
    }

    /// Whether this process writes the run folder (validates, keeps the best model, plots):
    /// false on ranks 1.. of a data-parallel run.
    pub fn writes(&self) -> bool {
        self.writes
    }
}

/// Starts a run: locks and prepares its folder (refusing one in use or holding another run, or a
/// resume with other settings than `may_change`), records the effective `config`, then opens the
/// training and validation datasets, refused if either is empty, caches filled.
pub(crate) fn start_run<C: Serialize>(
    spec: &RunSpec,
    (config, may_change): (&C, &[&str]),
    identity: &RunIdentity,
    pipelines: [PipelineSpec; 2],
    cache: crate::data::CacheMode,
) -> Result<RunData> {
    // Ranks 1.. of a data-parallel run leave the folder to rank 0.
    let (lock, config_changes) = match spec.writes() {
        true => {
            let (lock, changes) =
                prepare_logdir(config, identity, &spec.logdir, spec.resume, may_change)?;
            (Some(lock), changes)
        }
        false => (None, ConfigChanges::default()),
    };
    let [train, validation] = pipelines;
    let train = VolumeDataset::new(spec.train.clone(), train, cache.clone())?;
    let val = VolumeDataset::new(spec.validation.clone(), validation, cache)?;
    if train.is_empty() || val.is_empty() {
        return Err(Error::InvalidArgument(
            "the datalist needs at least one training and one validation volume".into(),
        ));
    }
    // Both read in full before the first step, every problem of both in one error.
    report_all(
        [train.load_all().err(), val.load_all().err()]
            .into_iter()
            .flatten(),
    )?;
    Ok(RunData {
        train: Arc::new(train),
        validation: Arc::new(val),
        lock,
        config_changes,
    })
}

/// A started run's datasets, and the lock of its folder (keep it until the run ends; none on
/// ranks 1.. of a data-parallel run).
pub struct RunData {
    pub train: Arc<VolumeDataset>,
    pub validation: Arc<VolumeDataset>,
    pub lock: Option<RunLock>,
    /// What a resume changed of the settings a run may change (logged when the run continues).
    pub config_changes: ConfigChanges,
}

/// Runs (or, with `resume`, continues) `job` with `trainer` as `plan` says, logging and
/// checkpointing to `logdir`. Returns the finished run's context: its state and every record.
pub fn drive<B: AutodiffBackend, J: Job<B>, C: Config, D: BatchSource>(
    job: &mut J,
    trainer: &mut J::Trainer,
    plan: Plan<C, D>,
    (logdir, resume): (&Path, bool),
    device: &B::Device,
) -> Result<JobContext<B, J>>
where
    <J::Trainer as Trainer<B>>::Batch: FromCollated<D::Collated>,
{
    let (train, model_config, writes) = (plan.train.clone(), plan.model_config, plan.writes);
    let interrupt_handled = interrupt::install();
    let ckpts = RunCheckpoints::new(logdir);
    let mut state = LoopState::<J::State>::default();
    // The step of the newest checkpoint on disk.
    let mut saved_at: Option<u64> = None;
    if resume {
        let model = trainer.model().clone();
        let resumed = ckpts.resume::<B, _, _, _>(model, device)?;
        state = resumed.state;
        trainer.restore(resumed.model, resumed.optimizer);
        writes.then(|| {
            eprintln!(
                "resuming from {} (epoch {}, batch {}, step {})",
                resumed.path.display(),
                state.epoch + 1,
                state.next_batch,
                state.step
            )
        });
        saved_at = Some(state.step);
    }
    let per_epoch = batches_per_epoch(train.len(), &plan.loader);
    let of_epochs = match plan.schedule {
        Schedule::Epochs(n) => format!("/{n}"),
        Schedule::Iterations(_) => String::new(),
    };
    let total_steps = plan.schedule.total_steps(per_epoch);
    trainer.plan_steps(total_steps);
    let mut run = RunContext {
        log: match writes {
            true => RunLog::open(logdir, state.log_records)?,
            false => RunLog::in_memory(),
        },
        progress: match writes {
            true => RunProgress::new(total_steps, state.step),
            false => RunProgress::quiet(),
        },
        state,
        logdir: logdir.to_path_buf(),
        writes,
    };
    if !plan.config_changes.is_empty() {
        let list: Vec<String> = plan
            .config_changes
            .iter()
            .map(|(k, [from, to])| format!("{k} {from} -> {to}"))
            .collect();
        eprintln!("resumed with changed settings: {}", list.join(", "));
        run.log(LogRecord::Resume(ResumeRecord {
            step: run.state.step,
            changed: plan.config_changes.clone(),
        }))?;
    }
    let session_start = Instant::now();
    let wall_before = run.state.wall_s;
    let wall = || wall_before + session_start.elapsed().as_secs_f64();
    let save = |trainer: &J::Trainer, run: &mut JobContext<B, J>| -> Result<()> {
        run.state.wall_s = wall();
        if !writes {
            return Ok(());
        }
        ckpts.save::<B, _, _, _, _>(
            run.state.step,
            trainer.model().clone(),
            model_config,
            trainer.optimizer_record(),
            &run.state,
        )?;
        Ok(())
    };
    let interrupted = || interrupt_handled && interrupt::requested();

    while !plan.schedule.done(&run.state) {
        let epoch = run.state.epoch;
        for batch in epoch_batches_from(
            train.clone(),
            plan.loader,
            epoch as u64,
            run.state.next_batch,
        ) {
            let Batch {
                index,
                tensors,
                wait,
                ..
            } = batch?;
            let batch = <<J::Trainer as Trainer<B>>::Batch>::from_collated(tensors)?;
            let t = Instant::now();
            trainer.begin_step(run.state.step);
            let losses = trainer.step(&batch).map_err(|e| match e {
                Error::Training(msg) => Error::Training(format!(
                    "epoch {}, step {}: {msg}. The last good checkpoint is {}; resume with \
                     --resume, perhaps with a lower learning rate (--set lr=...).",
                    epoch + 1,
                    run.state.step + 1,
                    ckpts
                        .latest()
                        .ok()
                        .flatten()
                        .map_or("none (no checkpoint yet)".into(), |p| p
                            .display()
                            .to_string())
                )),
                other => other,
            })?;
            let (compute_s, wait_s) = (t.elapsed().as_secs_f64(), wait.as_secs_f64());
            let s = &mut run.state;
            s.step += 1;
            s.step_in_epoch += 1;
            s.next_batch = index + 1;
            s.data_wait_s += wait_s;
            s.compute_s += compute_s;
            s.epoch_data_wait_s += wait_s;
            s.epoch_compute_s += compute_s;
            s.wall_s = wall();
            let step = s.step;
            run.log(LogRecord::Step(StepRecord {
                step,
                epoch: epoch + 1,
                batch: index + 1,
                losses,
                lr: trainer.lr(),
                data_wait_ms: wait_s * 1e3,
                compute_ms: compute_s * 1e3,
            }))?;
            run.progress.step(
                step,
                &format!("epoch {}{of_epochs}", epoch + 1),
                &format!("{} ({compute_s:.2} s)", losses.describe()),
            );
            job.after_step(trainer, &mut run, &losses)?;
            let last_of_epoch = run.state.next_batch >= per_epoch;
            let due = plan.checkpoint_every > 0
                && step.is_multiple_of(plan.checkpoint_every as u64)
                && !(plan.checkpoint_at_epoch_end && last_of_epoch);
            if interrupted() || due {
                save(trainer, &mut run)?;
                saved_at = Some(step);
            }
            if interrupted() {
                run.progress.finish();
                return Err(Error::Interrupted(format!(
                    "interrupted at step {step}; continue with the same command and --resume"
                )));
            }
        }
        job.end_epoch(trainer, &mut run)?;
        let s = &mut run.state;
        s.epoch = epoch + 1;
        s.next_batch = 0;
        s.step_in_epoch = 0;
        s.epoch_data_wait_s = 0.0;
        s.epoch_compute_s = 0.0;
        if plan.checkpoint_at_epoch_end || interrupted() {
            save(trainer, &mut run)?;
            saved_at = Some(run.state.step);
        }
        if interrupted() {
            run.progress.finish();
            return Err(Error::Interrupted(format!(
                "interrupted after epoch {}; continue with the same command and --resume",
                epoch + 1
            )));
        }
    }
    run.progress.finish();
    // The final state is always on disk, so a finished run can be extended with --resume.
    if saved_at != Some(run.state.step) {
        save(trainer, &mut run)?;
    }
    run.state.wall_s = wall();
    Ok(run)
}
