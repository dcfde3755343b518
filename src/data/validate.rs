//! Checks every file a run needs before any work starts, and reports all problems in one error:
//! finding a missing label after an hour of training is what this prevents.

use rayon::prelude::*;

use super::datalist::DataItem;
use crate::error::{Error, Result};
use crate::io::read_header;

/// Reads the header of every image (and label, when `need_labels`) in `items`: each must exist,
/// be a readable NIfTI-1 file, and a label's header shape must equal its image's.
pub fn validate_items(items: &[DataItem], need_labels: bool) -> Result<()> {
    let mut errors: Vec<Error> = items
        .par_iter()
        .flat_map_iter(|item| {
            let mut errs = Vec::new();
            let image = read_header(&item.image);
            let label = match (&item.label, need_labels) {
                (Some(l), true) => Some(read_header(l)),
                (None, true) => {
                    errs.push(Error::bad_file(
                        &item.image,
                        "datalist entry has no \"label\" but this run needs labels",
                    ));
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
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(Error::Files(errors)),
    }
}
