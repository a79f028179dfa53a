//! The image denoiser (`model::conv`): its layout, a plain `f64` re-implementation of the
//! PyTorch network of its module doc (NCHW, `[out, in, 3, 3]` weights, dilation, padding)
//! against which the forward pass and every gradient are checked, inference against
//! training, bad input, and a short training run on the digits.

use diffscope::data::digits;
use diffscope::diffusion::noise::{StreamKey, fill_normal_f32};
use diffscope::diffusion::{Schedule, ScheduleSpec};
use diffscope::model::ModelError;
use diffscope::model::conv::{ConvConfig, ConvNet, TIME_EMBEDDING};
use diffscope::model::params::{AdamW, Param};

/// A non-square RGB image with all three dilations, small enough to check every entry.
const TINY_RGB: ConvConfig = ConvConfig {
    channels: 3,
    height: 5,
    width: 6,
    features: 4,
    blocks: 3,
    classes: 0,
};
/// The brief's grey case.
const TINY_GREY: ConvConfig = ConvConfig {
    channels: 1,
    height: 6,
    width: 6,
    features: 4,
    blocks: 2,
    classes: 0,
};

pub(crate) fn gelu(v: f64) -> f64 {
    0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2))
}

/// PyTorch's `nn.Conv2d(cin, cout, 3, padding=d, dilation=d)` on one `cin × h × w` image.
pub(crate) fn conv(
    x: &[f64],
    cin: usize,
    h: usize,
    w: usize,
    weight: &[f64],
    bias: &[f64],
    d: usize,
) -> Vec<f64> {
    let cout = bias.len();
    let mut out = vec![0.0; cout * h * w];
    for o in 0..cout {
        for y in 0..h {
            for xx in 0..w {
                let mut acc = bias[o];
                for c in 0..cin {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let sy = y as isize + (ky as isize - 1) * d as isize;
                            let sx = xx as isize + (kx as isize - 1) * d as isize;
                            if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                                let v = x[(c * h + sy as usize) * w + sx as usize];
                                acc += weight[((o * cin + c) * 3 + ky) * 3 + kx] * v;
                            }
                        }
                    }
                }
                out[(o * h + y) * w + xx] = acc;
            }
        }
    }
    out
}

/// `W·v + b` for PyTorch's `[out, in]` `W`.
pub(crate) fn linear(weight: &[f64], bias: &[f64], v: &[f64]) -> Vec<f64> {
    let k = v.len();
    bias.iter()
        .enumerate()
        .map(|(o, b)| b + (0..k).map(|i| weight[o * k + i] * v[i]).sum::<f64>())
        .collect()
}

/// The module doc's PyTorch `ConvDenoiser.forward`, in `f64`, one example at a time.
fn reference_eps(cfg: &ConvConfig, p: &[Vec<f64>], xt: &[f64], t: &[f64]) -> Vec<f64> {
    reference_eps_labelled(cfg, p, xt, t, &[])
}

/// [`reference_eps`] with a label per example (empty: the null label `K` for each), as
/// `forward(x, t, c)` of the module doc: `pre = time_mlp(emb(t)) + class_emb(c)`.
fn reference_eps_labelled(
    cfg: &ConvConfig,
    p: &[Vec<f64>],
    xt: &[f64],
    t: &[f64],
    labels: &[usize],
) -> Vec<f64> {
    let (c, h, w, f) = (cfg.channels, cfg.height, cfg.width, cfg.features);
    let d = c * h * w;
    let half = TIME_EMBEDDING / 2;
    let mut out = Vec::with_capacity(xt.len());
    for (row, (x, &t)) in xt.chunks_exact(d).zip(t).enumerate() {
        let freqs = (0..half).map(|k| (-(10_000f64.ln()) * k as f64 / (half - 1) as f64).exp());
        let args: Vec<f64> = freqs.map(|fk| t * fk).collect();
        let emb: Vec<f64> = args
            .iter()
            .map(|a| a.sin())
            .chain(args.iter().map(|a| a.cos()))
            .collect();
        let mut pre = linear(&p[0], &p[1], &emb);
        if cfg.classes > 0 {
            let c = labels.get(row).copied().unwrap_or(cfg.classes);
            let table = &p[6 + 6 * cfg.blocks];
            for (j, v) in pre.iter_mut().enumerate() {
                *v += table[c * f + j];
            }
        }
        let temb: Vec<f64> = pre.into_iter().map(gelu).collect();
        let mut hid = conv(x, c, h, w, &p[2], &p[3], 1);
        for i in 0..cfg.blocks {
            let k = 4 + 6 * i;
            let dil = 1 << (i % 3);
            let a: Vec<f64> = hid.iter().map(|&v| gelu(v)).collect();
            let z = conv(&a, f, h, w, &p[k], &p[k + 1], dil);
            let proj = linear(&p[k + 2], &p[k + 3], &temb);
            let u: Vec<f64> = z
                .iter()
                .enumerate()
                .map(|(i, &v)| gelu(v + proj[i / (h * w)]))
                .collect();
            let z2 = conv(&u, f, h, w, &p[k + 4], &p[k + 5], dil);
            for (hv, zv) in hid.iter_mut().zip(z2) {
                *hv += zv;
            }
        }
        let last = 4 + 6 * cfg.blocks;
        let a: Vec<f64> = hid.iter().map(|&v| gelu(v)).collect();
        out.extend(conv(&a, f, h, w, &p[last], &p[last + 1], 1));
    }
    out
}

