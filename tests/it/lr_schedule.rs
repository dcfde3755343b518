//! The warm-up + cosine learning-rate schedule against MONAI's `WarmupCosineSchedule`, update by
//! update (tests/fixtures/monai_warmup_cosine.json, made by
//! scripts/reference/gen_monai_lr_schedule.py).

use serde_json::Value;
use ssl3d::train::{LrSchedule, LrScheduleKind};

#[test]
fn warmup_cosine_gives_monais_rate_at_every_update() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/monai_warmup_cosine.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let schedule: LrSchedule = serde_json::from_value(serde_json::json!({
            "kind": "warmup_cosine",
            "warmup_steps": c["warmup_steps"],
            "end_lr": c["end_lr"],
            "warmup_multiplier": c["warmup_multiplier"],
        }))
        .unwrap();
        let (base, total) = (c["lr"].as_f64().unwrap(), c["t_total"].as_u64().unwrap());
        let lrs = c["lrs"].as_array().unwrap();
        assert_eq!(lrs.len() as u64, total);
        for (k, want) in lrs.iter().enumerate() {
            let want = want.as_f64().unwrap();
            let got = schedule.lr(base, k as u64, total);
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1e-12),
                "case {c:?} update {k}: {got} vs MONAI {want}"
            );
        }
    }
}

#[test]
fn the_constant_schedule_is_the_tutorials_and_bad_settings_are_refused() {
    let constant = LrSchedule::default();
    assert_eq!(constant.kind, LrScheduleKind::Constant);
    assert_eq!(constant.lr(1e-4, 123, 200), 1e-4);
    constant.check().unwrap();
    let bad = LrSchedule {
        warmup_multiplier: 1.5,
        ..LrSchedule::warmup_cosine(5)
    };
    let e = bad.check().unwrap_err().to_string();
    assert!(e.contains("warmup_multiplier"), "{e}");
    let ignored = LrSchedule {
        kind: LrScheduleKind::Constant,
        ..LrSchedule::warmup_cosine(5)
    };
    let e = ignored.check().unwrap_err().to_string();
    assert!(e.contains("would ignore"), "{e}");
    assert!(
        serde_json::from_str::<LrSchedule>(r#"{"kind": "warmup_cosine", "warmup": 5}"#).is_err()
    );
}
