//! Ctrl-C as a request, not a kill: the first press sets a flag the training loop checks after
//! each step (it then writes a checkpoint and exits); a second press exits at once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Installs the handler (once per process; later calls do nothing). Returns whether Ctrl-C is
/// handled; a process that cannot install it (another handler present) runs without.
pub fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond Ctrl-C: exiting without a checkpoint");
                std::process::exit(130);
            }
            eprintln!("\nCtrl-C: finishing this step, writing a checkpoint, then exiting (again to exit now)");
        })
        .is_ok()
    })
}

/// Whether Ctrl-C was pressed.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
