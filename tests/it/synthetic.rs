//! The synthetic CT generator: deterministic, CT-like intensities, BTCV labels with organ sizes in
//! the right order, and datalists that read back like the tutorial's.

use crate::common;

use ssl3d::data::synthetic::{PhantomKind, SynthOptions, SynthSize, generate, synthesize};
use ssl3d::data::{Split, load_datalist, validate_items};
use ssl3d::io::{load_labels, load_volume};

fn options(dir: &std::path::Path, seed: u64) -> SynthOptions {
    SynthOptions {
        out_dir: dir.join("data"),
        json_dir: dir.join("json"),
        seed,
        size: SynthSize::Tiny,
        chest_count: 3,
        labelled: 2,
        validation: 1,
    }
}

#[test]
fn same_seed_gives_byte_identical_files_and_working_datalists() {
    let a = common::scratch("synth_a");
    let b = common::scratch("synth_b");
    let out_a = generate(&options(&a, 7), &|| {}).unwrap();
    let out_b = generate(&options(&b, 7), &|| {}).unwrap();
    assert_eq!(out_a.images.len(), 6);
    assert_eq!(out_a.labels.len(), 3);
    for (x, y) in out_a
        .images
        .iter()
        .chain(&out_a.labels)
        .zip(out_b.images.iter().chain(&out_b.labels))
    {
        assert_eq!(
            std::fs::read(x).unwrap(),
            std::fs::read(y).unwrap(),
            "{}",
            x.display()
        );
    }
    let c = common::scratch("synth_c");
    let out_c = generate(&options(&c, 8), &|| {}).unwrap();
    assert_ne!(
        std::fs::read(&out_a.images[0]).unwrap(),
        std::fs::read(&out_c.images[0]).unwrap()
    );

    // Datalists mirror the tutorial's and every file they name is readable.
    let tcia = load_datalist(
        &a.join("json/tcia/dataset_split.json"),
        Split::Training,
        Some(&a.join("data/tcia")),
        false,
    )
    .unwrap();
    let tcia_val = load_datalist(
        &a.join("json/tcia/dataset_split.json"),
        Split::Validation,
        Some(&a.join("data/tcia")),
        false,
    )
    .unwrap();
    assert_eq!((tcia.len(), tcia_val.len()), (2, 1));
    validate_items(&tcia, false).unwrap();
    for file in [
        "dataset_0.json",
        "dataset_0_init_12.json",
        "dataset_0_init_6.json",
        "dataset_0_init_4.json",
    ] {
        let p = a.join("json/btcv").join(file);
        let train = load_datalist(&p, Split::Training, Some(&a.join("data/btcv")), true).unwrap();
        let val = load_datalist(&p, Split::Validation, Some(&a.join("data/btcv")), true).unwrap();
        assert_eq!((train.len(), val.len()), (2, 1), "{file}");
        assert!(train[1].image.ends_with("imagesTr/img0002.nii.gz"));
        assert!(val[0].image.ends_with("imagesTr/img0035.nii.gz"));
        validate_items(&train, true).unwrap();
        validate_items(&val, true).unwrap();
    }
    // Written files load as CT with a label map on the same grid.
    let img = load_volume(&out_a.images[3]).unwrap();
    let lab = load_labels(&out_a.labels[0]).unwrap();
    ssl3d::io::check_label_matches(&img, &lab, Some(13)).unwrap();
    assert_eq!(img.data.shape(), [64, 64, 32]);
}

#[test]
fn abdomen_has_all_13_organs_with_plausible_sizes_and_intensities() {
    let mut counts = [0usize; 14];
    let mut bone = 0;
    let mut air = 0;
    for n in 1..=4 {
        let v = synthesize(PhantomKind::Abdomen, SynthSize::Small, 3, n);
        let labels = v.labels.as_ref().unwrap();
        for (&l, &hu) in labels.iter().zip(v.hu.iter()) {
            counts[l as usize] += 1;
            bone += (hu > 300) as usize;
            air += (hu < -900) as usize;
        }
        // Anisotropic, CT-like voxel sizes.
        let sp = ssl3d::io::affine::spacing_of(&v.affine);
        assert!(sp[0] > 1.5 && sp[0] < 2.5 && sp[2] > 3.0, "{sp:?}");
    }
    for (l, &c) in counts.iter().enumerate() {
        assert!(c > 0, "label {l} never appears: {counts:?}");
    }
    use ssl3d::data::synthetic::anatomy::label::*;
    let c = |l: u8| counts[l as usize];
    assert!(
        c(LIVER) > c(SPLEEN) && c(SPLEEN) > c(GALLBLADDER),
        "{counts:?}"
    );
    assert!(
        c(LIVER) > 10 * c(RIGHT_ADRENAL) && c(LIVER) > 10 * c(LEFT_ADRENAL),
        "{counts:?}"
    );
    assert!(c(RIGHT_KIDNEY) > c(RIGHT_ADRENAL) * 3, "{counts:?}");
    assert!(bone > 0 && air > 0);
}

