//! Radiology reports of the synthetic chest phantoms that describe their actual findings (ground-
//! glass opacity or consolidation; side, lobe, size), in varied phrasing and sentence order, so
//! image–report pretraining (ConVIRT) has paired text to learn from offline and its zero-shot and
//! retrieval evaluations have known answers.

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

/// What a lesion looks like on CT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    GroundGlass,
    Consolidation,
}

/// The patient's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Right,
    Left,
}

/// The lobe (the left lung has no middle lobe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lobe {
    Upper,
    Middle,
    Lower,
}

impl Lobe {
    /// The lobe at height `frac` of the lung (its centre 0, its top 1, its bottom −1).
    pub fn at(frac: f64, right: bool) -> Lobe {
        match (right, frac) {
            (true, f) if f > 0.2 => Lobe::Upper,
            (true, f) if f > -0.25 => Lobe::Middle,
            (false, f) if f > -0.05 => Lobe::Upper,
            _ => Lobe::Lower,
        }
    }
}

/// One lesion as a report names it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub side: Side,
    pub lobe: Lobe,
    pub diameter_mm: f64,
}

fn words(f: &Finding) -> (&'static str, &'static str, &'static str) {
    let kind = match f.kind {
        FindingKind::GroundGlass => "ground-glass opacity",
        FindingKind::Consolidation => "consolidation",
    };
    let side = match f.side {
        Side::Right => "right",
        Side::Left => "left",
    };
    let lobe = match f.lobe {
        Lobe::Upper => "upper",
        Lobe::Middle => "middle",
        Lobe::Lower => "lower",
    };
    (kind, side, lobe)
}

/// One sentence for a finding, in one of several phrasings.
fn finding_sentence(f: &Finding, rng: &mut impl Rng) -> String {
    let (kind, side, lobe) = words(f);
    // Whole millimetres: a decimal point would split the sentence where the text view cuts
    // reports into sentences (at every `.`, as the reference does).
    let mm = format!("{:.0}", f.diameter_mm);
    match rng.random_range(0..4) {
        0 => format!("There is a {mm} mm {kind} in the {side} {lobe} lobe."),
        1 => format!(
            "{} {lobe} lobe {kind} measuring {mm} mm.",
            capitalised(side)
        ),
        2 => format!("A {kind} of about {mm} mm is seen in the {side} {lobe} lobe."),
        _ => format!("{} in the {side} {lobe} lobe, {mm} mm.", capitalised(kind)),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The report of a chest with `findings` (none: a normal chest): findings in random order with
/// a sentence or two of normal anatomy, then an impression.
pub fn chest_report(findings: &[Finding], rng: &mut impl Rng) -> String {
    let mut sentences: Vec<String> = findings.iter().map(|f| finding_sentence(f, rng)).collect();
    let normal = [
        "The heart size is normal.",
        "The mediastinal contours are unremarkable.",
        "No pleural effusion or pneumothorax.",
        "The visualised bones are intact.",
    ];
    let n_normal = rng.random_range(1..=2);
    let mut extra: Vec<&str> = normal.to_vec();
    extra.shuffle(rng);
    sentences.extend(extra.into_iter().take(n_normal).map(str::to_string));
    if findings.is_empty() {
        let clear = [
            "The lungs are clear.",
            "No focal consolidation or ground-glass opacity.",
            "Both lungs are well aerated without focal opacity.",
        ];
        sentences.push(clear[rng.random_range(0..clear.len())].to_string());
    }
    sentences.shuffle(rng);
    let impression = if findings.is_empty() {
        "No acute cardiopulmonary abnormality.".to_string()
    } else {
        let mut kinds: Vec<&str> = findings.iter().map(|f| words(f).0).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut sides: Vec<&str> = findings.iter().map(|f| words(f).1).collect();
        sides.sort_unstable();
        sides.dedup();
        let side = if sides.len() > 1 {
            "bilateral".to_string()
        } else {
            sides[0].to_string()
        };
        format!("{} {}.", capitalised(&side), kinds.join(" and "))
    };
    format!("FINDINGS: {} IMPRESSION: {impression}", sentences.join(" "))
}
