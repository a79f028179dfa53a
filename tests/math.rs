//! The mathematics against an independent reference (MATH.md §5).
//!
//! Golden values come from this NumPy/SciPy script (numpy 2, scipy 1.x, run with
//! `python3 ref.py`); it implements every formula from the papers directly, with
//! `cumprod` rather than the log-sum diffscope uses:
//!
//! ```python
//! import numpy as np
//! from scipy.stats import norm
//! def sched(kind, T, b1=None, bT=None, beta=0.02, zt=False):
//!     t = np.arange(1, T+1, dtype=np.float64)
//!     if kind in ("linear", "quadratic"):
//!         b1 = 1e-4*1000/T if b1 is None else b1
//!         bT = 0.02*1000/T if bT is None else bT
//!         if kind == "linear": b = np.linspace(b1, bT, T)
//!         else: b = np.linspace(b1**0.5, bT**0.5, T)**2
//!     elif kind == "cosine":
//!         f = lambda u: np.cos((u+0.008)/1.008*np.pi/2)**2
//!         b = 1 - f(t/T)/f((t-1)/T)
//!     elif kind == "sigmoid":
//!         sg = lambda x: 1/(1+np.exp(-x))
//!         ab = lambda u: (sg(3) - sg(u*6-3))/(sg(3)-sg(-3))
//!         b = 1 - ab(t/T)/ab((t-1)/T)
//!     elif kind == "constant":
//!         b = np.full(T, beta)
//!     b = np.minimum(b, 0.999)
//!     ab = np.cumprod(1-b)
//!     if zt:
//!         r = np.sqrt(ab); r = (r - r[-1])*r[0]/(r[0]-r[-1]); ab = r*r
//!         b = 1 - ab/np.concatenate([[1.0], ab[:-1]])
//!     abp = np.concatenate([[1.0], ab[:-1]])
//!     post = (1-abp)*b/(1-ab)
//!     return b, ab, abp, post
//! for kind in ["linear","cosine","quadratic","sigmoid","constant"]:
//!     for zt in [False, True]:
//!         b, ab, abp, post = sched(kind, 1000, zt=zt)
//!         print(kind, zt, [ab[i-1] for i in [1, 10, 500, 999, 1000]],
//!               [b[i-1] for i in [1, 10, 500, 999, 1000]],
//!               [post[i-1] for i in [2, 10, 500, 1000]],
//!               [np.log(ab[i-1]/(1-ab[i-1])) for i in [1, 500, 999, 1000]])
//! # posterior mean, x̂_0, μ_θ: cosine, T = 1000
//! b, ab, abp, post = sched("cosine", 1000)
//! x0 = np.array([0.5, -1.2, 0.3]); xt = np.array([0.1, 0.7, -2.0]); eps = np.array([0.3, -0.4, 1.1])
//! for t in [10, 500]:
//!     c0 = np.sqrt(abp[t-1])*b[t-1]/(1-ab[t-1]); ct = np.sqrt(1-b[t-1])*(1-abp[t-1])/(1-ab[t-1])
//!     print(c0*x0 + ct*xt, (xt - np.sqrt(1-ab[t-1])*eps)/np.sqrt(ab[t-1]),
//!           (xt - b[t-1]/np.sqrt(1-ab[t-1])*eps)/np.sqrt(1-b[t-1]))
//! t, tp, eta = 500, 250, 0.5; z = np.array([-0.2, 0.9, 0.05])
//! sig = eta*np.sqrt((1-ab[tp-1])/(1-ab[t-1]))*np.sqrt(1-ab[t-1]/ab[tp-1])
//! x0hat = (xt - np.sqrt(1-ab[t-1])*eps)/np.sqrt(ab[t-1])
//! print(sig, np.sqrt(ab[tp-1])*x0hat + np.sqrt(1-ab[tp-1]-sig**2)*eps + sig*z)
//! # Gaussian KL via the general multivariate formula
//! mu1 = np.array([0.1,0.2,0.3]); mu2 = np.array([-0.5,0.0,1.0]); S1 = 0.3*np.eye(3); S2 = 0.8*np.eye(3)
//! print(0.5*(np.trace(np.linalg.inv(S2)@S1) + (mu2-mu1)@np.linalg.inv(S2)@(mu2-mu1) - 3
//!            + np.log(np.linalg.det(S2)/np.linalg.det(S1))))
//! # prior term KL(N(√ᾱ_T x0, (1−ᾱ_T) I) ‖ N(0, I)), x0 = (0.5, −1.2)
//! for kind in ["linear", "cosine"]:
//!     abT = sched(kind, 1000)[1][-1]; m = np.sqrt(abT)*np.array([0.5,-1.2]); v = 1-abT
//!     print(0.5*(2*v + m@m - 2 - 2*np.log(v)))
//! # discretised Gaussian: exact CDFs
//! for (v, mu, sd) in [(0.0, 0.1, 0.05), (-1.0, -0.9, 0.1), (1.0, 0.95, 0.02), (0.5, -0.5, 0.01), (0.2, 0.2, 1e-3)]:
//!     lo, hi = v-1/255, v+1/255
//!     if v == -1.0: p = norm.logcdf(hi, mu, sd)
//!     elif v == 1.0: p = norm.logsf(lo, mu, sd)
//!     elif mu > v - 0.3: p = np.log(norm.cdf(hi, mu, sd) - norm.cdf(lo, mu, sd))
//!     else:
//!         a, c = norm.logsf(lo, mu, sd), norm.logsf(hi, mu, sd); p = a + np.log1p(-np.exp(c-a))
//!     print(p)
//! # the ideal denoiser: data {(1,0), (−1,0), (0,2)}, cosine, t = 300, x_t = (0.4, 0.3)
//! ab = sched("cosine", 1000)[1]; data = np.array([[1.0,0.0],[-1.0,0.0],[0.0,2.0]]); t = 300; xt = np.array([0.4,0.3])
//! lg = -((xt - np.sqrt(ab[t-1])*data)**2).sum(1)/(2*(1-ab[t-1])); w = np.exp(lg - lg.max()); w /= w.sum()
//! x0 = w@data; print(w, x0, (xt - np.sqrt(ab[t-1])*x0)/np.sqrt(1-ab[t-1]))
//! ```

#![allow(
    clippy::unreadable_literal,
    reason = "golden values are pasted as the reference printed them"
)]

use diffscope::diffusion::elbo;
use diffscope::diffusion::forward::{self, MarkovChain, closed_form_noise};
use diffscope::diffusion::noise;
use diffscope::diffusion::reverse::{self, ReverseVariance};
use diffscope::diffusion::{IdealDenoiser, Schedule, ScheduleError, ScheduleKind, ScheduleSpec};
use proptest::prelude::*;

/// Relative tolerance against the reference (MATH.md asks for 1e-5; we hold 1e-8).
const REL: f64 = 1e-8;

#[track_caller]
fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    let ok = if expected.is_infinite() {
        actual == expected
    } else {
        (actual - expected).abs() <= rel * expected.abs() + 1e-13
    };
    assert!(ok, "{what}: got {actual:e}, expected {expected:e}");
}

#[track_caller]
fn assert_all_close(actual: &[f64], expected: &[f64], rel: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_close(*a, *e, rel, &format!("{what}[{i}]"));
    }
}

fn schedule(kind: ScheduleKind, steps: usize, zero_terminal_snr: bool) -> Schedule {
    let mut spec = ScheduleSpec::new(kind, steps);
    spec.zero_terminal_snr = zero_terminal_snr;
    Schedule::new(&spec).expect("valid schedule")
}

/// One schedule's reference values: ᾱ and β at t = 1, 10, 500, 999, 1000; β̃ at
/// t = 2, 10, 500, 1000; log SNR at t = 1, 500, 999, 1000.
struct Golden {
    kind: ScheduleKind,
    zt: bool,
    alpha_bar: [f64; 5],
    beta: [f64; 5],
    posterior_variance: [f64; 4],
    log_snr: [f64; 4],
}

