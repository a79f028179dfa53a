//! The U-Net of the 28×28 glyph digits (`model::unet`): its layout, its forward pass
//! against an `f64` re-implementation of the module doc's PyTorch network, its gradients,
//! inference, weights files, and the shipped weights against PyTorch itself.

use diffscope::diffusion::noise::fill_normal_f32;
use diffscope::model::conv::TIME_EMBEDDING;
use diffscope::model::unet::{UNet, UNetConfig};
use diffscope::model::{Architecture, Checkpoint, ModelError, ModelInfo, Network, io};

use super::model_conv::{conv, gelu, linear, mse, widen};

/// 8×8 grey, F = 4, one middle block, conditional on 3 classes: every path of the network
/// at a size the `f64` reference and finite differences run in a blink.
const TINY: UNetConfig = UNetConfig {
    channels: 1,
    height: 8,
    width: 12,
    features: 4,
    mid_blocks: 1,
    classes: 3,
};

/// PyTorch's `pixel_unshuffle(2)` of one `c × h × w` image: `4c × h/2 × w/2`.
fn unshuffle(x: &[f64], c: usize, h: usize, w: usize) -> Vec<f64> {
    let (h2, w2) = (h / 2, w / 2);
    let mut out = vec![0.0; x.len()];
    for ch in 0..c {
        for y in 0..h {
            for xx in 0..w {
                let o = ch * 4 + (y % 2) * 2 + xx % 2;
                out[(o * h2 + y / 2) * w2 + xx / 2] = x[(ch * h + y) * w + xx];
            }
        }
    }
    out
}

/// PyTorch's `pixel_shuffle(2)` of one `4c × h × w` image: `c × 2h × 2w`.
fn shuffle(x: &[f64], c4: usize, h: usize, w: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for o in 0..c4 {
        let (ch, dy, dx) = (o / 4, (o % 4) / 2, o % 2);
        for y in 0..h {
            for xx in 0..w {
                out[(ch * 2 * h + 2 * y + dy) * 2 * w + 2 * xx + dx] = x[(o * h + y) * w + xx];
            }
        }
    }
    out
}

/// `nn.Linear` applied per pixel (a 1×1 convolution) to `cin × px` values.
fn per_pixel(weight: &[f64], bias: &[f64], x: &[f64], cin: usize, px: usize) -> Vec<f64> {
    let cout = bias.len();
    let mut out = vec![0.0; cout * px];
    for p in 0..px {
        let v: Vec<f64> = (0..cin).map(|c| x[c * px + p]).collect();
        for (o, y) in linear(weight, bias, &v).into_iter().enumerate() {
            out[o * px + p] = y;
        }
    }
    out
}

/// The module doc's `Block.forward` at width `c` on `h × w`, tensors from `k`.
fn block(p: &[Vec<f64>], k: usize, x: &[f64], c: usize, h: usize, w: usize, temb: &[f64]) -> Vec<f64> {
    let a: Vec<f64> = x.iter().map(|&v| gelu(v)).collect();
    let z = conv(&a, c, h, w, &p[k], &p[k + 1], 1);
    let proj = linear(&p[k + 2], &p[k + 3], temb);
    let u: Vec<f64> = z
        .iter()
        .enumerate()
        .map(|(i, &v)| gelu(v + proj[i / (h * w)]))
        .collect();
    let z2 = conv(&u, c, h, w, &p[k + 4], &p[k + 5], 1);
    x.iter().zip(z2).map(|(a, b)| a + b).collect()
}

