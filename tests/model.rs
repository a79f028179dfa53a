//! The learned models: fused kernels against `f64` references and plain candle, the 2D
//! denoiser against an independent NumPy computation, safetensors files (good and
//! hostile), training, the reverse chain and the shipped weights' quality.

use candle_core::{D, Device, Tensor, Var};
use diffscope::diffusion::metrics::sliced_wasserstein2;
use diffscope::diffusion::{IdealDenoiser, ReverseVariance, Schedule, ScheduleKind, ScheduleSpec};
use diffscope::model::kernels;
use diffscope::model::mlp::{Mlp2d, MlpConfig};
use diffscope::model::ops::{BiasGelu, Embed, Linear, ResidualBiasGelu, tensor_vec};
use diffscope::model::params::{AdamW, Param};
use diffscope::model::sample::{Denoiser, ReverseChain, Sampler, SamplerKind};
use diffscope::model::train::{TrainSet, TrainSettings, Trainer};
use diffscope::model::{Architecture, Checkpoint, ModelError, ModelInfo, Network, io, shipped};

fn erf64(x: f64) -> f64 {
    libm::erf(x)
}

#[test]
fn sin_cos_kernel_is_accurate_far_from_zero() {
    let mut worst: f64 = 0.0;
    for i in 0..200_001 {
        let w = (i as f32 - 100_000.0) * 0.0173; // −1730 … 1730: t·f_k and 25·x·f_k
        let (s, c) = kernels::sin_cos(w);
        let w64 = f64::from(w);
        worst = worst
            .max((f64::from(s) - w64.sin()).abs())
            .max((f64::from(c) - w64.cos()).abs());
    }
    assert!(worst < 3e-7, "worst error {worst}");
    let (s, c) = kernels::sin_cos(10_000.0);
    assert!((f64::from(s) - 10_000f64.sin()).abs() < 3e-7 && (f64::from(c) - 10_000f64.cos()).abs() < 3e-7);
}

#[test]
fn gelu_kernels_match_the_exact_erf_gelu() {
    for i in 0..=40_000 {
        let x = (f64::from(i) - 20_000.0) / 2000.0; // −10 … 10
        let exact = 0.5 * x * (1.0 + erf64(x / 2f64.sqrt()));
        let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let exact_grad = 0.5 * (1.0 + erf64(x / 2f64.sqrt())) + x * pdf;
        let g = f64::from(kernels::gelu(x as f32));
        let d = f64::from(kernels::gelu_grad(x as f32));
        assert!(
            (g - exact).abs() <= 4e-7 * x.abs().max(1.0),
            "gelu({x}) = {g}, exact {exact}"
        );
        assert!(
            (d - exact_grad).abs() <= 4e-7 * x.abs().max(1.0),
            "gelu'({x}) = {d}, exact {exact_grad}"
        );
    }
    assert_eq!(kernels::gelu(-200.0), 0.0);
    assert_eq!(kernels::gelu(200.0), 200.0);
    assert!(kernels::gelu(f32::NAN).is_nan());
}

#[test]
fn frequencies_are_those_of_tiny_diffusion() {
    let f = kernels::frequencies(128);
    assert_eq!(f.len(), 64);
    assert_eq!(f[0], 1.0);
    // exp(−ln(10000)·k/63)
    for (k, v) in f.iter().enumerate() {
        let exact = (-(10_000f64.ln()) * k as f64 / 63.0).exp();
        assert!(
            (f64::from(*v) - exact).abs() <= 1e-6 * exact,
            "f_{k} = {v}, exact {exact}"
        );
    }
}

fn seeded(n: usize, scale: f32, phase: f32) -> Vec<f32> {
    (0..n)
        .map(|i| scale * ((i as f32) * 0.618 + phase).sin())
        .collect()
}

fn grads_of(loss: &Tensor, vars: &[&Var]) -> Vec<Vec<f32>> {
    let g = loss.backward().unwrap();
    vars.iter()
        .map(|v| tensor_vec(g.get(v).unwrap()).unwrap())
        .collect()
}

#[track_caller]
fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * y.abs().max(1.0), "{what}[{i}]: {x} vs {y}");
    }
}

