//! Resumable run checkpoints: `logdir/checkpoints/step-NNNNNNNNN/` holds the model (with its
//! config), the optimizer state, the loop state and a manifest of every file's size and xxh3.
//! A checkpoint is written into a hidden temporary folder and renamed into place only when
//! complete; `latest` then points at it. The two newest complete checkpoints are kept, so a crash
//! at any moment, or a checkpoint damaged later on disk, still leaves one to resume from: resume
//! verifies each file against the manifest and falls back to the older checkpoint, naming the
//! damaged file. A failed write (a full disk) removes its temporary folder and reports the OS
//! error with the file it was writing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::record::Record;
use burn::tensor::backend::Backend;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};
use crate::io::atomic::write_synced;
use crate::networks::native::{
    load_native_bytes, native_bytes, native_paths, record_bytes, record_from_bytes,
};

const MODEL: &str = "model";
const OPTIMIZER: &str = "optimizer.mpk";
const STATE: &str = "state.json";
const MANIFEST: &str = "manifest.json";
const LATEST: &str = "latest";
/// How many complete checkpoints a run folder keeps.
const KEEP: usize = 2;

/// Size and checksum of one checkpoint file, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FileSum {
    bytes: u64,
    xxh3: String,
}

impl FileSum {
    fn of(bytes: &[u8]) -> Self {
        FileSum {
            bytes: bytes.len() as u64,
            xxh3: format!("{:016x}", xxh3_64(bytes)),
        }
    }
}

/// Every file of a checkpoint (by name) with its size and checksum.
type Manifest = BTreeMap<String, FileSum>;

/// The checkpoints of one run folder.
pub struct RunCheckpoints {
    dir: PathBuf,
}

/// A checkpoint read back and verified: the loop state, the weights and the optimiser state.
pub struct Resumed<S, M, R> {
    pub path: PathBuf,
    pub state: S,
    pub model: M,
    pub optimizer: R,
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

    /// Writes a complete checkpoint for optimisation step `step`, makes it the latest and removes
    /// all but the newest two.
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
        let (weights, config) = native_paths(Path::new(""), MODEL);
        let (model_bytes, config_json) = native_bytes(model, model_config, &tmp.join(&weights))?;
        let files = [
            (weights, model_bytes),
            (config, config_json.into_bytes()),
            (
                PathBuf::from(OPTIMIZER),
                record_bytes::<B, _>(optimizer, "the optimizer state", &tmp.join(OPTIMIZER))?,
            ),
            (
                PathBuf::from(STATE),
                (serde_json::to_string_pretty(state).expect("states serialise") + "\n")
                    .into_bytes(),
            ),
        ];
        let written = self.write_folder(&tmp, &done, &files);
        if written.is_err() {
            // A full disk leaves no half-written folder behind; the older checkpoints stay.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        written?;
        let latest_tmp = self.dir.join(".latest.tmp");
        write_synced(&latest_tmp, name.as_bytes())?;
        std::fs::rename(&latest_tmp, self.dir.join(LATEST))
            .map_err(|e| Error::io(self.dir.join(LATEST), e))?;
        self.prune()?;
        Ok(done)
    }

    /// Writes `files` and their manifest into `tmp`, then renames it to `done`.
    fn write_folder(&self, tmp: &Path, done: &Path, files: &[(PathBuf, Vec<u8>)]) -> Result<()> {
        if tmp.exists() {
            std::fs::remove_dir_all(tmp).map_err(|e| Error::io(tmp, e))?;
        }
        std::fs::create_dir_all(tmp).map_err(|e| Error::io(tmp, e))?;
        let mut manifest = Manifest::new();
        for (name, bytes) in files {
            write_synced(&tmp.join(name), bytes)?;
            manifest.insert(name.to_string_lossy().into_owned(), FileSum::of(bytes));
        }
        let text = serde_json::to_string_pretty(&manifest).expect("manifests serialise") + "\n";
        write_synced(&tmp.join(MANIFEST), text.as_bytes())?;
        if done.exists() {
            std::fs::remove_dir_all(done).map_err(|e| Error::io(done, e))?;
        }
        std::fs::rename(tmp, done).map_err(|e| Error::io(done, e))
    }