pub(crate) fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64
}

fn params_f64(net: &ConvNet) -> Vec<Vec<f64>> {
    net.params
        .iter()
        .map(|p| p.data.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

/// A batch of `n` examples with `x_t`, `ε` standard normal and steps spread over 1..1000.
fn batch(cfg: &ConvConfig, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut xt = vec![0f32; n * cfg.channels * cfg.height * cfg.width];
    let mut eps = xt.clone();
    fill_normal_f32(seed, 1, &mut xt);
    fill_normal_f32(seed, 2, &mut eps);
    let t = (0..n).map(|i| (1 + (i * 389 + 17) % 1000) as f32).collect();
    (xt, t, eps)
}

pub(crate) fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

#[test]
fn layout_names_shapes_and_counts() {
    for cfg in [
        ConvConfig::digits(),
        ConvConfig::for_image(3, 32, 32),
        TINY_RGB,
        TINY_GREY,
    ] {
        let layout = cfg.layout();
        let sum: usize = layout.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        assert_eq!(cfg.parameter_count(), sum);
        let mut names: Vec<&String> = layout.iter().map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), layout.len(), "names must be unique");
        assert_eq!(layout.len(), 6 + 6 * cfg.blocks);
        let net = ConvNet::new(cfg, 7);
        assert_eq!(net.params.len(), layout.len());
        for (p, (name, shape)) in net.params.iter().zip(&layout) {
            assert_eq!((&p.name, &p.shape), (name, shape));
        }
    }
    // Hand-counted: F = 32, 3 blocks, 1 channel:
    // time 32·128 + 32, conv_in 32·9 + 32, 3 × (2·(32·32·9 + 32) + 32·32 + 32), conv_out 32·9 + 1.
    assert_eq!(
        ConvConfig::digits().parameter_count(),
        4128 + 320 + 3 * 19_552 + 289
    );
    // F = 32, 4 blocks, 3 channels: conv_in 32·27 + 32, conv_out 3·288 + 3.
    assert_eq!(
        ConvConfig::for_image(3, 32, 32).parameter_count(),
        4128 + 896 + 4 * 19_552 + 867
    );
    let d = ConvConfig::digits();
    assert_eq!((d.channels, d.height, d.width), (1, 8, 8));
    let rgb = ConvConfig::for_image(3, 32, 32);
    assert!(
        rgb.receptive_field() >= 32,
        "receptive field {}",
        rgb.receptive_field()
    );
    assert_eq!(ConvConfig::dilation(0), 1);
    assert_eq!(ConvConfig::dilation(2), 4);
    assert_eq!(ConvConfig::dilation(3), 1);
    assert_eq!(
        TINY_RGB.layout()[4..10]
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        [
            "blocks.0.conv1.weight",
            "blocks.0.conv1.bias",
            "blocks.0.temb.weight",
            "blocks.0.temb.bias",
            "blocks.0.conv2.weight",
            "blocks.0.conv2.bias"
        ]
    );
}

#[test]
fn init_is_pytorch_default_and_seeded() {
    let cfg = ConvConfig::digits();
    let a = ConvNet::new(cfg, 3);
    assert_eq!(a, ConvNet::new(cfg, 3));
    assert_ne!(a.params[2].data, ConvNet::new(cfg, 4).params[2].data);
    // Bounds 1/√fan_in: time_mlp 128, conv_in 1·9, block convs 32·9, temb 32.
    for (i, fan_in) in [
        (0, 128),
        (1, 128),
        (2, 9),
        (3, 9),
        (4, 288),
        (5, 288),
        (6, 32),
        (7, 32),
        (20, 288),
        (21, 288),
        (22, 288),
    ] {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let max = a.params[i].data.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            max <= bound && max > 0.8 * bound,
            "{}: max |w| {max}, bound {bound}",
            a.params[i].name
        );
    }
}

