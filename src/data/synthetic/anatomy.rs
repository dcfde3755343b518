//! CT-like anatomy: a trunk (skin, fat, muscle, spine, ribs, table) shared by both phantoms, the
//! BTCV-style labelled abdomen (13 organs) and the TCIA-COVID19-style chest (lungs with
//! ground-glass patches). Every size, position and intensity is drawn per volume around textbook
//! values, so volumes differ plausibly and segmentation is learnable but not trivial.

use rand::{Rng, RngExt};

use super::Involvement;
use super::geometry::{P3, Shape, Texture};
use super::phantom::{Part, Phantom};
use super::reports::{Finding, FindingKind, Lobe, Side};

/// BTCV label numbers (labels 0–13 of the tutorial).
pub mod label {
    pub const SPLEEN: u8 = 1;
    pub const RIGHT_KIDNEY: u8 = 2;
    pub(crate) const LEFT_KIDNEY: u8 = 3;
    pub const GALLBLADDER: u8 = 4;
    pub(crate) const ESOPHAGUS: u8 = 5;
    pub const LIVER: u8 = 6;
    pub(crate) const STOMACH: u8 = 7;
    pub const AORTA: u8 = 8;
    pub(crate) const IVC: u8 = 9;
    pub(crate) const PORTAL_SPLENIC_VEINS: u8 = 10;
    pub(crate) const PANCREAS: u8 = 11;
    pub const RIGHT_ADRENAL: u8 = 12;
    pub const LEFT_ADRENAL: u8 = 13;
}

/// Body size and scan extent in the patient frame (mm; z = 0 at the landmark level: kidney hilum
/// for the abdomen, carina for the chest).
#[derive(Debug, Clone, Copy)]
pub struct Trunk {
    /// Lateral and antero-posterior semi-axes of the body outline at z = 0.
    pub a: f64,
    pub b: f64,
    pub z_lo: f64,
    pub z_hi: f64,
}

impl Trunk {
    fn spine_y(&self) -> f64 {
        -0.55 * self.b
    }
}

fn jitter(rng: &mut impl Rng, v: f64, amount: f64) -> f64 {
    v + rng.random_range(-amount..=amount)
}

fn scale(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo..hi)
}

fn ellipsoid(centre: P3, radii: P3, angle: f64) -> Shape {
    Shape::Ellipsoid {
        centre,
        radii,
        angle,
    }
}

fn tube(points: Vec<P3>, radii: Vec<f64>) -> Shape {
    Shape::Tube { points, radii }
}

fn shell(t: &Trunk, inner: f64, outer: f64) -> Shape {
    Shape::EllipticShell {
        centre_xy: [0.0, 0.0],
        semi_axes: [t.a, t.b],
        z_range: [t.z_lo - 50.0, t.z_hi + 50.0],
        inner,
        outer,
        taper: 0.0004,
        z_ref: 0.0,
    }
}

