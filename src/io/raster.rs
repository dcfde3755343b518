//! An 8-bit image as PIL holds one (rows of interleaved channels, 1 for `L`, 3 for `RGB`), and
//! reading one from a PNG or JPEG file as the ConVIRT reference's `Image.open(…).convert("RGB")`
//! does (the `image` crate decodes); and writing one as a PNG (synthetic radiographs).

use std::path::Path;

use crate::error::{Error, Result};

/// Reads a PNG or JPEG radiograph as `channels` (1: grey, 3: RGB) 8-bit channels. Grey images
/// become RGB by copying the grey value, colour images grey by ITU-R 601-2 luma (as PIL's
/// `convert`); 16-bit images are scaled to 8 bits.
pub fn read_raster(path: &Path, channels: usize) -> Result<Raster> {
    let img = image::ImageReader::open(path)
        .map_err(|e| Error::bad_file(path, format!("cannot open the image: {e}")))?
        .with_guessed_format()
        .map_err(|e| Error::bad_file(path, format!("cannot read the image: {e}")))?
        .decode()
        .map_err(|e| Error::bad_file(path, format!("not a readable PNG or JPEG image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err(Error::bad_file(path, "the image is empty"));
    }
    let data = match channels {
        1 => {
            Raster::new(w, h, 3, img.to_rgb8().into_raw())
                .grayscale_one()
                .data
        }
        3 => img.to_rgb8().into_raw(),
        c => {
            return Err(Error::InvalidArgument(format!(
                "{c} image channels: radiographs are read as 1 (grey) or 3 (RGB)"
            )));
        }
    };
    Ok(Raster::new(w, h, channels, data))
}

/// Writes `img` as an 8-bit grey (1 channel) or RGB (3) PNG, atomically.
pub fn write_png(path: &Path, img: &Raster) -> Result<()> {
    use image::ImageEncoder;
    let colour = match img.channels {
        1 => image::ExtendedColorType::L8,
        3 => image::ExtendedColorType::Rgb8,
        c => {
            return Err(Error::InvalidArgument(format!(
                "{c} channels: PNGs are written grey (1) or RGB (3)"
            )));
        }
    };
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&img.data, img.width as u32, img.height as u32, colour)
        .map_err(|e| Error::bad_file(path, format!("cannot encode the PNG: {e}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    super::atomic::write_atomic(path, &bytes)
}

/// `height × width × channels` bytes, row-major, channels interleaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raster {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

impl Raster {
    pub fn new(width: usize, height: usize, channels: usize, data: Vec<u8>) -> Self {
        assert_eq!(
            data.len(),
            width * height * channels,
            "a {width}×{height}×{channels} raster"
        );
        Raster {
            width,
            height,
            channels,
            data,
        }
    }

    /// `img.crop((left, top, left + width, top + height))`, inside the image.
    pub fn crop(&self, top: usize, left: usize, height: usize, width: usize) -> Raster {
        assert!(top + height <= self.height && left + width <= self.width);
        let c = self.channels;
        let mut data = Vec::with_capacity(width * height * c);
        for y in top..top + height {
            let row = (y * self.width + left) * c;
            data.extend_from_slice(&self.data[row..row + width * c]);
        }
        Raster::new(width, height, c, data)
    }

    /// `ImageOps.mirror` (`FLIP_LEFT_RIGHT`).
    pub fn mirrored(&self) -> Raster {
        let c = self.channels;
        let mut data = Vec::with_capacity(self.data.len());
        for row in self.data.chunks_exact(self.width * c) {
            for px in row.chunks_exact(c).rev() {
                data.extend_from_slice(px);
            }
        }
        Raster::new(self.width, self.height, c, data)
    }

    /// PIL's `convert("L")`: ITU-R 601-2 luma in 16-bit fixed point, rounded; one channel. A
    /// one-channel raster is returned as it is.
    pub fn grayscale_one(&self) -> Raster {
        if self.channels == 1 {
            return self.clone();
        }
        let data = self
            .data
            .chunks_exact(3)
            .map(|p| luma(p[0], p[1], p[2]))
            .collect();
        Raster::new(self.width, self.height, 1, data)
    }

    /// torchvision's `rgb_to_grayscale(img, num_output_channels=3)` on a PIL image: PIL's luma
    /// copied to all three channels. A one-channel raster is returned as it is.
    pub fn grayscale(&self) -> Raster {
        if self.channels == 1 {
            return self.clone();
        }
        let data = self
            .grayscale_one()
            .data
            .into_iter()
            .flat_map(|l| [l; 3])
            .collect();
        Raster::new(self.width, self.height, 3, data)
    }
}

/// PIL's `L24`: `(19595 R + 38470 G + 7471 B + 2^15) >> 16`.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as u8
}