#[test]
fn from_params_checks_names_and_shapes() {
    let cfg = TINY_GREY;
    let net = ConvNet::new(cfg, 1);
    assert_eq!(ConvNet::from_params(cfg, net.params.clone()).unwrap(), net);

    let mut wrong = net.params.clone();
    wrong[6] = Param::zeros("blocks.0.temb.weight", vec![4, 5]);
    let err = ConvNet::from_params(cfg, wrong).unwrap_err();
    assert!(matches!(err, ModelError::Layout(_)));
    assert!(err.to_string().contains("blocks.0.temb.weight"), "{err}");

    let mut missing = net.params.clone();
    missing.retain(|p| p.name != "conv_out.bias");
    let err = ConvNet::from_params(cfg, missing).unwrap_err();
    assert!(err.to_string().contains("conv_out.bias"), "{err}");

    // The parameters of another architecture do not fit.
    let err = ConvNet::from_params(ConvConfig { features: 5, ..cfg }, net.params).unwrap_err();
    assert!(err.to_string().contains("time_mlp.weight"), "{err}");
}

/// The forward pass of `loss_and_grads` is the PyTorch network: same loss as the `f64`
/// reference, for grey and non-square RGB images with every dilation.
#[test]
fn loss_matches_reference_network() {
    for (cfg, n) in [
        (TINY_RGB, 3),
        (TINY_GREY, 2),
        (
            ConvConfig {
                features: 6,
                ..ConvConfig::digits()
            },
            2,
        ),
    ] {
        let net = ConvNet::new(cfg, 11);
        let (xt, t, eps) = batch(&cfg, n, 5);
        let (loss, _) = net.loss_and_grads(&xt, &t, &eps, &[]).unwrap();
        let want = mse(
            &reference_eps(&cfg, &params_f64(&net), &widen(&xt), &widen(&t)),
            &widen(&eps),
        );
        assert!(
            (f64::from(loss) - want).abs() < 2e-6 * want,
            "{cfg:?}: {loss} vs {want}"
        );
    }
}

/// Every gradient entry of a tiny RGB net against central differences of the `f64`
/// reference loss.
#[test]
fn gradients_match_reference_finite_differences() {
    let cfg = TINY_RGB;
    let net = ConvNet::new(cfg, 2);
    let (xt, t, eps) = batch(&cfg, 2, 9);
    let (_, grads) = net.loss_and_grads(&xt, &t, &eps, &[]).unwrap();
    let (x64, t64, e64) = (widen(&xt), widen(&t), widen(&eps));
    let base = params_f64(&net);
    let h = 1e-5;
    let mut worst = (0.0, String::new());
    for (i, p) in net.params.iter().enumerate() {
        assert_eq!(grads[i].len(), p.len());
        for j in 0..p.len() {
            let mut q = base.clone();
            q[i][j] = base[i][j] + h;
            let up = mse(&reference_eps(&cfg, &q, &x64, &t64), &e64);
            q[i][j] = base[i][j] - h;
            let down = mse(&reference_eps(&cfg, &q, &x64, &t64), &e64);
            let fd = (up - down) / (2.0 * h);
            let err = (f64::from(grads[i][j]) - fd).abs() / (1e-3 + fd.abs());
            if err > worst.0 {
                worst = (err, format!("{}[{j}]: autograd {} vs {fd}", p.name, grads[i][j]));
            }
        }
    }
    assert!(worst.0 < 1e-3, "worst relative error {}: {}", worst.0, worst.1);
}

/// A few entries of every tensor of the grey config against central differences of its
/// own `f32` loss (step 1e-2), independent of the reference.
#[test]
fn gradients_match_own_finite_differences() {
    let cfg = TINY_GREY;
    let net = ConvNet::new(cfg, 4);
    let (xt, t, eps) = batch(&cfg, 3, 3);
    let (_, grads) = net.loss_and_grads(&xt, &t, &eps, &[]).unwrap();
    let h = 1e-2f32;
    for (i, p) in net.params.iter().enumerate() {
        for j in [0, p.len() / 2, p.len() - 1] {
            let mut q = net.clone();
            q.params[i].data[j] += h;
            let up = q.loss_and_grads(&xt, &t, &eps, &[]).unwrap().0;
            q.params[i].data[j] -= 2.0 * h;
            let down = q.loss_and_grads(&xt, &t, &eps, &[]).unwrap().0;
            let fd = (up - down) / (2.0 * h);
            let g = grads[i][j];
            assert!(
                (g - fd).abs() <= 2e-3 + 2e-2 * fd.abs(),
                "{}[{j}]: autograd {g} vs finite difference {fd}",
                p.name
            );
        }
    }
}