#[test]
fn fused_ops_have_the_gradients_of_plain_candle() {
    let dev = Device::Cpu;
    let (n, k, m) = (7, 5, 6);
    let x = Var::from_vec(seeded(n * k, 1.5, 0.1), (n, k), &dev).unwrap();
    let w = Var::from_vec(seeded(m * k, 0.8, 0.7), (m, k), &dev).unwrap();
    let b = Var::from_vec(seeded(m, 0.5, 1.9), m, &dev).unwrap();
    let h = Var::from_vec(seeded(n * m, 1.0, 2.3), (n, m), &dev).unwrap();
    let target = Tensor::from_vec(seeded(n * m, 1.0, 0.4), (n, m), &dev).unwrap();

    // Fused: h + GELU(x·Wᵀ + b), then GELU(x·Wᵀ + b) alone.
    let z = x.apply_op2(&w, Linear { input_grad: true }).unwrap();
    let fused = h.apply_op3(&z, &b, ResidualBiasGelu).unwrap();
    let fused2 = z.apply_op2(&b, BiasGelu).unwrap();
    let loss = ((fused - &target).unwrap().sqr().unwrap().sum_all().unwrap()
        + (fused2 * &target).unwrap().sum_all().unwrap())
    .unwrap();
    let got = grads_of(&loss, &[&x, &w, &b, &h]);

    let z = x.matmul(&w.t().unwrap()).unwrap();
    let act = z.broadcast_add(&b).unwrap().gelu_erf().unwrap();
    let plain = (h.as_tensor() + &act).unwrap();
    let loss = ((plain - &target).unwrap().sqr().unwrap().sum_all().unwrap()
        + (act * &target).unwrap().sum_all().unwrap())
    .unwrap();
    let want = grads_of(&loss, &[&x, &w, &b, &h]);
    for (i, name) in ["x", "W", "b", "h"].iter().enumerate() {
        assert_close(&got[i], &want[i], 2e-5, name);
    }
}

#[test]
fn linear_skips_the_gradient_of_data_inputs() {
    let dev = Device::Cpu;
    let x = Var::from_vec(seeded(12, 1.0, 0.0), (3, 4), &dev).unwrap();
    let w = Var::from_vec(seeded(8, 1.0, 1.0), (2, 4), &dev).unwrap();
    let y = x.apply_op2(&w, Linear { input_grad: false }).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    assert!(g.get(&x).is_none());
    // ∂Σ(x·Wᵀ)/∂W_jk = Σ_i x_ik
    let xs = seeded(12, 1.0, 0.0);
    let want: Vec<f32> = (0..8)
        .map(|jk| (0..3).map(|i| xs[i * 4 + jk % 4]).sum())
        .collect();
    assert_close(&tensor_vec(g.get(&w).unwrap()).unwrap(), &want, 1e-6, "dW");
}

