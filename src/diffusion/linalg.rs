//! Dense linear algebra for the finite chains (`finite.rs`): GTH stationary distributions,
//! a small linear solve, and eigenvalues by Householder reduction to Hessenberg form and
//! the shifted QR iteration (Numerical Recipes' `hqr`). Plain f64 on `Vec<Vec<f64>>`: the
//! matrices have at most `MAX_STATES` rows.

use super::finite::ChainError;

/// The stationary distribution of an irreducible stochastic matrix by the GTH algorithm:
/// state by state from the last, fold its transitions into the others (`P_in / s` with
/// `s = Σ_{j<n} P_nj`, never `1 − P_nn`), then unfold `π` forward. No subtraction, so no
/// cancellation.
#[allow(clippy::needless_range_loop)] // matrix code reads best with indices
pub(super) fn gth(p: &[Vec<f64>]) -> Vec<f64> {
    let n = p.len();
    let mut a: Vec<Vec<f64>> = p.to_vec();
    for m in (1..n).rev() {
        let s: f64 = a[m][..m].iter().sum();
        for i in 0..m {
            a[i][m] /= s;
        }
        for i in 0..m {
            let aim = a[i][m];
            if aim != 0.0 {
                for j in 0..m {
                    a[i][j] += aim * a[m][j];
                }
            }
        }
    }
    let mut pi = vec![0.0; n];
    pi[0] = 1.0;
    for m in 1..n {
        pi[m] = (0..m).map(|i| pi[i] * a[i][m]).sum();
    }
    let total: f64 = pi.iter().sum();
    pi.iter().map(|v| v / total).collect()
}

/// Solves `A X = B` in place (`B` becomes `X`) by Gaussian elimination with partial
/// pivoting; `A` is square and non-singular.
#[allow(clippy::needless_range_loop)] // matrix code reads best with indices
pub(super) fn solve_in_place(a: &mut [Vec<f64>], b: &mut [Vec<f64>]) {
    let n = a.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))
            .expect("a row at or below the diagonal");
        a.swap(col, pivot);
        b.swap(col, pivot);
        for r in col + 1..n {
            let f = a[r][col] / a[col][col];
            if f != 0.0 {
                for c in col..n {
                    a[r][c] -= f * a[col][c];
                }
                for c in 0..b[r].len() {
                    b[r][c] -= f * b[col][c];
                }
            }
        }
    }
    for r in (0..n).rev() {
        for c in 0..b[r].len() {
            let s: f64 = (r + 1..n).map(|j| a[r][j] * b[j][c]).sum();
            b[r][c] = (b[r][c] - s) / a[r][r];
        }
    }
}

/// Reduces `h` to upper Hessenberg form by Householder similarities (EISPACK `orthes`,
/// as in JAMA).
#[allow(clippy::needless_range_loop)] // matrix code reads best with indices
pub(super) fn hessenberg(h: &mut [Vec<f64>]) {
    let n = h.len();
    if n < 3 {
        return;
    }
    let high = n - 1;
    let mut ort = vec![0.0; n];
    for m in 1..high {
        let scale: f64 = (m..=high).map(|i| h[i][m - 1].abs()).sum();
        if scale == 0.0 {
            continue;
        }
        let mut hh = 0.0;
        for i in (m..=high).rev() {
            ort[i] = h[i][m - 1] / scale;
            hh += ort[i] * ort[i];
        }
        let mut g = hh.sqrt();
        if ort[m] > 0.0 {
            g = -g;
        }
        hh -= ort[m] * g;
        ort[m] -= g;
        for j in m..n {
            let f = (m..=high).rev().map(|i| ort[i] * h[i][j]).sum::<f64>() / hh;
            for i in m..=high {
                h[i][j] -= f * ort[i];
            }
        }
        for row in h.iter_mut() {
            let f = (m..=high).rev().map(|j| ort[j] * row[j]).sum::<f64>() / hh;
            for j in m..=high {
                row[j] -= f * ort[j];
            }
        }
        ort[m] *= scale;
        h[m][m - 1] = scale * g;
    }
}