/// The module doc's PyTorch `UNet.forward`, in `f64`, one example at a time, with a label
/// per example (empty: the null label).
fn reference_eps(cfg: &UNetConfig, p: &[Vec<f64>], xt: &[f64], t: &[f64], labels: &[usize]) -> Vec<f64> {
    let (c, h, w, f) = (cfg.channels, cfg.height, cfg.width, cfg.features);
    let e = 2 * f;
    let (h2, w2, h4, w4) = (h / 2, w / 2, h / 4, w / 4);
    let half = TIME_EMBEDDING / 2;
    let mid = 12;
    let up_proj = mid + 6 * cfg.mid_blocks;
    let (merge, up, out_k) = (up_proj + 2, up_proj + 4, up_proj + 10);
    let mut out = Vec::with_capacity(xt.len());
    for (row, (x, &t)) in xt.chunks_exact(c * h * w).zip(t).enumerate() {
        let args: Vec<f64> = (0..half)
            .map(|k| t * (-(10_000f64.ln()) * k as f64 / (half - 1) as f64).exp())
            .collect();
        let emb: Vec<f64> = args
            .iter()
            .map(|a| a.sin())
            .chain(args.iter().map(|a| a.cos()))
            .collect();
        let mut pre = linear(&p[0], &p[1], &emb);
        if cfg.classes > 0 {
            let label = labels.get(row).copied().unwrap_or(cfg.classes);
            for (j, v) in pre.iter_mut().enumerate() {
                *v += p[out_k + 2][label * e + j];
            }
        }
        let temb: Vec<f64> = pre.into_iter().map(gelu).collect();
        let s = conv(&unshuffle(x, c, h, w), 4 * c, h2, w2, &p[2], &p[3], 1);
        let s = block(p, 4, &s, f, h2, w2, &temb);
        let mut m = per_pixel(&p[10], &p[11], &unshuffle(&s, f, h2, w2), 4 * f, h4 * w4);
        for i in 0..cfg.mid_blocks {
            m = block(p, mid + 6 * i, &m, 2 * f, h4, w4, &temb);
        }
        let u = per_pixel(&p[up_proj], &p[up_proj + 1], &m, 2 * f, h4 * w4);
        let u = shuffle(&u, 4 * f, h4, w4);
        let cat: Vec<f64> = u.iter().chain(&s).copied().collect();
        let u = per_pixel(&p[merge], &p[merge + 1], &cat, 2 * f, h2 * w2);
        let u = block(p, up, &u, f, h2, w2, &temb);
        let a: Vec<f64> = u.iter().map(|&v| gelu(v)).collect();
        out.extend(shuffle(
            &conv(&a, f, h2, w2, &p[out_k], &p[out_k + 1], 1),
            4 * c,
            h2,
            w2,
        ));
    }
    out
}

fn params_f64(net: &UNet) -> Vec<Vec<f64>> {
    net.params.iter().map(|p| widen(&p.data)).collect()
}

/// `x_t`, `ε` standard normal, steps spread over 1..1000.
fn batch(cfg: &UNetConfig, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut xt = vec![0f32; n * cfg.dim()];
    let mut eps = xt.clone();
    fill_normal_f32(seed, 1, &mut xt);
    fill_normal_f32(seed, 2, &mut eps);
    let t = (0..n).map(|i| (1 + (i * 389 + 17) % 1000) as f32).collect();
    (xt, t, eps)
}