#[allow(clippy::too_many_lines)]
#[rustfmt::skip]
fn goldens() -> Vec<Golden> {
    use ScheduleKind::{Constant, Cosine, Linear, Quadratic, Sigmoid};
    let inf = f64::NEG_INFINITY;
    vec![
        Golden {
            kind: Linear,
            zt: false,
            alpha_bar: [0.9999, 0.9981052047858344, 0.07858724288177824, 4.118193638138445e-05, 4.035829765375676e-05],
            beta: [0.0001, 0.0002792792792792793, 0.010040040040040039, 0.01998008008008008, 0.02],
            posterior_variance: [5.4531876613021935e-05, 0.00023818202782345307, 0.010031355414613688, 0.01999998352656061],
            log_snr: [9.21024036697596, -2.461698715810472, -10.097469652311206, -10.117673183301035],
        },
        Golden {
            kind: Linear,
            zt: true,
            alpha_bar: [0.9999, 0.998093734490022, 0.07602875054711475, 4.213262465088072e-09, 0.0],
            beta: [9.999999999998899e-05, 0.00028106616114143, 0.01027104254954192, 0.75226723115047, 1.0],
            posterior_variance: [5.468987080607099e-05, 0.00023969219585255602, 0.010262271891568968, 0.9999999957867375],
            log_snr: [9.21024036697596, -2.4975693904241147, -19.285028552818925, inf],
        },
        Golden {
            kind: Cosine,
            zt: false,
            alpha_bar: [0.999958715775178, 0.9993687184016583, 0.4938435904406382, 2.4287669070348544e-06, 2.4287669070348567e-09],
            beta: [4.128422482196914e-05, 8.501117934167635e-05, 0.0031458862304780677, 0.7499993929011166, 0.999],
            posterior_variance: [2.178949614569182e-05, 7.356945118997592e-05, 0.003136199904057811, 0.9989975760881921],
            log_snr: [10.094988811457432, -0.024626882811512662, -12.928124446300753, -19.83588215162398],
        },
        Golden {
            kind: Cosine,
            zt: true,
            alpha_bar: [0.9999587157751779, 0.9993686893273577, 0.4938230007559878, 2.277811478992018e-06, 0.0],
            beta: [4.128422482208016e-05, 8.501537016936123e-05, 0.00314610634321566, 0.7579675808279058, 1.0],
            posterior_variance: [2.179000326165134e-05, 7.357304116837261e-05, 0.003136419457088622, 0.999997722188521],
            log_snr: [10.094988811454742, -0.024709254079864334, -12.99229317579648, inf],
        },
        Golden {
            kind: Quadratic,
            zt: false,
            alpha_bar: [0.9999, 0.9988772374752017, 0.3331877673563, 0.000748380060796751, 0.0007334124595808159],
            beta: [0.0001, 0.0001250813232466586, 0.005722151147768562, 0.019962808524510992, 0.02],
            posterior_variance: [5.065600427403409e-05, 0.0001111605465300988, 0.005705696204983552, 0.01999970042826604],
            log_snr: [9.21024036697596, -0.6938022990022401, -7.196850946123847, -7.217068632140245],
        },
        Golden {
            kind: Quadratic,
            zt: true,
            alpha_bar: [0.9999, 0.9988487744782781, 0.3197414356758793, 7.98631538713804e-08, 0.0],
            beta: [9.999999999998899e-05, 0.00012856468871202953, 0.006002563210388612, 0.7520486826478758, 1.0],
            posterior_variance: [5.1342184104069125e-05, 0.00011422173569261737, 0.005985525425833226, 0.9999999201368461],
            log_snr: [9.21024036697596, -0.7549603118877108, -16.34295116372385, inf],
        },
        Golden {
            kind: Sigmoid,
            zt: false,
            alpha_bar: [0.9996997208002508, 0.9969227140399559, 0.5000000000000001, 0.00030027919974932816, 3.0027919974932843e-07],
            beta: [0.00030027919974917605, 0.0003161470966610569, 0.00330341551362634, 0.5013569029180894, 0.999],
            posterior_variance: [0.00015059226932309614, 0.00028375721554044567, 0.003292466791391789, 0.9987003209683836],
            log_snr: [8.110497525985847, 0.0, -8.110497525985341, -15.018552828980807],
        },
        Golden {
            kind: Sigmoid,
            zt: true,
            alpha_bar: [0.9996997208002509, 0.9969211922995569, 0.4997730039804212, 0.0002818970629910186, 0.0],
            beta: [0.00030027919974906503, 0.00031632065937925447, 0.0033059711482337217, 0.5107907636296971, 1.0],
            posterior_variance: [0.0001506334322480321, 0.00028391127536771276, 0.003295015402881718, 0.999718102937009],
            log_snr: [8.110497525986217, -0.0009079841406964973, -8.173686641715056, inf],
        },
        Golden {
            kind: Constant,
            zt: false,
            alpha_bar: [0.98, 0.8170728068875467, 4.10239851454723e-05, 1.7173136298121702e-09, 1.6829673572159268e-09],
            beta: [0.02, 0.02, 0.02, 0.02, 0.02],
            posterior_variance: [0.01010101010101009, 0.01817687518636421, 0.019999983254829316, 0.019999999999313074],
            log_snr: [3.8918202981106256, -10.101312633933079, -20.18250460848463, -20.2027073158365],
        },
        Golden {
            kind: Constant,
            zt: true,
            alpha_bar: [0.9800000000000001, 0.8170663615499762, 4.050350801869641e-05, 1.7348482643331507e-13, 0.0],
            beta: [0.019999999999999907, 0.020000894068706532, 0.020126972986101, 0.7525189397160144, 1.0],
            posterior_variance: [0.010101220447101482, 0.018177683210649668, 0.0201269562406305, 0.9999999999998265],
            log_snr: [3.8918202981106313, -10.114081465528983, -29.382686255063835, inf],
        },
    ]
}

#[test]
fn every_schedule_matches_the_numpy_reference() {
    for g in goldens() {
        let s = schedule(g.kind, 1000, g.zt);
        let name = format!("{} zt={}", g.kind, g.zt);
        for (i, t) in [1, 10, 500, 999, 1000].into_iter().enumerate() {
            assert_close(s.alpha_bar(t), g.alpha_bar[i], REL, &format!("{name} ᾱ_{t}"));
            // β near 0 after the zero-terminal-SNR rescale is a difference of nearly
            // equal numbers in the reference (1 − ᾱ_t/ᾱ_{t−1}); hold it to 1e-6.
            let rel = if g.zt { 1e-6 } else { REL };
            assert_close(s.beta(t), g.beta[i], rel, &format!("{name} β_{t}"));
        }
        for (i, t) in [2, 10, 500, 1000].into_iter().enumerate() {
            let rel = if g.zt { 1e-6 } else { REL };
            assert_close(
                s.posterior_variance(t),
                g.posterior_variance[i],
                rel,
                &format!("{name} β̃_{t}"),
            );
        }
        for (i, t) in [1, 500, 999, 1000].into_iter().enumerate() {
            let got = s.log_snr(t);
            // The sigmoid's log SNR at its midpoint is exactly 0: compare absolutely.
            if g.log_snr[i] == 0.0 {
                assert!(got.abs() < 1e-12, "{name} log SNR_{t} = {got}");
            } else {
                assert_close(got, g.log_snr[i], 1e-8, &format!("{name} log SNR_{t}"));
            }
        }
    }
}

#[test]
fn math_md_reference_values_hold() {
    let linear = schedule(ScheduleKind::Linear, 1000, false);
    assert_close(linear.alpha_bar(1000), 4.0358e-5, 1e-4, "linear ᾱ_T");
    assert_close(linear.log_snr(1), 9.2102, 1e-5, "linear log SNR_1");
    assert_close(linear.log_snr(1000), -10.1177, 1e-5, "linear log SNR_T");
    let cosine = schedule(ScheduleKind::Cosine, 1000, false);
    assert_close(cosine.alpha_bar(500), 0.49384, 1e-5, "cosine ᾱ_500");
    assert_close(cosine.alpha_bar(1000), 2.4288e-9, 1e-4, "cosine ᾱ_T");
    let sigmoid = schedule(ScheduleKind::Sigmoid, 1000, false);
    assert_close(sigmoid.alpha_bar(500), 0.5, 1e-12, "sigmoid ᾱ_500");
}

