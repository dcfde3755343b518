//! BTCV's 13 abdominal organs: the label values of the fine-tuning data, their names (as the
//! datalists' `labels` map gives them) and the short names the charts use.

/// BTCV class names, index = label value (0 is background).
pub(crate) const BTCV_CLASSES: [&str; 14] = [
    "background",
    "spleen",
    "right kidney",
    "left kidney",
    "gallbladder",
    "esophagus",
    "liver",
    "stomach",
    "aorta",
    "inferior vena cava",
    "portal and splenic veins",
    "pancreas",
    "right adrenal gland",
    "left adrenal gland",
];

/// Short organ names for chart axes, classes 1..=13.
const BTCV_ABBREVIATIONS: [&str; 13] = [
    "spl", "rkid", "lkid", "gall", "eso", "liv", "sto", "aor", "ivc", "veins", "pan", "rad", "lad",
];

/// Organ names for classes 1..num_classes: BTCV's with 14 classes, `class N` otherwise.
pub(crate) fn organ_names(num_classes: usize) -> Vec<String> {
    (1..num_classes)
        .map(|c| match num_classes == BTCV_CLASSES.len() {
            true => BTCV_CLASSES[c].to_string(),
            false => format!("class {c}"),
        })
        .collect()
}

/// Short organ labels for classes 1..num_classes (BTCV's with 14 classes, the number otherwise).
pub(crate) fn organ_abbreviations(num_classes: usize) -> Vec<String> {
    (1..num_classes)
        .map(|c| match num_classes == BTCV_CLASSES.len() {
            true => BTCV_ABBREVIATIONS[c - 1].to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// The name of label value `l` for a legend (`"6 liver"`), or just the number beyond BTCV's.
pub(crate) fn label_legend(l: u8) -> String {
    BTCV_CLASSES
        .get(l as usize)
        .map_or_else(|| l.to_string(), |n| format!("{l} {n}"))
}