#[test]
fn predict_eps_matches_training_forward() {
    // 24×24 = 576 pixels: a chunk of one image, whose bias and copies go by row segments.
    let wide = ConvConfig {
        channels: 1,
        height: 24,
        width: 24,
        features: 4,
        blocks: 3,
        classes: 0,
    };
    for cfg in [TINY_RGB, ConvConfig::digits(), wide] {
        let net = ConvNet::new(cfg, 8);
        // Inference runs chunks of 16 digits (34 of the 5×6 images, 1 of the 24×24): 37
        // makes whole and partial chunks.
        let n = 37;
        let (xt, _, eps) = batch(&cfg, n, 12);
        let inf = net.inference().unwrap();
        for step in [1.0, 37.0, 999.0] {
            let t = vec![step; n];
            let (loss, _) = net.loss_and_grads(&xt, &t, &eps, &[]).unwrap();
            let pred = inf.predict_eps(&xt, step, &[]).unwrap();
            assert_eq!(pred.len(), xt.len());
            let from_pred = mse(&widen(&pred), &widen(&eps));
            assert!(
                (f64::from(loss) - from_pred).abs() < 1e-5,
                "t = {step}: {loss} vs {from_pred}"
            );
            // And elementwise against the reference network.
            let want = reference_eps(
                &cfg,
                &params_f64(&net),
                &widen(&xt),
                &t.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            );
            let max = pred
                .iter()
                .zip(&want)
                .map(|(a, b)| (f64::from(*a) - b).abs())
                .fold(0.0, f64::max);
            assert!(max < 1e-5, "t = {step}: max |ε̂ − reference| = {max}");
        }
        // One example at a time gives the same as the batch.
        let d = cfg.channels * cfg.height * cfg.width;
        let whole = inf.predict_eps(&xt, 500.0, &[]).unwrap();
        let one = inf.predict_eps(&xt[2 * d..3 * d], 500.0, &[]).unwrap();
        let diff = one
            .iter()
            .zip(&whole[2 * d..3 * d])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-6, "batch vs single: {diff}");
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let cfg = TINY_GREY;
    let net = ConvNet::new(cfg, 1);
    let (xt, t, eps) = batch(&cfg, 2, 1);
    for (x, t, e) in [
        (&xt[..xt.len() - 1], &t[..], &eps[..]),
        (&xt[..], &t[..1], &eps[..]),
        (&xt[..], &t[..], &eps[1..]),
        (&[][..], &[][..], &[][..]),
    ] {
        assert!(matches!(
            net.loss_and_grads(x, t, e, &[]),
            Err(ModelError::Data(_))
        ));
    }
    let inf = net.inference().unwrap();
    assert!(matches!(
        inf.predict_eps(&xt[..35], 3.0, &[]),
        Err(ModelError::Data(_))
    ));
    assert_eq!(inf.predict_eps(&[], 3.0, &[]).unwrap(), Vec::<f32>::new());
}