#[test]
fn user_beta_ends_give_the_lessons_of_math_md() {
    // tiny-diffusion's unscaled 1e-4 … 0.02 at T = 50 leaves ᾱ_T ≈ 0.60 (reference: 0.602951597329715).
    let mut spec = ScheduleSpec::new(ScheduleKind::Linear, 50);
    spec.beta_start = Some(1e-4);
    spec.beta_end = Some(0.02);
    assert_close(
        Schedule::new(&spec).unwrap().alpha_bar(50),
        0.602951597329715,
        REL,
        "tiny T=50",
    );
    // Stable Diffusion's scaled linear (reference: ᾱ_500 = 0.27766965045646763, ᾱ_T = 0.004660098513077238).
    let mut spec = ScheduleSpec::new(ScheduleKind::Quadratic, 1000);
    spec.beta_start = Some(0.00085);
    spec.beta_end = Some(0.012);
    let s = Schedule::new(&spec).unwrap();
    assert_close(s.alpha_bar(500), 0.27766965045646763, REL, "SD ᾱ_500");
    assert_close(s.alpha_bar(1000), 0.004660098513077238, REL, "SD ᾱ_T");
}

#[test]
fn bad_schedule_parameters_are_refused_with_clear_errors() {
    let err = |spec: ScheduleSpec| Schedule::new(&spec).unwrap_err();
    assert_eq!(
        err(ScheduleSpec::new(ScheduleKind::Cosine, 1)),
        ScheduleError::Steps(1)
    );
    assert_eq!(
        err(ScheduleSpec::new(ScheduleKind::Cosine, 100_001)).to_string(),
        "the number of steps T must be in 2..=100000, got 100001"
    );
    let mut spec = ScheduleSpec::new(ScheduleKind::Linear, 100);
    spec.beta_end = Some(1.0);
    assert_eq!(err(spec).to_string(), "beta-end must be in (0, 1), got 1");
    let mut spec = ScheduleSpec::new(ScheduleKind::Constant, 100);
    spec.beta = Some(f64::NAN);
    assert!(matches!(err(spec), ScheduleError::Beta { name: "beta", .. }));
    let mut spec = ScheduleSpec::new(ScheduleKind::Constant, 10_000);
    spec.beta = Some(0.5);
    // 0.5^t leaves f64's normal range (down to 2^-1022) at t = 1022 or 1023, depending
    // on the last bit of exp(−t ln 2).
    assert!(matches!(
        err(spec),
        ScheduleError::Underflow {
            t: 1022..=1023,
            steps: 10_000
        }
    ));
    assert_eq!("Cosine".parse::<ScheduleKind>().unwrap(), ScheduleKind::Cosine);
    assert_eq!(
        "foo".parse::<ScheduleKind>().unwrap_err().to_string(),
        "unknown schedule 'foo' (valid: linear, cosine, quadratic, sigmoid, constant)"
    );
}

/// The NumPy reference's `sched()` (the script at the top of this file) ported to Rust for
/// any spec, so that the property tests compare every step of every generated schedule
/// with an independent computation: raw `β` from the papers' formulas (NumPy's
/// `1 − f(t/T)/f((t−1)/T)`, not diffscope's `(before − now)/before`), clipped to 0.999,
/// `ᾱ` as a running product (`cumprod`, not diffscope's sum of logs), and `1 − ᾱ` from the
/// recursion `1 − ᾱ_t = (1 − ᾱ_{t−1}) + ᾱ_{t−1} β_t`, a sum of positive terms (so
/// accurate where `ᾱ_t` is near 1, where `1 − cumprod` would not be); then the
/// zero-terminal-SNR rescale of `√ᾱ` and `β_t = 1 − ᾱ_t/ᾱ_{t−1}` as NumPy writes them.
/// Every vector is indexed by `t = 0..=T`.
struct Reference {
    beta: Vec<f64>,
    alpha_bar: Vec<f64>,
    one_minus_alpha_bar: Vec<f64>,
}

impl Reference {
    fn new(spec: &ScheduleSpec) -> Self {
        let n = spec.steps;
        let nf = n as f64;
        let linspace = |a: f64, b: f64, i: usize| a + (b - a) * i as f64 / (nf - 1.0);
        let b1 = spec.beta_start.unwrap_or(1e-4 * 1000.0 / nf);
        let bt = spec.beta_end.unwrap_or(0.02 * 1000.0 / nf);
        let from_alpha_bar =
            |f: &dyn Fn(f64) -> f64, t: usize| 1.0 - f(t as f64 / nf) / f((t - 1) as f64 / nf);
        let cosine = |u: f64| ((u + 0.008) / 1.008 * std::f64::consts::PI / 2.0).cos().powi(2);
        let sg = |x: f64| 1.0 / (1.0 + (-x).exp());
        let sigmoid = |u: f64| (sg(3.0) - sg(u * 6.0 - 3.0)) / (sg(3.0) - sg(-3.0));
        let mut beta = vec![0.0];
        beta.extend((1..=n).map(|t| {
            let raw = match spec.kind {
                ScheduleKind::Linear => linspace(b1, bt, t - 1),
                ScheduleKind::Quadratic => linspace(b1.sqrt(), bt.sqrt(), t - 1).powi(2),
                ScheduleKind::Cosine => from_alpha_bar(&cosine, t),
                ScheduleKind::Sigmoid => from_alpha_bar(&sigmoid, t),
                ScheduleKind::Constant => spec.beta.unwrap_or(0.02),
            };
            raw.min(0.999)
        }));
        let (mut alpha_bar, mut one_minus_alpha_bar) = (vec![1.0], vec![0.0]);
        for t in 1..=n {
            alpha_bar.push(alpha_bar[t - 1] * (1.0 - beta[t]));
            one_minus_alpha_bar.push(one_minus_alpha_bar[t - 1] + alpha_bar[t - 1] * beta[t]);
        }
        if spec.zero_terminal_snr {
            let (r1, rt) = (alpha_bar[1].sqrt(), alpha_bar[n].sqrt());
            for t in 1..=n {
                let r = (alpha_bar[t].sqrt() - rt) * r1 / (r1 - rt);
                alpha_bar[t] = r * r;
                one_minus_alpha_bar[t] = (1.0 - r) * (1.0 + r);
            }
            for t in 2..=n {
                beta[t] = 1.0 - alpha_bar[t] / alpha_bar[t - 1];
            }
        }
        Self {
            beta,
            alpha_bar,
            one_minus_alpha_bar,
        }
    }

    /// The first step `t ≤ T` (`T − 1` with zero terminal SNR, whose `ᾱ_T = 0` is meant)
    /// whose `ᾱ_t` is not a normal `f64`: where diffscope must refuse the schedule.
    fn underflow(&self, spec: &ScheduleSpec) -> Option<usize> {
        let last = if spec.zero_terminal_snr {
            spec.steps - 1
        } else {
            spec.steps
        };
        (1..=last).find(|&t| !self.alpha_bar[t].is_normal())
    }
}

#[track_caller]
fn assert_near(what: &str, t: usize, got: f64, want: f64, rel: f64, abs: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs() + abs,
        "{what}_{t}: diffscope {got:e}, reference {want:e} (Δ {:e})",
        got - want
    );
}

/// The reference port reproduces the NumPy goldens: it is the reference the property
/// tests below stand on.
#[test]
fn the_reference_port_matches_the_numpy_goldens() {
    for g in goldens() {
        let mut spec = ScheduleSpec::new(g.kind, 1000);
        spec.zero_terminal_snr = g.zt;
        let r = Reference::new(&spec);
        for (i, t) in [1, 10, 500, 999, 1000].into_iter().enumerate() {
            assert_near("port ᾱ", t, r.alpha_bar[t], g.alpha_bar[i], 1e-12, 1e-300);
            assert_near("port β", t, r.beta[t], g.beta[i], 1e-12, 1e-15);
        }
    }
}

fn any_spec() -> impl Strategy<Value = ScheduleSpec> {
    (
        prop::sample::select(ScheduleKind::ALL.to_vec()),
        2usize..=10_000,
        any::<bool>(),
        prop::option::of(1e-6f64..0.05),
        prop::option::of(1e-3f64..0.5),
        prop::option::of(1e-4f64..0.05),
    )
        .prop_map(|(kind, steps, zt, b1, bt, b)| ScheduleSpec {
            kind,
            steps,
            beta_start: b1,
            beta_end: bt,
            beta: b,
            zero_terminal_snr: zt,
        })
}

/// A fixed seed: the same 300 cases in every run (and in CI); failures found while
/// developing are kept in tests/math.proptest-regressions and replayed first.
fn runner() -> proptest::test_runner::TestRunner {
    proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x00d1_ff5c),
        source_file: Some(file!()),
        ..ProptestConfig::default()
    })
}

