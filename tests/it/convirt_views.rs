//! ConVIRT's radiograph views against tests/fixtures/convirt_views.json (Pillow 13 and
//! torchvision 0.21, made by scripts/reference/gen_convirt_views.py): PIL's bilinear resize and
//! grey conversion to the byte, the reference's whole view (resize, resized crop, flip, grey,
//! ToTensor, ImageNet normalisation) for fixed random choices, `RandomResizedCrop`'s central
//! fallback, PNG and JPEG decoding as PIL decodes; and random crop boxes that stay inside the
//! image with the area and aspect the settings allow.

use serde_json::Value;
use ssl3d::io::raster::{Raster, read_raster};
use ssl3d::transforms::radiograph::{
    CropBox, RadiographViews, ViewDraws, central_box, crop_box, resize_bilinear,
    to_normalized_tensor,
};

use crate::common;
use crate::networks::check_full_summary;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/convirt_views.json")).unwrap()
}

fn unhex(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn input(f: &Value) -> Raster {
    let img = &f["image"];
    let (w, h) = (
        img["width"].as_u64().unwrap() as usize,
        img["height"].as_u64().unwrap() as usize,
    );
    Raster::new(w, h, 3, unhex(&img["rgb"]))
}

/// Where two byte images differ: count and the first position.
fn differences(ours: &[u8], want: &[u8]) -> (usize, Option<usize>) {
    assert_eq!(ours.len(), want.len(), "sizes");
    let diff: Vec<usize> = (0..ours.len()).filter(|&i| ours[i] != want[i]).collect();
    (diff.len(), diff.first().copied())
}

#[test]
fn pils_bilinear_resize_and_grey_conversion_to_the_byte() {
    let f = fixture();
    let img = input(&f);
    let grey = img.grayscale_one();
    assert_eq!(
        differences(&grey.data, &unhex(&f["grey"])),
        (0, None),
        "convert(L)"
    );
    for case in f["resize"].as_array().unwrap() {
        let (w, h) = (
            case["width"].as_u64().unwrap() as usize,
            case["height"].as_u64().unwrap() as usize,
        );
        let rgb = resize_bilinear(&img, w, h);
        assert_eq!((rgb.width, rgb.height, rgb.channels), (w, h, 3));
        assert_eq!(
            differences(&rgb.data, &unhex(&case["rgb"])),
            (0, None),
            "RGB to {w}×{h}"
        );
        let g = resize_bilinear(&grey, w, h);
        assert_eq!(
            differences(&g.data, &unhex(&case["grey"])),
            (0, None),
            "L to {w}×{h}"
        );
    }
}

#[test]
fn the_reference_view_for_fixed_choices_is_torchvisions() {
    let f = fixture();
    let img = input(&f);
    for v in f["views"].as_array().unwrap() {
        let size = common::usizes(&v["size"]);
        let b = common::usizes(&v["box"]);
        let views = RadiographViews::reference([size[0], size[1], 3]);
        let draws = ViewDraws {
            crop: CropBox {
                top: b[0],
                left: b[1],
                height: b[2],
                width: b[3],
            },
            flip: v["flip"].as_bool().unwrap(),
            grayscale: v["grayscale"].as_bool().unwrap(),
        };
        let what = format!("view {size:?} {b:?}");
        let image = views.view_image(&img, draws);
        assert_eq!(
            differences(&image.data, &unhex(&v["rgb"])),
            (0, None),
            "{what}"
        );
        let t: Vec<f64> = views.apply(&img, draws).iter().map(|&x| x as f64).collect();
        assert_eq!(
            t,
            to_normalized_tensor(&image)
                .iter()
                .map(|&x| x as f64)
                .collect::<Vec<_>>()
        );
        check_full_summary(&t, &v["tensor"], &what);
    }
}

#[test]
fn random_resized_crops_fall_back_to_torchvisions_central_box() {
    let f = fixture();
    for c in f["central_fallback"].as_array().unwrap() {
        let (h, w) = (
            c["height"].as_u64().unwrap() as usize,
            c["width"].as_u64().unwrap() as usize,
        );
        let b = central_box(h, w, (3.0 / 4.0, 4.0 / 3.0));
        assert_eq!(
            vec![b.top, b.left, b.height, b.width],
            common::usizes(&c["box"]),
            "{h}×{w}"
        );
        // Areas larger than the image: every try fails, as in the fixture.
        let mut rng = ssl3d::transforms::RandomState::new(7);
        assert_eq!(
            crop_box(&mut rng, h, w, (2.0, 3.0), (3.0 / 4.0, 4.0 / 3.0)),
            b
        );
    }
}

#[test]
fn random_crop_boxes_stay_inside_with_the_allowed_area_and_aspect() {
    let mut rng = ssl3d::transforms::RandomState::new(3);
    let (h, w) = (224, 224);
    let mut draws = Vec::new();
    for _ in 0..2000 {
        let b = crop_box(&mut rng, h, w, (0.8, 1.0), (3.0 / 4.0, 4.0 / 3.0));
        assert!(b.top + b.height <= h && b.left + b.width <= w, "{b:?}");
        let area = (b.height * b.width) as f64 / (h * w) as f64;
        let aspect = b.width as f64 / b.height as f64;
        // Rounded sides move the area and aspect by up to a pixel's worth.
        assert!((0.78..=1.0).contains(&area), "{b:?}: area {area}");
        assert!((0.74..=1.35).contains(&aspect), "{b:?}: aspect {aspect}");
        draws.push(b);
    }
    // The boxes vary: not one box, and both offsets move.
    assert!(draws.iter().any(|b| b.top > 0) && draws.iter().any(|b| b.left > 0));
    assert!(draws.iter().any(|b| b.width != b.height));
    let views = RadiographViews::reference([64, 64, 3]);
    let picks: Vec<ViewDraws> = (0..400).map(|_| views.draw(&mut rng)).collect();
    let share = |p: fn(&ViewDraws) -> bool| picks.iter().filter(|d| p(d)).count() as f64 / 400.0;
    assert!((0.4..0.6).contains(&share(|d| d.flip)), "flip share");
    assert!((0.12..0.28).contains(&share(|d| d.grayscale)), "grey share");
}

#[test]
fn png_and_jpeg_decode_as_pil_decodes_them() {
    let f = fixture();
    let dir = common::scratch("convirt_views_files");
    for (fmt, exact) in [("png", true), ("jpeg", false)] {
        let file = &f["files"][fmt];
        let path = dir.join(format!("image.{fmt}"));
        std::fs::write(&path, unhex(&file["bytes"])).unwrap();
        let rgb = read_raster(&path, 3).unwrap();
        let grey = read_raster(&path, 1).unwrap();
        for (ours, key) in [(&rgb.data, "rgb"), (&grey.data, "grey")] {
            let want = unhex(&file[key]);
            assert_eq!(ours.len(), want.len(), "{fmt} {key}");
            let worst = ours
                .iter()
                .zip(&want)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            if exact {
                assert_eq!(worst, 0, "{fmt} {key}");
            } else {
                // Two JPEG decoders (libjpeg-turbo's and the image crate's) round their inverse
                // DCTs and colour conversion differently.
                let mean = ours
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| a.abs_diff(*b) as f64)
                    .sum::<f64>()
                    / ours.len() as f64;
                assert!(
                    worst <= 3 && mean < 0.5,
                    "{fmt} {key}: worst {worst}, mean {mean}"
                );
            }
        }
    }
    let bad = dir.join("truncated.png");
    let bytes = unhex(&f["files"]["png"]["bytes"]);
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_raster(&bad, 3).unwrap_err().to_string();
    assert!(err.contains("truncated.png"), "{err}");
    let err = read_raster(&dir.join("absent.png"), 3)
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.png"), "{err}");
}
