//! The one file that talks to the collective engine (Burn 0.21's `burn-collective`): starting its
//! orchestrator on rank 0, registering this process, and summing a tensor over all processes.
//! Each process is one burn-collective "node" with one device; the nodes find each other through
//! the orchestrator (`--master-addr` port + 1) and exchange tensors peer to peer (rank r's service
//! on port + 2 + r). `burn-collective` is not in Burn after 0.21: a later engine replaces this file.

use burn::tensor::backend::Backend;

use super::world::World;
use crate::error::Result;

#[cfg(feature = "distributed")]
mod engine {
    use std::net::{IpAddr, TcpListener};

    use burn::collective::{
        AllReduceStrategy as Strategy, CollectiveConfig, PeerId, ReduceOperation, all_reduce,
        finish_collective, register,
    };
    use burn::tensor::backend::Backend;

    use super::super::world::{AllReduceStrategy, World};
    use crate::error::{Error, Result};

    fn strategy(s: AllReduceStrategy) -> Strategy {
        match s {
            AllReduceStrategy::Ring => Strategy::Ring,
            AllReduceStrategy::Tree => Strategy::Tree(2),
            AllReduceStrategy::Centralized => Strategy::Centralized,
        }
    }

    /// A port this process must listen on, refused with a sentence when it is taken (the
    /// engine itself would only log it and wait).
    fn check_free(port: u16, what: &str) -> Result<()> {
        TcpListener::bind(("0.0.0.0", port)).map(drop).map_err(|e| {
            Error::InvalidArgument(format!(
                "port {port} ({what}) is not free: {e}; another run may be using it: choose \
                 another --master-addr port"
            ))
        })
    }

    pub fn start_orchestrator(world: &World) -> Result<()> {
        quiet_engine_logs();
        let port = world.master.orchestrator_port();
        check_free(
            port,
            "the collective orchestrator's: --master-addr port + 1",
        )?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| {
                Error::Distributed(format!("cannot start the orchestrator's runtime: {e}"))
            })?;
        std::thread::Builder::new()
            .name("ssl3d-orchestrator".into())
            .spawn(move || runtime.block_on(burn::collective::start_global_orchestrator(port)))
            .map_err(|e| Error::Distributed(format!("cannot start the orchestrator: {e}")))?;
        Ok(())
    }

    /// The engine's websocket servers install a global log subscriber printing every transfer at
    /// INFO unless one exists: this one, first, prints warnings and errors only.
    fn quiet_engine_logs() {
        use tracing_subscriber::Layer;
        use tracing_subscriber::filter::LevelFilter;
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(LevelFilter::WARN);
        let _ = tracing_subscriber::registry().with(layer).try_init();
    }

    pub fn register_process<B: Backend>(
        world: &World,
        host: IpAddr,
        device: &B::Device,
    ) -> Result<()> {
        quiet_engine_logs();
        let data_port = world.master.data_port(world.rank)?;
        check_free(
            data_port,
            &format!(
                "rank {}'s tensor service: --master-addr port + 2 + rank",
                world.rank
            ),
        )?;
        let host = match host {
            IpAddr::V6(h) => format!("[{h}]"),
            IpAddr::V4(h) => h.to_string(),
        };
        let url = |h: &str, p: u16| format!("ws://{h}:{p}").parse().expect("addresses parse");
        let config = CollectiveConfig::default()
            .with_num_devices(1)
            .with_num_nodes(world.size as u32)
            .with_global_address(url(
                &world.master.host_for_url(),
                world.master.orchestrator_port(),
            ))
            .with_node_address(url(&host, data_port))
            .with_data_service_port(data_port)
            .with_global_all_reduce_strategy(strategy(world.all_reduce));
        register::<B>(PeerId::from(world.rank as u32), device.clone(), config).map_err(|e| {
            Error::Distributed(format!(
                "rank {} could not join the collective: {e:?}",
                world.rank
            ))
        })
    }

    pub fn leave<B: Backend>(rank: usize) {
        let _ = finish_collective::<B>(PeerId::from(rank as u32));
    }

    pub fn sum<B: Backend>(
        rank: usize,
        t: B::FloatTensorPrimitive,
    ) -> Result<B::FloatTensorPrimitive> {
        all_reduce::<B>(PeerId::from(rank as u32), t, ReduceOperation::Sum)
            .map_err(|e| Error::Distributed(format!("rank {rank}: all-reduce failed: {e:?}")))
    }
}

#[cfg(not(feature = "distributed"))]
fn not_built() -> crate::error::Error {
    crate::error::Error::InvalidArgument(
        "this build has no data-parallel training: rebuild with `cargo build --release \
         --features distributed` (docs/DISTRIBUTED.md)"
            .into(),
    )
}

/// Rank 0 starts the engine's orchestrator (before any rank registers).
pub(crate) fn start_orchestrator(world: &World) -> Result<()> {
    #[cfg(feature = "distributed")]
    return engine::start_orchestrator(world);
    #[cfg(not(feature = "distributed"))]
    {
        let _ = world;
        Err(not_built())
    }
}

/// Registers this process with the engine; `host` is where the other processes reach it.
pub(crate) fn register_process<B: Backend>(
    world: &World,
    host: std::net::IpAddr,
    device: &B::Device,
) -> Result<()> {
    #[cfg(feature = "distributed")]
    return engine::register_process::<B>(world, host, device);
    #[cfg(not(feature = "distributed"))]
    {
        let _ = (world, host, device);
        Err(not_built())
    }
}

/// The element-wise sum of `t` over every process (each gets the same result).
pub(crate) fn sum<B: Backend>(
    rank: usize,
    t: B::FloatTensorPrimitive,
) -> Result<B::FloatTensorPrimitive> {
    #[cfg(feature = "distributed")]
    return engine::sum::<B>(rank, t);
    #[cfg(not(feature = "distributed"))]
    {
        let _ = (rank, t);
        Err(not_built())
    }
}

/// Closes this process's connections to the engine (once no transfer is pending anywhere), so
/// the orchestrator sees a clean goodbye instead of a connection reset.
#[cfg_attr(
    not(feature = "distributed"),
    allow(clippy::extra_unused_type_parameters)
)]
pub(crate) fn leave<B: Backend>(rank: usize) {
    #[cfg(feature = "distributed")]
    engine::leave::<B>(rank);
    #[cfg(not(feature = "distributed"))]
    let _ = rank;
}

/// Whether this build can run data-parallel.
pub const BUILT: bool = cfg!(feature = "distributed");