/// Table, skin and fat, muscle wall, paraspinal muscles, spine with discs, and ribs above `rib_from_z`.
fn trunk_parts(rng: &mut impl Rng, t: &Trunk, rib_from_z: f64) -> Vec<Part> {
    let mut parts = Vec::new();
    let tex = |rng: &mut _, amp| Texture::new(rng, amp);
    // A gently curved patient table under the back.
    let table_r = 1200.0;
    parts.push(Part::new(
        Shape::EllipticShell {
            centre_xy: [0.0, -t.b - 14.0 - table_r],
            semi_axes: [table_r * 1.5, table_r],
            z_range: [t.z_lo - 50.0, t.z_hi + 50.0],
            inner: 1.0 - 12.0 / table_r,
            outer: 1.0,
            taper: 0.0,
            z_ref: 0.0,
        },
        jitter(rng, 120.0, 40.0),
        Texture::none(),
        0,
    ));
    let fat = jitter(rng, -100.0, 10.0);
    parts.push(Part::new(shell(t, 0.0, 1.0), fat, tex(rng, 12.0), 0));
    let wall = scale(rng, 0.84, 0.9);
    parts.push(Part::new(
        shell(t, wall, wall + 0.06),
        jitter(rng, 45.0, 8.0),
        tex(rng, 8.0),
        0,
    ));
    parts.push(Part::new(
        shell(t, 0.0, wall),
        jitter(rng, -90.0, 10.0),
        tex(rng, 12.0),
        0,
    ));
    let sy = t.spine_y();
    let (lo, hi) = (t.z_lo - 40.0, t.z_hi + 40.0);
    for side in [-1.0, 1.0] {
        let x = side * jitter(rng, 32.0, 4.0);
        parts.push(Part::new(
            tube(
                vec![[x, sy - 30.0, lo], [x, sy - 30.0, hi]],
                vec![22.0, 22.0],
            ),
            jitter(rng, 52.0, 6.0),
            tex(rng, 6.0),
            0,
        ));
    }
    // Vertebrae: cortical shell, cancellous body, posterior arch with the spinal canal, discs.
    let vb = jitter(rng, 17.0, 2.0);
    parts.push(Part::new(
        tube(vec![[0.0, sy, lo], [0.0, sy, hi]], vec![vb + 2.5, vb + 2.5]),
        jitter(rng, 900.0, 150.0),
        Texture::none(),
        0,
    ));
    parts.push(Part::new(
        tube(vec![[0.0, sy, lo], [0.0, sy, hi]], vec![vb, vb]),
        jitter(rng, 300.0, 60.0),
        tex(rng, 30.0),
        0,
    ));
    parts.push(Part::new(
        tube(
            vec![[0.0, sy - vb - 10.0, lo], [0.0, sy - vb - 10.0, hi]],
            vec![12.0, 12.0],
        ),
        jitter(rng, 700.0, 100.0),
        Texture::none(),
        0,
    ));
    parts.push(Part::new(
        tube(
            vec![[0.0, sy - vb - 8.0, lo], [0.0, sy - vb - 8.0, hi]],
            vec![7.5, 7.5],
        ),
        jitter(rng, 20.0, 8.0),
        Texture::none(),
        0,
    ));
    let disc_step = jitter(rng, 33.0, 3.0);
    let mut z = t.z_lo - 40.0 + rng.random_range(0.0..disc_step);
    while z < hi {
        parts.push(Part::new(
            ellipsoid([0.0, sy, z], [vb + 2.5, vb + 2.5, 4.0], 0.0),
            jitter(rng, 85.0, 10.0),
            Texture::none(),
            0,
        ));
        z += disc_step;
    }
    // Ribs: pairs every ~28 mm, just inside the muscle wall, sloping down anteriorly.
    let step = jitter(rng, 28.0, 3.0);
    let mut z = rib_from_z + rng.random_range(0.0..step);
    let rib_cortex = jitter(rng, 1100.0, 200.0);
    let rib_marrow = jitter(rng, 350.0, 50.0);
    while z < hi + 60.0 {
        for side in [-1.0, 1.0] {
            let rib = |radius| Shape::Rib {
                centre_xy: [0.0, 0.0],
                semi_axes: [t.a * (wall - 0.02), t.b * (wall - 0.04)],
                side,
                z0: z,
                from: -1.75,
                to: 1.0,
                drop: 14.0,
                radius,
            };
            parts.push(Part::new(rib(4.5), rib_cortex, Texture::none(), 0));
            parts.push(Part::new(rib(2.5), rib_marrow, Texture::none(), 0));
        }
        z += step;
    }
    parts
}