/// Builds the schedule of `spec`, or checks that its refusal is the right one: the
/// generator's β ranges are valid and its T in range, so the only refusal it may meet is
/// `Underflow`, exactly where the reference's ᾱ leaves f64's normal range (give or take
/// the one step the last bit of `exp(Σ ln α)` against `∏ α` can move it). Counts cases
/// and refusals.
fn build_or_refuse(
    spec: &ScheduleSpec,
    reference: &Reference,
    counts: &std::cell::Cell<(usize, usize)>,
) -> Result<Option<Schedule>, TestCaseError> {
    let (cases, refused) = counts.get();
    let built = Schedule::new(spec);
    counts.set((cases + 1, refused + usize::from(built.is_err())));
    match (built, reference.underflow(spec)) {
        (Ok(s), None) => Ok(Some(s)),
        (Err(ScheduleError::Underflow { t, steps }), Some(want)) => {
            prop_assert_eq!(steps, spec.steps);
            prop_assert!(
                t.abs_diff(want) <= 1,
                "refused at t = {}, reference underflows at {}",
                t,
                want
            );
            Ok(None)
        }
        (Ok(_), Some(want)) => Err(TestCaseError::fail(format!(
            "{spec:?} was built, but ᾱ_{want} underflows in the reference"
        ))),
        (Err(e), want) => Err(TestCaseError::fail(format!(
            "{spec:?} refused ({e:?}); the reference underflows at {want:?}"
        ))),
    }
}

/// Of the generator's cases, P(refused) = 0.0724 ± 0.0006 (a Monte Carlo of 200 000 specs
/// drawn as `any_spec` draws them, NumPy, below); over 300 cases the count is
/// Binomial(300, 0.0724), and 4..=47 holds with probability 1 − 1e-6 (scipy's
/// `binom.ppf(5e-7, 300, 0.0724)`, `binom.isf(5e-7, 300, 0.0724)`). So the property tests
/// meet refusals (their refusal branch is exercised) and mostly check built schedules.
///
/// ```python
/// import numpy as np
/// rng = np.random.default_rng(1); LOG_MIN = np.log(np.finfo(float).tiny)
/// def refused(kind, T, zt, b1, bt, b):   # kind: 0 linear 1 cosine 2 quadratic 3 sigmoid 4 constant
///     if kind in (0, 2):
///         b1 = 1e-4*1000/T if b1 is None else b1; bt = 0.02*1000/T if bt is None else bt
///         beta = np.linspace(b1, bt, T) if kind == 0 else np.linspace(np.sqrt(b1), np.sqrt(bt), T)**2
///     elif kind == 4: beta = np.full(T, 0.02 if b is None else b)
///     else: return False   # cosine and sigmoid keep ᾱ_{T−1} > 1e-9 for T ≤ 10 000
///     la = np.cumsum(np.log1p(-np.minimum(beta, 0.999)))
///     return la[(T-1 if zt else T)-1] < LOG_MIN
/// N = 200000; hits = 0
/// for _ in range(N):
///     kind = rng.integers(5); T = int(rng.integers(2, 10001)); zt = bool(rng.integers(2))
///     b1 = rng.uniform(1e-6, 0.05) if rng.integers(2) else None
///     bt = rng.uniform(1e-3, 0.5) if rng.integers(2) else None
///     b = rng.uniform(1e-4, 0.05) if rng.integers(2) else None
///     hits += refused(kind, T, zt, b1, bt, b)
/// print(hits/N)   # 0.072385
/// ```
#[track_caller]
fn assert_refusal_rate(counts: (usize, usize)) {
    let (cases, refused) = counts;
    assert!(cases >= 300, "only {cases} cases ran");
    assert!(
        (4..=47).contains(&refused),
        "{refused} of {cases} generated schedules refused; Binomial(300, 0.0724) gives 4..=47"
    );
}

/// Relative tolerance of every generated schedule against the reference port.
const REL_SCHEDULE: f64 = 1e-9;

/// MATH.md §1, every step of every generated schedule: `β_t`, `α_t`, `ᾱ_t`, `1 − ᾱ_t`,
/// `β̃_t` and log SNR against the reference port; and the invariants: ᾱ
/// strictly decreasing, 0 < α < 1 except where zero terminal SNR makes ᾱ_T = 0, nothing
/// NaN or infinite, log SNR finite and decreasing for t < T.
#[test]
fn schedule_invariants_hold_for_every_schedule_and_t() {
    let counts = std::cell::Cell::new((0, 0));
    runner()
        .run(&any_spec(), |spec| {
            let reference = Reference::new(&spec);
            let Some(s) = build_or_refuse(&spec, &reference, &counts)? else {
                return Ok(());
            };
            let n = spec.steps;
            let zt = spec.zero_terminal_snr;
            prop_assert_eq!(s.alpha_bar(0), 1.0);
            for t in 1..=n {
                let terminal = zt && t == n;
                prop_assert!(
                    s.alpha_bar(t) < s.alpha_bar(t - 1),
                    "ᾱ not decreasing at t = {}",
                    t
                );
                prop_assert!(
                    s.alpha(t) < 1.0 && (s.alpha(t) > 0.0 || terminal),
                    "α_{} = {}",
                    t,
                    s.alpha(t)
                );
                for v in [
                    s.alpha(t),
                    s.beta(t),
                    s.alpha_bar(t),
                    s.one_minus_alpha_bar(t),
                    s.posterior_variance(t),
                ] {
                    prop_assert!(v.is_finite() && v >= 0.0);
                }
                // Against the reference, to 1e-9 relative: the worst differences over the
                // 300 cases were 5e-11 (ᾱ: cumprod against exp Σ ln(1 − β) over up to
                // 10 000 steps), 2e-11 (β, β̃) and 1e-11 (1 − ᾱ), with or without zero
                // terminal SNR; the 1e-15 absolute terms cover β and 1 − ᾱ near 0.
                assert_near("β", t, s.beta(t), reference.beta[t], REL_SCHEDULE, 1e-15);
                assert_near("α", t, s.alpha(t), 1.0 - reference.beta[t], REL_SCHEDULE, 1e-15);
                assert_near("ᾱ", t, s.alpha_bar(t), reference.alpha_bar[t], REL_SCHEDULE, 0.0);
                assert_near(
                    "1 − ᾱ",
                    t,
                    s.one_minus_alpha_bar(t),
                    reference.one_minus_alpha_bar[t],
                    REL_SCHEDULE,
                    1e-15,
                );
                let post = reference.one_minus_alpha_bar[t - 1] * reference.beta[t]
                    / reference.one_minus_alpha_bar[t];
                assert_near("β̃", t, s.posterior_variance(t), post, REL_SCHEDULE, 1e-15);
                prop_assert!(s.posterior_variance(t) <= s.beta(t) * (1.0 + 1e-12));
                if terminal {
                    prop_assert_eq!(s.alpha_bar(t), 0.0);
                    prop_assert_eq!(s.log_snr(t), f64::NEG_INFINITY);
                } else {
                    prop_assert!(s.log_snr(t).is_finite(), "log SNR_{} = {}", t, s.log_snr(t));
                    let want = (reference.alpha_bar[t] / reference.one_minus_alpha_bar[t]).ln();
                    // Absolutely too: log SNR crosses 0 (the sigmoid's midpoint).
                    assert_near("log SNR", t, s.log_snr(t), want, REL_SCHEDULE, REL_SCHEDULE);
                }
                // Every β is clipped to 0.999; zero terminal SNR then rescales ᾱ, and its β_t
                // (t < T) are whatever the rescale gives (MATH.md §1): e.g. linear, T = 3.
                if !zt {
                    prop_assert!(s.beta(t) <= 0.999 + 1e-12);
                }
                if t > 1 {
                    prop_assert!(s.log_snr(t) < s.log_snr(t - 1));
                }
            }
            Ok(())
        })
        .unwrap();
    assert_refusal_rate(counts.get());
}

