//! ConVIRT's image–text loss against its reference implementation (tests/fixtures/convirt_loss.json,
//! made by scripts/reference/gen_convirt_loss.py with PyTorch): the two directions and the weighted
//! loss to 1e-5, and its gradient with respect to both embeddings, for the reference configuration
//! (temperature 0.1, alpha 0.75), one direction only, a warm temperature and a batch of 32 × 512.

use burn::backend::Autodiff;
use burn::tensor::Tensor;
use serde_json::Value;
use ssl3d::losses::convirt::convirt_loss;

use crate::networks::{B, formula_weight};

type T = Autodiff<B>;

fn close(ours: f64, theirs: f64, what: &str) {
    assert!(
        (ours - theirs).abs() <= 1e-5 * theirs.abs().max(1.0),
        "{what}: {ours} vs the reference's {theirs}"
    );
}

#[test]
fn the_loss_and_its_gradients_are_the_reference_implementations() {
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/convirt_loss.json")).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    let device = Default::default();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let n = |k: &str| c[k].as_u64().unwrap() as usize;
        let f = |k: &str| c[k].as_f64().unwrap();
        let shape = [n("batch"), n("dim")];
        let scale = f("scale");
        let input = |key: &str| {
            Tensor::<B, 2>::from_data(formula_weight(&format!("{name}.{key}"), &shape), &device)
                * scale
        };
        let image0 = input("image");
        let text0 = input("text") + image0.clone() * 0.5;
        let image = Tensor::<T, 2>::from_inner(image0).require_grad();
        let text = Tensor::<T, 2>::from_inner(text0).require_grad();
        let loss = convirt_loss(
            image.clone(),
            text.clone(),
            f("temperature"),
            f("alpha_weight"),
        );
        let v = |t: Tensor<T, 1>| t.into_scalar() as f64;
        close(v(loss.image_to_text), f("image_to_text"), name);
        close(v(loss.text_to_image), f("text_to_image"), name);
        let grads = loss.total.clone().backward();
        close(v(loss.total), f("loss"), name);
        for (key, x) in [("image_grad", &image), ("text_grad", &text)] {
            let g: Vec<f64> = (x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap())
                .into_iter()
                .map(f64::from)
                .collect();
            let want = &c[key];
            let abs: f64 = g.iter().map(|v| v.abs()).sum();
            close(
                abs,
                want["abs_sum"].as_f64().unwrap(),
                &format!("{name} {key} |·| sum"),
            );
            if let Some(values) = want["values"].as_array() {
                let scale = values
                    .iter()
                    .fold(0f64, |m, v| m.max(v.as_f64().unwrap().abs()));
                for (i, (a, b)) in g.iter().zip(values).enumerate() {
                    let b = b.as_f64().unwrap();
                    assert!(
                        (a - b).abs() <= 1e-5 * scale,
                        "{name} {key}[{i}]: {a} vs {b}"
                    );
                }
            }
        }
    }
}