/// `L_simple` training on 64 digits with AdamW: deterministic, and the loss falls — on
/// the batches it trained on and on held-out digits and noise, where 150 steps must beat
/// both the untrained network and the one 5 steps in by a margin (a step that moved the
/// weights the wrong way, or not at all, would not).
#[test]
fn training_on_digits_lowers_the_loss() {
    let data = digits().unwrap();
    let images: Vec<&[f32; 64]> = data.images.iter().take(64).collect();
    let held_out: Vec<&[f32; 64]> = data.images.iter().skip(64).take(256).collect();
    let schedule = Schedule::new(&ScheduleSpec::default()).unwrap();
    let cfg = ConvConfig {
        features: 16,
        blocks: 2,
        ..ConvConfig::digits()
    };
    // A batch of n noisy images drawn from `pool` with noise stream `stream`: x_t, t, ε.
    let batch = |pool: &[&[f32; 64]], n: usize, stream: u64| {
        let key = StreamKey::new(42, 1000 + stream);
        let mut eps = vec![0f32; n * 64];
        fill_normal_f32(42, stream, &mut eps);
        let mut xt = Vec::with_capacity(n * 64);
        let mut t = Vec::with_capacity(n);
        for k in 0..n {
            let img = pool[(key.uniform(2 * k as u64) * pool.len() as f64) as usize];
            let step = 1 + (key.uniform(2 * k as u64 + 1) * 1000.0) as usize;
            let (a, b) = (
                schedule.sqrt_alpha_bar(step) as f32,
                schedule.sqrt_one_minus_alpha_bar(step) as f32,
            );
            xt.extend(
                img.iter()
                    .zip(&eps[k * 64..(k + 1) * 64])
                    .map(|(x, e)| a * x + b * e),
            );
            t.push(step as f32);
        }
        (xt, t, eps)
    };
    let run = |iters: usize| {
        let mut net = ConvNet::new(cfg, 42);
        let mut opt = AdamW::new(&net.params, 3e-3);
        let mut losses = Vec::new();
        for it in 0..iters {
            let (xt, t, eps) = batch(&images, 32, it as u64);
            let (loss, grads) = net.loss_and_grads(&xt, &t, &eps, &[]).unwrap();
            assert!(loss.is_finite());
            opt.step(&mut net.params, &grads);
            losses.push(loss);
        }
        (losses, net)
    };
    // The loss on 4 held-out batches of 64 (other digits, noise streams training never
    // draws), the same batches for every network.
    let held_out_batches: Vec<_> = (0..4).map(|i| batch(&held_out, 64, 1_000_000 + i)).collect();
    let held_out_loss = |net: &ConvNet| {
        held_out_batches
            .iter()
            .map(|(xt, t, eps)| net.loss_and_grads(xt, t, eps, &[]).unwrap().0)
            .sum::<f32>()
            / 4.0
    };
    let (losses, net) = run(150);
    let first = losses[..20].iter().sum::<f32>() / 20.0;
    let last = losses[losses.len() - 20..].iter().sum::<f32>() / 20.0;
    assert!(
        last < 0.6 * first,
        "mean loss of the first 20 steps {first}, of the last 20 {last}"
    );
    let (again, net5) = run(5);
    assert_eq!(again, losses[..5]);
    let (untrained, five, trained) = (
        held_out_loss(&ConvNet::new(cfg, 42)),
        held_out_loss(&net5),
        held_out_loss(&net),
    );
    // Measured: 1.25 untrained, 0.77 after 5 steps, 0.153 after 150 (ratios 0.12, 0.20).
    assert!(
        trained < 0.3 * untrained && trained < 0.4 * five,
        "held-out loss: untrained {untrained}, after 5 steps {five}, after 150 {trained}"
    );
}

/// A class-conditional TINY_RGB: three classes, the null label 3.
const TINY_CONDITIONAL: ConvConfig = ConvConfig {
    classes: 3,
    ..TINY_RGB
};

/// The class table is the layout's last tensor, `[K + 1, F]`; the rest is the
/// unconditional layout, name for name.
#[test]
fn conditional_layout_is_the_unconditional_one_plus_the_class_table() {
    let cond = TINY_CONDITIONAL.layout();
    let plain = TINY_RGB.layout();
    assert_eq!(cond[..plain.len()], plain[..]);
    assert_eq!(cond.len(), plain.len() + 1);
    assert_eq!(cond[plain.len()], ("class_emb.weight".to_owned(), vec![4, 4]));
    assert_eq!(
        TINY_CONDITIONAL.parameter_count(),
        TINY_RGB.parameter_count() + 16
    );
}