/// The BTCV-style abdomen: trunk, bowel loops (unlabelled), then the 13 labelled organs in an order
/// where smaller structures are painted over the ones they sit in.
pub fn abdomen(rng: &mut impl Rng, t: &Trunk) -> Phantom {
    use label::*;
    let mut parts = trunk_parts(rng, t, 20.0);
    let tex = |rng: &mut _, amp| Texture::new(rng, amp);
    let (a, b) = (t.a, t.b);
    let sy = t.spine_y();
    // Psoas muscles along the lower spine.
    for side in [-1.0, 1.0] {
        parts.push(Part::new(
            tube(
                vec![
                    [side * 24.0, sy + 8.0, 30.0],
                    [side * 50.0, sy + 14.0, -160.0],
                ],
                vec![8.0, 22.0],
            ),
            jitter(rng, 50.0, 6.0),
            tex(rng, 6.0),
            0,
        ));
    }
    // Bowel loops in the lower abdomen: soft tissue, some with gas; unlabelled distractors.
    for _ in 0..rng.random_range(18..30) {
        let c = [
            rng.random_range(-0.55..0.55) * a,
            rng.random_range(-0.1..0.6) * b,
            rng.random_range(-170.0..-5.0),
        ];
        let r = rng.random_range(10.0..22.0);
        let gas = rng.random_bool(0.25);
        parts.push(Part::new(
            ellipsoid(
                c,
                [r, r * scale(rng, 0.6, 1.0), r * scale(rng, 0.7, 1.4)],
                rng.random_range(0.0..3.0),
            ),
            if gas {
                jitter(rng, -750.0, 150.0)
            } else {
                jitter(rng, 35.0, 15.0)
            },
            tex(rng, 10.0),
            0,
        ));
    }
    let s = |rng: &mut _| scale(rng, 0.85, 1.15);
    // Large organs first.
    let liver_c = [
        jitter(rng, -0.38 * a, 10.0),
        jitter(rng, 0.05 * b, 8.0),
        jitter(rng, 75.0, 12.0),
    ];
    let k = s(rng);
    let liver_hu = jitter(rng, 105.0, 15.0);
    let liver_tex = tex(rng, 10.0);
    parts.push(Part::new(
        ellipsoid(
            liver_c,
            [0.45 * a * k, 0.62 * b * k, 80.0 * k],
            jitter(rng, 0.2, 0.1),
        ),
        liver_hu,
        liver_tex.clone(),
        LIVER,
    ));
    parts.push(Part::new(
        ellipsoid(
            [
                liver_c[0] + 0.45 * a,
                liver_c[1] + 0.25 * b,
                liver_c[2] + 20.0,
            ],
            [0.3 * a * k, 0.3 * b * k, 40.0 * k],
            0.3,
        ),
        liver_hu,
        liver_tex,
        LIVER,
    ));
    let k = s(rng);
    parts.push(Part::new(
        ellipsoid(
            [
                jitter(rng, 0.58 * a, 8.0),
                jitter(rng, -0.45 * b, 6.0),
                jitter(rng, 70.0, 12.0),
            ],
            [26.0 * k, 45.0 * k, 50.0 * k],
            jitter(rng, 0.6, 0.2),
        ),
        jitter(rng, 115.0, 15.0),
        tex(rng, 8.0),
        SPLEEN,
    ));
    let stomach_c = [
        jitter(rng, 0.25 * a, 8.0),
        jitter(rng, 0.38 * b, 6.0),
        jitter(rng, 60.0, 10.0),
    ];
    let k = s(rng);
    let stomach_r = [50.0 * k, 35.0 * k, 45.0 * k];
    let stomach_angle = jitter(rng, -0.5, 0.2);
    parts.push(Part::new(
        ellipsoid(stomach_c, stomach_r, stomach_angle),
        jitter(rng, 55.0, 10.0),
        tex(rng, 6.0),
        STOMACH,
    ));
    parts.push(Part::new(
        ellipsoid(
            stomach_c,
            [stomach_r[0] - 4.0, stomach_r[1] - 4.0, stomach_r[2] - 4.0],
            stomach_angle,
        ),
        jitter(rng, 15.0, 10.0),
        tex(rng, 6.0),
        STOMACH,
    ));
    // Gastric gas collects anteriorly.
    parts.push(Part {
        clip: Some(ellipsoid(
            stomach_c,
            [stomach_r[0] - 4.0, stomach_r[1] - 4.0, stomach_r[2] - 4.0],
            stomach_angle,
        )),
        ..Part::new(
            ellipsoid(
                [
                    stomach_c[0],
                    stomach_c[1] + 0.8 * stomach_r[1],
                    stomach_c[2],
                ],
                [stomach_r[0], 0.45 * stomach_r[1], stomach_r[2] * 0.8],
                stomach_angle,
            ),
            jitter(rng, -850.0, 60.0),
            Texture::none(),
            STOMACH,
        )
    });
    // Kidneys: bright cortex, darker medulla and sinus.
    for (side, lab) in [(-1.0, RIGHT_KIDNEY), (1.0, LEFT_KIDNEY)] {
        let k = s(rng);
        let c = [
            side * jitter(rng, 0.45 * a, 8.0),
            sy + jitter(rng, 18.0, 6.0),
            jitter(rng, side * 6.0, 10.0),
        ];
        let r = [26.0 * k, 22.0 * k, 52.0 * k];
        let ang = side * jitter(rng, 0.5, 0.15);
        parts.push(Part::new(
            ellipsoid(c, r, ang),
            jitter(rng, 175.0, 20.0),
            tex(rng, 8.0),
            lab,
        ));
        parts.push(Part::new(
            ellipsoid(
                [c[0] - side * 6.0, c[1] + 3.0, c[2]],
                [r[0] * 0.5, r[1] * 0.5, r[2] * 0.6],
                ang,
            ),
            jitter(rng, 120.0, 15.0),
            tex(rng, 6.0),
            lab,
        ));
        // Adrenal gland: a thin plate on top of and medial to the kidney.
        let adrenal = if side < 0.0 {
            RIGHT_ADRENAL
        } else {
            LEFT_ADRENAL
        };
        let k = s(rng);
        parts.push(Part::new(
            ellipsoid(
                [c[0] - side * 12.0, c[1] + 6.0, c[2] + r[2] + 8.0],
                [4.0 * k, 11.0 * k, 14.0 * k],
                side * 0.6,
            ),
            jitter(rng, 45.0, 10.0),
            tex(rng, 5.0),
            adrenal,
        ));
    }
    // Great vessels: aorta left-anterior of the spine, IVC to the right.
    let aorta_x = jitter(rng, 16.0, 4.0);
    let aorta_y = sy + 28.0;
    let ar = jitter(rng, 11.0, 2.0);
    parts.push(Part::new(
        tube(
            vec![
                [aorta_x, aorta_y, t.z_hi + 40.0],
                [aorta_x, aorta_y, -110.0],
                [aorta_x + 30.0, aorta_y + 8.0, -170.0],
            ],
            vec![ar, ar * 0.9, ar * 0.6],
        ),
        jitter(rng, 190.0, 30.0),
        Texture::none(),
        AORTA,
    ));
    let ivc_x = -jitter(rng, 22.0, 4.0);
    let ivc_r = jitter(rng, 12.0, 2.0);
    parts.push(Part::new(
        tube(
            vec![
                [ivc_x - 5.0, sy + 30.0, t.z_hi + 40.0],
                [ivc_x, sy + 26.0, 40.0],
                [ivc_x, sy + 24.0, -110.0],
            ],
            vec![ivc_r * 1.2, ivc_r, ivc_r],
        ),
        jitter(rng, 135.0, 20.0),
        Texture::none(),
        IVC,
    ));
    // Esophagus: above the stomach, left-anterior of the aorta.
    parts.push(Part::new(
        tube(
            vec![
                [aorta_x - 8.0, aorta_y + 20.0, t.z_hi + 40.0],
                [aorta_x - 4.0, aorta_y + 22.0, stomach_c[2] + 40.0],
                [stomach_c[0] - 20.0, stomach_c[1] - 5.0, stomach_c[2] + 25.0],
            ],
            vec![8.0, 8.0, 9.0],
        ),
        jitter(rng, 45.0, 8.0),
        Texture::none(),
        ESOPHAGUS,
    ));
    // Pancreas from the duodenal curve (head, right) to the splenic hilum (tail, left).
    let pz = jitter(rng, 20.0, 10.0);
    let k = s(rng);
    parts.push(Part::new(
        tube(
            vec![
                [-0.22 * a, sy + 62.0, pz - 10.0],
                [0.0, sy + 60.0, pz],
                [0.25 * a, sy + 45.0, pz + 12.0],
                [0.45 * a, sy + 30.0, pz + 22.0],
            ],
            vec![16.0 * k, 12.0 * k, 11.0 * k, 8.0 * k],
        ),
        jitter(rng, 95.0, 12.0),
        tex(rng, 12.0),
        PANCREAS,
    ));
    // Portal vein into the liver hilum, splenic vein along the back of the pancreas.
    let vr = jitter(rng, 6.0, 1.0);
    parts.push(Part::new(
        tube(
            vec![
                [liver_c[0] + 15.0, liver_c[1], pz + 45.0],
                [-0.05 * a, sy + 50.0, pz + 5.0],
                [0.25 * a, sy + 36.0, pz + 14.0],
                [0.48 * a, sy + 22.0, pz + 28.0],
            ],
            vec![vr * 1.3, vr * 1.2, vr, vr * 0.9],
        ),
        jitter(rng, 170.0, 25.0),
        Texture::none(),
        PORTAL_SPLENIC_VEINS,
    ));
    // Gallbladder under the liver, anterior.
    let k = s(rng);
    parts.push(Part::new(
        ellipsoid(
            [liver_c[0] + 20.0, liver_c[1] + 0.45 * b, liver_c[2] - 35.0],
            [14.0 * k, 12.0 * k, 25.0 * k],
            jitter(rng, 0.4, 0.2),
        ),
        jitter(rng, 12.0, 8.0),
        Texture::none(),
        GALLBLADDER,
    ));
    Phantom {
        parts,
        background_hu: -1000.0,
        noise_sd: scale(rng, 8.0, 20.0),
    }
}

