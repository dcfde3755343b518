//! One fine-tuning validation's numbers over all validation volumes: the tutorial's Dice, the
//! clean 13-organ Dice, per organ and per volume, and HD95; as logged, reported and tabled.

use serde::{Deserialize, Serialize};

/// JSON has no NaN: absent values (an organ missing from a volume) are written as `null`.
pub(crate) mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    fn opt(v: f64) -> Option<f64> {
        v.is_finite().then_some(v)
    }

    pub mod scalar {
        use super::*;
        pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            opt(*v).serialize(s)
        }
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
        }
    }

    pub mod vec {
        use super::*;
        pub(crate) fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
            v.iter().map(|x| opt(*x)).collect::<Vec<_>>().serialize(s)
        }
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            Ok(Vec::<Option<f64>>::deserialize(d)?
                .into_iter()
                .map(|x| x.unwrap_or(f64::NAN))
                .collect())
        }
    }

    pub mod rows {
        use super::*;
        pub(crate) fn serialize<S: Serializer>(v: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
            v.iter()
                .map(|r| r.iter().map(|x| opt(*x)).collect::<Vec<_>>())
                .collect::<Vec<_>>()
                .serialize(s)
        }
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<Vec<f64>>, D::Error> {
            Ok(Vec::<Vec<Option<f64>>>::deserialize(d)?
                .into_iter()
                .map(|r| r.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
                .collect())
        }
    }
}

/// One validation over all validation volumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationResult {
    /// The tutorial's "Val Mean Dice": mean of running aggregates, background included.
    #[serde(with = "nan_as_null::scalar")]
    pub tutorial_dice: f64,
    /// Mean over volumes of each volume's mean organ Dice (13 organs, absent organs ignored).
    #[serde(with = "nan_as_null::scalar")]
    pub foreground_dice: f64,
    /// Per organ (classes 1..), mean over the volumes that contain it.
    #[serde(with = "nan_as_null::vec")]
    pub per_organ_dice: Vec<f64>,
    /// Per organ HD95 in mm (empty when HD95 is off).
    #[serde(with = "nan_as_null::vec")]
    pub per_organ_hd95: Vec<f64>,
    /// The validation images, in order.
    pub cases: Vec<String>,
    /// Per volume, Dice of every class including background (MONAI's rows).
    #[serde(with = "nan_as_null::rows")]
    pub dice_rows: Vec<Vec<f64>>,
    /// Per volume, HD95 of every organ.
    #[serde(with = "nan_as_null::rows")]
    pub hd95_rows: Vec<Vec<f64>>,
}