#[test]
fn embedding_backward_matches_finite_differences() {
    let dev = Device::Cpu;
    let op = Embed::new(vec![25.0, 1.0], 16);
    let values = [0.031f32, 7.0, -0.052, 130.0];
    let v = Var::from_slice(&values, (2, 2), &dev).unwrap();
    let weights = Tensor::from_vec(seeded(2 * 32, 1.0, 0.3), (2, 32), &dev).unwrap();
    let out = v.apply_op1(op.clone()).unwrap();
    let grad = tensor_vec(
        (out * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
            .get(&v)
            .unwrap(),
    )
    .unwrap();
    let wv = seeded(64, 1.0, 0.3);
    let loss = |vals: &[f64]| -> f64 {
        let freqs = kernels::frequencies(16);
        let mut total = 0.0;
        for (i, val) in vals.iter().enumerate() {
            let scale = if i % 2 == 0 { 25.0 } else { 1.0 };
            for (k, f) in freqs.iter().enumerate() {
                let a = val * scale * f64::from(*f);
                let base = (i / 2) * 32 + (i % 2) * 16;
                total += f64::from(wv[base + k]) * a.sin() + f64::from(wv[base + 8 + k]) * a.cos();
            }
        }
        total
    };
    let v64: Vec<f64> = values.iter().map(|&x| f64::from(x)).collect();
    for i in 0..4 {
        let h = 1e-6;
        let (mut a, mut b) = (v64.clone(), v64.clone());
        a[i] += h;
        b[i] -= h;
        let fd = (loss(&a) - loss(&b)) / (2.0 * h);
        assert!(
            (f64::from(grad[i]) - fd).abs() <= 1e-3 * fd.abs().max(1.0),
            "d/dv{i}: {} vs {fd}",
            grad[i]
        );
    }
}

/// The small model of the NumPy reference below: hidden 8, 2 blocks, embedding 8, each
/// tensor `0.5·sin(0.37·k + 1.3·j + 0.1)` (k: index in the tensor, j: its position).
fn reference_mlp() -> Mlp2d {
    let config = MlpConfig {
        classes: 0,
        hidden: 8,
        blocks: 2,
        embedding: 8,
    };
    let params = config
        .layout()
        .into_iter()
        .enumerate()
        .map(|(j, (name, shape))| {
            let n: usize = shape.iter().product();
            let data = (0..n)
                .map(|k| (0.5 * (0.37 * k as f64 + 1.3 * j as f64 + 0.1).sin()) as f32)
                .collect();
            Param { name, shape, data }
        })
        .collect();
    Mlp2d::from_params(config, params).unwrap()
}

#[test]
fn mlp_matches_an_independent_numpy_forward_pass() {
    // tiny-diffusion's MLP in NumPy, float32 in PyTorch's op order, GELU via SciPy's erf:
    //   import numpy as np; from scipy.special import erf; f32 = np.float32; H, B, E = 8, 2, 8
    //   names/shapes as MlpConfig::layout(); P[name] = (0.5*np.sin(0.37*np.arange(size)
    //       + 1.3*j + 0.1)).astype(f32).reshape(shape)   (j: position of the tensor)
    //   def emb(v, s):
    //       v = (v.astype(f32)*f32(s)).astype(f32); half = E//2
    //       e = f32(np.log(f32(10000.0)))/f32(half-1); fr = np.exp((-e*np.arange(half, dtype=f32)).astype(f32))
    //       a = (v[:, None]*fr[None, :]).astype(f32); return np.concatenate([np.sin(a), np.cos(a)], 1).astype(f32)
    //   gelu = lambda x: (0.5*x*(1 + erf(x/np.sqrt(2)))).astype(f32)
    //   x = np.array([[0.3, -1.2], [1.7, 0.05], [-0.8, 0.9]], f32); t = np.array([1, 500, 1000], f32)
    //   h = gelu(np.concatenate([emb(x[:, 0], 25), emb(x[:, 1], 25), emb(t, 1)], 1) @ W0.T + b0)
    //   h = h + gelu(h @ Wi.T + bi) for the 2 blocks; print(h @ W4.T + b4)
    let want: [f32; 6] = [
        0.318_612_58,
        -0.909_483_1,
        0.381_418_85,
        -0.689_913,
        0.577_933_55,
        -0.710_717_56,
    ];
    let model = reference_mlp();
    let xt = [0.3f32, -1.2, 1.7, 0.05, -0.8, 0.9];
    let t = [1.0f32, 500.0, 1000.0];
    let rows = model.predict_eps_rows(&xt, &t).unwrap();
    assert_close(&rows, &want, 1e-5, "per-row t");
    // The sampling path: one t per batch, its embedding folded into the first bias.
    let inference = model.inference().unwrap();
    for (i, &ti) in t.iter().enumerate() {
        let eps = inference.predict_eps(&xt[2 * i..2 * i + 2], ti, &[]).unwrap();
        assert_close(&eps, &want[2 * i..2 * i + 2], 1e-5, "shared t");
    }
}

#[test]
fn mlp_has_the_parameters_of_tiny_diffusion() {
    let config = MlpConfig::default();
    assert_eq!(config.parameter_count(), 99_074);
    let names: Vec<String> = config.layout().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "joint_mlp.0.weight");
    assert_eq!(names[2], "joint_mlp.2.ff.weight");
    assert_eq!(names.last().unwrap(), "joint_mlp.5.bias");
    assert_eq!(config.layout()[0].1, vec![128, 384]);
    let model = Mlp2d::new(config, 3);
    // PyTorch's default init: |w| ≤ 1/√fan_in, and it really spreads over that range.
    let w0 = &model.params[0].data;
    let bound = 1.0 / 384f32.sqrt();
    assert!(w0.iter().all(|v| v.abs() <= bound));
    let var = w0.iter().map(|v| f64::from(v * v)).sum::<f64>() / w0.len() as f64;
    assert!(
        (var - f64::from(bound * bound) / 3.0).abs() < 0.05 * f64::from(bound * bound) / 3.0,
        "{var}"
    );
    assert_eq!(Mlp2d::new(config, 3), model);
    assert_ne!(Mlp2d::new(config, 4), model);
}

/// The same network in plain candle ops (sin, cos, cat, gelu_erf, matmul): its loss and
/// gradients must equal the fused path's.
#[test]
fn mlp_loss_and_gradients_equal_a_plain_candle_implementation() {
    let model = reference_mlp();
    let dev = Device::Cpu;
    let xt = seeded(20, 1.2, 0.5);
    let t: Vec<f32> = (0..10).map(|i| (1 + 97 * i) as f32).collect();
    let eps = seeded(20, 1.0, 2.0);
    let (loss, grads) = model.loss_and_grads(&xt, &t, &eps, &[]).unwrap();

    let vars: Vec<Var> = model
        .params
        .iter()
        .map(|p| Var::from_slice(&p.data, p.shape.as_slice(), &dev).unwrap())
        .collect();
    let freqs = Tensor::new(kernels::frequencies(8).as_slice(), &dev)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let emb = |v: Vec<f32>, s: f32| {
        let a = (Tensor::from_vec(v, (10, 1), &dev).unwrap() * f64::from(s))
            .unwrap()
            .broadcast_mul(&freqs)
            .unwrap();
        Tensor::cat(&[a.sin().unwrap(), a.cos().unwrap()], D::Minus1).unwrap()
    };
    let xs: Vec<f32> = xt.iter().step_by(2).copied().collect();
    let ys: Vec<f32> = xt.iter().skip(1).step_by(2).copied().collect();
    let e = Tensor::cat(&[emb(xs, 25.0), emb(ys, 25.0), emb(t.clone(), 1.0)], D::Minus1).unwrap();
    let lin = |h: &Tensor, i: usize| {
        h.matmul(&vars[i].t().unwrap())
            .unwrap()
            .broadcast_add(&vars[i + 1])
            .unwrap()
    };
    let mut h = lin(&e, 0).gelu_erf().unwrap();
    for b in 0..2 {
        h = (&h + lin(&h, 2 + 2 * b).gelu_erf().unwrap()).unwrap();
    }
    let out = lin(&h, 6);
    let target = Tensor::from_slice(&eps, (10, 2), &dev).unwrap();
    let plain_loss = (out - target).unwrap().sqr().unwrap().mean_all().unwrap();
    let refs: Vec<&Var> = vars.iter().collect();
    let want = grads_of(&plain_loss, &refs);
    assert!((loss - plain_loss.to_scalar::<f32>().unwrap()).abs() < 1e-5);
    assert_eq!(grads.len(), want.len(), "one gradient per parameter");
    for (i, (g, w)) in grads.iter().zip(&want).enumerate() {
        assert_close(g, w, 1e-4, &model.params[i].name);
    }
}