    /// Removes unfinished checkpoint folders and all complete ones but the newest [`KEEP`].
    fn prune(&self) -> Result<()> {
        let complete = self.complete()?;
        let keep = &complete[complete.len().saturating_sub(KEEP)..];
        for entry in std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let is_ckpt = name.starts_with("step-") || name.starts_with(".tmp-step-");
            if is_ckpt && entry.path().is_dir() && !keep.contains(&entry.path()) {
                std::fs::remove_dir_all(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            }
        }
        Ok(())
    }

    /// The complete `step-*` folders (those holding a loop state), oldest first.
    fn complete(&self) -> Result<Vec<PathBuf>> {
        if !self.dir.exists() {
            return Ok(Vec::new());
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
        Ok(complete)
    }

    /// The complete checkpoints, newest first: the one `latest` names, then the others by step
    /// (a crash between the folder's rename and the pointer update leaves a newer one unnamed).
    fn newest_first(&self) -> Result<Vec<PathBuf>> {
        let mut all = self.complete()?;
        all.reverse();
        if let Ok(name) = std::fs::read_to_string(self.dir.join(LATEST)) {
            let named = self.dir.join(name.trim());
            if let Some(i) = all.iter().position(|p| *p == named) {
                let named = all.remove(i);
                all.insert(0, named);
            }
        }
        Ok(all)
    }

    /// The newest complete checkpoint, if any (not verified: see [`RunCheckpoints::resume`]).
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        Ok(self.newest_first()?.into_iter().next())
    }

