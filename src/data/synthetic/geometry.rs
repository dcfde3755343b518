//! Solid shapes in patient coordinates (mm; x towards the patient's left, y anterior, z superior),
//! the building blocks the phantoms are painted from.

/// A point or vector in patient space, mm.
pub(crate) type P3 = [f64; 3];

/// A solid that can say whether a point is inside and which slab of z it occupies (so a slice only
/// tests the shapes that reach it).
#[derive(Debug, Clone)]
pub enum Shape {
    /// Ellipsoid with semi-axes `radii`, turned by `angle` (radians) about the z axis.
    Ellipsoid { centre: P3, radii: P3, angle: f64 },
    /// A tube of varying radius along a polyline (`points[i]` has radius `radii[i]`).
    Tube { points: Vec<P3>, radii: Vec<f64> },
    /// The region between two scaled copies of an elliptic cylinder whose semi-axes change with z:
    /// `inner ≤ ρ < outer`, with ρ the normalised elliptic radius. `inner = 0` gives a solid cylinder.
    EllipticShell {
        centre_xy: [f64; 2],
        semi_axes: [f64; 2],
        z_range: [f64; 2],
        inner: f64,
        outer: f64,
        /// Relative change of the semi-axes per mm of z (a body narrows towards the pelvis).
        taper: f64,
        z_ref: f64,
    },
    /// A rib: a round bar of `radius` mm following an ellipse of `semi_axes` around `centre_xy`,
    /// on the patient's left (`side` +1) or right (−1), from angle `from` to `to` (radians in the
    /// mirrored frame: 0 = lateral, −π/2 = posterior, +π/2 = anterior), dropping `drop` mm per radian.
    Rib {
        centre_xy: [f64; 2],
        semi_axes: [f64; 2],
        side: f64,
        z0: f64,
        from: f64,
        to: f64,
        drop: f64,
        radius: f64,
    },
}

impl Shape {
    /// Inclusive z extent in mm.
    pub(crate) fn z_range(&self) -> [f64; 2] {
        match self {
            Shape::Ellipsoid { centre, radii, .. } => [centre[2] - radii[2], centre[2] + radii[2]],
            Shape::Tube { points, radii } => {
                let r = radii.iter().cloned().fold(0.0, f64::max);
                let lo = points.iter().map(|p| p[2]).fold(f64::INFINITY, f64::min);
                let hi = points
                    .iter()
                    .map(|p| p[2])
                    .fold(f64::NEG_INFINITY, f64::max);
                [lo - r, hi + r]
            }
            Shape::EllipticShell { z_range, .. } => *z_range,
            Shape::Rib {
                z0,
                from,
                to,
                drop,
                radius,
                ..
            } => [z0 - drop * (to - from) - radius, z0 + radius],
        }
    }

    pub fn contains(&self, p: P3) -> bool {
        match self {
            Shape::Ellipsoid {
                centre,
                radii,
                angle,
            } => {
                let (dx, dy, dz) = (p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]);
                let (s, c) = angle.sin_cos();
                let u = (c * dx + s * dy) / radii[0];
                let v = (-s * dx + c * dy) / radii[1];
                let w = dz / radii[2];
                u * u + v * v + w * w <= 1.0
            }
            Shape::Tube { points, radii } => {
                points.windows(2).zip(radii.windows(2)).any(|(s, r)| {
                    let (t, d2) = segment_distance2(p, s[0], s[1]);
                    let rad = r[0] + t * (r[1] - r[0]);
                    d2 <= rad * rad
                })
            }
            Shape::EllipticShell {
                centre_xy,
                semi_axes,
                z_range,
                inner,
                outer,
                taper,
                z_ref,
            } => {
                if p[2] < z_range[0] || p[2] > z_range[1] {
                    return false;
                }
                let k = 1.0 + taper * (p[2] - z_ref);
                let u = (p[0] - centre_xy[0]) / (semi_axes[0] * k);
                let v = (p[1] - centre_xy[1]) / (semi_axes[1] * k);
                let rho = (u * u + v * v).sqrt();
                rho >= *inner && rho < *outer
            }
            Shape::Rib {
                centre_xy,
                semi_axes,
                side,
                z0,
                from,
                to,
                drop,
                radius,
            } => {
                let dx = side * (p[0] - centre_xy[0]);
                let dy = p[1] - centre_xy[1];
                let phi = (dy / semi_axes[1]).atan2(dx / semi_axes[0]);
                if phi < *from || phi > *to {
                    return false;
                }
                let ex = semi_axes[0] * phi.cos();
                let ey = semi_axes[1] * phi.sin();
                let radial = (dx * dx + dy * dy).sqrt() - (ex * ex + ey * ey).sqrt();
                let dz = p[2] - (z0 - drop * (phi - from));
                radial * radial + dz * dz <= radius * radius
            }
        }
    }
}

/// Parameter along segment `a→b` of the closest point to `p` (clamped to [0, 1]) and the squared
/// distance to it.
fn segment_distance2(p: P3, a: P3, b: P3) -> (f64, f64) {
    let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let ap = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
    let len2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
    let t = if len2 > 0.0 {
        ((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let d = [ap[0] - t * ab[0], ap[1] - t * ab[1], ap[2] - t * ab[2]];
    (t, d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
}

/// A smooth random intensity variation: a few plane waves of 30–90 mm wavelength. Cheap, seeded,
/// and enough to keep tissues from being flat.
#[derive(Debug, Clone)]
pub struct Texture {
    waves: Vec<([f64; 3], f64, f64)>, // (wave vector rad/mm, phase, amplitude HU)
}

use rand::RngExt;

impl Texture {
    pub fn new(rng: &mut impl rand::Rng, amplitude: f64) -> Self {
        let waves = (0..3)
            .map(|_| {
                let lambda = rng.random_range(30.0..90.0);
                let theta: f64 = rng.random_range(0.0..std::f64::consts::PI);
                let phi: f64 = rng.random_range(0.0..2.0 * std::f64::consts::PI);
                let k = 2.0 * std::f64::consts::PI / lambda;
                let dir = [
                    k * theta.sin() * phi.cos(),
                    k * theta.sin() * phi.sin(),
                    k * theta.cos(),
                ];
                (dir, rng.random_range(0.0..6.3), amplitude / 3.0)
            })
            .collect();
        Texture { waves }
    }

    pub fn none() -> Self {
        Texture { waves: Vec::new() }
    }

    pub fn at(&self, p: P3) -> f64 {
        self.waves
            .iter()
            .map(|(k, ph, a)| a * (k[0] * p[0] + k[1] * p[1] + k[2] * p[2] + ph).sin())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsoid_contains_centre_not_outside() {
        let e = Shape::Ellipsoid {
            centre: [1.0, 2.0, 3.0],
            radii: [10.0, 5.0, 2.0],
            angle: 0.3,
        };
        assert!(e.contains([1.0, 2.0, 3.0]));
        assert!(!e.contains([1.0, 2.0, 5.5]));
        assert_eq!(e.z_range(), [1.0, 5.0]);
    }

    #[test]
    fn tube_follows_its_polyline() {
        let t = Shape::Tube {
            points: vec![[0.0, 0.0, 0.0], [0.0, 0.0, 100.0]],
            radii: vec![5.0, 5.0],
        };
        assert!(t.contains([3.0, 3.0, 50.0]));
        assert!(!t.contains([4.0, 4.0, 50.0]));
    }
}