/// A conditional network's loss, with a label per example (one of them the null label),
/// is the reference network's `forward(x, t, c)`; every entry of the class table's
/// gradient matches central differences of the reference loss (rows of labels not in the
/// batch get exactly 0).
#[test]
fn conditional_loss_and_class_gradient_match_the_reference() {
    let cfg = TINY_CONDITIONAL;
    let net = ConvNet::new(cfg, 21);
    let (xt, t, eps) = batch(&cfg, 3, 4);
    let labels = [2, 3, 2];
    let (loss, grads) = net.loss_and_grads(&xt, &t, &eps, &labels).unwrap();
    let (x64, t64, e64) = (widen(&xt), widen(&t), widen(&eps));
    let base = params_f64(&net);
    let want = mse(&reference_eps_labelled(&cfg, &base, &x64, &t64, &labels), &e64);
    assert!((f64::from(loss) - want).abs() < 2e-6 * want, "{loss} vs {want}");
    // Without labels every example takes the null row: a different loss.
    let (unlabelled, _) = net.loss_and_grads(&xt, &t, &eps, &[]).unwrap();
    let want_null = mse(&reference_eps_labelled(&cfg, &base, &x64, &t64, &[3, 3, 3]), &e64);
    assert!((f64::from(unlabelled) - want_null).abs() < 2e-6 * want_null);
    assert!((want - want_null).abs() > 1e-4, "the labels must matter");
    let table = net.params.len() - 1;
    let h = 1e-5;
    for j in 0..net.params[table].len() {
        let mut q = base.clone();
        q[table][j] += h;
        let up = mse(&reference_eps_labelled(&cfg, &q, &x64, &t64, &labels), &e64);
        q[table][j] -= 2.0 * h;
        let down = mse(&reference_eps_labelled(&cfg, &q, &x64, &t64, &labels), &e64);
        let fd = (up - down) / (2.0 * h);
        let got = f64::from(grads[table][j]);
        assert!(
            (got - fd).abs() < 1e-3 * (1e-3 + fd.abs()) + 1e-7,
            "class_emb[{j}]: {got} vs {fd}"
        );
        // Rows 0 and 1 (labels not in the batch) have no gradient.
        if j < 2 * cfg.features {
            assert_eq!(got, 0.0, "class_emb[{j}]");
        }
    }
}

/// Inference with labels is the training forward with the same labels, example by
/// example; labels beyond the null label, the wrong count, or labels for an
/// unconditional model are errors.
#[test]
fn conditional_inference_matches_the_reference_and_checks_labels() {
    let cfg = TINY_CONDITIONAL;
    let net = ConvNet::new(cfg, 5);
    // 75 images: inference runs chunks of 34 (1024 rows of 5×6 pixels), so the labels'
    // rows must follow the images into the second and third chunk.
    let n = 75;
    let (xt, _, _) = batch(&cfg, n, 6);
    let inf = net.inference().unwrap();
    let labels: Vec<usize> = (0..n).map(|i| (i * 7) % (cfg.classes + 1)).collect();
    let pred = inf.predict_eps(&xt, 250.0, &labels).unwrap();
    let want = reference_eps_labelled(&cfg, &params_f64(&net), &widen(&xt), &[250.0; 75], &labels);
    let max = pred
        .iter()
        .zip(&want)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    assert!(max < 1e-5, "max |Δ| = {max}");
    let d = cfg.dim();
    assert!(matches!(
        inf.predict_eps(&xt[..4 * d], 250.0, &[0, 1, 2, 4]),
        Err(ModelError::Data(_))
    ));
    assert!(matches!(
        inf.predict_eps(&xt[..4 * d], 250.0, &[0, 1]),
        Err(ModelError::Data(_))
    ));
    let plain = ConvNet::new(TINY_RGB, 5).inference().unwrap();
    let err = plain.predict_eps(&xt[..4 * d], 250.0, &[0, 1, 2, 3]).unwrap_err();
    assert!(err.to_string().contains("trained without labels"), "{err}");
}

/// The unconditional branch is an unconditional network in form: a conditional network
/// whose null row is zero predicts, without labels, exactly what the unconditional
/// network with the same other weights predicts (and not once the row is not zero).
#[test]
fn null_label_branch_is_the_unconditional_network_in_form() {
    let cond = ConvNet::new(TINY_CONDITIONAL, 9);
    let mut params = cond.params.clone();
    let table = params.pop().unwrap();
    let plain = ConvNet::from_params(TINY_RGB, params.clone()).unwrap();
    let (xt, _, _) = batch(&TINY_RGB, 3, 7);
    let want = plain.inference().unwrap().predict_eps(&xt, 400.0, &[]).unwrap();
    let f = TINY_RGB.features;
    let mut zeroed = table.clone();
    zeroed.data[3 * f..].fill(0.0);
    let with = |t: Param| {
        let mut p = params.clone();
        p.push(t);
        ConvNet::from_params(TINY_CONDITIONAL, p)
            .unwrap()
            .inference()
            .unwrap()
    };
    assert_eq!(with(zeroed.clone()).predict_eps(&xt, 400.0, &[]).unwrap(), want);
    assert_eq!(with(zeroed).predict_eps(&xt, 400.0, &[3, 3, 3]).unwrap(), want);
    assert_ne!(with(table).predict_eps(&xt, 400.0, &[]).unwrap(), want);
}