    /// The newest checkpoint whose files match their manifest and load, with what it holds. A
    /// damaged one is skipped with a warning naming the file and the problem; when none is
    /// usable the error lists them all.
    pub fn resume<B: Backend, M: Module<B>, R: Record<B>, S: DeserializeOwned>(
        &self,
        model: M,
        device: &B::Device,
    ) -> Result<Resumed<S, M, R>> {
        let candidates = self.newest_first()?;
        if candidates.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "--resume: {} holds no complete checkpoint",
                self.dir.display()
            )));
        }
        let mut damaged = Vec::new();
        for ckpt in candidates {
            match Self::load(&ckpt, model.clone(), device) {
                Ok(resumed) => {
                    if !damaged.is_empty() {
                        eprintln!(
                            "warning: {}; resuming from the older checkpoint {}",
                            damaged.join("; "),
                            ckpt.display()
                        );
                    }
                    return Ok(resumed);
                }
                Err(e) => damaged.push(format!("checkpoint damaged: {e}")),
            }
        }
        Err(Error::InvalidArgument(format!(
            "--resume: no checkpoint in {} can be used: {}",
            self.dir.display(),
            damaged.join("; ")
        )))
    }

    /// Reads checkpoint `ckpt`, checking every file against its manifest (a checkpoint written
    /// before manifests existed is only loaded).
    fn load<B: Backend, M: Module<B>, R: Record<B>, S: DeserializeOwned>(
        ckpt: &Path,
        model: M,
        device: &B::Device,
    ) -> Result<Resumed<S, M, R>> {
        let manifest_path = ckpt.join(MANIFEST);
        let manifest: Option<Manifest> = if manifest_path.exists() {
            let text = std::fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
            Some(serde_json::from_slice(&text).map_err(|e| {
                Error::bad_file(&manifest_path, format!("not a checkpoint manifest: {e}"))
            })?)
        } else {
            None
        };
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = ckpt.join(name);
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let Some(manifest) = &manifest else {
                return Ok(bytes);
            };
            let want = manifest
                .get(name)
                .ok_or_else(|| Error::bad_file(&manifest_path, format!("does not list {name}")))?;
            let got = FileSum::of(&bytes);
            if got.bytes != want.bytes {
                return Err(Error::bad_file(
                    &path,
                    format!(
                        "holds {} bytes, but {} were written (truncated or replaced)",
                        got.bytes, want.bytes
                    ),
                ));
            }
            if got.xxh3 != want.xxh3 {
                return Err(Error::bad_file(
                    &path,
                    format!(
                        "its checksum is {}, but {} was written (the file changed on disk)",
                        got.xxh3, want.xxh3
                    ),
                ));
            }
            Ok(bytes)
        };
        let state_path = ckpt.join(STATE);
        let state = serde_json::from_slice(&read(STATE)?).map_err(|e| {
            Error::bad_file(
                &state_path,
                format!("not a checkpoint state of this run: {e}"),
            )
        })?;
        let (weights, _) = native_paths(ckpt, MODEL);
        let weights_name = weights.file_name().expect("a file name").to_string_lossy();
        let model = load_native_bytes(model, read(&weights_name)?, &weights, device)?;
        let optimizer_path = ckpt.join(OPTIMIZER);
        let optimizer = record_from_bytes::<B, R>(
            read(OPTIMIZER)?,
            "the optimizer state",
            &optimizer_path,
            device,
        )?;
        Ok(Resumed {
            path: ckpt.to_path_buf(),
            state,
            model,
            optimizer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::nn::{Initializer, Linear, LinearConfig};

    fn linear(seed: f64) -> (Linear<Flex>, LinearConfig) {
        // Constant weights: no draw from the global generator, which seeded_init's test seeds
        // on another thread.
        let config = LinearConfig::new(3, 2).with_initializer(Initializer::Constant { value: 0.0 });
        let device = Default::default();
        let mut model = config.init::<Flex>(&device);
        model.weight = model.weight.map(|w| w.mul_scalar(0.0).add_scalar(seed));
        (model, config)
    }

    fn resume(ckpts: &RunCheckpoints) -> Result<Resumed<u64, Linear<Flex>, LinearRecord>> {
        ckpts.resume::<Flex, _, _, _>(linear(0.0).0, &Default::default())
    }

    type LinearRecord = <Linear<Flex> as Module<Flex>>::Record;

    #[test]
    fn keeps_two_checkpoints_and_falls_back_past_a_damaged_one() {
        let logdir = std::env::temp_dir().join(format!("ssl3d-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&logdir);
        let ckpts = RunCheckpoints::new(&logdir);
        for step in 1..=3u64 {
            let (model, config) = linear(step as f64);
            let optimizer = linear(10.0 * step as f64).0.into_record();
            ckpts
                .save::<Flex, _, _, _, _>(step, model, &config, optimizer, &step)
                .unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(ckpts.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["latest", "step-000000002", "step-000000003"]);
        let got = resume(&ckpts).unwrap();
        assert_eq!(got.state, 3);
        let w: Vec<f32> = got.model.weight.val().into_data().to_vec().unwrap();
        assert!(w.iter().all(|&x| x == 3.0), "{w:?}");

        // One byte changed in place (same size): the checksum catches it, and resume takes the
        // older checkpoint, weights and optimiser state included.
        let weights = ckpts.dir().join("step-000000003/model.mpk");
        let mut bytes = std::fs::read(&weights).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&weights, &bytes).unwrap();
        let got = resume(&ckpts).unwrap();
        assert_eq!(got.state, 2);
        assert!(got.path.ends_with("step-000000002"));
        let w: Vec<f32> = got.optimizer.weight.val().into_data().to_vec().unwrap();
        assert!(w.iter().all(|&x| x == 20.0), "{w:?}");

        // Both damaged: the error names each file and its problem.
        let optimizer = ckpts.dir().join("step-000000002/optimizer.mpk");
        let bytes = std::fs::read(&optimizer).unwrap();
        std::fs::write(&optimizer, &bytes[..bytes.len() / 2]).unwrap();
        let err = resume(&ckpts).err().unwrap().to_string();
        for want in [
            "step-000000003/model.mpk",
            "checksum",
            "step-000000002/optimizer.mpk",
            "truncated",
        ] {
            assert!(err.contains(want), "{want} not in: {err}");
        }
        std::fs::remove_dir_all(&logdir).unwrap();
    }
}
