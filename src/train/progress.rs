//! Progress of a run: an indicatif bar with ETA and the latest losses on a terminal, plain lines
//! (one per step, like the tutorial's prints) when stderr is a file or a pipe.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub(crate) struct RunProgress {
    bar: Option<ProgressBar>,
    total: u64,
    /// Prints nothing (the ranks but 0 of a data-parallel run; rank 0 speaks for the run).
    quiet: bool,
}

impl RunProgress {
    /// A progress display for `total` steps of which `done` are already done (a resumed run).
    pub fn new(total: u64, done: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} steps, {elapsed} elapsed, ETA {eta} | {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_position(done);
            bar.reset_eta();
            bar
        });
        RunProgress {
            bar,
            total,
            quiet: false,
        }
    }

    /// A display that prints nothing.
    pub fn quiet() -> Self {
        RunProgress {
            bar: None,
            total: 0,
            quiet: true,
        }
    }

    /// Reports step `step` (1-based) with a short description such as the current losses.
    pub fn step(&self, step: u64, prefix: &str, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_prefix(prefix.to_string());
                bar.set_message(msg.to_string());
                bar.set_position(step);
            }
            None => eprintln!("{prefix} step {step}/{}: {msg}", self.total),
        }
    }

    /// A line that stays (epoch summaries, validation results), above the bar on a terminal.
    pub fn println(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