#[test]
fn adamw_follows_the_pytorch_update() {
    // torch.optim.AdamW(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01) on p = 1.0
    // with gradients 0.5 then −0.25, by hand:
    //   step 1: p ← 1·(1 − 0.001) = 0.999; m = 0.05, v = 0.00025; m̂ = 0.5, v̂ = 0.25
    //           p ← 0.999 − 0.1·0.5/(0.5 + 1e-8) = 0.899
    //   step 2: p ← 0.899·0.999 = 0.898101; m = 0.02, v = 0.00031225
    //           m̂ = 0.02/0.19 = 0.105263, v̂ = 0.00031225/0.001999 = 0.156203
    //           p ← 0.898101 − 0.1·0.105263/0.395225 = 0.871467
    let mut params = vec![Param {
        name: "p".into(),
        shape: vec![1],
        data: vec![1.0],
    }];
    let mut opt = AdamW::new(&params, 0.1);
    opt.step(&mut params, &[vec![0.5]]);
    assert!((params[0].data[0] - 0.899).abs() < 1e-6, "{}", params[0].data[0]);
    opt.step(&mut params, &[vec![-0.25]]);
    assert!(
        (params[0].data[0] - 0.871_467).abs() < 2e-6,
        "{}",
        params[0].data[0]
    );
}

#[test]
fn sliced_wasserstein_matches_numpy_and_is_zero_on_equal_sets() {
    // np: a = [[0,0],[1,0],[0,2]], b = [[0.5,0.5],[1,1],[-1,0]];
    //     sqrt(mean_k mean((sort(a@d_k) − sort(b@d_k))²)), d_k = (cos, sin)(kπ/64), k < 64
    //     = 0.5674041146333964
    let a = [0.0, 0.0, 1.0, 0.0, 0.0, 2.0];
    let b = [0.5, 0.5, 1.0, 1.0, -1.0, 0.0];
    assert!((sliced_wasserstein2(&a, &b) - 0.567_404_114_633_396_4).abs() < 1e-12);
    assert_eq!(sliced_wasserstein2(&a, &a), 0.0);
    assert_eq!(
        sliced_wasserstein2(&a, &[0.0, 0.0, 0.0, 2.0, 1.0, 0.0]),
        0.0,
        "order does not matter"
    );
}

fn small_model() -> Checkpoint {
    Checkpoint {
        network: Network::new(
            Architecture::Mlp2d(MlpConfig {
                classes: 0,
                hidden: 16,
                blocks: 1,
                embedding: 8,
            }),
            5,
        ),
        info: ModelInfo {
            schedule: ScheduleSpec::new(ScheduleKind::Cosine, 200),
            dataset: "two-moons".into(),
            iterations: 7,
            seed: 5,
            ema: None,
            command: "test".into(),
            objective: diffscope::model::Objective::Epsilon,
        },
    }
}

#[test]
fn weights_round_trip_with_their_metadata() {
    let mut model = small_model();
    model.info.schedule.zero_terminal_snr = true;
    let bytes = io::to_bytes(&model).unwrap();
    assert_eq!(io::from_bytes(&bytes).unwrap(), model);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("model-io");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    io::save(&model, &path).unwrap();
    assert_eq!(io::load(&path).unwrap(), model);
    // Readable by any safetensors reader with PyTorch's names and shapes.
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("joint_mlp.0.weight").unwrap().shape(), &[16, 24]);
}

#[track_caller]
fn load_error(bytes: &[u8]) -> String {
    match io::from_bytes(bytes) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("loaded hostile bytes"),
    }
}