/// The eigenvalues of an upper Hessenberg matrix by the shifted QR algorithm (Francis
/// double shifts, with EISPACK's exceptional shifts; the eigenvalue part of JAMA's
/// `hqr2`).
#[allow(
    clippy::many_single_char_names,
    clippy::too_many_lines,
    clippy::needless_range_loop
)]
pub(super) fn hqr(h: &mut [Vec<f64>]) -> Result<Vec<(f64, f64)>, ChainError> {
    let nn = h.len();
    let mut d = vec![0.0; nn];
    let mut e = vec![0.0; nn];
    let eps = f64::EPSILON;
    let mut exshift = 0.0;
    let (mut p, mut q, mut r, mut s, mut z): (f64, f64, f64, f64, f64);
    let mut norm = 0.0;
    for (i, row) in h.iter().enumerate() {
        norm += row[i.saturating_sub(1)..].iter().map(|v| v.abs()).sum::<f64>();
    }
    let mut n = nn as isize - 1;
    let mut iter = 0;
    let mut total = 0;
    while n >= 0 {
        let nu = n as usize;
        // A small subdiagonal element splits the matrix.
        let mut l = nu;
        while l > 0 {
            s = h[l - 1][l - 1].abs() + h[l][l].abs();
            if s == 0.0 {
                s = norm;
            }
            if h[l][l - 1].abs() < eps * s {
                break;
            }
            l -= 1;
        }
        if l == nu {
            // One root.
            h[nu][nu] += exshift;
            d[nu] = h[nu][nu];
            e[nu] = 0.0;
            n -= 1;
            iter = 0;
        } else if l + 1 == nu {
            // Two roots.
            let w = h[nu][nu - 1] * h[nu - 1][nu];
            p = (h[nu - 1][nu - 1] - h[nu][nu]) / 2.0;
            q = p * p + w;
            z = q.abs().sqrt();
            h[nu][nu] += exshift;
            h[nu - 1][nu - 1] += exshift;
            let x = h[nu][nu];
            if q >= 0.0 {
                z = if p >= 0.0 { p + z } else { p - z };
                d[nu - 1] = x + z;
                d[nu] = d[nu - 1];
                if z != 0.0 {
                    d[nu] = x - w / z;
                }
                e[nu - 1] = 0.0;
                e[nu] = 0.0;
            } else {
                d[nu - 1] = x + p;
                d[nu] = x + p;
                e[nu - 1] = z;
                e[nu] = -z;
            }
            n -= 2;
            iter = 0;
        } else {
            let mut x = h[nu][nu];
            let mut y = 0.0;
            let mut w = 0.0;
            if l < nu {
                y = h[nu - 1][nu - 1];
                w = h[nu][nu - 1] * h[nu - 1][nu];
            }
            // Exceptional shifts.
            if iter == 10 {
                exshift += x;
                for i in 0..=nu {
                    h[i][i] -= x;
                }
                s = h[nu][nu - 1].abs() + h[nu - 1][nu - 2].abs();
                x = 0.75 * s;
                y = x;
                w = -0.4375 * s * s;
            }
            if iter == 30 {
                s = (y - x) / 2.0;
                s = s * s + w;
                if s > 0.0 {
                    s = s.sqrt();
                    if y < x {
                        s = -s;
                    }
                    s = x - w / ((y - x) / 2.0 + s);
                    for i in 0..=nu {
                        h[i][i] -= s;
                    }
                    exshift += s;
                    x = 0.964;
                    y = x;
                    w = x;
                }
            }
            iter += 1;
            total += 1;
            if total > 100 * nn.max(1) {
                return Err(ChainError::NoConvergence);
            }
            // Two consecutive small subdiagonal elements.
            let mut m = nu - 2;
            loop {
                z = h[m][m];
                r = x - z;
                s = y - z;
                p = (r * s - w) / h[m + 1][m] + h[m][m + 1];
                q = h[m + 1][m + 1] - z - r - s;
                r = h[m + 2][m + 1];
                s = p.abs() + q.abs() + r.abs();
                p /= s;
                q /= s;
                r /= s;
                if m == l {
                    break;
                }
                if h[m][m - 1].abs() * (q.abs() + r.abs())
                    < eps * (p.abs() * (h[m - 1][m - 1].abs() + z.abs() + h[m + 1][m + 1].abs()))
                {
                    break;
                }
                m -= 1;
            }
            for i in m + 2..=nu {
                h[i][i - 2] = 0.0;
                if i > m + 2 {
                    h[i][i - 3] = 0.0;
                }
            }
            // The double QR step on rows l..=n and columns m..=n.
            for k in m..nu {
                let notlast = k != nu - 1;
                if k != m {
                    p = h[k][k - 1];
                    q = h[k + 1][k - 1];
                    r = if notlast { h[k + 2][k - 1] } else { 0.0 };
                    x = p.abs() + q.abs() + r.abs();
                    if x == 0.0 {
                        continue;
                    }
                    p /= x;
                    q /= x;
                    r /= x;
                }
                s = (p * p + q * q + r * r).sqrt();
                if p < 0.0 {
                    s = -s;
                }
                if s != 0.0 {
                    if k != m {
                        h[k][k - 1] = -s * x;
                    } else if l != m {
                        h[k][k - 1] = -h[k][k - 1];
                    }
                    p += s;
                    x = p / s;
                    y = q / s;
                    z = r / s;
                    q /= p;
                    r /= p;
                    for j in k..nn {
                        p = h[k][j] + q * h[k + 1][j];
                        if notlast {
                            p += r * h[k + 2][j];
                            h[k + 2][j] -= p * z;
                        }
                        h[k][j] -= p * x;
                        h[k + 1][j] -= p * y;
                    }
                    for i in 0..=nu.min(k + 3) {
                        p = x * h[i][k] + y * h[i][k + 1];
                        if notlast {
                            p += z * h[i][k + 2];
                            h[i][k + 2] -= p * r;
                        }
                        h[i][k] -= p;
                        h[i][k + 1] -= p * q;
                    }
                }
            }
        }
    }
    Ok(d.into_iter().zip(e).collect())
}