/// `η = 1` DDIM over every step is DDPM with `σ_t² = β̃_t` (MATH.md §3), and `μ_θ`
/// from `ε` equals the posterior mean at `x̂_0(ε)`.
#[test]
fn ddim_with_eta_one_is_ddpm_and_mu_is_the_posterior_mean() {
    let counts = std::cell::Cell::new((0, 0));
    runner()
        .run(&(any_spec(), 0.0f64..1.0), |(spec, frac)| {
            let Some(s) = build_or_refuse(&spec, &Reference::new(&spec), &counts)? else {
                return Ok(());
            };
            let last = if spec.zero_terminal_snr {
                spec.steps - 1
            } else {
                spec.steps
            };
            let t = 1 + ((last - 1) as f64 * frac) as usize;
            let ddim = s.ddim_coefs(t, t - 1, 1.0);
            let (mu_xt, mu_eps) = s.p_mean_from_eps_coefs(t);
            let tol = |x: f64| 1e-9 * x.abs().max(1.0);
            prop_assert!(
                (ddim.sigma * ddim.sigma - s.posterior_variance(t)).abs() <= tol(s.posterior_variance(t))
            );
            prop_assert!(
                (ddim.xt - mu_xt).abs() <= tol(mu_xt),
                "x_t coef {} vs {}",
                ddim.xt,
                mu_xt
            );
            prop_assert!(
                (ddim.eps - mu_eps).abs() <= 1e-7 * mu_eps.abs().max(1e-3),
                "ε coef {} vs {}",
                ddim.eps,
                mu_eps
            );
            let post = s.q_posterior(t);
            let (x0_xt, x0_eps) = s.x0_from_eps_coefs(t);
            prop_assert!((post.coef_x0 * x0_xt + post.coef_xt - mu_xt).abs() <= tol(mu_xt));
            prop_assert!((post.coef_x0 * x0_eps - mu_eps).abs() <= 1e-7 * mu_eps.abs().max(1e-3));
            Ok(())
        })
        .unwrap();
    assert_refusal_rate(counts.get());
}

#[test]
fn posterior_mean_x0_and_mu_match_the_reference() {
    let s = schedule(ScheduleKind::Cosine, 1000, false);
    let x0 = [0.5, -1.2, 0.3];
    let xt = [0.1, 0.7, -2.0];
    let eps = [0.3, -0.4, 1.1];
    let mut out = [0.0; 3];
    let expected = [
        (
            10,
            [0.15385105724964854, 0.4442074712407129, -1.6903564058609886],
            [0.09249160336985664, 0.7102743541081102, -2.028278158071416],
            [0.09898916166642069, 0.7013832080280644, -2.0038070101996737],
        ),
        (
            500,
            [0.10172245606028993, 0.6914966277591454, -1.9893908624764993],
            [-0.16141674166545497, 1.401056718211823, -3.9596310707217235],
            [0.09882903016962465, 0.7028751798541714, -2.008024994406202],
        ),
    ];
    for (t, mean, x0_hat, mu) in expected {
        reverse::q_posterior_mean(&s, t, &x0, &xt, &mut out);
        assert_all_close(&out, &mean, REL, &format!("μ̃_{t}"));
        reverse::predict_x0_from_eps(&s, t, &xt, &eps, &mut out);
        assert_all_close(&out, &x0_hat, REL, &format!("x̂_0 at {t}"));
        let mut back = [0.0; 3];
        reverse::eps_from_x0(&s, t, &xt, &out, &mut back);
        assert_all_close(&back, &eps, 1e-9, &format!("ε from x̂_0 at {t}"));
        reverse::p_mean_from_eps(&s, t, &xt, &eps, &mut out);
        assert_all_close(&out, &mu, REL, &format!("μ_θ at {t}"));
    }
}

#[test]
fn ddpm_and_ddim_steps_match_the_reference() {
    let s = schedule(ScheduleKind::Cosine, 1000, false);
    let xt = [0.1, 0.7, -2.0];
    let eps = [0.3, -0.4, 1.1];
    let z = [-0.2, 0.9, 0.05];
    let mut out = [0.0; 3];
    let c = s.ddim_coefs(500, 250, 0.5);
    assert_close(c.sigma, 0.17750160712135377, REL, "DDIM σ");
    reverse::ddim_step(&s, 500, 250, 0.5, &xt, &eps, &z, &mut out);
    assert_all_close(
        &out,
        &[-0.0794950352767528, 1.3097731606848515, -3.251907222524433],
        REL,
        "DDIM x_250",
    );
    // DDPM = μ_θ + σ_t z; at t = 1 no noise is added (Ho et al. 2020, Algorithm 2). The
    // expected x_499 are NumPy's, with σ² = β_t and σ² = β̃_t computed there (not taken
    // from diffscope): the two differ by 2e-4 relative, so swapping β and β̃ fails here.
    //   b, ab, abp, post = sched("cosine", 1000); t = 500
    //   mu = (xt - b[t-1]/np.sqrt(1-ab[t-1])*eps)/np.sqrt(1-b[t-1])
    //   print(mu + np.sqrt(b[t-1])*z, mu + np.sqrt(post[t-1])*z)
    for (variance, expected) in [
        (
            ReverseVariance::Beta,
            [0.08761139007827198, 0.7533545602652584, -2.005220584383364],
        ),
        (
            ReverseVariance::PosteriorVariance,
            [0.08762867320378144, 0.7532767862004658, -2.005224905164741],
        ),
    ] {
        reverse::ddpm_step(&s, 500, &xt, &eps, variance, &z, &mut out);
        assert_all_close(&out, &expected, REL, &format!("DDPM x_499 with {variance:?}"));
    }
    reverse::ddpm_step(&s, 1, &xt, &eps, ReverseVariance::Beta, &z, &mut out);
    let mut mu1 = [0.0; 3];
    reverse::p_mean_from_eps(&s, 1, &xt, &eps, &mut mu1);
    assert_eq!(out, mu1);
    // η = 0 is deterministic: z is ignored.
    let mut a = [0.0; 3];
    let mut b = [0.0; 3];
    reverse::ddim_step(&s, 500, 100, 0.0, &xt, &eps, &z, &mut a);
    reverse::ddim_step(&s, 500, 100, 0.0, &xt, &eps, &[9.0; 3], &mut b);
    assert_eq!(a, b);
    // DDIM to t' = 0 lands exactly on x̂_0.
    reverse::ddim_step(&s, 10, 0, 0.7, &xt, &eps, &z, &mut a);
    reverse::predict_x0_from_eps(&s, 10, &xt, &eps, &mut b);
    assert_all_close(&a, &b, 1e-12, "DDIM to 0");
}

#[test]
fn ddim_timesteps_are_a_decreasing_subsequence_ending_at_zero() {
    assert_eq!(reverse::ddim_timesteps(1000, 4), vec![1000, 750, 500, 250, 0]);
    assert_eq!(
        reverse::ddim_timesteps(10, 10),
        (0..=10).rev().collect::<Vec<_>>()
    );
    assert_eq!(
        reverse::ddim_timesteps(10, 50),
        (0..=10).rev().collect::<Vec<_>>()
    );
    assert_eq!(reverse::ddim_timesteps(1000, 1), vec![1000, 0]);
    let ts = reverse::ddim_timesteps(997, 50);
    assert_eq!((ts[0], ts.len()), (997, 51));
    assert!(ts.windows(2).all(|w| w[0] > w[1]));
}

#[test]
fn gaussian_kl_and_prior_term_match_the_reference() {
    let mu1 = [0.1, 0.2, 0.3];
    let mu2 = [-0.5, 0.0, 1.0];
    let kl = elbo::gaussian_kl_iso(3, 0.3, 0.8, elbo::squared_distance(&mu1, &mu2));
    assert_close(kl, 1.0899938795175896, REL, "KL");
    assert_eq!(elbo::gaussian_kl_iso(3, 0.4, 0.4, 0.0), 0.0);
    assert!(elbo::gaussian_kl_iso(1, 0.4, 0.41, 0.0) > 0.0);

    let x0_sq = 0.5f64.powi(2) + 1.2f64.powi(2);
    let linear = schedule(ScheduleKind::Linear, 1000, false);
    assert_close(
        elbo::prior_term(&linear, 2, x0_sq),
        3.410357593539219e-05,
        1e-7,
        "prior linear",
    );
    let cosine = schedule(ScheduleKind::Cosine, 1000, false);
    // The reference computes 1 − ᾱ_T and ln(1 − ᾱ_T) in floating point: it loses
    // ~1e-7 relative at ᾱ_T = 2.4e-9, which our ln_1p form does not.
    assert_close(
        elbo::prior_term(&cosine, 2, x0_sq),
        2.052307993168503e-09,
        1e-6,
        "prior cosine",
    );
    // The closed form equals the generic KL.
    let t = 1000;
    let generic = elbo::gaussian_kl_iso(2, linear.one_minus_alpha_bar(t), 1.0, linear.alpha_bar(t) * x0_sq);
    assert_close(elbo::prior_term(&linear, 2, x0_sq), generic, 1e-6, "prior = KL");
    // Zero terminal SNR: q(x_T|x_0) is exactly N(0, I).
    let zt = schedule(ScheduleKind::Linear, 1000, true);
    assert_eq!(elbo::prior_term(&zt, 2, x0_sq), 0.0);
}

