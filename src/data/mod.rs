//! Data: MONAI datalists, up-front validation of the files a run needs, and synthetic CT.

pub mod datalist;
pub mod synthetic;
pub mod validate;

pub use datalist::{DataItem, Split, load_datalist};
pub use validate::validate_items;