#[test]
fn organ_intensities_overlap_but_differ() {
    let v = synthesize(PhantomKind::Abdomen, SynthSize::Small, 11, 1);
    let labels = v.labels.unwrap();
    let mean = |want: u8| {
        let (s, n) = labels
            .iter()
            .zip(v.hu.iter())
            .filter(|(l, _)| **l == want)
            .fold((0f64, 0usize), |(s, n), (_, &h)| (s + h as f64, n + 1));
        s / n as f64
    };
    use ssl3d::data::synthetic::anatomy::label::*;
    assert!(
        mean(AORTA) > mean(LIVER),
        "contrast-enhanced aorta is brighter than liver"
    );
    assert!(mean(GALLBLADDER) < 40.0, "bile is near water");
    assert!(
        (mean(LIVER) - mean(SPLEEN)).abs() < 80.0,
        "liver and spleen are alike"
    );
}

#[test]
fn chest_has_air_filled_lungs_and_no_labels() {
    let v = synthesize(PhantomKind::Chest, SynthSize::Tiny, 5, 1);
    assert!(v.labels.is_none());
    let lung = v.hu.iter().filter(|&&h| (-950..-700).contains(&h)).count();
    assert!(
        lung as f64 > 0.1 * v.hu.len() as f64,
        "lungs fill a good part of a chest CT"
    );
    let lesion = v.hu.iter().filter(|&&h| (-650..-250).contains(&h)).count();
    assert!(lesion > 0, "ground-glass patches are present");
}

/// A volume of air with given slabs, on the phantoms' LPS-stored grid (x and y axes flipped).
fn slab_volume(
    shape: (usize, usize, usize),
    spacing: [f64; 3],
) -> ssl3d::data::synthetic::SyntheticVolume {
    let mut affine = ssl3d::io::affine::identity();
    affine[0][0] = -spacing[0];
    affine[1][1] = -spacing[1];
    affine[2][2] = spacing[2];
    ssl3d::data::synthetic::SyntheticVolume {
        hu: ndarray::Array3::from_elem(shape, -1000i16),
        labels: None,
        affine,
    }
}

#[test]
fn radiographs_are_the_attenuation_line_integrals_oriented_as_films() {
    use ssl3d::data::synthetic::radiograph::{DISPLAY_SCALE, MU_WATER_PER_MM, frontal_drr};
    let (nx, ny, nz) = (8, 10, 6);
    let spacing = [2.0, 3.0, 4.0];
    let mut vol = slab_volume((nx, ny, nz), spacing);
    // Water 4 voxels deep (12 mm) everywhere; bone (HU 1000: twice water) 2 voxels deeper in
    // column i = 1 of the top slice only.
    for i in 0..nx {
        for k in 0..nz {
            for j in 3..7 {
                vol.hu[[i, j, k]] = 0;
            }
        }
    }
    vol.hu[[1, 8, nz - 1]] = 1000;
    vol.hu[[1, 9, nz - 1]] = 1000;
    let drr = frontal_drr(&vol);
    assert_eq!(
        (drr.width, drr.height, drr.channels),
        (nx, 12, 1),
        "square pixels: 6 slices × 4 mm / 2 mm"
    );
    let shade = |a: f64| (255.0 * (1.0 - (-a / DISPLAY_SCALE).exp())).round() as u8;
    let (a_water, a_bone) = (
        MU_WATER_PER_MM * 12.0,
        MU_WATER_PER_MM * (12.0 + 2.0 * 2.0 * 3.0),
    );
    let (water, with_bone) = (shade(a_water), shade(a_bone));
    // Two rows per slice, sampled at their centres between the slices' centres: row 0 is the top
    // slice (head up), rows 1 and 2 blend it with the next one, 3/4 and 1/4.
    let column1 = [
        with_bone,
        shade(0.75 * a_bone + 0.25 * a_water),
        shade(0.25 * a_bone + 0.75 * a_water),
    ];
    for (row, pixels) in drr.data.chunks_exact(nx).enumerate() {
        for (col, &got) in pixels.iter().enumerate() {
            let want = match column1.get(row) {
                // Voxel column 1 (near the patient's left) is the image's second from the right.
                Some(&v) if col == nx - 2 => v,
                _ => water,
            };
            assert_eq!(got, want, "row {row} col {col}");
        }
    }
    assert!(with_bone > water);
}

#[test]
fn a_chest_radiograph_has_dark_lungs_beside_a_bright_mediastinum() {
    use ssl3d::data::synthetic::radiograph::frontal_drr;
    let vol = synthesize(PhantomKind::Chest, SynthSize::Tiny, 11, 1);
    let drr = frontal_drr(&vol);
    let (w, h) = (drr.width, drr.height);
    let at = |fx: f64| drr.data[(h / 2) * w + (fx * w as f64) as usize] as f64;
    // Mid-height: the lungs at about 30 % and 70 % of the width, the mediastinum at the centre.
    let (right_lung, centre, left_lung) = (at(0.3), at(0.5), at(0.7));
    assert!(
        centre > right_lung + 20.0 && centre > left_lung + 20.0,
        "{right_lung} {centre} {left_lung}"
    );
}