#[test]
fn denoising_terms_weights_and_the_vdm_form_agree() {
    let s = schedule(ScheduleKind::Cosine, 1000, false);
    // L_t and the ε weight in d = 2 with ‖ε − ε̂‖² = 0.7, from NumPy: the KL between
    // N(μ̃, β̃ I) and N(μ_θ, σ² I) by the general multivariate formula (trace, inverse,
    // determinants), with ‖μ̃ − μ_θ‖² = β_t²/(α_t (1 − ᾱ_t)) · 0.7 (Ho et al. 2020, eq. 12):
    //   def kl(m1, S1, m2, S2):
    //       d = len(m1); S2i = np.linalg.inv(S2)
    //       return 0.5*(np.trace(S2i@S1) + (m2-m1)@S2i@(m2-m1) - d + np.log(np.linalg.det(S2)/np.linalg.det(S1)))
    //   b, ab, abp, post = sched("cosine", 1000)
    //   for t in [2, 10, 300, 999]:
    //       bt, a = b[t-1], 1-b[t-1]; dmu = np.sqrt(bt**2/(a*(1-ab[t-1]))*0.7)
    //       for s2 in [bt, post[t-1]]:
    //           print(kl(np.zeros(2), post[t-1]*np.eye(2), np.array([dmu, 0.0]), s2*np.eye(2)),
    //                 bt**2/(2*s2*a*(1-ab[t-1])))
    // Columns: L_t with σ² = β, w_ε with σ² = β, L_t with σ² = β̃, w_ε with σ² = β̃.
    let golden = [
        (
            2,
            [
                0.4072555296855751,
                0.26390832929037905,
                0.39119927123082054,
                0.5588561017583151,
            ],
        ),
        (
            10,
            [
                0.05709858956429925,
                0.06733794164129205,
                0.054467369520122766,
                0.07781052788588957,
            ],
        ),
        (
            300,
            [
                0.0026799145140534763,
                0.003802762028207277,
                0.0026779606576377013,
                0.0038256580823396594,
            ],
        ),
        (
            999,
            [
                1.0499991504842432,
                1.4999987863681399,
                1.0500068011168198,
                1.5000097158811716,
            ],
        ),
    ];
    for (t, [l_beta, w_beta, l_post, w_post]) in golden {
        let (beta, post) = (ReverseVariance::Beta, ReverseVariance::PosteriorVariance);
        assert_close(
            elbo::denoising_term(&s, t, beta, 2, 0.7),
            l_beta,
            1e-9,
            &format!("L_{t}, σ² = β"),
        );
        assert_close(
            elbo::eps_loss_weight(&s, t, beta),
            w_beta,
            1e-9,
            &format!("w_{t}, σ² = β"),
        );
        assert_close(
            elbo::denoising_term(&s, t, post, 2, 0.7),
            l_post,
            1e-9,
            &format!("L_{t}, σ² = β̃"),
        );
        assert_close(
            elbo::eps_loss_weight(&s, t, post),
            w_post,
            1e-9,
            &format!("w_{t}, σ² = β̃"),
        );
        // With σ² = β̃, w_ε = ½(SNR(t−1) − SNR(t))·(1 − ᾱ_t)/ᾱ_t, the VDM weight of
        // ‖x_0 − x̂_0‖² (Kingma et al. 2021) rewritten for ‖ε − ε̂‖²: another formula.
        let vdm = elbo::snr_weight(&s, t) * s.one_minus_alpha_bar(t) / s.alpha_bar(t);
        assert_close(vdm, w_post, 1e-9, &format!("VDM weight at {t}"));
    }
    // The mean part of L_t is ‖μ̃ − μ_θ‖²/(2σ²): check the ε form against it directly.
    let t = 300;
    let (x0, eps, eps_hat) = ([0.4, -0.9], [0.3, 1.2], [0.1, 0.8]);
    let mut xt = [0.0; 2];
    forward::q_sample(&s, t, &x0, &eps, &mut xt);
    let (mut mu_tilde, mut mu_theta) = ([0.0; 2], [0.0; 2]);
    reverse::q_posterior_mean(&s, t, &x0, &xt, &mut mu_tilde);
    reverse::p_mean_from_eps(&s, t, &xt, &eps_hat, &mut mu_theta);
    let direct = elbo::squared_distance(&mu_tilde, &mu_theta) / (2.0 * s.beta(t));
    let via_eps =
        elbo::eps_loss_weight(&s, t, ReverseVariance::Beta) * elbo::squared_distance(&eps, &eps_hat);
    assert_close(via_eps, direct, 1e-7, "mean part");
}

#[test]
fn discretized_gaussian_matches_scipy_and_is_a_probability() {
    let cases = [
        (0.0, 0.1, 0.05, -4.768253176929386),
        (-1.0, -0.9, 0.1, -1.7818270771830742),
        (1.0, 0.95, 0.02, -4.545626302581853),
        (0.5, -0.5, 0.01, -4966.381487432612),
        (0.2, 0.2, 1e-3, -8.79782542738691e-05),
    ];
    for (v, mu, sd, expected) in cases {
        let got = elbo::discretized_gaussian_log_likelihood(v, mu, sd);
        assert_close(
            got,
            expected,
            1e-9,
            &format!("ln P(v = {v} | μ = {mu}, σ = {sd})"),
        );
    }
    // Summed over the 256 values of the grid, the masses are exactly one distribution.
    for (mu, sd) in [(0.0, 0.5), (0.93, 0.01), (-1.4, 0.2), (0.3, 3.0)] {
        let total: f64 = (0..256)
            .map(|k| {
                elbo::discretized_gaussian_log_likelihood(2.0 * f64::from(k) / 255.0 - 1.0, mu, sd).exp()
            })
            .sum();
        assert_close(total, 1.0, 1e-12, &format!("Σ P at μ = {mu}, σ = {sd}"));
    }
    assert_close(
        elbo::bits_per_dim(-2.0 * std::f64::consts::LN_2 * 64.0, 64),
        2.0,
        1e-15,
        "bpd",
    );
    // ln N(0; 0, 1) in one dimension is −½ ln 2π.
    assert_close(
        elbo::gaussian_log_density(1, 1.0, 0.0),
        -0.9189385332046727,
        1e-15,
        "log density",
    );
}

