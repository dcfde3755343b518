//! Small dense f64 matrix helpers for affines (4×4 and 3×3), computed the way numpy does where the
//! result feeds a rounding decision (output shapes).

use crate::io::Affine;

pub(crate) fn matmul(a: &Affine, b: &Affine) -> Affine {
    let mut c = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..4 {
            c[i][j] = (0..4).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

/// Solves `A·X = B` by Gaussian elimination with partial pivoting (LAPACK `gesv`'s method, as
/// `np.linalg.solve` uses). `None` if `A` is singular.
pub(crate) fn solve(a: &Affine, b: &Affine) -> Option<Affine> {
    let mut a = *a;
    let mut x = *b;
    for col in 0..4 {
        let piv = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col] == 0.0 {
            return None;
        }
        a.swap(col, piv);
        x.swap(col, piv);
        for row in col + 1..4 {
            let f = a[row][col] / a[col][col];
            if f != 0.0 {
                for k in col..4 {
                    a[row][k] -= f * a[col][k];
                }
                for k in 0..4 {
                    x[row][k] -= f * x[col][k];
                }
            }
        }
    }
    for col in (0..4).rev() {
        for k in 0..4 {
            let s: f64 = (col + 1..4).map(|j| a[col][j] * x[j][k]).sum();
            x[col][k] = (x[col][k] - s) / a[col][col];
        }
    }
    Some(x)
}

pub(crate) fn inverse(a: &Affine) -> Option<Affine> {
    solve(a, &crate::io::affine::identity())
}

/// Upper-triangular `U` with positive diagonal such that `UᵀU = M` (M symmetric positive definite):
/// `np.linalg.cholesky(M).T`.
pub(crate) fn cholesky_upper(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let mut l = [[0.0f64; 3]; 3];
    for i in 0..3 {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = m[i][i] - s;
                if d <= 0.0 {
                    return None;
                }
                l[i][j] = d.sqrt();
            } else {
                l[i][j] = (m[i][j] - s) / l[j][j];
            }
        }
    }
    let mut u = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            u[i][j] = l[j][i];
        }
    }
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_inverts() {
        let a = [
            [2.0, 0.5, 0.0, 1.0],
            [0.0, 3.0, 0.1, -2.0],
            [0.3, 0.0, 1.5, 4.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let inv = inverse(&a).unwrap();
        let id = matmul(&a, &inv);
        for i in 0..4 {
            for j in 0..4 {
                assert!((id[i][j] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }
}