/// Names, shapes and counts. The glyph net by hand: time MLP 48·128 + 48 = 6192; conv_in
/// 24·4·9 + 24 = 888; a block of width c with E = 48: 2(9c² + c) + 48c + c, 11,592 at 24
/// and 43,920 at 48; down_proj 48·96 + 48 = 4656; up_proj 96·48 + 96 = 4704; merge 24·48 +
/// 24 = 1176; conv_out 4·24·9 + 4 = 868: 6192 + 888 + 11,592 + 4656 + 2·43,920 + 4704 +
/// 1176 + 11,592 + 868 = 129,508; the class table 11·48 = 528 more. FLOPs per image:
/// conv_in 2·196·9·4·24, four convolutions 2·196·9·24², down_proj 2·49·96·48, four
/// convolutions 2·49·9·48², up_proj 2·49·48·96, merge 2·196·48·24, conv_out 2·196·9·24·4.
#[test]
fn layout_counts_and_flops() {
    let g = UNetConfig::glyphs();
    assert_eq!(g.parameter_count(), 129_508);
    let cond = UNetConfig { classes: 10, ..g };
    assert_eq!(cond.parameter_count(), 129_508 + 11 * 48);
    let layout = cond.layout();
    assert_eq!(
        layout.last().unwrap(),
        &("class_emb.weight".to_owned(), vec![11, 48])
    );
    assert_eq!(layout[..layout.len() - 1], g.layout()[..]);
    assert_eq!(layout[2], ("conv_in.weight".to_owned(), vec![24, 4, 3, 3]));
    assert_eq!(layout[12], ("mid.0.conv1.weight".to_owned(), vec![48, 48, 3, 3]));
    let flops = 2 * 196 * 9 * 4 * 24
        + 4 * 2 * 196 * 9 * 24 * 24
        + 2 * 49 * 96 * 48
        + 4 * 2 * 49 * 9 * 48 * 48
        + 2 * 49 * 48 * 96
        + 2 * 196 * 48 * 24
        + 2 * 196 * 9 * 24 * 4;
    assert_eq!(g.flops(), flops);
    assert_eq!(g.flops(), 18_289_152);
}

/// The training forward pass is the PyTorch network (its `f64` re-implementation), with
/// labels and with the null label.
#[test]
fn loss_matches_the_reference_network() {
    let net = UNet::new(TINY, 3);
    let (xt, t, eps) = batch(&TINY, 3, 4);
    for labels in [vec![], vec![0, 2, 3]] {
        let (loss, _) = net.loss_and_grads(&xt, &t, &eps, &labels).unwrap();
        let want = mse(
            &reference_eps(&TINY, &params_f64(&net), &widen(&xt), &widen(&t), &labels),
            &widen(&eps),
        );
        assert!(
            (f64::from(loss) - want).abs() < 2e-6 * want,
            "labels {labels:?}: {loss} vs {want}"
        );
    }
}

/// Every tensor's gradient, a few entries each, against central differences of the `f64`
/// reference loss.
#[test]
fn gradients_match_reference_finite_differences() {
    let net = UNet::new(TINY, 5);
    let (xt, t, eps) = batch(&TINY, 2, 6);
    let labels = [1, 3];
    let (_, grads) = net.loss_and_grads(&xt, &t, &eps, &labels).unwrap();
    let (x64, t64, e64) = (widen(&xt), widen(&t), widen(&eps));
    let base = params_f64(&net);
    let h = 1e-5;
    for (i, p) in net.params.iter().enumerate() {
        assert_eq!(grads[i].len(), p.len(), "{}", p.name);
        // The class table: the rows of labels 1 and 3 (∅) have gradients, row 0 none.
        let entries = if p.name == "class_emb.weight" {
            vec![0, 8 + 1, 3 * 8 + 5]
        } else {
            vec![0, p.len() / 2, p.len() - 1]
        };
        for j in entries {
            let mut q = base.clone();
            q[i][j] = base[i][j] + h;
            let up = mse(&reference_eps(&TINY, &q, &x64, &t64, &labels), &e64);
            q[i][j] = base[i][j] - h;
            let down = mse(&reference_eps(&TINY, &q, &x64, &t64, &labels), &e64);
            let fd = (up - down) / (2.0 * h);
            let g = f64::from(grads[i][j]);
            assert!(
                (g - fd).abs() <= 1e-6 + 1e-3 * fd.abs(),
                "{}[{j}]: autograd {g} vs {fd}",
                p.name
            );
        }
    }
    assert!(grads.last().unwrap()[..8].iter().all(|&g| g == 0.0));
}