#[test]
fn bad_weights_are_clear_errors() {
    let good = io::to_bytes(&small_model()).unwrap();
    assert!(load_error(b"").contains("not a valid safetensors file"));
    assert!(load_error(b"\x89PNG\r\n\x1a\n rest of a png").contains("not a valid safetensors file"));
    assert!(
        load_error(&good[..good.len() / 2]).contains("not a valid safetensors file"),
        "truncated"
    );
    // Another architecture: the shapes do not fit the declared one.
    let mut other = small_model();
    other.network = Network::new(
        Architecture::Mlp2d(MlpConfig {
            classes: 0,
            hidden: 32,
            blocks: 1,
            embedding: 8,
        }),
        1,
    );
    let mut bytes = io::to_bytes(&other).unwrap();
    let key = b"\"hidden\":\"32\"";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("the header declares hidden 32");
    bytes[at..at + key.len()].copy_from_slice(b"\"hidden\":\"16\"");
    let e = load_error(&bytes);
    assert!(
        e.contains("joint_mlp.0.weight") && e.contains("[32, 24]") && e.contains("[16, 24]"),
        "{e}"
    );
    // A safetensors file of someone else's model: no metadata.
    let data = [0u8; 16];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &data).unwrap();
    let foreign = safetensors::serialize([("weight", view)], None).unwrap();
    assert!(
        load_error(&foreign).contains("not a diffscope model"),
        "{}",
        load_error(&foreign)
    );
    // A non-finite weight.
    let mut nan = small_model();
    if let Network::Mlp(m) = &mut nan.network {
        m.params[2].data[2] = f32::NAN;
    }
    let e = load_error(&io::to_bytes(&nan).unwrap());
    assert!(
        e.contains("non-finite") && e.contains("joint_mlp.2.ff.weight"),
        "{e}"
    );
    // Metadata declaring more blocks than the file has tensors is refused before the
    // layout (a name per tensor) is built: for a million blocks that took 96 MB at once
    // and 8 million allocations (tests/hostile/, lying-blocks.safetensors).
    let mut lying = good.clone();
    let key = b"\"blocks\":\"1\"";
    let at = good
        .windows(key.len())
        .position(|w| w == key)
        .expect("the header declares 1 block");
    lying[at + key.len() - 2] = b'9'; // same length: the header length stays right
    assert_eq!(
        load_error(&lying),
        "<bytes>: metadata `blocks` = '9' is more than the 6 tensors the file holds"
    );
    // Files that are not there or far too large.
    let e = io::load(std::path::Path::new("/nonexistent/w.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/nonexistent/w.safetensors: cannot read"), "{e}");
}

fn moons_trainer(iterations: u64, lr: f32) -> Trainer {
    let settings = TrainSettings {
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 100),
        lr,
        batch: 128,
        iterations,
        seed: 3,
        ..TrainSettings::default()
    };
    let set = TrainSet::dataset(diffscope::data::Dataset::TwoMoons, 3);
    Trainer::new(
        Network::new(Architecture::Mlp2d(MlpConfig::default()), 3),
        set,
        settings,
    )
    .unwrap()
}

#[test]
fn training_lowers_the_loss_and_is_reproducible() {
    let mut a = moons_trainer(300, 2e-3);
    let mut losses = Vec::new();
    while !a.is_done() {
        losses.push(a.step().unwrap());
    }
    let first: f32 = losses[..20].iter().sum::<f32>() / 20.0;
    let last: f32 = losses[losses.len() - 20..].iter().sum::<f32>() / 20.0;
    assert!(last < 0.6 * first, "loss {first} → {last}");
    let eval = a.evaluate(true).unwrap();
    assert!(eval.validation_loss < f64::from(first), "{eval:?}");
    let (metric, floor) = (eval.metric.unwrap(), eval.noise_floor.unwrap());
    assert!(floor > 0.0 && floor < 0.2 && metric > floor, "{eval:?}");
    let mut b = moons_trainer(300, 2e-3);
    while !b.is_done() {
        b.step().unwrap();
    }
    assert_eq!(a.model(), b.model(), "same seed, same weights");
}