#[test]
fn the_ideal_denoisers_fast_batch_path_matches_the_f64_one() {
    // 300 points of two moons, queries across t: the batch path's f32 exponentials move
    // E[x_0|x_t] by at most ~4e-7 of the data's spread (≈ 2 here).
    let s = schedule(ScheduleKind::Linear, 1000, false);
    let points = diffscope::data::generate(diffscope::data::Dataset::TwoMoons, 300, 3);
    let ideal = IdealDenoiser::from_points(&points);
    let xt: Vec<f64> = (0..64).map(|i| f64::from(i % 13) / 4.0 - 1.5).collect();
    let mut worst: f64 = 0.0;
    for t in [1, 2, 5, 20, 100, 400, 999, 1000] {
        let mut fast = vec![0.0; xt.len()];
        ideal.predict_x0_batch(&s, t, &xt, &mut fast);
        for (x, f) in xt.chunks(2).zip(fast.chunks(2)) {
            let mut exact = [0.0; 2];
            ideal.predict_x0(&s, t, x, &mut exact);
            for (a, b) in exact.iter().zip(f) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    assert!(worst < 1e-6, "{worst}");
    assert!(worst > 0.0, "the fast path is a different computation");
}

#[test]
fn ideal_denoiser_matches_the_reference_and_memorises() {
    let s = schedule(ScheduleKind::Cosine, 1000, false);
    let data = [[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]];
    let ideal = IdealDenoiser::from_points(&data);
    let xt = [0.4, 0.3];
    let w = ideal.weights(&s, 300, &xt);
    assert_all_close(
        &w,
        &[0.9571073758624143, 0.03424565847006303, 0.008646965667522452],
        1e-9,
        "w",
    );
    let mut x0 = [0.0; 2];
    ideal.predict_x0(&s, 300, &xt, &mut x0);
    assert_all_close(
        &x0,
        &[0.9228617173923513, 0.017293931335044904],
        1e-9,
        "E[x_0|x_t]",
    );
    let mut eps = [0.0; 2];
    ideal.predict_eps(&s, 300, &xt, &mut eps);
    assert_all_close(&eps, &[-0.906926539919683, 0.6166571312756643], 1e-9, "ε̂");
    // At small t the posterior collapses onto the nearest training point.
    ideal.predict_x0(&s, 1, &[0.1, 1.7], &mut x0);
    assert_all_close(&x0, &[0.0, 2.0], 1e-12, "memorised point");
    // At a zero-terminal-SNR T, x_T says nothing: E[x_0|x_T] is the data mean.
    let zt = schedule(ScheduleKind::Cosine, 1000, true);
    ideal.predict_x0(&zt, 1000, &[5.0, -3.0], &mut x0);
    assert_all_close(&x0, &[0.0, 2.0 / 3.0], 1e-12, "mean at ᾱ_T = 0");
}

#[test]
fn the_ideal_reverse_chain_lands_on_training_points() {
    let s = schedule(ScheduleKind::Linear, 200, false);
    let data = [[1.5, 0.0], [-1.0, 1.0], [0.0, -2.0]];
    let ideal = IdealDenoiser::from_points(&data);
    let n = 64;
    let mut x: Vec<f64> = (0..2 * n).map(|i| noise::normal(7, 0, i as u64)).collect();
    let mut eps = vec![0.0; 2 * n];
    let mut next = vec![0.0; 2 * n];
    let mut z = vec![0.0; 2 * n];
    for t in (1..=200).rev() {
        ideal.predict_eps_batch(&s, t, &x, &mut eps);
        noise::fill_normal_f64(7, t as u64, &mut z);
        reverse::ddpm_step(&s, t, &x, &eps, ReverseVariance::PosteriorVariance, &z, &mut next);
        std::mem::swap(&mut x, &mut next);
    }
    // Every sample ends within a whisker of one training point, and all three are hit.
    let mut hit = [0usize; 3];
    for p in x.chunks_exact(2) {
        let (k, d2) = data
            .iter()
            .enumerate()
            .map(|(k, q)| (k, elbo::squared_distance(p, q)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert!(
            d2.sqrt() < 0.05,
            "sample {p:?} is {} from the nearest point",
            d2.sqrt()
        );
        hit[k] += 1;
    }
    assert!(hit.iter().all(|&h| h >= 8), "hits {hit:?}");
}

#[test]
fn noise_is_a_pure_function_of_seed_stream_and_index() {
    assert_eq!(noise::normal(3, 17, 123), noise::normal(3, 17, 123));
    assert_ne!(noise::normal(3, 17, 123), noise::normal(4, 17, 123));
    assert_ne!(noise::normal(3, 17, 123), noise::normal(3, 18, 123));
    let mut par = vec![0f32; 200_000];
    noise::fill_normal_f32(9, 5, &mut par);
    for i in [0usize, 1, 16_383, 16_384, 99_999, 199_999] {
        assert_eq!(par[i], noise::normal(9, 5, i as u64) as f32);
    }
    let mut tail = vec![0f32; 10];
    noise::fill_normal_f32_from(9, 5, 150_000, &mut tail);
    assert_eq!(&tail[..], &par[150_000..150_010]);
}

#[test]
fn noise_is_standard_normal_and_independent_across_streams() {
    // 10^6 draws, five standard errors each. For N(0, 1): SE(mean) = √(1/n) = 1e-3;
    // SE(Σx²/n) = √(Var x²/n) = √(2/n) = 1.4e-3; the sample skewness g₁ = m₃/m₂^{3/2} and
    // excess kurtosis g₂ = m₄/m₂² − 3 (central moments m_k) have SE √(6/n) = 2.45e-3 and
    // √(24/n) = 4.9e-3 (Fisher; asymptotic, ample at n = 10^6). These are the SEs of the
    // *standardised* moments: the raw Σx³/n and Σx⁴/n have Var x³ = E x⁶ = 15 and
    // Var x⁴ = E x⁸ − 9 = 96, i.e. SEs of 3.9e-3 and 9.8e-3, so the same bounds on raw
    // moments would be only 3.1σ and 2.55σ.
    let n = 1_000_000u64;
    let key = noise::StreamKey::new(42, 1);
    let other = noise::StreamKey::new(42, 2);
    let (mut s1, mut s2, mut s3, mut s4, mut cross, mut below) = (0.0, 0.0, 0.0, 0.0, 0.0, 0u64);
    for i in 0..n {
        let x = key.normal(i);
        s1 += x;
        s2 += x * x;
        s3 += x * x * x;
        s4 += x * x * x * x;
        cross += x * other.normal(i);
        below += u64::from(x < -1.959_963_984_540_054);
    }
    let n = n as f64;
    let (mean, var) = (s1 / n, s2 / n);
    assert!(mean.abs() < 5e-3, "mean {mean}");
    assert!((var - 1.0).abs() < 7e-3, "variance {var}");
    let m2 = var - mean * mean;
    let m3 = s3 / n - 3.0 * mean * var + 2.0 * mean.powi(3);
    let m4 = s4 / n - 4.0 * mean * s3 / n + 6.0 * mean * mean * var - 3.0 * mean.powi(4);
    let (skew, excess_kurtosis) = (m3 / m2.powf(1.5), m4 / (m2 * m2) - 3.0);
    let (se_skew, se_kurt) = ((6.0 / n).sqrt(), (24.0 / n).sqrt());
    assert!(skew.abs() < 5.0 * se_skew, "skewness {skew}, SE {se_skew}");
    assert!(
        excess_kurtosis.abs() < 5.0 * se_kurt,
        "excess kurtosis {excess_kurtosis}, SE {se_kurt}"
    );
    assert!(
        (cross / n).abs() < 5e-3,
        "correlation between streams {}",
        cross / n
    );
    // P(Z < −1.96) = 0.025, standard error 1.56e-4.
    assert!(
        (below as f64 / n - 0.025).abs() < 8e-4,
        "tail mass {}",
        below as f64 / n
    );
}

#[test]
fn markov_chain_and_closed_form_agree_in_distribution() {
    // MATH.md §2: over many seeds, both views have mean √ᾱ_t x_0 and variance 1 − ᾱ_t
    // per coordinate. N = 4000 seeds; tolerances are 5 standard errors: SE(mean) =
    // √((1 − ᾱ)/N), SE(variance) = (1 − ᾱ)·√(2/(N − 1)).
    let s = schedule(ScheduleKind::Linear, 1000, false);
    let x0 = vec![-1.0, -0.5, 0.0, 0.3, 0.9, 1.0];
    let d = x0.len();
    let ts = [1usize, 10, 100, 500, 1000];
    let n_seeds = 4000u64;
    let mut markov = vec![vec![Vec::with_capacity(n_seeds as usize); d]; ts.len()];
    let mut closed = markov.clone();
    // The views differ in their joints: Cov(x_s, x_t) is √(ᾱ_t/ᾱ_s)(1 − ᾱ_s) for the
    // random walk and √((1 − ᾱ_s)(1 − ᾱ_t)) for the fade (s = 100, t = 500).
    let (mut cov_markov, mut cov_closed) = (0.0, 0.0);
    for seed in 0..n_seeds {
        let mut chain = MarkovChain::new(s.clone(), x0.clone(), seed);
        let eps = closed_form_noise::<f64>(seed, d);
        let mut frames = Vec::new();
        for (k, &t) in ts.iter().enumerate() {
            let m = chain.frame(t);
            let mut c = vec![0.0; d];
            forward::q_sample(&s, t, &x0, &eps, &mut c);
            for i in 0..d {
                markov[k][i].push(m[i]);
                closed[k][i].push(c[i]);
            }
            frames.push((m, c));
        }
        let centre = |t: usize, x: f64, i: usize| x - s.sqrt_alpha_bar(t) * x0[i];
        cov_markov += centre(100, frames[2].0[2], 2) * centre(500, frames[3].0[2], 2);
        cov_closed += centre(100, frames[2].1[2], 2) * centre(500, frames[3].1[2], 2);
    }
    let n = n_seeds as f64;
    for (k, &t) in ts.iter().enumerate() {
        let (mean_true, var_true) = (s.sqrt_alpha_bar(t), s.one_minus_alpha_bar(t));
        let (se_mean, se_var) = ((var_true / n).sqrt(), var_true * (2.0 / (n - 1.0)).sqrt());
        for i in 0..d {
            for (view, samples) in [("Markov", &markov[k][i]), ("closed form", &closed[k][i])] {
                let mean = samples.iter().sum::<f64>() / n;
                let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
                assert!(
                    (mean - mean_true * x0[i]).abs() < 5.0 * se_mean,
                    "{view} t = {t} i = {i}: mean {mean} vs {}",
                    mean_true * x0[i]
                );
                assert!(
                    (var - var_true).abs() < 5.0 * se_var,
                    "{view} t = {t} i = {i}: variance {var} vs {var_true}"
                );
            }
        }
    }
    let (ab100, ab500) = (s.alpha_bar(100), s.alpha_bar(500));
    let walk = (ab500 / ab100).sqrt() * (1.0 - ab100);
    let fade = ((1.0 - ab100) * (1.0 - ab500)).sqrt();
    // SE of a product-moment ≈ √(var_s var_t (1 + ρ²)/N) ≤ √(2 var_s var_t / N).
    let se = (2.0 * (1.0 - ab100) * (1.0 - ab500) / n).sqrt();
    assert!(
        (cov_markov / n - walk).abs() < 5.0 * se,
        "Markov cov {} vs {walk}",
        cov_markov / n
    );
    assert!(
        (cov_closed / n - fade).abs() < 5.0 * se,
        "closed-form cov {} vs {fade}",
        cov_closed / n
    );
    assert!(fade - walk > 10.0 * se, "the test must tell the two apart");
}

#[test]
fn the_math_core_imports_neither_egui_nor_candle() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/diffusion");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for banned in [
                "egui",
                "eframe",
                "candle",
                "crate::model",
                "crate::app",
                "crate::ui",
            ] {
                assert!(
                    !code.contains(banned),
                    "{}:{}: src/diffusion must not use {banned}",
                    path.display(),
                    n + 1
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} files checked");
}

/// The layers of `src/`, lowest first: a module may use only modules of a lower layer
/// (ARCHITECTURE.md draws the same picture).
const LAYERS: [&[&str]; 10] = [
    &["simd", "format", "export"],
    &["diffusion"],
    &["data"],
    &["model"],
    &["worker"],
    &["scene"],
    &["app"],
    &["ui"],
    &["gui"],
    &["cli"],
];

/// The layer of top-level module `name`.
fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&name))
}