/// ε̂ of the shipped digits model by PyTorch: `(t, labelled, every ninth value of each
/// image)` (see [`shipped_digits_model_matches_pytorch`]).
const DIGITS_GOLDEN: [(f32, bool, [[f32; 8]; 2]); 4] = [
    (
        20.0,
        false,
        [
            [
                2.176_377_8,
                -0.144_788_85,
                -0.315_466_28,
                -0.588_206_05,
                -0.699_504_5,
                -0.150_131_73,
                -0.034_767_896,
                -0.251_494_53,
            ],
            [
                3.934_281_3,
                -0.683_074_4,
                0.400_288_16,
                -0.053_092_36,
                -0.287_650_61,
                -0.181_917_07,
                -0.474_344_02,
                1.311_882_7,
            ],
        ],
    ),
    (
        20.0,
        true,
        [
            [
                2.313_74,
                -0.123_741_284,
                -0.286_764_86,
                -0.479_534_6,
                -0.949_897_2,
                -0.119_698_9,
                0.002_667_755,
                -0.263_910_35,
            ],
            [
                3.809_268_7,
                -0.714_619_04,
                0.265_263_44,
                -0.446_902_84,
                0.094_373_95,
                -0.425_361_37,
                -0.143_102_53,
                1.531_245_1,
            ],
        ],
    ),
    (
        700.0,
        false,
        [
            [
                0.086_504_25,
                -0.126_620_28,
                0.343_620_54,
                -0.549_168_35,
                0.648_967_74,
                -0.827_994_35,
                0.948_072_3,
                -0.889_561_24,
            ],
            [
                1.043_265_8,
                -0.941_558_84,
                0.972_293,
                -0.968_88,
                0.854_781_03,
                -0.808_830_1,
                0.686_800_7,
                -0.430_283_87,
            ],
        ],
    ),
    (
        700.0,
        true,
        [
            [
                0.071_448_21,
                -0.146_911_13,
                0.399_569_87,
                -0.540_596_54,
                0.630_891_5,
                -0.863_003_4,
                0.929_073_4,
                -0.881_724,
            ],
            [
                1.042_126_4,
                -0.936_607_84,
                0.953_301_67,
                -1.011_564_9,
                0.833_107_8,
                -0.809_761_46,
                0.692_117_7,
                -0.422_344_03,
            ],
        ],
    ),
];

/// The shipped digits model against PyTorch itself: `scripts/torch_conv_check.py` loads the
/// shipped file into the module doc's `ConvDenoiser` (with its class table) and prints ε̂
/// of two fixed 8×8 inputs, `x[i, p] = sin(0.37·p + 1.3·i)`, every ninth value, at
/// `t = 20` and `700`, without a class and with the labels 3 and 8:
///   /tmp/tv/bin/python scripts/torch_conv_check.py assets/weights/digits.safetensors
/// (torch 2.15.0, CPU, float32).
#[test]
fn shipped_digits_model_matches_pytorch() {
    let model = diffscope::model::shipped::load("digits").unwrap().unwrap();
    assert_eq!(model.network.classes(), 10);
    let net = model.network.inference().unwrap();
    let x: Vec<f32> = (0..2)
        .flat_map(|i| (0..64).map(move |p| (0.37 * p as f32 + 1.3 * i as f32).sin()))
        .collect();
    for (t, labelled, want) in DIGITS_GOLDEN {
        let labels: &[usize] = if labelled { &[3, 8] } else { &[] };
        let eps = net.predict_eps_labelled(&x, t, labels).unwrap();
        assert_eq!(eps.len(), 128);
        for (i, row) in want.iter().enumerate() {
            for (k, &w) in row.iter().enumerate() {
                let got = eps[64 * i + 9 * k];
                assert!(
                    (got - w).abs() < 2e-5,
                    "t = {t}, labels {labels:?}, image {i}, value {}: {got} vs {w}",
                    9 * k
                );
            }
        }
    }
}

