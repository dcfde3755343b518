//! MONAI's `AsDiscrete`: argmax over channels (the first maximum wins on ties) and one-hot.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

/// `argmax(dim=0)` of channel-first scores `(C, ...)` as class indices `(...)`.
pub fn argmax_channels(scores: ArrayViewD<f32>) -> ArrayD<u8> {
    let c = scores.shape()[0];
    assert!(c <= 256, "at most 256 classes");
    let mut best = scores.index_axis(Axis(0), 0).to_owned();
    let mut idx = ArrayD::<u8>::zeros(best.raw_dim());
    for k in 1..c {
        let ch = scores.index_axis(Axis(0), k);
        ndarray::Zip::from(&mut best)
            .and(&mut idx)
            .and(&ch)
            .for_each(|b, i, &v| {
                // Strictly greater: ties keep the first maximum (torch.argmax). NaN never wins.
                if v > *b {
                    *b = v;
                    *i = k as u8;
                }
            });
    }
    idx
}

/// One-hot `(C, ...)` float32 of class indices `(...)`.
pub fn one_hot(labels: ArrayViewD<u8>, num_classes: usize) -> ArrayD<f32> {
    let mut shape = vec![num_classes];
    shape.extend_from_slice(labels.shape());
    let mut out = ArrayD::<f32>::zeros(IxDyn(&shape));
    for c in 0..num_classes {
        let mut ch = out.index_axis_mut(Axis(0), c);
        ndarray::Zip::from(&mut ch)
            .and(&labels)
            .for_each(|o, &l| *o = (l as usize == c) as u8 as f32);
    }
    out
}
