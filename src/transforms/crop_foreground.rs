//! `CropForegroundd(source_key, select_fn = x > 0, margin 0, allow_smaller)`: crop every key to the
//! bounding box of the source's foreground (docs/MONAI_COMPAT.md, "CropForeground"). No foreground
//! gives MONAI's empty crop.

use ndarray::{Array4, Axis, s};
use rayon::prelude::*;

use super::meta::{MetaImage, Sample};
use crate::error::Result;

/// Bounding box `[start, end)` of voxels `> 0` in any channel; `([0;3], [0;3])` when there are none.
/// Scans in memory order (Spacing may hand over Fortran-ordered arrays).
pub fn foreground_box(data: &Array4<f32>) -> ([usize; 3], [usize; 3]) {
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for c in 0..data.shape()[0] {
        let ch = data.index_axis(Axis(0), c);
        // Spatial axes from slowest to fastest in memory.
        let mut order = [0usize, 1, 2];
        order.sort_by_key(|&d| std::cmp::Reverse(ch.strides()[d].unsigned_abs()));
        let v = ch.permuted_axes(order);
        let v = v.as_standard_layout();
        let [n0, n1, n2] = [v.shape()[0], v.shape()[1], v.shape()[2]];
        let flat = v.as_slice().expect("standard layout");
        // Per slowest-axis plane: the extent along the two faster axes.
        let planes: Vec<Option<[usize; 4]>> = flat
            .par_chunks(n1 * n2)
            .map(|plane| {
                let mut b: Option<[usize; 4]> = None;
                for (i1, row) in plane.chunks_exact(n2).enumerate() {
                    if let Some(first) = row.iter().position(|&x| x > 0.0) {
                        let last = row.iter().rposition(|&x| x > 0.0).unwrap();
                        b = Some(match b {
                            None => [i1, i1, first, last],
                            Some([a0, a1, b0, b1]) => [a0, i1.max(a1), b0.min(first), b1.max(last)],
                        });
                    }
                }
                b
            })
            .collect();
        for (i0, p) in planes.iter().enumerate().take(n0) {
            if let Some([a0, a1, b0, b1]) = *p {
                let (d0, d1, d2) = (order[0], order[1], order[2]);
                lo[d0] = lo[d0].min(i0);
                hi[d0] = hi[d0].max(i0 + 1);
                lo[d1] = lo[d1].min(a0);
                hi[d1] = hi[d1].max(a1 + 1);
                lo[d2] = lo[d2].min(b0);
                hi[d2] = hi[d2].max(b1 + 1);
            }
        }
    }
    if lo[0] == usize::MAX {
        return ([0; 3], [0; 3]);
    }
    (lo, hi)
}

/// The C-ordered crop `[start, end)` of a contiguous array whose x axis is fastest in memory
/// (what Spacing writes for NIfTI data): a tiled transpose, so reads and writes stay in cache.
fn crop_fortran_to_c(
    data: &Array4<f32>,
    start: [usize; 3],
    end: [usize; 3],
) -> Option<Array4<f32>> {
    let st = data.strides();
    if st[1] != 1 || st[2] <= 0 || st[3] <= 0 {
        return None;
    }
    let mem = data.as_slice_memory_order()?;
    // Blocks of B consecutive x: each source cache line (B values along x) is read once and
    // scattered to B output planes, whose rows are written sequentially.
    const B: usize = 16;
    let c = data.shape()[0];
    let [nx, ny, nz] = [end[0] - start[0], end[1] - start[1], end[2] - start[2]];
    let (sc, sy, sz) = (st[0] as usize, st[2] as usize, st[3] as usize);
    let mut out = Array4::<f32>::zeros((c, nx, ny, nz));
    let plane = ny * nz;
    if nx == 0 || plane == 0 {
        return Some(out);
    }
    for ch in 0..c {
        let flat = &mut out.as_slice_mut().expect("fresh C-order array")
            [ch * nx * plane..(ch + 1) * nx * plane];
        flat.par_chunks_mut(B * plane)
            .enumerate()
            .for_each(|(bx, block)| {
                let x0 = bx * B;
                let bw = block.len() / plane;
                let mut tile = [[0f32; B]; B];
                for y in 0..ny {
                    for z0 in (0..nz).step_by(B) {
                        let zw = B.min(nz - z0);
                        // Read B lines along x (one per z), then write B runs along z (one per x).
                        for (dz, t) in tile.iter_mut().enumerate().take(zw) {
                            let src = ch * sc
                                + start[0]
                                + x0
                                + (start[1] + y) * sy
                                + (start[2] + z0 + dz) * sz;
                            t[..bw].copy_from_slice(&mem[src..src + bw]);
                        }
                        for i in 0..bw {
                            let row =
                                &mut block[i * plane + y * nz + z0..i * plane + y * nz + z0 + zw];
                            for (dz, out) in row.iter_mut().enumerate() {
                                *out = tile[dz][i];
                            }
                        }
                    }
                }
            });
    }
    Some(out)
}

/// Crops an image to `[start, end)`; the affine's origin moves to the crop's first voxel.
pub fn crop(img: &MetaImage, start: [usize; 3], end: [usize; 3]) -> MetaImage {
    let data = crop_fortran_to_c(&img.data, start, end).unwrap_or_else(|| {
        img.data
            .slice(s![.., start[0]..end[0], start[1]..end[1], start[2]..end[2]])
            .to_owned()
    });
    let mut affine = img.affine;
    for r in 0..3 {
        affine[r][3] += (0..3)
            .map(|c| img.affine[r][c] * start[c] as f64)
            .sum::<f64>();
    }
    MetaImage { data, affine }
}

/// Dict version: the box from `source_key`, applied to `keys`; records
/// `foreground_start_coord` / `foreground_end_coord`.
pub(crate) struct CropForegroundd {
    pub keys: Vec<String>,
    pub source_key: String,
}

impl super::compose::Transform for CropForegroundd {
    fn name(&self) -> &'static str {
        "CropForegroundd"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        let (start, end) = foreground_box(&sample.get(&self.source_key)?.data);
        if end == [0; 3] {
            eprintln!(
                "warning: {}: no foreground (no voxel > 0 after intensity scaling); the crop is empty, as in MONAI",
                sample
                    .source
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
        for k in &self.keys {
            let img = sample.take(k)?;
            sample.images.insert(k.clone(), crop(&img, start, end));
        }
        sample.meta.insert(
            "foreground_start_coord".into(),
            start.iter().map(|&v| v as i64).collect(),
        );
        sample.meta.insert(
            "foreground_end_coord".into(),
            end.iter().map(|&v| v as i64).collect(),
        );
        Ok(vec![sample])
    }
}
