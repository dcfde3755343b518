//! ConVIRT's image view of a radiograph, as the reference implementation makes it with
//! torchvision on PIL images (docs/CONVIRT.md, "Image views"): `Resize((h, w))` (PIL bilinear),
//! `RandomResizedCrop(h, scale=(0.8, 1.0))`, `RandomHorizontalFlip()`, `RandomGrayscale(p=0.2)`,
//! `ToTensor()`, `Normalize` with ImageNet's mean and deviation. The deterministic steps match
//! PIL and torchvision to the byte; the random ones draw from ssl3d's seeded generator.

pub mod pil_resize;
pub mod random_resized_crop;

pub use pil_resize::resize_bilinear;
pub use random_resized_crop::{CropBox, central_box, crop_box};

pub use crate::io::raster::Raster;

use crate::transforms::rng::RandomState;

/// ImageNet's channel means and deviations (torchvision's `Normalize` in the reference).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// What one view's random steps chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewDraws {
    pub crop: CropBox,
    pub flip: bool,
    pub grayscale: bool,
}

/// The reference's view settings (`dataset.input_shape`, torchvision's defaults otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct RadiographViews {
    /// Output height and width (`input_shape[0]`, `[1]`); the crop is `height` square as the
    /// reference's `RandomResizedCrop(size=input_shape[0])`.
    pub height: usize,
    pub width: usize,
    /// 1 (`L`) or 3 (`RGB`).
    pub channels: usize,
    pub crop_scale: (f64, f64),
    pub crop_ratio: (f64, f64),
    pub flip_p: f64,
    pub grayscale_p: f64,
}

impl RadiographViews {
    /// The reference's pipeline for `input_shape` `(h, w, c)`.
    pub fn reference(input_shape: [usize; 3]) -> Self {
        RadiographViews {
            height: input_shape[0],
            width: input_shape[1],
            channels: input_shape[2],
            crop_scale: (0.8, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip_p: 0.5,
            grayscale_p: 0.2,
        }
    }

    /// Draws the random steps for an image already resized to `height × width`, in the
    /// reference's order.
    pub fn draw(&self, rng: &mut RandomState) -> ViewDraws {
        let crop = crop_box(
            rng,
            self.height,
            self.width,
            self.crop_scale,
            self.crop_ratio,
        );
        let flip = rng.random_sample() < self.flip_p;
        let grayscale = rng.random_sample() < self.grayscale_p;
        ViewDraws {
            crop,
            flip,
            grayscale,
        }
    }

    /// The view's image for `draws`, before `ToTensor`.
    pub fn view_image(&self, img: &Raster, draws: ViewDraws) -> Raster {
        let resized = resize_bilinear(img, self.width, self.height);
        let b = draws.crop;
        let side = self.height;
        let mut view = resize_bilinear(&resized.crop(b.top, b.left, b.height, b.width), side, side);
        if draws.flip {
            view = view.mirrored();
        }
        if draws.grayscale {
            view = view.grayscale();
        }
        view
    }

    /// The view for `draws`: `[channels, size, size]` floats, normalised, channel-major.
    pub fn apply(&self, img: &Raster, draws: ViewDraws) -> Vec<f32> {
        to_normalized_tensor(&self.view_image(img, draws))
    }

    /// The view evaluation embeds (ssl3d's, the reference evaluates on training views):
    /// `Resize((h, w))`, torchvision's `CenterCrop(h)` (the box's corner rounded as
    /// `int(round(...))`), no flip, no grey — the same pixels every time.
    pub fn evaluation(&self, img: &Raster) -> Vec<f32> {
        let side = self.height.min(self.width);
        let centre = |full: usize| ((full - side) as f64 / 2.0).round_ties_even() as usize;
        let draws = ViewDraws {
            crop: CropBox {
                top: centre(self.height),
                left: centre(self.width),
                height: side,
                width: side,
            },
            flip: false,
            grayscale: false,
        };
        self.apply(img, draws)
    }

    /// One random view of `img`.
    pub fn view(&self, img: &Raster, rng: &mut RandomState) -> Vec<f32> {
        let draws = self.draw(rng);
        self.apply(img, draws)
    }
}

/// `Normalize(mean, std)(ToTensor()(img))`: bytes / 255, then `(x − mean) / std` per channel in
/// float32; channel-major. A one-channel image uses the first mean and deviation.
pub fn to_normalized_tensor(img: &Raster) -> Vec<f32> {
    let (c, n) = (img.channels, img.width * img.height);
    let mut out = vec![0f32; c * n];
    for ch in 0..c {
        let (m, s) = (IMAGENET_MEAN[ch], IMAGENET_STD[ch]);
        for (i, px) in img.data.chunks_exact(c).enumerate() {
            out[ch * n + i] = (px[ch] as f32 / 255.0 - m) / s;
        }
    }
    out
}