/// The EMA is recomputed here from the raw weights of a run without one (the average does
/// not steer training, so both runs take the same steps): `w̄_0 = w_0`, then
/// `w̄ ← w̄ + (1 − d_i)(w_{i+1} − w̄)` with `d_i = min(0.9, (1 + i)/(10 + i))`; the
/// model, its validation and its file carry the average.
#[test]
fn the_model_is_the_moving_average_of_the_weights() {
    let start = moons_trainer(40, 2e-3);
    let with_ema = |ema: f32, network: Network| {
        let settings = TrainSettings {
            ema,
            ..start.settings().clone()
        };
        Trainer::new(network, start.set().clone(), settings).unwrap()
    };
    let fresh = || Network::new(Architecture::Mlp2d(MlpConfig::default()), 3);
    let mut raw = with_ema(0.0, fresh());
    let mut average: Vec<f64> = raw
        .model()
        .network
        .params()
        .iter()
        .flat_map(|p| p.data.clone())
        .map(f64::from)
        .collect();
    for i in 0..40 {
        raw.step().unwrap();
        let keep = (0.9f64).min((1.0 + f64::from(i)) / (10.0 + f64::from(i)));
        let model = raw.model();
        let w = model.network.params().iter().flat_map(|p| p.data.clone());
        for (a, w) in average.iter_mut().zip(w) {
            *a += (1.0 - keep) * (f64::from(w) - *a);
        }
    }
    assert_eq!(raw.model().info.ema, None);
    let mut averaged = with_ema(0.9, fresh());
    while !averaged.is_done() {
        averaged.step().unwrap();
    }
    let model = averaged.model();
    assert_eq!(model.info.ema, Some(0.9));
    let got: Vec<f32> = model
        .network
        .params()
        .iter()
        .flat_map(|p| p.data.clone())
        .collect();
    let mut moved = 0.0f64;
    let last = raw.model();
    for ((g, a), w) in got
        .iter()
        .zip(&average)
        .zip(last.network.params().iter().flat_map(|p| p.data.clone()))
    {
        assert!((f64::from(*g) - a).abs() < 1e-5 * (1.0 + a.abs()), "{g} vs {a}");
        moved = moved.max((a - f64::from(w)).abs());
    }
    assert!(
        moved > 1e-4,
        "the average differs from the last weights ({moved})"
    );
    // The file says what its tensors are.
    let bytes = io::to_bytes(&model).unwrap();
    assert_eq!(io::from_bytes(&bytes).unwrap().info.ema, Some(0.9));
    // Validation measures the weights that sample.
    let eval = averaged.evaluate(false).unwrap();
    let check = with_ema(0.0, model.network.clone());
    assert_eq!(
        eval.validation_loss,
        check.evaluate(false).unwrap().validation_loss
    );
}

#[test]
fn a_diverging_run_stops_and_keeps_the_last_good_weights() {
    let mut t = moons_trainer(1000, 1e6);
    let err = loop {
        match t.step() {
            Ok(_) => assert!(!t.is_done(), "a learning rate of 1e6 must diverge"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ModelError::Diverged(_)), "{err}");
    assert!(err.to_string().contains("training stopped"), "{err}");
    let model = t.model();
    assert!(
        model
            .network
            .params()
            .iter()
            .all(|p| p.data.iter().all(|v| v.is_finite()))
    );
    assert_eq!(t.iteration() % 50, 0, "back at a snapshot");
}

fn tiny_set() -> Vec<f64> {
    vec![1.0, 0.5, -1.0, -0.5, 0.0, 1.5]
}

/// One list of samplers: the window's and the CLI's, each kind's sampler is of that kind,
/// DDIM, Euler and Heun take `K`, and only DDIM takes `η`.
#[test]
fn every_sampler_kind_is_listed_once_and_builds_its_own_sampler() {
    use clap::ValueEnum;
    let all = SamplerKind::all();
    assert_eq!(
        all,
        [
            SamplerKind::DdpmBeta,
            SamplerKind::DdpmPosterior,
            SamplerKind::Ddim,
            SamplerKind::ProbabilityFlow,
            SamplerKind::FlowEuler,
            SamplerKind::FlowHeun
        ]
    );
    let names: Vec<String> = all
        .iter()
        .map(|k| k.to_possible_value().unwrap().get_name().to_owned())
        .collect();
    assert_eq!(names, ["ddpm", "ddpm-posterior", "ddim", "ode", "euler", "heun"]);
    for &kind in all {
        assert_eq!(kind.sampler(7, 0.5).kind(), kind);
        assert_eq!(
            SamplerKind::from_str(kind.to_possible_value().unwrap().get_name(), false),
            Ok(kind)
        );
    }
    assert_eq!(
        SamplerKind::Ddim.sampler(7, 0.5),
        Sampler::Ddim { steps: 7, eta: 0.5 }
    );
    assert_eq!(
        SamplerKind::DdpmPosterior.sampler(7, 0.5),
        Sampler::Ddpm(ReverseVariance::PosteriorVariance)
    );
    assert_eq!(
        SamplerKind::ProbabilityFlow.sampler(7, 0.5),
        Sampler::ProbabilityFlow
    );
    let strided: Vec<bool> = all.iter().map(|k| k.strided()).collect();
    assert_eq!(strided, [false, false, true, false, true, true]);
    let eta: Vec<bool> = all.iter().map(|k| k.uses_eta()).collect();
    assert_eq!(eta, [false, false, true, false, false, false]);
}

#[test]
fn the_ideal_denoiser_chain_reproduces_training_points() {
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Linear, 200)).unwrap();
    let denoiser = Denoiser::Ideal(IdealDenoiser::new(tiny_set(), 2));
    for sampler in [
        Sampler::Ddpm(ReverseVariance::PosteriorVariance),
        Sampler::Ddim { steps: 50, eta: 0.0 },
    ] {
        let chain = ReverseChain::from_noise(schedule.clone(), sampler, 300, 2, 9);
        let x = chain.run(&denoiser).unwrap();
        let data = tiny_set();
        let near = x
            .chunks_exact(2)
            .filter(|p| {
                data.chunks_exact(2)
                    .any(|q| (f64::from(p[0]) - q[0]).hypot(f64::from(p[1]) - q[1]) < 0.02)
            })
            .count();
        assert!(
            near >= 297,
            "{sampler:?}: {near} of 300 samples on a training point"
        );
    }
}

