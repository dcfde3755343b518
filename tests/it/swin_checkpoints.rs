//! Swin checkpoints as `torch.save` writes them, in the layouts users have: the published
//! self-supervised backbone (`{"state_dict": {"module.layers1.0.blocks.0.mlp.fc1…"}}`, which
//! MONAI's `SwinUNETR.load_from` reads), the research code's SSLHead training checkpoint with its
//! heads, and a whole SwinUNETR saved from DDP. Each loads through `ssl-finetune`'s reader and
//! transfer and gives MONAI's hidden states. The files are a reference set's `monai/checkpoints/`
//! (made by scripts/reference/gen_monai_swin_checkpoints.py, described by `swin_checkpoints.json`
//! there); a set without them skips with a notice.

use serde_json::Value;
use ssl3d::networks::checkpoint::read_torch_state_dict;
use ssl3d::networks::swin_transfer::transfer_swin;

use crate::common;
use crate::networks::{B, check_full_summary, formula_input, values};
use crate::swin_unetr::config;

#[test]
fn torch_saved_swin_checkpoints_in_every_layout_give_monais_backbone() {
    let Some((dir, text)) =
        common::generated_checkpoints("swin_checkpoints.json", "gen_monai_swin_checkpoints.py")
    else {
        return;
    };
    let d: Value = serde_json::from_str(&text).unwrap();
    let cfg = config(&d["args"]);
    let s = common::usizes(&d["input"]["shape"]);
    let x = formula_input(
        [s[0], s[1], s[2], s[3], s[4]],
        d["input"]["phase"].as_f64().unwrap(),
        d["input"]["freq"].as_f64().unwrap(),
    );
    let files = d["files"].as_object().unwrap();
    assert!(!files.is_empty());
    for (file, e) in files {
        let tensors = read_torch_state_dict(&dir.join(file)).unwrap();
        assert_eq!(
            tensors.len() as u64,
            e["tensors"].as_u64().unwrap(),
            "{file}"
        );
        let mut model = cfg.init::<B>(&Default::default());
        let report = transfer_swin(&mut model, &tensors).unwrap();
        let count = |k: &str| e.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
        assert_eq!(report.ignored.len(), count("index_buffers"), "{file}");
        assert_eq!(
            report.loaded.len() + report.ignored.len() + report.dropped.len(),
            tensors.len(),
            "{file}: every tensor accounted for"
        );
        match e["layout"].as_str().unwrap() {
            "published" => assert!(report.dropped.is_empty(), "{file}: {report:?}"),
            "sslhead" => assert_eq!(report.dropped.len(), count("heads"), "{file}"),
            _ => assert!(
                report
                    .dropped
                    .iter()
                    .all(|k| k.trim_start_matches("module.").starts_with("out.")),
                "{file}: {:?}",
                report.dropped
            ),
        }
        let hidden = model.swin_vit.forward(x.clone(), true);
        for (i, (h, want)) in hidden
            .into_iter()
            .zip(d["hidden_states"].as_array().unwrap())
            .enumerate()
        {
            check_full_summary(&values(h), want, &format!("{file}: hidden state {i}"));
        }
    }
}
