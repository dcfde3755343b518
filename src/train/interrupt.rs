//! Ctrl-C and SIGTERM (what job schedulers send before a kill) as a request, not a kill: the first
//! signal sets a flag the training loop checks after each step (it then writes a checkpoint and
//! exits); a second one exits at once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Installs the handler (once per process; later calls do nothing). Returns whether the signals
/// are handled; a process that cannot install it (another handler present) runs without.
pub fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond stop signal: exiting without a checkpoint");
                std::process::exit(130);
            }
            eprintln!(
                "\nstop requested (Ctrl-C or SIGTERM): finishing this step, writing a checkpoint, \
                 then exiting (again to exit now)"
            );
        })
        .is_ok()
    })
}

/// Whether a stop was requested.
pub(crate) fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