#[test]
fn single_steps_equal_a_run_and_seeds_reproduce() {
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Cosine, 60)).unwrap();
    let denoiser = Denoiser::Learned(small_model().network.inference().unwrap());
    let sampler = Sampler::Ddpm(ReverseVariance::Beta);
    let mut stepped = ReverseChain::from_noise(schedule.clone(), sampler, 50, 2, 4);
    let mut frames = 0;
    let mut last_t = 60;
    while let Some(frame) = stepped.step(&denoiser).unwrap() {
        assert_eq!(frame.t, last_t - 1);
        last_t = frame.t;
        frames += 1;
    }
    assert_eq!(frames, 60);
    let ran = ReverseChain::from_noise(schedule.clone(), sampler, 50, 2, 4)
        .run(&denoiser)
        .unwrap();
    assert_eq!(stepped.x(), ran.as_slice());
    let other = ReverseChain::from_noise(schedule.clone(), sampler, 50, 2, 5)
        .run(&denoiser)
        .unwrap();
    assert_ne!(other, ran);
    let ddim = Sampler::Ddim { steps: 10, eta: 0.0 };
    assert_eq!(ddim.timesteps(60), vec![60, 54, 48, 42, 36, 30, 24, 18, 12, 6, 0]);
}

#[test]
fn sdedit_from_a_small_t_stays_near_the_data() {
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Linear, 1000)).unwrap();
    let data: Vec<f32> = tiny_set().iter().map(|&v| v as f32).collect();
    let denoiser = Denoiser::Ideal(IdealDenoiser::new(tiny_set(), 2));
    let chain = ReverseChain::from_data(schedule, Sampler::Ddim { steps: 20, eta: 0.0 }, &data, 2, 100, 1);
    assert_eq!(chain.t(), 100);
    let x = chain.run(&denoiser).unwrap();
    assert_close(&x, &data, 1e-3, "SDEdit from t = 100 with the ideal denoiser");
}

#[test]
fn shipped_two_moons_samples_are_within_twice_the_noise_floor() {
    let model = shipped::load("two-moons")
        .expect("two-moons weights ship")
        .unwrap();
    assert_eq!(model.info.dataset, "two-moons");
    let schedule = Schedule::new(&model.info.schedule).unwrap();
    let denoiser = Denoiser::Learned(model.network.inference().unwrap());
    let samples = ReverseChain::from_noise(schedule, Sampler::Ddpm(ReverseVariance::Beta), 1000, 2, 2024)
        .run(&denoiser)
        .unwrap();
    let held_out: Vec<f64> = diffscope::data::generate(diffscope::data::Dataset::TwoMoons, 1000, 101)
        .into_iter()
        .flatten()
        .collect();
    let reference: Vec<f64> =
        diffscope::model::train::iid_draw(diffscope::data::Dataset::TwoMoons, 1000, 102)
            .into_iter()
            .map(f64::from)
            .collect();
    let samples: Vec<f64> = samples.iter().map(|&v| f64::from(v)).collect();
    let metric = sliced_wasserstein2(&samples, &held_out);
    let floor = sliced_wasserstein2(&reference, &held_out);
    assert!(metric < 2.0 * floor, "SW2 {metric} vs noise floor {floor}");
}

#[test]
fn every_shipped_model_loads_and_matches_its_data() {
    let names: Vec<&str> = shipped::names().collect();
    for set in diffscope::data::Dataset::ALL {
        assert!(
            names.contains(&set.name()),
            "no shipped weights for {}",
            set.name()
        );
    }
    assert!(names.contains(&"digits"));
    for name in names {
        let model = shipped::load(name).unwrap().unwrap();
        // A built-in photo's single-image model is `photo-NAME`, trained on NAME; a 2D
        // set's flow-matching model `fm-NAME`.
        let dataset = name
            .strip_prefix("photo-")
            .or_else(|| name.strip_prefix("fm-"))
            .unwrap_or(name);
        assert_eq!(model.info.dataset, dataset);
        assert_eq!(
            model.info.objective == diffscope::model::Objective::FlowMatching,
            name.starts_with("fm-"),
            "{name}"
        );
        assert!(
            model.info.command.starts_with("diffscope train"),
            "{}",
            model.info.command
        );
    }
}

