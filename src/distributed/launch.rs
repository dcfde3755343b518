//! `--nproc N` (and `--nnodes`, `--node-rank`, `--master-addr`): like `torchrun`, the command
//! starts N copies of itself on this machine, each told its rank in the environment
//! ([`super::world`]), waits for them and reports how each ended. On the CPU each copy gets its
//! share of the cores (`RAYON_NUM_THREADS`, unless set); on GPUs copy k takes GPU k.

use std::process::{Child, Command};
use std::time::Duration;

use super::collective::BUILT;
use super::world::{
    ALL_REDUCE_ENV, AllReduceStrategy, LOCAL_RANK_ENV, MASTER_ENV, MasterAddr, RANK_ENV,
    WORLD_SIZE_ENV,
};
use crate::error::{Error, Result};

/// Where rank 0 listens when one machine runs everything.
const LOCAL_MASTER: &str = "127.0.0.1:29500";

/// The data-parallel launch options of `ssl-pretrain` and `ssl-finetune`.
#[derive(Debug, Clone, clap::Args)]
pub struct LaunchArgs {
    /// Data-parallel training: start N processes on this machine (like torchrun's
    /// --nproc_per_node), each on 1/N of every epoch's volumes with the config's batch, the
    /// gradients averaged every step (so N processes train like one with N times the batch).
    /// With --device cuda, process k takes GPU k. Needs a build with --features distributed
    /// (docs/DISTRIBUTED.md).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub nproc: usize,
    /// Machines in the run; each starts the same command with its own --node-rank.
    #[arg(long, default_value_t = 1, value_name = "M")]
    pub nnodes: usize,
    /// This machine's place among --nnodes (0 runs rank 0, which writes the run folder).
    #[arg(long, default_value_t = 0, value_name = "R")]
    pub node_rank: usize,
    /// Where rank 0 listens, HOST:PORT (required with --nnodes > 1; 127.0.0.1:29500 on one
    /// machine). The run also takes the next port (the collective engine) and port + 2 + rank
    /// (each process's tensor service).
    #[arg(long, value_name = "HOST:PORT")]
    pub master_addr: Option<String>,
    /// How the processes sum gradients.
    #[arg(long, value_enum, default_value_t = AllReduceStrategy::Ring)]
    pub all_reduce: AllReduceStrategy,
}

impl LaunchArgs {
    /// Whether this command starts worker processes (it asks for more than one process and is
    /// not itself one of them).
    pub fn launches(&self) -> bool {
        std::env::var_os(RANK_ENV).is_none() && (self.nproc != 1 || self.nnodes != 1)
    }

    /// The options' sense, checked before anything starts.
    fn check(&self) -> Result<MasterAddr> {
        let bad = |why: String| Err(Error::InvalidArgument(why));
        if self.nproc == 0 || self.nnodes == 0 {
            return bad("--nproc and --nnodes must be at least 1".into());
        }
        if self.node_rank >= self.nnodes {
            return bad(format!(
                "--node-rank {} with --nnodes {}: the node rank must be below the number of machines",
                self.node_rank, self.nnodes
            ));
        }
        if !BUILT {
            return bad(
                "--nproc/--nnodes: this build has no data-parallel training: rebuild with \
                 `cargo build --release --features distributed` (docs/DISTRIBUTED.md)"
                    .into(),
            );
        }
        match (&self.master_addr, self.nnodes) {
            (Some(addr), _) => MasterAddr::parse(addr),
            (None, 1) => MasterAddr::parse(LOCAL_MASTER),
            (None, _) => bad(
                "--nnodes > 1 needs --master-addr HOST:PORT: where rank 0 (on --node-rank 0) \
                 listens, reachable from every machine"
                    .into(),
            ),
        }
    }

    /// Starts this machine's processes (the same command, each with its rank) and waits for all;
    /// returns the exit status to end with: 0 when all succeeded, else the first failure's.
    pub fn launch(&self) -> Result<i32> {
        let master = self.check()?;
        let size = self.nproc * self.nnodes;
        let exe = std::env::current_exe()
            .map_err(|e| Error::Distributed(format!("cannot find this program's file: {e}")))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (cores / self.nproc).max(1);
        let mut children: Vec<(usize, Child)> = Vec::with_capacity(self.nproc);
        for local in 0..self.nproc {
            let rank = self.node_rank * self.nproc + local;
            let mut cmd = Command::new(&exe);
            cmd.args(std::env::args_os().skip(1))
                .env(RANK_ENV, rank.to_string())
                .env(LOCAL_RANK_ENV, local.to_string())
                .env(WORLD_SIZE_ENV, size.to_string())
                .env(MASTER_ENV, master.control())
                .env(ALL_REDUCE_ENV, self.all_reduce.name());
            if std::env::var_os("RAYON_NUM_THREADS").is_none() {
                cmd.env("RAYON_NUM_THREADS", threads.to_string());
            }
            match cmd.spawn() {
                Ok(child) => children.push((rank, child)),
                Err(e) => {
                    for (_, c) in &mut children {
                        let _ = c.kill();
                    }
                    return Err(Error::Distributed(format!("cannot start rank {rank}: {e}")));
                }
            }
        }
        eprintln!(
            "started ranks {}..={} of {size} (rank 0 at {master}, {threads} threads each)",
            self.node_rank * self.nproc,
            self.node_rank * self.nproc + self.nproc - 1
        );
        Ok(wait_all(children))
    }
}

/// After one rank fails, how long the others have to stop on their own (they are told through
/// the control channel) before they are killed, as torchrun does.
const GRACE: Duration = Duration::from_secs(10);

/// Waits for every child; says how each that failed ended.
fn wait_all(mut children: Vec<(usize, Child)>) -> i32 {
    let mut first_failure: Option<i32> = None;
    let mut failed_at: Option<std::time::Instant> = None;
    while !children.is_empty() {
        if failed_at.is_some_and(|t| t.elapsed() > GRACE) {
            for (rank, child) in &mut children {
                eprintln!(
                    "rank {rank} did not stop within {} s of a failure: killing it",
                    GRACE.as_secs()
                );
                let _ = child.kill();
            }
            failed_at = None;
        }
        let mut still = Vec::with_capacity(children.len());
        for (rank, mut child) in children {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => {}
                Ok(Some(status)) => {
                    let code = status.code().unwrap_or(1);
                    #[cfg(unix)]
                    let how = match std::os::unix::process::ExitStatusExt::signal(&status) {
                        Some(sig) => format!("was killed by signal {sig}"),
                        None => format!("exited with status {code}"),
                    };
                    #[cfg(not(unix))]
                    let how = format!("exited with status {code}");
                    eprintln!("rank {rank} {how}");
                    first_failure.get_or_insert(if code == 0 { 1 } else { code });
                    failed_at.get_or_insert_with(std::time::Instant::now);
                }
                Ok(None) => still.push((rank, child)),
                Err(e) => {
                    eprintln!("rank {rank}: cannot wait for it: {e}");
                    first_failure.get_or_insert(1);
                }
            }
        }
        children = still;
        if !children.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    first_failure.unwrap_or(0)
}