/// Inference (prepared weights, one `t`) is the training forward, elementwise against the
/// reference, batch or one at a time.
#[test]
fn predict_eps_matches_the_reference() {
    let net = UNet::new(TINY, 8);
    let inf = net.inference().unwrap();
    let n = 4;
    let (xt, _, _) = batch(&TINY, n, 12);
    for (step, labels) in [(1.0, vec![]), (500.0, vec![0, 1, 2, 3]), (999.0, vec![2; 4])] {
        let pred = inf.predict_eps(&xt, step, &labels).unwrap();
        let want = reference_eps(
            &TINY,
            &params_f64(&net),
            &widen(&xt),
            &vec![f64::from(step); n],
            &labels,
        );
        let max = pred
            .iter()
            .zip(&want)
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(0.0, f64::max);
        assert!(max < 1e-5, "t = {step}: max |ε̂ − reference| = {max}");
    }
    let d = TINY.dim();
    let whole = inf.predict_eps(&xt, 300.0, &[]).unwrap();
    let one = inf.predict_eps(&xt[d..2 * d], 300.0, &[]).unwrap();
    assert!(
        one.iter()
            .zip(&whole[d..2 * d])
            .all(|(a, b)| (a - b).abs() < 1e-6)
    );
}

#[test]
fn bad_input_and_shapes_are_errors_not_panics() {
    let net = UNet::new(TINY, 1);
    let (xt, t, eps) = batch(&TINY, 2, 1);
    assert!(matches!(
        net.loss_and_grads(&xt[1..], &t, &eps, &[]),
        Err(ModelError::Data(_))
    ));
    assert!(matches!(
        net.loss_and_grads(&xt, &t, &eps, &[0, 4]),
        Err(ModelError::Data(_))
    ));
    let inf = net.inference().unwrap();
    assert!(matches!(
        inf.predict_eps(&xt[..50], 3.0, &[]),
        Err(ModelError::Data(_))
    ));
    assert_eq!(inf.predict_eps(&[], 3.0, &[]).unwrap(), Vec::<f32>::new());
    let odd = UNetConfig { height: 10, ..TINY };
    let err = UNet::from_params(odd, UNet::new(TINY, 1).params).unwrap_err();
    assert!(err.to_string().contains("4×4"), "{err}");
    let err = UNet::from_params(UNetConfig { features: 5, ..TINY }, net.params).unwrap_err();
    assert!(err.to_string().contains("time_mlp.weight"), "{err}");
}

/// A weights file round-trips (metadata `unet`, `mid_blocks`), and a conv net's file of the
/// same image size is a different architecture, said so.
#[test]
fn weights_round_trip_and_say_their_architecture() {
    let model = Checkpoint {
        network: Network::new(Architecture::UNet(TINY), 2),
        info: ModelInfo {
            schedule: diffscope::diffusion::ScheduleSpec::new(
                diffscope::diffusion::ScheduleKind::Linear,
                1000,
            ),
            dataset: "glyphs".into(),
            iterations: 7,
            seed: 2,
            ema: Some(0.999),
            command: "diffscope train --glyphs".into(),
            objective: diffscope::model::Objective::Epsilon,
        },
    };
    let bytes = io::to_bytes(&model).unwrap();
    let back = io::from_bytes(&bytes).unwrap();
    assert_eq!(back, model);
    assert!(
        back.network
            .architecture()
            .to_string()
            .starts_with("U-Net 4ch/8ch×3 blocks for 12×8 grey")
    );
    // The header says `unet`; with the conv net's name the tensors do not fit.
    let mut renamed = bytes.clone();
    let at = renamed.windows(6).position(|w| w == b"\"unet\"").unwrap();
    renamed[at..at + 6].copy_from_slice(b"\"conv\"");
    let err = io::from_bytes(&renamed).unwrap_err().to_string();
    assert!(err.contains("`blocks`"), "{err}");
}

