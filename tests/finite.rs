//! Finite Markov chains (issue 14): `p_n`, stationary distributions, classes and periods,
//! `|λ₂|`, the limit of `p_n`, sampled paths, and the errors of a bad matrix — against
//! NumPy/SciPy.

// The golden values are NumPy's `repr`, pasted as printed.
#![allow(clippy::unreadable_literal)]

use diffscope::diffusion::finite::{self, ChainError, Preset, Transition};

/// From NumPy 2.4 (`/tmp/gold/finite.py`, kept here): the presets over K = 5 states built
/// as in `Preset::rows`, `p_n = p_0 Pⁿ` by `np.linalg.matrix_power` from
/// `p_0 = (0.5, 0, 0.2, 0.3, 0)`, and the second-largest of `abs(np.linalg.eigvals(P))`.
///
/// ```python
/// import numpy as np
/// def preset(name, k):
///     P = np.zeros((k, k))
///     for i in range(k):
///         if name == "well-mixing": P[i] = [1 / (1 + abs(i - j)) for j in range(k)]
///         elif name == "slow-mixing":
///             P[i, i] = 0.9
///             if 0 < i < k - 1: P[i, i - 1] = P[i, i + 1] = 0.05
///             elif i == 0: P[i, 1] = 0.1
///             else: P[i, k - 2] = 0.1
///         elif name == "periodic": P[i, (i + 1) % k] = 1
///         elif name == "absorbing":
///             if i == k - 1: P[i, i] = 1
///             else: P[i, i] += 0.6; P[i, i + 1] += 0.3; P[i, k - 1] += 0.1
///         elif name == "reducible":
///             h = (k + 1) // 2
///             for j in (range(h) if i < h else range(h, k)): P[i, j] = 1 / (1 + abs(i - j))
///         elif name == "doubly-stochastic":
///             P[i, i] += 0.5; P[i, (i + 1) % k] += 0.25; P[i, (i - 1) % k] += 0.25
///     return P / P.sum(axis=1, keepdims=True)
/// p0 = np.array([0.5, 0.0, 0.2, 0.3, 0.0])
/// for name in NAMES:
///     P = preset(name, 5)
///     print([p0 @ np.linalg.matrix_power(P, n) for n in (1, 10, 100)], np.sort(abs(np.linalg.eigvals(P)))[-2])
/// ```
const GOLDEN_P_N: [(&str, [[f64; 5]; 3], f64); 6] = [
    (
        "well-mixing",
        [
            [
                0.27301036025429715,
                0.18569872851424535,
                0.20605721685895928,
                0.20837355780550978,
                0.12686013656698847,
            ],
            [
                0.1841576522910697,
                0.20834553833626918,
                0.2150536737254065,
                0.20832106943021333,
                0.18412206621704158,
            ],
            [
                0.18413978494623717,
                0.20833333333333398,
                0.21505376344086086,
                0.208333333333334,
                0.18413978494623712,
            ],
        ],
        0.4170223537813335,
    ),
    (
        "slow-mixing",
        [
            [0.45, 0.060000000000000005, 0.195, 0.28, 0.015],
            [
                0.2373679549476563,
                0.2761343022492188,
                0.208435652225,
                0.2023908612707812,
                0.07567122930734378,
            ],
            [
                0.12868425004108713,
                0.25520749534059717,
                0.24999601581053726,
                0.24479250461866228,
                0.1213197341891166,
            ],
        ],
        0.9707106781186549,
    ),
    (
        "periodic",
        [
            [0.0, 0.5, 0.0, 0.2, 0.3],
            [0.5, 0.0, 0.2, 0.3, 0.0],
            [0.5, 0.0, 0.2, 0.3, 0.0],
        ],
        1.0,
    ),
    (
        "absorbing",
        [
            [
                0.30000000000000004,
                0.15000000000000002,
                0.12000000000000002,
                0.24,
                0.19,
            ],
            [
                0.003023308800000004,
                0.01511654400000002,
                0.03522154752000005,
                0.05321023488000005,
                0.8934283648000003,
            ],
            [
                3.266593117500397e-23,
                1.6332965587501985e-21,
                4.043715620153742e-20,
                6.609330520569704e-19,
                1.0000000000000004,
            ],
        ],
        0.6000000000000001,
    ),
    (
        "reducible",
        [
            [
                0.30909090909090914,
                0.19090909090909094,
                0.2,
                0.19999999999999998,
                0.09999999999999999,
            ],
            [
                0.22647669772652984,
                0.24705873269014847,
                0.22646456958332215,
                0.15000254026317117,
                0.14999745973682865,
            ],
            [
                0.2264705882352955,
                0.24705882352941322,
                0.2264705882352955,
                0.14999999999999927,
                0.14999999999999927,
            ],
        ],
        1.0,
    ),
    (
        "doubly-stochastic",
        [
            [0.25, 0.175, 0.175, 0.2, 0.2],
            [
                0.20055103302001953,
                0.19984769821166992,
                0.19935483932495118,
                0.19975357055664061,
                0.20049285888671875,
            ],
            [
                0.2,
                0.2,
                0.19999999999999998,
                0.19999999999999998,
                0.19999999999999998,
            ],
        ],
        0.6545084971874737,
    ),
];