#[test]
fn shipped_two_moons_model_matches_pytorch() {
    // Golden values from PyTorch itself: tiny-diffusion's MLP class, as in
    // scripts/torch_bench.py (with the class table diffscope's conditional models add,
    // `nn.Embedding(3, 128)` added to the first layer's output), the shipped weights loaded
    // by safetensors.torch:
    //   /tmp/tv/bin/python scripts/torch_bench.py --check assets/weights/two-moons.safetensors
    // (torch 2.15.0, CPU, float32). First without labels (the null label 2), then with the
    // labels 0, 1, 1.
    let unconditional: [(f32, [[f32; 2]; 3]); 3] = [
        (
            1.0,
            [
                [-0.140_668_57, -0.099_163_845],
                [1.870_142_1, 0.842_238_66],
                [0.587_183_65, -0.049_824_45],
            ],
        ),
        (
            250.0,
            [
                [0.141_104_85, 0.104_366_3],
                [0.921_173_9, 0.866_523_2],
                [-0.888_478_9, -0.078_064_11],
            ],
        ),
        (
            1000.0,
            [
                [0.484_319_42, -0.248_028_67],
                [0.981_895_15, 0.983_148_9],
                [-1.469_897_3, 0.311_391_1],
            ],
        ),
    ];
    let labelled: [(f32, [[f32; 2]; 3]); 3] = [
        (
            1.0,
            [
                [-0.287_624_12, -0.034_479_36],
                [-0.564_693_9, 1.158_291_5],
                [-1.286_523_7, 0.229_839_76],
            ],
        ),
        (
            250.0,
            [
                [0.466_007_92, -0.703_555],
                [0.094_731_35, 1.560_623_8],
                [-1.747_655_2, 0.674_006_6],
            ],
        ),
        (
            1000.0,
            [
                [0.496_699_66, -0.274_557_62],
                [0.978_668_63, 0.996_429_56],
                [-1.486_251_7, 0.307_791_74],
            ],
        ),
    ];
    let model = diffscope::model::shipped::load("two-moons").unwrap().unwrap();
    assert_eq!(model.network.classes(), 2);
    let net = model.network.inference().unwrap();
    let x = [0.5f32, -0.25, 1.0, 1.0, -1.5, 0.3];
    for (labels, golden) in [(&[][..], unconditional), (&[0, 1, 1][..], labelled)] {
        for (t, expected) in golden {
            let eps = net.predict_eps_labelled(&x, t, labels).unwrap();
            // One ε̂ per input value: zip alone would pass an empty or short output.
            assert_eq!(eps.len(), x.len(), "t = {t}: {eps:?}");
            for (got, want) in eps.iter().zip(expected.iter().flatten()) {
                assert!(
                    (got - want).abs() < 2e-5,
                    "t = {t}, labels {labels:?}: {got} vs {want}"
                );
            }
        }
    }
}

/// The loss and gradients of a batch split into parts (data-parallel training) against
/// the batch in one call: the same numbers up to the sums' rounding, for the 2D network
/// (a conditional one, so the labels are split with the rows) and the 8×8 conv net on two
/// threads; on one thread, no split: bit for bit the whole batch.
#[test]
fn a_batch_split_into_parts_has_the_gradient_of_the_whole_batch() {
    use diffscope::model::conv::ConvConfig;
    let cases = [
        (
            Network::new(
                Architecture::Mlp2d(MlpConfig {
                    classes: 3,
                    ..MlpConfig::default()
                }),
                4,
            ),
            300,
            2,
        ),
        (Network::new(Architecture::Conv(ConvConfig::digits()), 5), 260, 64),
    ];
    for (network, n, d) in cases {
        assert_eq!(diffscope::model::shards(n, 2), 2, "{n} rows are split in two");
        assert_eq!(diffscope::model::shards(n, 8), 2, "parts of at least 128 rows");
        assert_eq!(diffscope::model::shards(n, 1), 1);
        let xt = seeded(n * d, 1.3, 0.2);
        let eps = seeded(n * d, 1.0, 1.7);
        let t: Vec<f32> = (0..n).map(|i| (1 + i * 37 % 1000) as f32).collect();
        let labels: Vec<usize> = if network.classes() > 0 {
            (0..n).map(|i| i % 4).collect()
        } else {
            vec![]
        };
        let (loss, grads) = network.loss_and_grads(&xt, &t, &eps, &labels).unwrap();
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| network.loss_and_grads_sharded(&xt, &t, &eps, &labels).unwrap())
        };
        let (split_loss, split_grads) = on(2);
        assert!(
            (split_loss - loss).abs() <= 1e-6 * loss,
            "loss {split_loss} vs {loss}"
        );
        for (i, (a, b)) in split_grads.iter().zip(&grads).enumerate() {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(b) {
                assert!(
                    (x - y).abs() <= 1e-5 * scale,
                    "parameter {i}: {x} vs {y} (largest {scale})"
                );
            }
        }
        let (one_loss, one_grads) = on(1);
        assert_eq!(one_loss.to_bits(), loss.to_bits());
        assert!(one_grads == grads, "one thread: the whole batch in one call");
    }
}
