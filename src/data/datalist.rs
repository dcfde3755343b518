//! MONAI / Medical Segmentation Decathlon datalists, read like MONAI's `load_decathlon_datalist`:
//! `training` / `validation` / `test` lists of `{"image", "label"}` entries whose paths are joined to a
//! data directory, and bare strings in `test`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// Which list of a datalist file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Training,
    Validation,
    Test,
}

impl Split {
    pub fn key(&self) -> &'static str {
        match self {
            Split::Training => "training",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// One entry: an image and, for segmentation data, its label map. Other keys of the entry are
/// kept as given (MONAI joins them to the data directory only when that path exists).
#[derive(Debug, Clone, PartialEq)]
pub struct DataItem {
    pub image: PathBuf,
    pub label: Option<PathBuf>,
    pub extra: BTreeMap<String, Value>,
}

/// `os.path.normpath(os.path.join(base, p))`: lexical, no file-system access.
fn join_normalized(base: &Path, p: &Path) -> PathBuf {
    let joined = base.join(p);
    let mut out: Vec<Component> = Vec::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

fn path_value(file: &Path, key: &str, i: usize, v: &Value) -> Result<PathBuf> {
    match v {
        Value::String(s) => Ok(PathBuf::from(s)),
        Value::Array(_) => Err(Error::bad_file(
            file,
            format!("entry {i}: \"{key}\" is a list of files; ssl3d takes one file per key"),
        )),
        other => Err(Error::bad_file(
            file,
            format!("entry {i}: \"{key}\" must be a file path string, found {other}"),
        )),
    }
}

/// Reads `split` from the datalist at `file`, joining paths to `data_dir` (default: the datalist's
/// own folder, as MONAI does). With `is_segmentation`, `label` paths are joined too.
pub fn load_datalist(
    file: &Path,
    split: Split,
    data_dir: Option<&Path>,
    is_segmentation: bool,
) -> Result<Vec<DataItem>> {
    load_datalist_key(file, split.key(), data_dir, is_segmentation)
}

/// [`load_datalist`] for a list under any key (MONAI's `data_list_key`), e.g. a cohort's own
/// list beside `training` and `validation`. Outside those two, entries may be bare image paths,
/// as Decathlon's `test` lists are.
pub fn load_datalist_key(
    file: &Path,
    key: &str,
    data_dir: Option<&Path>,
    is_segmentation: bool,
) -> Result<Vec<DataItem>> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(file, format!("not valid JSON: {e}")))?;
    let obj = json
        .as_object()
        .ok_or_else(|| Error::bad_file(file, "datalist must be a JSON object"))?;
    let list = obj
        .get(key)
        .ok_or_else(|| {
            let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            Error::bad_file(
                file,
                format!(
                    "datalist has no \"{key}\" list (its keys: {})",
                    keys.join(", ")
                ),
            )
        })?
        .as_array()
        .ok_or_else(|| Error::bad_file(file, format!("\"{key}\" must be a list")))?;
    let base = match data_dir {
        Some(d) => d.to_path_buf(),
        None => file.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    let mut items = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let entry = match entry {
            // Decathlon test lists may be bare image paths.
            Value::String(s) if key != "training" && key != "validation" => {
                let mut m = serde_json::Map::new();
                m.insert("image".into(), Value::String(s.clone()));
                m
            }
            Value::Object(m) => m.clone(),
            other => {
                return Err(Error::bad_file(
                    file,
                    format!("\"{key}\" entry {i} must be an object, found {other}"),
                ));
            }
        };
        let image = entry.get("image").ok_or_else(|| {
            Error::bad_file(file, format!("\"{key}\" entry {i} has no \"image\""))
        })?;
        let image = join_normalized(&base, &path_value(file, "image", i, image)?);
        let label = match (is_segmentation, entry.get("label")) {
            (true, Some(v)) => Some(join_normalized(&base, &path_value(file, "label", i, v)?)),
            _ => None,
        };
        let extra = entry
            .into_iter()
            .filter(|(k, _)| k != "image" && !(is_segmentation && k == "label"))
            .collect();
        items.push(DataItem {
            image,
            label,
            extra,
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_collapses_dots() {
        assert_eq!(
            join_normalized(
                Path::new("/data/btcv"),
                Path::new("./imagesTr/../imagesTr/a.nii.gz")
            ),
            PathBuf::from("/data/btcv/imagesTr/a.nii.gz")
        );
        assert_eq!(
            join_normalized(Path::new("rel"), Path::new("../x.nii")),
            PathBuf::from("x.nii")
        );
    }
}
