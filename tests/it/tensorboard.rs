//! TensorBoard event files: ssl3d's reader reads a file written by TensorBoard's own writer
//! (`tests/fixtures/tensorboard_events.json`, made by `scripts/reference/gen_tensorboard.py`),
//! and what ssl3d writes reads back with every record checked. The runs' event files are checked
//! against their `metrics.jsonl` in `pretrain_run` and `finetune_run`.

use serde_json::Value;
use ssl3d::report::tensorboard::{EventWriter, ScalarEvent, read_scalars};

use crate::common;

#[test]
fn reads_an_event_file_written_by_tensorboard() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tensorboard_events.json"
    );
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let hex = fixture["events_hex"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let file = common::scratch("tensorboard_fixture").join("events.out.tfevents.python");
    std::fs::write(&file, &bytes).unwrap();
    let expected: Vec<ScalarEvent> = fixture["scalars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| ScalarEvent {
            step: s["step"].as_u64().unwrap(),
            tag: s["tag"].as_str().unwrap().to_string(),
            value: s["value"].as_f64().unwrap() as f32,
        })
        .collect();
    assert_eq!(read_scalars(&file).unwrap(), expected);

    // A flipped byte anywhere in a record is a checksum error, never a wrong value.
    let mut broken = bytes.clone();
    let last = broken.len() - 6;
    broken[last] ^= 1;
    std::fs::write(&file, &broken).unwrap();
    let err = read_scalars(&file).unwrap_err().to_string();
    assert!(err.contains("checksum"), "{err}");
}

#[test]
fn written_scalars_read_back() {
    let file = common::scratch("tensorboard_roundtrip").join("events.out.tfevents.test");
    let mut w = EventWriter::create(&file).unwrap();
    w.scalars(3, &[("a/b".into(), 0.5), ("c".into(), -2.0)])
        .unwrap();
    w.scalars(u64::from(u32::MAX) + 7, &[("a/b".into(), 1e-7)])
        .unwrap();
    w.scalars(9, &[]).unwrap();
    w.flush().unwrap();
    let got = read_scalars(&file).unwrap();
    let e = |step, tag: &str, value| ScalarEvent {
        step,
        tag: tag.into(),
        value,
    };
    assert_eq!(
        got,
        vec![
            e(3, "a/b", 0.5),
            e(3, "c", -2.0),
            e(u64::from(u32::MAX) + 7, "a/b", 1e-7),
        ]
    );
}
