//! Hole boxes shared by `RandCoarseDropout` and `RandCoarseShuffle` (`RandCoarseTransform.randomize`),
//! with MONAI's draw order and its quirk: when sizes are random, each hole's lower size bound is the
//! previous hole's size, so sizes never shrink within one call (docs/MONAI_COMPAT.md,
//! "RandCoarseDropout" and "Monotone hole sizes").

use super::rng::RandomState;

/// Hole parameters as MONAI names them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoleSpec {
    pub holes: usize,
    pub spatial_size: usize,
    /// Random sizes in `[spatial_size, max_spatial_size]` per dim when set.
    pub max_spatial_size: Option<usize>,
    /// Random hole count in `[holes, max_holes]` when set.
    #[serde(default)]
    pub max_holes: Option<usize>,
}

/// A hole `[start, start + size)` per spatial dim.
pub(crate) type Hole = ([usize; 3], [usize; 3]);

/// `get_random_patch`: a start per dim, drawn only where the image is larger than the patch.
pub(crate) fn random_patch_start(
    r: &mut RandomState,
    shape: [usize; 3],
    size: [usize; 3],
) -> [usize; 3] {
    let mut start = [0usize; 3];
    for d in 0..3 {
        if shape[d] > size[d] {
            start[d] = r.randint(0, (shape[d] - size[d] + 1) as i64) as usize;
        }
    }
    start
}

/// `RandCoarseTransform`'s call prologue, shared by dropout and shuffle: the prob draws, then the
/// holes for the first key's spatial shape (all keys share them). `None` when nothing happens.
pub(crate) fn holes_for(
    rng: &mut super::twin_rng::TwinRandomState,
    prob: f64,
    sample: &super::meta::Sample,
    keys: &[String],
    spec: &HoleSpec,
) -> crate::error::Result<Option<Vec<Hole>>> {
    if !rng.fires(prob) {
        return Ok(None);
    }
    let Some(first) = keys.first() else {
        return Ok(None);
    };
    let shape = sample.get(first)?.spatial_shape();
    Ok(Some(draw_holes(&mut rng.inner, shape, spec)))
}

/// Draws the holes for an image of spatial `shape` (after the prob draws).
pub fn draw_holes(r: &mut RandomState, shape: [usize; 3], spec: &HoleSpec) -> Vec<Hole> {
    let n = match spec.max_holes {
        Some(max) => r.randint(spec.holes as i64, max as i64 + 1) as usize,
        None => spec.holes,
    };
    let mut size = [spec.spatial_size; 3];
    let mut holes = Vec::with_capacity(n);
    for _ in 0..n {
        if let Some(max) = spec.max_spatial_size {
            for s in &mut size {
                *s = r.randint(*s as i64, max as i64 + 1) as usize;
            }
        }
        let valid = [
            size[0].min(shape[0]),
            size[1].min(shape[1]),
            size[2].min(shape[2]),
        ];
        holes.push((random_patch_start(r, shape, valid), valid));
    }
    holes
}
