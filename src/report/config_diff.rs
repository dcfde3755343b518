//! Where two run configurations differ: a resumed run must use the config it started with
//! (except for the keys it may change), and a table over several runs should compare runs made
//! with the same settings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// The settings a resume changed: per dotted key, the saved value and the new one.
pub(crate) type ConfigChanges = BTreeMap<String, [Value; 2]>;

/// The JSON pointer (`/a/b`) of a dotted config key (`a.b`).
pub(crate) fn json_pointer(dotted: &str) -> String {
    format!("/{}", dotted.replace('.', "/"))
}

/// Dotted paths of the leaves where `a` and `b` differ.
pub(crate) fn differing_keys(a: &Value, b: &Value, prefix: &str) -> Vec<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    differing_keys(
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        &path,
                    )
                })
                .collect()
        }
        _ if a == b => Vec::new(),
        _ => vec![prefix.to_string()],
    }
}

/// The keys in which the `config.json` of each run folder differs from the first's, with the
/// folders that differ; runs without a readable `config.json` are left out.
pub fn config_differences(runs: &[PathBuf]) -> Vec<(PathBuf, Vec<String>)> {
    let read = |dir: &PathBuf| -> Option<Value> {
        let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
        serde_json::from_str(&text).ok()
    };
    let mut configs = runs.iter().filter_map(|d| Some((d, read(d)?)));
    let Some((_, first)) = configs.next() else {
        return Vec::new();
    };
    configs
        .map(|(dir, cfg)| (dir.clone(), differing_keys(&first, &cfg, "")))
        .filter(|(_, keys)| !keys.is_empty())
        .collect()
}