const P0: [f64; 5] = [0.5, 0.0, 0.2, 0.3, 0.0];

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn p_n_and_the_second_eigenvalue_of_every_preset_match_numpy() {
    assert_eq!(Preset::ALL.len(), GOLDEN_P_N.len());
    for (name, golden, lambda2) in GOLDEN_P_N {
        let preset = Preset::from_name(name).expect("a preset of that name");
        let p = Transition::preset(preset, 5);
        let all = p.distributions(&P0, 100);
        for (row, n) in golden.iter().zip([1, 10, 100]) {
            assert!(
                close(&all[n], row, 1e-12),
                "{name}: p_{n} = {:?}, NumPy {row:?}",
                all[n]
            );
        }
        let ours = p.second_eigenvalue_modulus().unwrap();
        assert!(
            (ours - lambda2).abs() < 1e-10,
            "{name}: |λ₂| = {ours}, NumPy {lambda2}"
        );
    }
}

#[test]
fn stationary_distributions_match_scipy_and_are_fixed_by_p() {
    // scipy.linalg.eig(P, left=True): the left eigenvector of eigenvalue 1, normalised.
    let cases: [(Preset, Vec<Vec<f64>>); 3] = [
        (
            Preset::WellMixing,
            vec![vec![
                0.1841397849462363,
                0.2083333333333334,
                0.2150537634408603,
                0.2083333333333334,
                0.1841397849462367,
            ]],
        ),
        (Preset::SlowMixing, vec![vec![0.125, 0.25, 0.25, 0.25, 0.125]]),
        // Block by block: classes {0, 1, 2} and {3, 4}.
        (
            Preset::Reducible,
            vec![
                vec![
                    0.32352941176470607,
                    0.35294117647058804,
                    0.32352941176470573,
                    0.0,
                    0.0,
                ],
                vec![0.0, 0.0, 0.0, 0.5, 0.5],
            ],
        ),
    ];
    for (preset, golden) in cases {
        let p = Transition::preset(preset, 5);
        let s = p.structure();
        assert_eq!(s.stationary.len(), golden.len(), "{preset:?}");
        for (pi, g) in s.stationary.iter().zip(&golden) {
            assert!(close(pi, g, 1e-10), "{preset:?}: π = {pi:?}, SciPy {g:?}");
            assert!(close(&p.step(pi), pi, 1e-14), "{preset:?}: πP ≠ π");
        }
    }
    // A nearly decomposable chain (two blocks joined by 1e-12): GTH keeps full accuracy
    // where 1 − P_ii would cancel. By symmetry π = (¼, ¼, ¼, ¼).
    let e = 1e-12;
    let p = Transition::new(&[
        vec![0.5, 0.5 - e, e, 0.0],
        vec![0.5, 0.5, 0.0, 0.0],
        vec![0.0, 0.0, 0.5, 0.5],
        vec![e, 0.0, 0.5, 0.5 - e],
    ])
    .unwrap();
    let s = p.structure();
    assert!(s.irreducible());
    assert!(
        close(&s.stationary[0], &[0.25; 4], 1e-12),
        "{:?}",
        s.stationary[0]
    );
}

