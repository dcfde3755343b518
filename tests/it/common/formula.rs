//! Rebuilds the fixture inputs that `transform_vectors.json` describes by formula strings
//! (`fvol((1,96,96,96))`, `arange(840).reshape(1,10,12,7)`, `zeros(1,6,7,5); [1,2,1]=0.5; ...`,
//! `RandomState(3).rand(1,20,18,16) with [:, :2]=0`), exactly as the generator computed them.

use ndarray::{Array4, SliceInfoElem};
use ssl3d::transforms::RandomState;

fn ints(s: &str) -> Vec<usize> {
    s.split(',')
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("not an integer: {p:?}"))
        })
        .collect()
}

fn shape4(dims: &[usize]) -> (usize, usize, usize, usize) {
    assert_eq!(dims.len(), 4, "expected a (C, X, Y, Z) shape, got {dims:?}");
    (dims[0], dims[1], dims[2], dims[3])
}

/// The text between the first `open` after `start` and its matching `close`.
fn between(s: &str, open: char, close: char) -> &str {
    let a = s.find(open).expect("opening bracket") + 1;
    let b = a + s[a..].find(close).expect("closing bracket");
    &s[a..b]
}

/// `fvol(shape, phase=0.3, freq=0.013, lo=0, hi=1)` of gen_transform_vectors.py.
pub fn fvol(dims: &[usize]) -> Array4<f32> {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|j| (((0.013 * j as f64 + 0.3).sin() + 1.0) / 2.0) as f32)
        .collect();
    Array4::from_shape_vec(shape4(dims), v).unwrap()
}

/// Applies `[a:b, i, :c]=v` assignments. Three indices address the spatial dims of channel 0;
/// otherwise the first index is the channel.
fn assign(a: &mut Array4<f32>, spec: &str) {
    let (idx, value) = spec.split_once('=').expect("assignment");
    let value: f32 = value.trim().parse().unwrap();
    let parts: Vec<&str> = between(idx, '[', ']')
        .split(',')
        .map(|p| p.trim())
        .collect();
    let mut elems: Vec<SliceInfoElem> = Vec::new();
    if parts.len() == 3 {
        elems.push(SliceInfoElem::Index(0));
    }
    for p in &parts {
        elems.push(match p.split_once(':') {
            None => SliceInfoElem::Index(p.parse().unwrap()),
            Some((lo, hi)) => SliceInfoElem::Slice {
                start: if lo.is_empty() {
                    0
                } else {
                    lo.parse().unwrap()
                },
                end: if hi.is_empty() {
                    None
                } else {
                    Some(hi.parse().unwrap())
                },
                step: 1,
            },
        });
    }
    while elems.len() < 4 {
        elems.push(SliceInfoElem::Slice {
            start: 0,
            end: None,
            step: 1,
        });
    }
    let info: &[SliceInfoElem] = &elems;
    a.slice_each_axis_mut(|ax| {
        let e = info[ax.axis.index()];
        match e {
            SliceInfoElem::Index(i) => ndarray::Slice::new(i, Some(i + 1), 1),
            SliceInfoElem::Slice { start, end, step } => ndarray::Slice::new(start, end, step),
            SliceInfoElem::NewAxis => unreachable!(),
        }
    })
    .fill(value);
}

/// Evaluates one of the fixture's input formulas into a `(C, X, Y, Z)` array.
pub fn eval(formula: &str) -> Array4<f32> {
    let f = formula.trim();
    if let Some(rest) = f.strip_prefix("fvol(") {
        return fvol(&ints(between(rest, '(', ')')));
    }
    if let Some(rest) = f.strip_prefix("arange(") {
        let dims = ints(between(&rest[rest.find("reshape").unwrap()..], '(', ')'));
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
        return Array4::from_shape_vec(shape4(&dims), v).unwrap();
    }
    if let Some(rest) = f.strip_prefix("zeros(") {
        let mut parts = rest.split(';');
        let dims = ints(parts.next().unwrap().trim_end_matches(')'));
        let mut a = Array4::zeros(shape4(&dims));
        for p in parts {
            assign(&mut a, p);
        }
        return a;
    }
    if let Some(rest) = f.strip_prefix("RandomState(") {
        let seed: u32 = rest[..rest.find(')').unwrap()].parse().unwrap();
        let after = &rest[rest.find(".rand(").unwrap() + 5..];
        let dims = ints(between(after, '(', ')'));
        let mut r = RandomState::new(seed);
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| r.random_sample() as f32).collect();
        let mut a = Array4::from_shape_vec(shape4(&dims), v).unwrap();
        if let Some((_, w)) = f.split_once(" with ") {
            for p in w.split(';') {
                assign(&mut a, p);
            }
        }
        return a;
    }
    panic!("unknown input formula {formula:?}");
}