/// The direct 3×3 convolution of NHWC images, dilation and zero padding `d`, in `f64`:
/// `y[n, p, o] = b[o] + Σ_{tap inside, c} w[o, c, tap] · x[n, src(p, tap), c]`.
fn naive_conv(grid: (usize, usize), d: usize, x: &[f32], c: usize, w: &[f32], b: &[f32]) -> Vec<f64> {
    let (h, wd) = grid;
    let out = b.len();
    let images = x.len() / (h * wd * c);
    let mut y = vec![0.0; images * h * wd * out];
    for n in 0..images {
        for py in 0..h {
            for px in 0..wd {
                for o in 0..out {
                    let mut s = f64::from(b[o]);
                    for tap in 0..9 {
                        let sy = py as isize + (tap as isize / 3 - 1) * d as isize;
                        let sx = px as isize + (tap as isize % 3 - 1) * d as isize;
                        if !(0..h as isize).contains(&sy) || !(0..wd as isize).contains(&sx) {
                            continue;
                        }
                        let src = (n * h * wd + sy as usize * wd + sx as usize) * c;
                        for ch in 0..c {
                            s += f64::from(w[(o * c + ch) * 9 + tap]) * f64::from(x[src + ch]);
                        }
                    }
                    y[((n * h * wd) + py * wd + px) * out + o] = s;
                }
            }
        }
    }
    y
}

/// The three convolutions equal the direct sum: training's (im2col of all nine taps),
/// the U-Net's at inference (prepared weights: the zero padding's taps skipped, pixels
/// grouped by the taps inside) and the conv net's at inference ([`TapConv`]: three
/// products over column-shifted copies, in chunks of images). On grids, dilations,
/// channel counts and batch sizes that make the tap groups big, small (merged) and
/// absent, the chunks whole and partial; a dilation as large as the image leaves only the
/// centre tap.
#[test]
fn the_convolutions_of_training_and_inference_are_the_direct_sum() {
    use candle_core::{Device, Tensor};
    use diffscope::model::conv_infer::TapConv;
    use diffscope::model::conv_ops::{Conv3x3, Grid, weight_to_cols};
    let dev = Device::Cpu;
    let mut seed = 0;
    for (h, w) in [(8, 8), (5, 7), (16, 16)] {
        for d in [1, 2, 4, 8] {
            for (c, out) in [(1, 32), (3, 5), (32, 32), (32, 1)] {
                for images in [1, 3, 20] {
                    seed += 1;
                    let mut x = vec![0f32; images * h * w * c];
                    let mut wt = vec![0f32; out * c * 9];
                    let mut b = vec![0f32; out];
                    fill_normal_f32(seed, 0, &mut x);
                    fill_normal_f32(seed, 1, &mut wt);
                    fill_normal_f32(seed, 2, &mut b);
                    let expected = naive_conv((h, w), d, &x, c, &wt, &b);
                    let grid = Grid { height: h, width: w };
                    // The conv net's inference takes and gives CHW images.
                    let px = h * w;
                    let chw: Vec<f32> = (0..x.len())
                        .map(|i| {
                            let (n, rest) = (i / (c * px), i % (c * px));
                            x[(n * px + rest % px) * c + rest / px]
                        })
                        .collect();
                    let y = TapConv::new(grid, d, &wt, (out, c)).convolve(&chw, &b);
                    let worst = (0..y.len())
                        .map(|i| {
                            let (n, rest) = (i / (out * px), i % (out * px));
                            let e = expected[(n * px + rest % px) * out + rest / px];
                            (f64::from(y[i]) - e).abs() / (1.0 + e.abs())
                        })
                        .fold(0.0, f64::max);
                    assert!(
                        worst < 2e-5,
                        "{h}×{w}, d = {d}, {c} → {out}, {images} images, conv net inference: {worst:e}"
                    );
                    let xs = Tensor::from_vec(x, (images * h * w, c), &dev).unwrap();
                    let bs = Tensor::from_vec(b, out, &dev).unwrap();
                    for prepared in [true, false] {
                        let weight = if prepared {
                            Tensor::from_vec(weight_to_cols(&wt, out, c, false), (out, 9 * c), &dev)
                        } else {
                            Tensor::from_vec(wt.clone(), (out, c, 3, 3), &dev)
                        }
                        .unwrap();
                        let op = Conv3x3 {
                            grid,
                            dilation: d,
                            input_grad: false,
                            prepared,
                        };
                        let y: Vec<f32> = xs
                            .apply_op3(&weight, &bs, op)
                            .unwrap()
                            .flatten_all()
                            .unwrap()
                            .to_vec1()
                            .unwrap();
                        let worst = y
                            .iter()
                            .zip(&expected)
                            .map(|(&a, &e)| (f64::from(a) - e).abs() / (1.0 + e.abs()))
                            .fold(0.0, f64::max);
                        assert!(
                            worst < 2e-5,
                            "{h}×{w}, d = {d}, {c} → {out}, {images} images, prepared {prepared}: {worst:e}"
                        );
                    }
                }
            }
        }
    }
}