#[test]
fn classes_periods_and_limits_say_what_each_preset_is() {
    let structure = |preset| Transition::preset(preset, 5).structure();
    let well = structure(Preset::WellMixing);
    assert!(well.irreducible() && well.classes[0].period == 1);
    assert!(well.describe().starts_with("irreducible and aperiodic"));
    let periodic = structure(Preset::Periodic);
    assert_eq!(periodic.classes[0].period, 5);
    assert!(
        periodic.describe().contains("period 5"),
        "{}",
        periodic.describe()
    );
    let absorbing = structure(Preset::Absorbing);
    assert_eq!(absorbing.transient(), vec![0, 1, 2, 3]);
    assert_eq!(absorbing.stationary, vec![vec![0.0, 0.0, 0.0, 0.0, 1.0]]);
    let reducible = structure(Preset::Reducible);
    assert_eq!(
        reducible
            .classes
            .iter()
            .map(|c| c.states.clone())
            .collect::<Vec<_>>(),
        [vec![0, 1, 2], vec![3, 4]]
    );
    assert!(reducible.describe().starts_with("reducible: 2 closed classes"));
    // The doubly stochastic chain's π is uniform.
    let ds = structure(Preset::DoublyStochastic);
    assert!(close(&ds.stationary[0], &[0.2; 5], 1e-14));
    // Limits from p_0: the reducible chain keeps p_0's class masses (0.7 and 0.3), the
    // absorbing one ends in state 4, the periodic one averages to π = uniform; where
    // p_n converges, p_200 is the limit.
    let reducible = Transition::preset(Preset::Reducible, 5);
    let limit = reducible.limit(&P0);
    let s = reducible.structure();
    let mix: Vec<f64> = (0..5)
        .map(|i| 0.7 * s.stationary[0][i] + 0.3 * s.stationary[1][i])
        .collect();
    assert!(close(&limit, &mix, 1e-14));
    assert!(close(&reducible.distributions(&P0, 200)[200], &limit, 1e-12));
    assert!(close(
        &Transition::preset(Preset::Absorbing, 5).limit(&P0),
        &[0.0, 0.0, 0.0, 0.0, 1.0],
        1e-14
    ));
    assert!(close(
        &Transition::preset(Preset::Periodic, 5).limit(&P0),
        &[0.2; 5],
        1e-14
    ));
    // A transient state that feeds two closed classes: from state 0, P(end in {1}) = 0.25
    // / (0.25 + 0.5) = 1/3 and P(end in {2}) = 2/3.
    let p = Transition::new(&[vec![0.25, 0.25, 0.5], vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]]).unwrap();
    assert!(close(
        &p.limit(&[1.0, 0.0, 0.0]),
        &[0.0, 1.0 / 3.0, 2.0 / 3.0],
        1e-15
    ));
}

#[test]
fn eigenvalues_of_a_random_stochastic_matrix_match_numpy() {
    // rng = np.random.default_rng(7); A = rng.random((6, 6)); A /= A.sum(axis=1, keepdims=True)
    // sorted(np.linalg.eigvals(A), key=lambda z: (-abs(z), -z.imag))
    let rows = [
        [
            0.16908538703635462,
            0.24269211807809143,
            0.2098193350626536,
            0.06091748687566753,
            0.08119356989606476,
            0.23629210305116816,
        ],
        [
            0.0019698432308548103,
            0.30723602420144486,
            0.298197720415656,
            0.1750627124907741,
            0.1133697713523195,
            0.10416392830895053,
        ],
        [
            0.07187212080948366,
            0.12550959225957928,
            0.1422804256710768,
            0.15608385811026146,
            0.2807267720539823,
            0.22352723109561665,
        ],
        [
            0.23539382106973383,
            0.3741608479241942,
            0.08145938467401177,
            0.0606142427239577,
            0.23174678803707435,
            0.016624915571028173,
        ],
        [
            0.011594719994641676,
            0.16731908787203173,
            0.15149904959435778,
            0.2980442946020272,
            0.20447436188473175,
            0.16706848605220986,
        ],
        [
            0.2698604867822401,
            0.13442960034936277,
            0.006405537602351791,
            0.10449690511770388,
            0.3758545168795728,
            0.10895295326876865,
        ],
    ];
    let golden = [
        (0.9999999999999984, 0.0),
        (-0.2556233927916058, 0.0),
        (0.05419070612705178, 0.18280099977110909),
        (0.05419070612705178, -0.18280099977110909),
        (0.18822091487269935, 0.0),
        (-0.04833553954886288, 0.0),
    ];
    let p = Transition::new(&rows.map(|r| r.to_vec())).unwrap();
    let ours = p.eigenvalues().unwrap();
    for (o, g) in ours.iter().zip(golden) {
        assert!(
            (o.0 - g.0).abs() < 1e-12 && (o.1 - g.1).abs() < 1e-12,
            "{ours:?} against {golden:?}"
        );
    }
}