/// ε̂ of the shipped glyph-digits U-Net by PyTorch (`scripts/torch_unet_check.py`, the
/// module doc's network loading the file with `load_state_dict`): `(t, labelled, every
/// 97th value of each image)`, the inputs `x[i, p] = sin(0.37 p + 1.3 i)`, labels 3 and 8.
const GLYPHS_GOLDEN: [(f32, bool, [[f32; 9]; 2]); 4] = [
    (
        20.0,
        false,
        [
            [
                0.695_083_3,
                -0.331_335_34,
                2.242_637_4,
                0.700_521_77,
                -2.175_785_5,
                -0.608_641,
                1.611_79,
                -1.193_849_9,
                -0.486_140_04,
            ],
            [
                2.341_680_3,
                -0.354_919_85,
                -1.208_105_3,
                1.180_839_2,
                0.790_005_56,
                -0.242_298_93,
                0.426_681_52,
                1.512_481_7,
                -0.564_300_24,
            ],
        ],
    ),
    (
        20.0,
        true,
        [
            [
                0.711_913_17,
                -0.307_957_6,
                2.122_432_7,
                0.642_965_44,
                -2.134_024_9,
                -0.636_370_8,
                1.577_921,
                -1.275_776_9,
                -0.457_762_87,
            ],
            [
                2.472_645_3,
                -0.375_229_33,
                -1.145_554_2,
                1.115_388_6,
                0.729_093_1,
                -0.238_292_16,
                0.401_071_85,
                1.647_821_5,
                -0.543_126_5,
            ],
        ],
    ),
    (
        700.0,
        false,
        [
            [
                0.104_100_04,
                -0.924_855_77,
                0.539_249_4,
                0.794_407_96,
                -0.734_275_8,
                -0.345_062_32,
                1.058_477,
                -0.034_838_818,
                -0.854_953_3,
            ],
            [
                1.076_046_3,
                -0.453_154_92,
                -0.645_966_23,
                0.859_668_4,
                0.425_201_92,
                -0.964_967_4,
                0.197_876_21,
                1.015_325_1,
                -0.488_386_4,
            ],
        ],
    ),
    (
        700.0,
        true,
        [
            [
                0.102_979_93,
                -0.923_496_1,
                0.541_990_04,
                0.828_619_06,
                -0.740_712_9,
                -0.293_032_53,
                1.070_020_7,
                -0.046_257_153,
                -0.858_488_4,
            ],
            [
                1.076_878_5,
                -0.455_818_1,
                -0.649_390_5,
                0.830_720_1,
                0.420_234_9,
                -1.001_540_7,
                0.200_744_57,
                1.018_836_3,
                -0.488_948_88,
            ],
        ],
    ),
];

/// The shipped glyph-digits weights load as the conditional U-Net, and their ε̂ is
/// PyTorch's on fixed inputs, with and without a class.
#[test]
fn shipped_glyphs_model_matches_pytorch() {
    let model = diffscope::model::shipped::load("glyphs").unwrap().unwrap();
    let Architecture::UNet(cfg) = model.network.architecture() else {
        panic!("the shipped glyph model is {}", model.network.architecture());
    };
    assert_eq!(
        cfg,
        UNetConfig {
            classes: 10,
            ..UNetConfig::glyphs()
        }
    );
    assert!(
        model.info.command.contains("train --glyphs --conditional"),
        "{}",
        model.info.command
    );
    let net = model.network.inference().unwrap();
    let x: Vec<f32> = (0..2)
        .flat_map(|i| (0..784).map(move |p| (0.37 * p as f32 + 1.3 * i as f32).sin()))
        .collect();
    for (t, labelled, want) in GLYPHS_GOLDEN {
        let labels: &[usize] = if labelled { &[3, 8] } else { &[] };
        let eps = net.predict_eps_labelled(&x, t, labels).unwrap();
        assert_eq!(eps.len(), 2 * 784);
        for (i, row) in want.iter().enumerate() {
            for (k, &w) in row.iter().enumerate() {
                let got = eps[784 * i + 97 * k];
                assert!(
                    (got - w).abs() < 2e-5,
                    "t = {t}, labels {labels:?}, image {i}, value {}: {got} vs {w}",
                    97 * k
                );
            }
        }
    }
}
