//! The learning rate at each step. The tutorial keeps it constant; short runs (the CPU demo, a
//! study's many fine-tunings) learn more per step with MONAI's `WarmupCosineSchedule`: a linear
//! warm-up, then half a cosine down to `end_lr` at `max_iterations`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LrScheduleKind {
    /// `lr` at every step (the tutorial's).
    #[default]
    Constant,
    /// MONAI's `WarmupCosineSchedule(optimizer, warmup_steps, t_total=max_iterations, end_lr,
    /// cycles=0.5, warmup_multiplier)`, stepped once per optimisation step.
    WarmupCosine,
}

/// How the learning rate changes over a run. Every field is always present (so a config file
/// layers over the defaults key by key); the warm-up fields belong to `warmup_cosine`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LrSchedule {
    pub kind: LrScheduleKind,
    /// Updates of linear warm-up from `warmup_multiplier · lr` to `lr`.
    pub warmup_steps: u64,
    /// The cosine's floor.
    pub end_lr: f64,
    pub warmup_multiplier: f64,
}

impl LrSchedule {
    /// MONAI's warm-up and cosine decay (end_lr 0, warm-up from 0).
    pub fn warmup_cosine(warmup_steps: u64) -> Self {
        LrSchedule {
            kind: LrScheduleKind::WarmupCosine,
            warmup_steps,
            ..Self::default()
        }
    }

    /// The learning rate of the update that follows `done` updates, in a run of `total`.
    pub fn lr(&self, base: f64, done: u64, total: u64) -> f64 {
        match self.kind {
            LrScheduleKind::Constant => base,
            LrScheduleKind::WarmupCosine => {
                let warmup = self.warmup_steps.min(total);
                if done < warmup {
                    let f = done as f64 / (warmup as f64).max(1.0);
                    let m = self.warmup_multiplier;
                    return base * (m + (1.0 - m) * f);
                }
                let progress =
                    (done - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
                let factor = (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0);
                (base * factor).max(self.end_lr)
            }
        }
    }

    /// Refuses a warm-up multiplier outside 0..1 (as MONAI does), a negative final rate, and
    /// warm-up settings on the constant schedule (which would silently do nothing).
    pub fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidArgument(format!("lr_schedule: {msg}")));
        let m = self.warmup_multiplier;
        if !(0.0..=1.0).contains(&m) {
            return bad(format!("warmup_multiplier is {m}: it must be in 0..1"));
        }
        if !(self.end_lr >= 0.0 && self.end_lr.is_finite()) {
            return bad(format!("end_lr is {}: it must be 0 or more", self.end_lr));
        }
        let warmup_set = self.warmup_steps > 0 || self.end_lr > 0.0 || m > 0.0;
        if self.kind == LrScheduleKind::Constant && warmup_set {
            return bad(
                "warmup_steps, end_lr and warmup_multiplier belong to kind \"warmup_cosine\"; \
                 the constant schedule would ignore them"
                    .into(),
            );
        }
        Ok(())
    }
}
