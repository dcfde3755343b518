//! Resumable run checkpoints: `logdir/checkpoints/step-NNNNNNNNN/` holds the model (with its
//! config), the optimizer state and the loop state. A checkpoint is written into a hidden temporary
//! folder and renamed into place only when complete; `latest` then points at it and older ones are
//! removed. A crash at any moment therefore leaves at least one complete checkpoint, and resume
//! never sees a half-written one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::record::{FileRecorder, FullPrecisionSettings, NamedMpkFileRecorder, Record, Recorder};
use burn::tensor::backend::Backend;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::networks::native::{load_native, save_native};

const MODEL: &str = "model";
const OPTIMIZER: &str = "optimizer";
const STATE: &str = "state.json";
const LATEST: &str = "latest";

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
}

/// The checkpoints of one run folder.
pub struct RunCheckpoints {
    dir: PathBuf,
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

impl RunCheckpoints {
    pub fn new(logdir: &Path) -> Self {
        RunCheckpoints {
            dir: logdir.join("checkpoints"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a complete checkpoint for optimisation step `step` and makes it the latest.
    pub fn save<B, M, C, R, S>(
        &self,
        step: u64,
        model: M,
        model_config: &C,
        optimizer: R,
        state: &S,
    ) -> Result<PathBuf>
    where
        B: Backend,
        M: Module<B>,
        C: Config,
        R: Record<B>,
        S: Serialize,
    {
        let name = format!("step-{step:09}");
        let tmp = self.dir.join(format!(".tmp-{name}"));
        let done = self.dir.join(&name);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        save_native(model, model_config, &tmp, MODEL)?;
        let opt_path = tmp.join(OPTIMIZER);
        recorder()
            .record(optimizer, opt_path.clone())
            .map_err(|e| Error::bad_file(&opt_path, format!("cannot save the optimizer: {e}")))?;
        let text = serde_json::to_string_pretty(state).expect("states serialise") + "\n";
        write_synced(&tmp.join(STATE), text.as_bytes())?;
        if done.exists() {
            std::fs::remove_dir_all(&done).map_err(|e| Error::io(&done, e))?;
        }
        std::fs::rename(&tmp, &done).map_err(|e| Error::io(&done, e))?;
        let latest_tmp = self.dir.join(".latest.tmp");
        write_synced(&latest_tmp, name.as_bytes())?;
        std::fs::rename(&latest_tmp, self.dir.join(LATEST))
            .map_err(|e| Error::io(self.dir.join(LATEST), e))?;
        self.remove_all_but(&name)?;
        Ok(done)
    }

    /// Removes every checkpoint folder (complete or not) other than `keep`.
    fn remove_all_but(&self, keep: &str) -> Result<()> {
        for entry in std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let is_ckpt = name.starts_with("step-") || name.starts_with(".tmp-step-");
            if is_ckpt && name != keep && entry.path().is_dir() {
                std::fs::remove_dir_all(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            }
        }
        Ok(())
    }

    /// The newest complete checkpoint: the one `latest` names, else the highest complete
    /// `step-*` folder (a crash between the rename and the pointer update), else none.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        if !self.dir.exists() {
            return Ok(None);
        }
        if let Ok(name) = std::fs::read_to_string(self.dir.join(LATEST)) {
            let p = self.dir.join(name.trim());
            if p.join(STATE).exists() {
                return Ok(Some(p));
            }
        }
        let mut complete: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("step-"))
                    && p.join(STATE).exists()
            })
            .collect();
        complete.sort();
        Ok(complete.pop())
    }

    /// The loop state of checkpoint `ckpt`.
    pub fn load_state<S: DeserializeOwned>(ckpt: &Path) -> Result<S> {
        let path = ckpt.join(STATE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(&path, format!("not a checkpoint state of this run: {e}")))
    }

    /// The weights of checkpoint `ckpt` loaded into `model` (built from the same config).
    pub fn load_model<B: Backend, M: Module<B>>(
        ckpt: &Path,
        model: M,
        device: &B::Device,
    ) -> Result<M> {
        let path = ckpt.join(format!(
            "{MODEL}.{}",
            <NamedMpkFileRecorder<FullPrecisionSettings> as FileRecorder<B>>::file_extension()
        ));
        load_native(model, &path, device)
    }

    /// The optimizer state of checkpoint `ckpt`.
    pub fn load_optimizer<B: Backend, R: Record<B>>(ckpt: &Path, device: &B::Device) -> Result<R> {
        let path = ckpt.join(OPTIMIZER);
        recorder()
            .load(path.clone(), device)
            .map_err(|e| Error::bad_file(&path, format!("cannot load the optimizer state: {e}")))
    }

    /// The latest checkpoint, loaded: its path, loop state, model weights and optimiser state.
    pub fn resume<B: Backend, M: Module<B>, R: Record<B>, S: DeserializeOwned>(
        &self,
        model: M,
        device: &B::Device,
    ) -> Result<(PathBuf, S, M, R)> {
        let ckpt = self.latest()?.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "--resume: {} holds no complete checkpoint",
                self.dir.display()
            ))
        })?;
        let state = Self::load_state(&ckpt)?;
        let model = Self::load_model(&ckpt, model, device)?;
        let optimizer = Self::load_optimizer(&ckpt, device)?;
        Ok((ckpt, state, model, optimizer))
    }
}
