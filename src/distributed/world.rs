//! Who a process is in a data-parallel run: its rank among all processes, its rank on its own
//! machine (which GPU it takes), how many there are, and where rank 0 listens. The launcher
//! (`--nproc`) hands these to its workers in the environment, as torchrun does with `RANK`,
//! `LOCAL_RANK`, `WORLD_SIZE` and `MASTER_ADDR`/`MASTER_PORT`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::data::shard::Shard;
use crate::error::{Error, Result};

/// The launcher's variable holding a worker's rank.
pub const RANK_ENV: &str = "SSL3D_RANK";
pub(crate) const LOCAL_RANK_ENV: &str = "SSL3D_LOCAL_RANK";
pub(crate) const WORLD_SIZE_ENV: &str = "SSL3D_WORLD_SIZE";
pub(crate) const MASTER_ENV: &str = "SSL3D_MASTER_ADDR";
pub(crate) const ALL_REDUCE_ENV: &str = "SSL3D_ALL_REDUCE";

/// How the processes sum their gradients (burn-collective's strategies between processes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum AllReduceStrategy {
    /// Each process sends a slice to its neighbour, world − 1 rounds twice: bandwidth-optimal.
    #[default]
    Ring,
    /// A binary tree: reduce up to the root, then broadcast down.
    Tree,
    /// Every process sends its tensor to one, which sums and sends the result back.
    Centralized,
}

impl AllReduceStrategy {
    pub fn name(&self) -> &'static str {
        match self {
            AllReduceStrategy::Ring => "ring",
            AllReduceStrategy::Tree => "tree",
            AllReduceStrategy::Centralized => "centralized",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Ring, Self::Tree, Self::Centralized]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// Where rank 0 listens: its control port; burn-collective's orchestrator takes the next port,
/// and rank r's tensor service `port + 2 + r`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterAddr {
    pub host: String,
    pub port: u16,
}

impl MasterAddr {
    /// `HOST:PORT` (an IPv6 host in brackets).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "--master-addr {s}: {why}; expected HOST:PORT, e.g. 10.0.0.1:29500"
            ))
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port: u16 = port.parse().map_err(|_| bad("the port is not a number"))?;
        if port == 0 || port > u16::MAX - 1024 {
            return Err(bad(
                "the port must be between 1 and 64511 (the run also takes the ports after it)",
            ));
        }
        Ok(MasterAddr {
            host: host.to_string(),
            port,
        })
    }

    /// The control channel's address.
    pub fn control(&self) -> String {
        format!("{}:{}", self.host_for_url(), self.port)
    }

    /// burn-collective's orchestrator.
    pub fn orchestrator_port(&self) -> u16 {
        self.port + 1
    }

    /// Rank `rank`'s tensor service (unique over all machines, so a test may run several
    /// "machines" on one).
    pub fn data_port(&self, rank: usize) -> Result<u16> {
        (self.port as usize + 2 + rank).try_into().map_err(|_| {
            Error::InvalidArgument(format!(
                "--master-addr port {} leaves no port for rank {rank}",
                self.port
            ))
        })
    }

    pub(crate) fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for MasterAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.control())
    }
}

/// One process of a data-parallel run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct World {
    pub rank: usize,
    pub local_rank: usize,
    pub size: usize,
    pub master: MasterAddr,
    pub all_reduce: AllReduceStrategy,
}

impl World {
    /// This process's place, from the launcher's environment; `None` outside a launched run.
    pub fn from_env() -> Result<Option<World>> {
        let Ok(rank) = std::env::var(RANK_ENV) else {
            return Ok(None);
        };
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                Error::InvalidArgument(format!(
                    "{RANK_ENV} is set but {name} is not: start data-parallel runs with --nproc"
                ))
            })
        };
        let number = |name: &str, value: String| {
            value.parse::<usize>().map_err(|_| {
                Error::InvalidArgument(format!("{name}={value} is not a whole number"))
            })
        };
        let rank = number(RANK_ENV, rank)?;
        let local_rank = number(LOCAL_RANK_ENV, var(LOCAL_RANK_ENV)?)?;
        let size = number(WORLD_SIZE_ENV, var(WORLD_SIZE_ENV)?)?;
        let master = MasterAddr::parse(&var(MASTER_ENV)?)?;
        let all_reduce = match std::env::var(ALL_REDUCE_ENV) {
            Ok(s) => AllReduceStrategy::parse(&s).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{ALL_REDUCE_ENV}={s}: expected ring, tree or centralized"
                ))
            })?,
            Err(_) => AllReduceStrategy::default(),
        };
        if size == 0 || rank >= size {
            return Err(Error::InvalidArgument(format!(
                "{RANK_ENV}={rank} with {WORLD_SIZE_ENV}={size}: the rank must be below the size"
            )));
        }
        Ok(Some(World {
            rank,
            local_rank,
            size,
            master,
            all_reduce,
        }))
    }

    /// The share of each epoch this process trains on.
    pub fn shard(&self) -> Shard {
        Shard {
            rank: self.rank,
            world: self.size,
        }
    }

    /// Rank 0 alone writes the run folder (checkpoints, logs, plots, best models).
    pub fn writes(&self) -> bool {
        self.rank == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_addresses_parse_or_say_why_not() {
        let m = MasterAddr::parse("10.0.0.1:29500").unwrap();
        assert_eq!(
            (m.host.as_str(), m.port, m.orchestrator_port()),
            ("10.0.0.1", 29500, 29501)
        );
        assert_eq!(m.data_port(3).unwrap(), 29505);
        assert_eq!(
            MasterAddr::parse("[::1]:29500").unwrap().control(),
            "[::1]:29500"
        );
        for bad in ["10.0.0.1", ":29500", "host:http", "host:0", "host:65000"] {
            let e = MasterAddr::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--master-addr"), "{bad}: {e}");
        }
    }
}
