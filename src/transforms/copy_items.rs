//! `CopyItemsd(keys, times, names)`: independent copies of an image under new names (the SSL
//! pipeline's `gt_image` and `image_2`).

use super::compose::Transform;
use super::meta::Sample;
use crate::error::Result;

pub(crate) struct CopyItemsd {
    pub key: String,
    pub names: Vec<String>,
}

impl Transform for CopyItemsd {
    fn name(&self) -> &'static str {
        "CopyItemsd"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        let img = sample.get(&self.key)?.clone();
        for n in &self.names {
            if sample.images.contains_key(n) {
                return Err(sample.error(format!("CopyItemsd: key \"{n}\" already exists")));
            }
            sample.images.insert(n.clone(), img.clone());
        }
        Ok(vec![sample])
    }
}