#[test]
fn chests_with_findings_are_the_chest_volumes_and_their_reports_name_each_finding() {
    use rand::SeedableRng;
    use ssl3d::data::synthetic::reports::{FindingKind, Lobe, Side, chest_report};
    use ssl3d::data::synthetic::{Involvement, synthesize_chest_with_findings};
    let (mut normals, mut abnormal) = (0, 0);
    for n in 1..=10 {
        let (vol, findings) =
            synthesize_chest_with_findings(SynthSize::Tiny, 5, n, 0.4, Involvement::Focal);
        let chest = synthesize(PhantomKind::Chest, SynthSize::Tiny, 5, n);
        let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
        let report = chest_report(&findings, &mut rng);
        let again = chest_report(&findings, &mut rand::rngs::StdRng::seed_from_u64(n as u64));
        assert_eq!(report, again, "the same draws give the same report");
        if findings.is_empty() {
            normals += 1;
            assert_ne!(
                vol.hu, chest.hu,
                "volume {n}: a normal chest is another volume"
            );
            assert!(
                report.contains("No acute cardiopulmonary abnormality"),
                "{report}"
            );
            continue;
        }
        abnormal += 1;
        assert_eq!(
            vol.hu, chest.hu,
            "volume {n}: the same draws as the chest set"
        );
        assert!((1..=5).contains(&findings.len()));
        for f in &findings {
            assert!((24.0..=80.0).contains(&f.diameter_mm), "{f:?}");
            assert!(
                !(f.side == Side::Left && f.lobe == Lobe::Middle),
                "the left lung has no middle lobe"
            );
            let side = if f.side == Side::Right {
                "right"
            } else {
                "left"
            };
            let lobe = match f.lobe {
                Lobe::Upper => "upper",
                Lobe::Middle => "middle",
                Lobe::Lower => "lower",
            };
            assert!(
                report.contains(&format!("{side} {lobe} lobe")),
                "{f:?} in {report}"
            );
            let kind = if f.kind == FindingKind::GroundGlass {
                "ground-glass"
            } else {
                "onsolidation"
            };
            assert!(report.contains(kind), "{f:?} in {report}");
            assert!(
                report.contains(&format!("{:.0} mm", f.diameter_mm)),
                "{f:?} in {report}"
            );
        }
        let both = findings.iter().any(|f| f.side == Side::Right)
            && findings.iter().any(|f| f.side == Side::Left);
        assert_eq!(report.contains("IMPRESSION: Bilateral"), both, "{report}");
    }
    assert!(
        normals > 0 && abnormal > 0,
        "{normals} normal, {abnormal} with findings"
    );
    // The phrasing and order vary from draw to draw.
    let (_, findings) = (1..=10)
        .map(|n| synthesize_chest_with_findings(SynthSize::Tiny, 5, n, 0.4, Involvement::Focal))
        .find(|(_, f)| !f.is_empty())
        .unwrap();
    let texts: std::collections::BTreeSet<String> = (0..8)
        .map(|s| chest_report(&findings, &mut rand::rngs::StdRng::seed_from_u64(100 + s)))
        .collect();
    assert!(texts.len() > 4, "{texts:?}");
}

#[test]
fn extensive_involvement_grows_the_same_lesions() {
    use ssl3d::data::synthetic::reports::FindingKind;
    use ssl3d::data::synthetic::{Involvement, synthesize_chest_with_findings};
    // Voxels in the ground-glass range (−700, −250) HU: lesions, nothing else at these sizes.
    let ground_glass =
        |hu: &ndarray::Array3<i16>| hu.iter().filter(|&&v| v > -700 && v < -250).count();
    let mut compared = 0;
    for n in 1..=8 {
        let chest = |inv| synthesize_chest_with_findings(SynthSize::Tiny, 3, n, 0.3, inv);
        let (focal, focal_findings) = chest(Involvement::Focal);
        let (wide, wide_findings) = chest(Involvement::Extensive);
        assert_eq!(focal_findings.len(), wide_findings.len(), "volume {n}");
        if focal_findings.is_empty() {
            assert_eq!(focal.hu, wide.hu, "volume {n}: a normal chest is the same");
            continue;
        }
        for (f, w) in focal_findings.iter().zip(&wide_findings) {
            assert_eq!(
                (f.kind, f.side, f.lobe),
                (w.kind, w.side, w.lobe),
                "volume {n}"
            );
            assert!(
                (w.diameter_mm - f.diameter_mm - 40.0).abs() < 1e-9,
                "{f:?} {w:?}"
            );
            assert!((64.0..=120.0).contains(&w.diameter_mm), "{w:?}");
        }
        let (a, b) = (ground_glass(&focal.hu), ground_glass(&wide.hu));
        if focal_findings
            .iter()
            .any(|f| f.kind == FindingKind::GroundGlass)
        {
            assert!(
                b as f64 > 1.5 * a as f64,
                "volume {n}: ground-glass voxels {a} focal, {b} extensive"
            );
            compared += 1;
        }
    }
    assert!(compared > 0, "no chest with ground-glass among the draws");
}