#[test]
fn ten_thousand_seeded_chains_match_p_n_within_five_standard_errors() {
    let p = Transition::preset(Preset::SlowMixing, 5);
    let (n, paths) = (10, 10_000u64);
    let exact = &p.distributions(&P0, n)[n];
    let mut counts = [0usize; 5];
    for path in 0..paths {
        let start = Transition::sample_start(&P0, 3, path);
        counts[*p.sample_path(start, n, 3, path).last().unwrap()] += 1;
    }
    for (i, (&c, &q)) in counts.iter().zip(exact).enumerate() {
        let freq = c as f64 / paths as f64;
        let se = (q * (1.0 - q) / paths as f64).sqrt();
        assert!(
            (freq - q).abs() < 5.0 * se,
            "state {i}: {freq} against {q} (SE {se})"
        );
    }
}

#[test]
fn editing_a_cell_renormalises_its_row_and_bad_values_are_refused() {
    let mut p = Transition::preset(Preset::WellMixing, 3);
    let before = p.row(0).to_vec();
    p.set(0, 1, 0.5).unwrap();
    // The rest of the row keeps its proportions and fills 1 − 0.5.
    let scale = 0.5 / (before[0] + before[2]);
    assert!(close(
        p.row(0),
        &[before[0] * scale, 0.5, before[2] * scale],
        1e-15
    ));
    p.set(0, 1, 1.0).unwrap();
    assert_eq!(p.row(0), [0.0, 1.0, 0.0]);
    // From a one-hot row the freed mass spreads evenly.
    p.set(0, 1, 0.4).unwrap();
    assert!(close(p.row(0), &[0.3, 0.4, 0.3], 1e-15));
    assert_eq!(p.set(2, 2, 1.5), Err(ChainError::NotAProbability { value: 1.5 }));
    assert!(p.set(2, 2, f64::NAN).is_err());
    assert!(close(
        p.row(2),
        Transition::preset(Preset::WellMixing, 3).row(2),
        0.0
    ));
}

#[test]
fn a_bad_matrix_file_is_one_error_naming_its_line() {
    let cases = [
        (
            "0.5,0.5\n0.2,-0.8\n",
            "line 2, column 2: -0.8 is negative; probabilities are ≥ 0",
        ),
        (
            "# header\n0.5,0.5\n\n0,0\n",
            "line 4 is all zeros: it cannot be normalised to sum to 1",
        ),
        (
            "1,0,0\n0,1\n0,0,1\n",
            "line 2 has 2 entries; a 3-state matrix needs 3 in every row",
        ),
        (
            "1,NaN\n0,1\n",
            "line 1, column 2: NaN is not a finite probability",
        ),
        ("1,x\n0,1\n", "line 1, column 2: \"x\" is not a number"),
        ("", "the matrix is empty"),
    ];
    for (text, message) in cases {
        let err = Transition::from_csv(text).unwrap_err();
        assert_eq!(err.to_string(), message, "{text:?}");
    }
    // Weights are normalised: a row of counts is a row of probabilities.
    let p = Transition::from_csv("3,1\n1,1 # comment\n").unwrap();
    assert_eq!(
        (p.row(0), p.row(1)),
        ([0.75, 0.25].as_slice(), [0.5, 0.5].as_slice())
    );
    let too_many: Vec<Vec<f64>> = vec![vec![1.0; 257]; 257];
    assert_eq!(
        Transition::new(&too_many).unwrap_err(),
        ChainError::TooManyStates {
            states: 257,
            max: 256
        }
    );
    assert_eq!(
        finite::distribution(&[1.0, 1.0], 3).unwrap_err().to_string(),
        "a distribution over 2 states for a 3-state chain"
    );
}