/// The TCIA-COVID19-style chest: lungs with vessels and airways, heart, great vessels, and 1–5
/// ground-glass or consolidation patches. Unlabelled (pretraining data).
pub fn chest(rng: &mut impl Rng, t: &Trunk) -> Phantom {
    chest_with_findings(rng, t, Some(Involvement::Focal)).0
}

/// The chest and what a radiologist would report of its lesions: with `Focal` lesions the same
/// phantom as [`chest`] (the same draws), with `Extensive` ones those lesions larger, without
/// them (`None`) a normal chest.
pub fn chest_with_findings(
    rng: &mut impl Rng,
    t: &Trunk,
    lesions: Option<Involvement>,
) -> (Phantom, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut parts = trunk_parts(rng, t, t.z_lo - 60.0);
    let tex = |rng: &mut _, amp| Texture::new(rng, amp);
    let (a, b) = (t.a, t.b);
    // Sternum.
    parts.push(Part::new(
        tube(
            vec![[0.0, 0.82 * b, 40.0], [0.0, 0.86 * b, -140.0]],
            vec![7.0, 7.0],
        ),
        jitter(rng, 450.0, 80.0),
        Texture::none(),
        0,
    ));
    let lung_hu = jitter(rng, -860.0, 25.0);
    let mut lungs = Vec::new();
    for side in [-1.0, 1.0] {
        let k = scale(rng, 0.9, 1.1);
        let lung = ellipsoid(
            [
                side * 0.42 * a,
                jitter(rng, 0.02 * b, 6.0),
                jitter(rng, -20.0, 10.0),
            ],
            [0.36 * a * k, 0.72 * b * k, 130.0 * k],
            0.0,
        );
        parts.push(Part::new(lung.clone(), lung_hu, tex(rng, 20.0), 0));
        lungs.push(lung);
    }
    // Ground-glass opacities and consolidations, kept inside a lung.
    let count = if lesions.is_some() {
        rng.random_range(1..=5)
    } else {
        0
    };
    let extra_radius = lesions.map_or(0.0, Involvement::extra_radius_mm);
    for _ in 0..count {
        let which = rng.random_range(0..2);
        let lung = lungs[which].clone();
        let Shape::Ellipsoid { centre, radii, .. } = &lung else {
            unreachable!()
        };
        let c = [
            centre[0] + rng.random_range(-0.6..0.6) * radii[0],
            centre[1] + rng.random_range(-0.6..0.6) * radii[1],
            centre[2] + rng.random_range(-0.7..0.6) * radii[2],
        ];
        let r = rng.random_range(12.0..40.0) + extra_radius;
        let consolidation = rng.random_bool(0.25);
        // The first lung lies at −x: the patient's right, as the liver and right kidney.
        findings.push(Finding {
            kind: if consolidation {
                FindingKind::Consolidation
            } else {
                FindingKind::GroundGlass
            },
            side: if which == 0 { Side::Right } else { Side::Left },
            lobe: Lobe::at((c[2] - centre[2]) / radii[2], which == 0),
            diameter_mm: 2.0 * r,
        });
        parts.push(Part {
            clip: Some(lung),
            ..Part::new(
                ellipsoid(
                    c,
                    [r, r * scale(rng, 0.6, 1.0), r * scale(rng, 0.6, 1.2)],
                    rng.random_range(0.0..3.0),
                ),
                if consolidation {
                    jitter(rng, -30.0, 40.0)
                } else {
                    jitter(rng, -500.0, 120.0)
                },
                tex(rng, 40.0),
                0,
            )
        });
    }
    // Pulmonary vessels: tapering branches from each hilum.
    for _ in 0..rng.random_range(24..40) {
        let side: f64 = if rng.random_bool(0.5) { -1.0 } else { 1.0 };
        let hilum = [side * 0.22 * a, 0.05 * b, jitter(rng, -10.0, 20.0)];
        let end = [
            side * rng.random_range(0.3..0.75) * a,
            rng.random_range(-0.55..0.6) * b,
            hilum[2] + rng.random_range(-110.0..100.0),
        ];
        let mid = [
            (hilum[0] + end[0]) / 2.0 + rng.random_range(-10.0..10.0),
            (hilum[1] + end[1]) / 2.0 + rng.random_range(-10.0..10.0),
            (hilum[2] + end[2]) / 2.0,
        ];
        parts.push(Part {
            clip: Some(lungs[if side < 0.0 { 0 } else { 1 }].clone()),
            ..Part::new(
                tube(vec![hilum, mid, end], vec![4.5, 2.5, 1.0]),
                jitter(rng, 40.0, 15.0),
                Texture::none(),
                0,
            )
        });
    }
    // Trachea and main bronchi (air inside a soft-tissue wall).
    let carina = [0.0, 0.1 * b, 0.0];
    for (r, hu) in [(11.0, 40.0), (8.5, -980.0)] {
        parts.push(Part::new(
            tube(
                vec![
                    [0.0, 0.15 * b, t.z_hi + 40.0],
                    carina,
                    [-0.25 * a, 0.05 * b, -25.0],
                ],
                vec![r, r, r * 0.7],
            ),
            hu,
            Texture::none(),
            0,
        ));
        parts.push(Part::new(
            tube(vec![carina, [0.25 * a, 0.05 * b, -30.0]], vec![r, r * 0.7]),
            hu,
            Texture::none(),
            0,
        ));
    }
    // Heart and aorta (non-contrast blood ~40 HU), liver and spleen domes under the diaphragm.
    let k = scale(rng, 0.9, 1.15);
    parts.push(Part::new(
        ellipsoid(
            [
                jitter(rng, 0.12 * a, 8.0),
                0.3 * b,
                jitter(rng, -75.0, 10.0),
            ],
            [0.3 * a * k, 0.42 * b * k, 55.0 * k],
            jitter(rng, -0.5, 0.2),
        ),
        jitter(rng, 42.0, 8.0),
        tex(rng, 6.0),
        0,
    ));
    let sy = t.spine_y();
    parts.push(Part::new(
        tube(
            vec![
                [0.08 * a, 0.3 * b, -40.0],
                [0.05 * a, 0.25 * b, 35.0],
                [0.08 * a, -0.1 * b, 50.0],
                [0.1 * a, sy + 30.0, 30.0],
                [0.1 * a, sy + 30.0, t.z_lo - 50.0],
            ],
            vec![15.0, 15.0, 14.0, 13.0, 12.0],
        ),
        jitter(rng, 42.0, 8.0),
        Texture::none(),
        0,
    ));
    let dome = jitter(rng, -150.0, 15.0);
    parts.push(Part::new(
        ellipsoid(
            [-0.35 * a, 0.05 * b, dome - 40.0],
            [0.5 * a, 0.7 * b, 70.0],
            0.0,
        ),
        jitter(rng, 60.0, 10.0),
        tex(rng, 8.0),
        0,
    ));
    parts.push(Part::new(
        ellipsoid(
            [0.4 * a, -0.1 * b, dome - 55.0],
            [0.35 * a, 0.6 * b, 60.0],
            0.0,
        ),
        jitter(rng, 45.0, 10.0),
        tex(rng, 8.0),
        0,
    ));
    let phantom = Phantom {
        parts,
        background_hu: -1000.0,
        noise_sd: scale(rng, 8.0, 20.0),
    };
    (phantom, findings)
}