/// The top-level modules `code` names through `crate::` paths — `use crate::a::…`,
/// `use crate::{a, b::{c, d}}` (over several lines too) and inline `crate::a::f()` — with
/// the line of each. Line comments are skipped.
fn crate_imports(code: &str) -> Vec<(usize, String)> {
    let code: String = code
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let line_at = |offset: usize| code[..offset].matches('\n').count() + 1;
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate::") {
        let at = from + found;
        from = at + "crate::".len();
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue; // `my_crate::…`
        }
        if !code[from..].starts_with('{') {
            out.push((line_at(from), ident(&code[from..])));
            continue;
        }
        // A group: the first segment of each item at depth 1.
        let mut depth = 0;
        let mut item_start = true;
        for (i, c) in code[from..].char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    item_start = depth == 1;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        from += i;
                        break;
                    }
                }
                ',' if depth == 1 => item_start = true,
                c if item_start && depth == 1 && (c.is_alphanumeric() || c == '_') => {
                    out.push((line_at(from + i), ident(&code[from + i..])));
                    item_start = false;
                }
                _ => {}
            }
        }
    }
    out
}

/// Every import of `code` (a file of top-level module `module`) that reaches a module of
/// the same or a higher layer: `"line: module -> other"`.
fn upward_imports(module: &str, code: &str) -> Vec<String> {
    let Some(own) = layer_of(module) else {
        return vec![format!("0: {module} is in no layer: add it to LAYERS")];
    };
    crate_imports(code)
        .into_iter()
        .filter(|(_, name)| name != module && name != "self" && name != "super")
        .filter_map(|(line, name)| match layer_of(&name) {
            Some(layer) if layer < own => None,
            _ => Some(format!("{line}: {module} -> {name}")),
        })
        .collect()
}

#[test]
fn the_layer_check_finds_upward_imports() {
    assert_eq!(
        upward_imports(
            "model",
            "use crate::ui::theme; // crate::app\nuse crate::data::Dataset;"
        ),
        vec!["1: model -> ui"]
    );
    assert_eq!(
        upward_imports("scene", "use crate::{\n    data::{self, X},\n    app::Model,\n};"),
        vec!["3: scene -> app"]
    );
    assert_eq!(
        upward_imports("worker", "let x = crate::worker::f(crate::scene::g());"),
        vec!["1: worker -> scene"]
    );
    assert_eq!(
        upward_imports("data", "use crate::{diffusion, export};"),
        Vec::<String>::new()
    );
    assert_eq!(
        upward_imports("lecture", "fn f() {}"),
        vec!["0: lecture is in no layer: add it to LAYERS"]
    );
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&src).unwrap();
        let first = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        found.extend(
            upward_imports(module, &text)
                .into_iter()
                .map(|f| format!("src/{}:{f}", relative.display())),
        );
    }
    assert!(files.len() >= 60, "only {} files checked", files.len());
    assert!(
        found.is_empty(),
        "imports from a layer above:\n{}",
        found.join("\n")
    );
}

#[test]
fn markov_path_of_a_few_elements_is_what_the_full_chain_does_to_them() {
    let s = schedule(ScheduleKind::Sigmoid, 120, false);
    let x0: Vec<f64> = (0..40_000).map(|i| f64::from(i % 7) / 3.0 - 1.0).collect();
    let indices = [0u64, 5, 32_767, 32_768, 39_999];
    let starts: Vec<f64> = indices.iter().map(|&i| x0[i as usize]).collect();
    let path = forward::markov_path(&s, 4, &starts, &indices);
    assert_eq!(path.len(), 121);
    let mut chain = MarkovChain::new(s, x0, 4);
    for t in [0, 1, 60, 119, 120] {
        let frame = chain.frame(t);
        for (j, &i) in indices.iter().enumerate() {
            assert_eq!(path[t][j], frame[i as usize], "t = {t}, element {i}");
        }
    }
}

#[test]
fn histogram_counts_and_compares_with_the_standard_normal() {
    use diffscope::diffusion::metrics::{Histogram, mean_std, standard_normal_pdf};
    let h = Histogram::new(
        &[-5.0, -1.0, -0.5, 0.0, 0.49, 0.5, 3.9, 4.0, f64::NAN],
        -4.0,
        4.0,
        8,
    );
    assert_eq!(h.counts, vec![0, 0, 0, 2, 3, 0, 0, 1]);
    assert_eq!((h.below, h.above, h.total), (1, 1, 8));
    assert_eq!(h.bin_centre(0), -3.5);
    assert_close(h.density(3), 2.0 / 8.0, 1e-15, "density");
    assert_close(standard_normal_pdf(0.0), 0.3989422804014327, 1e-15, "φ(0)");
    // 10^5 standard normal draws are within TV 0.01 of N(0, 1) binned (64 bins:
    // E[TV] ≈ Σ √(p_k/(2πN)) ≈ 0.007 here); a shifted copy is far.
    let z: Vec<f64> = (0..100_000).map(|i| noise::normal(1, 2, i)).collect();
    let tv = Histogram::new(&z, -4.0, 4.0, 64).tv_distance_to_standard_normal();
    assert!(tv < 0.012, "TV {tv}");
    let shifted: Vec<f64> = z.iter().map(|v| v + 1.0).collect();
    let tv = Histogram::new(&shifted, -4.0, 4.0, 64).tv_distance_to_standard_normal();
    assert!(
        (tv - 0.383).abs() < 0.02,
        "TV of N(1, 1) vs N(0, 1) is 2Φ(½) − 1 = 0.383, got {tv}"
    );
    let (m, sd) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
    assert_eq!((m, sd), (2.5, 1.25f64.sqrt()));
}
