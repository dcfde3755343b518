//! Checks every file a run needs before any work starts, and reports all problems in one error:
//! finding a missing label after an hour of training is what this prevents. Headers first (fast:
//! missing files, wrong dimensions, label/image shape), then contents, read in full with the
//! checks loading does in training (truncated data, NaN voxels, unknown label values, a label on
//! another grid).

use rayon::prelude::*;

use super::datalist::DataItem;
use crate::error::{Error, Result};
use crate::io::read_header;
use crate::transforms::load_image::load_sample;

/// Reads the header of every image (and label, when `need_labels`) in `items`: each must exist,
/// be a readable NIfTI-1 file, and a label's header shape must equal its image's.
pub fn validate_items(items: &[DataItem], need_labels: bool) -> Result<()> {
    let errors: Vec<Error> = items
        .par_iter()
        .flat_map_iter(|item| {
            let mut errs = Vec::new();
            let image = read_header(&item.image);
            let label = match (&item.label, need_labels) {
                (Some(l), true) => Some(read_header(l)),
                (None, true) => {
                    errs.push(no_label(item));
                    None
                }
                _ => None,
            };
            match (image, label) {
                (Ok(img), Some(Ok(lab))) => {
                    let spatial = |s: &[usize]| {
                        let mut s = s.to_vec();
                        while s.len() > 3 && s.last() == Some(&1) {
                            s.pop();
                        }
                        s
                    };
                    if spatial(&img.shape) != spatial(&lab.shape) {
                        errs.push(Error::bad_file(
                            item.label.as_ref().unwrap(),
                            format!(
                                "label shape {:?} differs from its image {} of shape {:?}",
                                lab.shape,
                                item.image.display(),
                                img.shape
                            ),
                        ));
                    }
                }
                (img, lab) => {
                    errs.extend(img.err());
                    errs.extend(lab.and_then(|l| l.err()));
                }
            }
            errs
        })
        .collect();
    report_all(errors)
}

/// Reads every image (and label, when `need_labels`) in full, in parallel, with the checks
/// training's loading does (labels in `0..num_classes` when given), and reports every problem.
pub fn check_contents(
    items: &[DataItem],
    need_labels: bool,
    num_classes: Option<usize>,
) -> Result<()> {
    let problems: Vec<Error> = items
        .par_iter()
        .filter_map(|item| match (&item.label, need_labels) {
            (None, true) => Some(no_label(item)),
            (label, _) => {
                let label = label.as_deref().filter(|_| need_labels);
                load_sample(&item.image, label, num_classes).err()
            }
        })
        .collect();
    report_all(problems)
}

fn no_label(item: &DataItem) -> Error {
    Error::bad_file(
        &item.image,
        "datalist entry has no \"label\" but this run needs labels",
    )
}

/// One error for all `problems` (lists within them flattened), or `Ok` when there are none.
pub fn report_all(problems: impl IntoIterator<Item = Error>) -> Result<()> {
    let mut all = Vec::new();
    for e in problems {
        match e {
            Error::Files(list) => all.extend(list),
            e => all.push(e),
        }
    }
    match all.len() {
        0 => Ok(()),
        1 => Err(all.remove(0)),
        _ => Err(Error::Files(all)),
    }
}
