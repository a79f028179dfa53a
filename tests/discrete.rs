//! Diffusion on a finite state space (D3PM, issue 14): `Q̄_t`'s closed form is the product
//! of the steps, both views sample the right laws, and the digits quantise exactly.

use diffscope::data::digits;
use diffscope::diffusion::discrete::{self, DiscreteKind, DiscreteProcess};
use diffscope::diffusion::{Schedule, ScheduleKind, ScheduleSpec};

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            for j in 0..n {
                c[i * n + j] += a[i * n + k] * b[k * n + j];
            }
        }
    }
    c
}

#[test]
fn the_closed_form_q_bar_is_the_product_of_the_steps_for_every_schedule() {
    for kind in DiscreteKind::ALL {
        for schedule in ScheduleKind::ALL {
            for zero_terminal_snr in [false, true] {
                let mut spec = ScheduleSpec::new(schedule, 200);
                spec.zero_terminal_snr = zero_terminal_snr;
                let s = Schedule::new(&spec).unwrap();
                let p = DiscreteProcess::new(kind, 5, s);
                let n = p.states();
                let mut product: Vec<f64> = (0..n * n)
                    .map(|k| f64::from(u8::from(k % (n + 1) == 0)))
                    .collect();
                assert_eq!(p.q_bar(0), product, "Q̄_0 = I");
                for t in 1..=200 {
                    product = matmul(&product, &p.q_step(t), n);
                    if t % 20 == 0 || t == 1 || t == 199 {
                        let closed = p.q_bar(t);
                        let worst = closed
                            .iter()
                            .zip(&product)
                            .map(|(a, b)| (a - b).abs())
                            .fold(0.0, f64::max);
                        assert!(
                            worst < 1e-12,
                            "{kind:?}, {schedule:?} (zt {zero_terminal_snr}), t = {t}: {worst:e}"
                        );
                        for row in closed.chunks(n) {
                            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-14);
                        }
                    }
                }
                // x_T's law is within ᾱ_T of the stationary one (exactly it at ᾱ_T = 0).
                let last = &p.q_bar(200)[..n];
                let tv = discrete::total_variation(last, &p.stationary());
                assert!(
                    tv <= p.schedule().alpha_bar(200) + 1e-15,
                    "{kind:?} {schedule:?}: TV {tv}"
                );
            }
        }
    }
}

#[test]
fn both_views_sample_the_law_of_x_t_within_five_standard_errors() {
    let s = Schedule::new(&ScheduleSpec::new(ScheduleKind::Cosine, 300)).unwrap();
    let n = 10_000;
    for kind in DiscreteKind::ALL {
        let p = DiscreteProcess::new(kind, 17, s.clone());
        let x0 = vec![3u16; n];
        for t in [30, 150, 300] {
            let law = &p.q_bar(t)[3 * p.states()..4 * p.states()];
            for (view, x) in [
                ("Markov", p.markov(&x0, t, 8)),
                ("closed form", p.closed_form(&x0, t, 8)),
            ] {
                let h = p.histogram(&x);
                for (state, (&f, &q)) in h.iter().zip(law).enumerate() {
                    let se = (q * (1.0 - q) / n as f64).sqrt().max(1e-9);
                    assert!(
                        (f - q).abs() <= 5.0 * se,
                        "{kind:?} {view} t = {t}, state {state}: {f} against {q}"
                    );
                }
            }
        }
        // The Markov chain's steps are fresh: x_t and x_(t+1) differ in about β_(t+1)·(1 − 1/K)
        // of the values for the uniform kind (a redraw may land on the same state), and in
        // β_(t+1) of the unmasked ones for the absorbing kind.
        let (a, b) = (p.markov(&x0, 150, 8), p.markov(&x0, 151, 8));
        let changed = a.iter().zip(&b).filter(|(u, v)| u != v).count() as f64;
        let beta = s.beta(151);
        let expected = match kind {
            DiscreteKind::Uniform => n as f64 * beta * (1.0 - 1.0 / 17.0),
            DiscreteKind::Absorbing => a.iter().filter(|&&v| v != 17).count() as f64 * beta,
        };
        assert!(
            (changed - expected).abs() < 5.0 * expected.sqrt() + 1.0,
            "{kind:?}: {changed} changed, {expected} expected"
        );
    }
}

#[test]
fn the_digits_quantise_to_their_seventeen_levels_exactly() {
    let d = digits().unwrap();
    for image in d.images.iter().take(50) {
        let states = discrete::quantise(image, 17);
        assert!(states.iter().all(|&s| s <= 16));
        assert_eq!(discrete::dequantise(&states, 17, 0.0), image.to_vec());
    }
    // The mask state shows as the value given.
    assert_eq!(discrete::dequantise(&[0, 16, 17], 17, 0.5), [-1.0, 1.0, 0.5]);
}
