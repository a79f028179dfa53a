//! The image denoiser: a small residual convolutional network predicting ε for images of
//! `C × H × W` values (grey digits 8×8; a photo's patches on any canvas, [`super::patch`]), conditioned on the step
//! `t` through a sinusoidal embedding added as a per-channel bias in every block.
//!
//! ```text
//! x_t  n × C × H × W,  t ∈ 1..T (float step number of MATH.md), F = features
//! e    = emb(t)                                     n × 128  (as the 2D model's emb(t))
//!   emb(v) = [sin(v·f_0..f_63), cos(v·f_0..f_63)],  f_k = exp(−ln(10000)·k/63)
//! temb = GELU(e·W_tᵀ + E[c] + b_t)                 n × F    time_mlp            [F, 128], [F]
//!   E: a class-conditional model's table, K + 1 rows (∅ = K last)     class_emb [K + 1, F]
//! h    = conv3x3(x_t) + b                          n×F×H×W  conv_in             [F, C, 3, 3], [F]
//! block i = 0..blocks, dilation d_i = 2^(i mod 3) (1, 2, 4, 1, 2, 4, …), padding d_i:
//!   u  = GELU(conv_d(GELU(h)) + b_1 + temb·W_iᵀ + b_i)      blocks.i.conv1  [F, F, 3, 3], [F]
//!                                     (per channel)          blocks.i.temb   [F, F], [F]
//!   h  = h + conv_d(u) + b_2                                 blocks.i.conv2  [F, F, 3, 3], [F]
//! ε̂    = conv3x3(GELU(h)) + b                      n×C×H×W  conv_out            [C, F, 3, 3], [C]
//! ```
//! GELU is the exact (erf) one; every convolution is 3×3, stride 1, zero padding equal to
//! its dilation (same size out). The receptive field is `5 + 4·Σ d_i` pixels: 33 with 3
//! blocks (1 + 2 + 4), 37 with 4. [`ConvConfig::digits`] (8×8 grey) has F = 32 and 3
//! blocks, 63,393 parameters; a 32×32 RGB image ([`ConvConfig::for_image`]) F = 32 and 4
//! blocks, 84,099 parameters.
//!
//! The same network in PyTorch (its `state_dict` names and shapes are [`ConvConfig::layout`],
//! so diffscope's safetensors load with `load_state_dict`):
//!
//! ```python
//! import math, torch, torch.nn as nn, torch.nn.functional as F
//!
//! def emb(t, size=128):               # tiny-diffusion's SinusoidalEmbedding(128, scale=1)
//!     half = size // 2
//!     f = torch.exp(-math.log(10000.0) / (half - 1) * torch.arange(half))
//!     v = t[:, None] * f[None, :]
//!     return torch.cat((torch.sin(v), torch.cos(v)), dim=-1)
//!
//! class Block(nn.Module):
//!     def __init__(self, f, d):
//!         super().__init__()
//!         self.conv1 = nn.Conv2d(f, f, 3, padding=d, dilation=d)
//!         self.temb = nn.Linear(f, f)
//!         self.conv2 = nn.Conv2d(f, f, 3, padding=d, dilation=d)
//!     def forward(self, h, temb):
//!         u = F.gelu(self.conv1(F.gelu(h)) + self.temb(temb)[:, :, None, None])
//!         return h + self.conv2(u)
//!
//! class ConvDenoiser(nn.Module):
//!     def __init__(self, channels=1, features=32, blocks=3, classes=0):
//!         super().__init__()
//!         self.time_mlp = nn.Linear(128, features)
//!         self.conv_in = nn.Conv2d(channels, features, 3, padding=1)
//!         self.blocks = nn.ModuleList(Block(features, 2 ** (i % 3)) for i in range(blocks))
//!         self.conv_out = nn.Conv2d(features, channels, 3, padding=1)
//!         if classes:                 # last in the state_dict, as in ConvConfig::layout
//!             self.class_emb = nn.Embedding(classes + 1, features)
//!     def forward(self, x, t, c=None):  # x: (n, C, H, W) in [-1, 1]-ish, t: (n,) float steps
//!         pre = self.time_mlp(emb(t))   # c: (n,) labels, classes (= ∅) for none
//!         if hasattr(self, "class_emb"):
//!             c = torch.full_like(t, self.class_emb.num_embeddings - 1, dtype=torch.long) if c is None else c
//!             pre = pre + self.class_emb(c)
//!         temb = F.gelu(pre)
//!         h = self.conv_in(x)
//!         for block in self.blocks:
//!             h = block(h, temb)
//!         return self.conv_out(F.gelu(h))
//! ```
//!
//! Inside training, images are pixel-major (NHWC: an `(n·H·W) × channels` matrix) so that
//! each convolution is one matrix product ([`super::conv_ops`]); inference runs its own
//! pass in chunks of images ([`super::conv_infer`]). The inputs and outputs of this
//! module are channel-major (CHW per example) like the rest of diffscope.

use candle_core::{Device, Tensor, Var};

use super::conv_infer::{self, TapConv};
use super::conv_ops::{Conv3x3, ExampleBiasGelu, Gelu, Grid};
use super::ops::{BiasGelu, Embed, Linear, tensor_vec};
use super::params::Param;
use super::{ModelError, kernels};
use crate::diffusion::noise::StreamKey;

/// Values of the sinusoidal embedding of `t`.
pub const TIME_EMBEDDING: usize = 128;

/// Shape of the image denoiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvConfig {
    /// Image channels (1 or 3).
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Feature channels `F`.
    pub features: usize,
    /// Residual blocks.
    pub blocks: usize,
    /// Labelled classes `K` of a class-conditional model (0: unconditional); see
    /// [`super::classes`].
    pub classes: usize,
}

/// Tensors per residual block in [`ConvConfig::layout`].
const PER_BLOCK: usize = 6;
/// Index of `blocks.0.conv1.weight` in [`ConvConfig::layout`].
const FIRST_BLOCK: usize = 4;

impl ConvConfig {
    /// The default for the 8×8 grey digits: F = 32, 3 blocks (63,393 parameters).
    #[must_use]
    pub const fn digits() -> Self {
        Self {
            channels: 1,
            height: 8,
            width: 8,
            features: 32,
            blocks: 3,
            classes: 0,
        }
    }

    /// The default for an image of `channels × height × width` (up to 32×32): F = 32,
    /// 3 blocks up to 16×16 (receptive field 33) and 4 above (37).
    #[must_use]
    pub const fn for_image(channels: usize, height: usize, width: usize) -> Self {
        let side = if height > width { height } else { width };
        let blocks = if side <= 16 { 3 } else { 4 };
        Self {
            channels,
            height,
            width,
            features: 32,
            blocks,
            classes: 0,
        }
    }

    /// Dilation (and padding) of the convolutions of block `i`: 1, 2, 4, 1, 2, 4, ….
    #[must_use]
    pub const fn dilation(block: usize) -> usize {
        1 << (block % 3)
    }

    fn receptive_field_of(blocks: usize) -> usize {
        5 + 4 * (0..blocks).map(Self::dilation).sum::<usize>()
    }

    /// Side in pixels of the square each output pixel sees.
    #[must_use]
    pub fn receptive_field(&self) -> usize {
        Self::receptive_field_of(self.blocks)
    }

    /// Values per example, `C·H·W`.
    #[must_use]
    pub const fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Parameter names and shapes, in order (PyTorch `state_dict` names).
    #[must_use]
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        let (c, f) = (self.channels, self.features);
        let mut out = vec![
            ("time_mlp.weight".to_owned(), vec![f, TIME_EMBEDDING]),
            ("time_mlp.bias".to_owned(), vec![f]),
            ("conv_in.weight".to_owned(), vec![f, c, 3, 3]),
            ("conv_in.bias".to_owned(), vec![f]),
        ];
        for i in 0..self.blocks {
            out.push((format!("blocks.{i}.conv1.weight"), vec![f, f, 3, 3]));
            out.push((format!("blocks.{i}.conv1.bias"), vec![f]));
            out.push((format!("blocks.{i}.temb.weight"), vec![f, f]));
            out.push((format!("blocks.{i}.temb.bias"), vec![f]));
            out.push((format!("blocks.{i}.conv2.weight"), vec![f, f, 3, 3]));
            out.push((format!("blocks.{i}.conv2.bias"), vec![f]));
        }
        out.push(("conv_out.weight".to_owned(), vec![c, f, 3, 3]));
        out.push(("conv_out.bias".to_owned(), vec![c]));
        out.extend(super::classes::table_layout(self.classes, f));
        out
    }

    /// Number of parameters.
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        super::layout_size(&self.layout())
    }

    fn grid(&self) -> Grid {
        Grid {
            height: self.height,
            width: self.width,
        }
    }
}

/// Reorders `n` examples of `channels × pixels` (CHW) into one `(n·pixels) × channels`
/// matrix (NHWC), or back with `to_chw`.
fn transpose_examples(data: &[f32], channels: usize, pixels: usize, to_chw: bool) -> Vec<f32> {
    if channels == 1 {
        return data.to_vec();
    }
    let mut out = vec![0f32; data.len()];
    for (src, dst) in data
        .chunks_exact(channels * pixels)
        .zip(out.chunks_exact_mut(channels * pixels))
    {
        for c in 0..channels {
            for p in 0..pixels {
                if to_chw {
                    dst[c * pixels + p] = src[p * channels + c];
                } else {
                    dst[p * channels + c] = src[c * pixels + p];
                }
            }
        }
    }
    out
}

/// The image denoiser: a configuration and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvNet {
    /// Its shape.
    pub config: ConvConfig,
    /// Its parameters, in [`ConvConfig::layout`] order.
    pub params: Vec<Param>,
}

impl ConvNet {
    /// A freshly initialised network, PyTorch's default for `nn.Conv2d` and `nn.Linear`:
    /// weights and biases uniform in `±1/√fan_in` (fan-in `in·9` for a convolution, `in`
    /// for a linear layer; a bias takes its weight's).
    #[must_use]
    pub fn new(config: ConvConfig, seed: u64) -> Self {
        let layout = config.layout();
        let params = layout
            .iter()
            .enumerate()
            .map(|(i, (name, shape))| {
                if name == super::classes::CLASS_TABLE {
                    return super::classes::init_table(shape.clone(), seed);
                }
                // Weights and biases alternate; a bias's fan-in is its weight's.
                let weight = if shape.len() == 1 { &layout[i - 1].1 } else { shape };
                let fan_in: usize = weight[1..].iter().product();
                let bound = 1.0 / (fan_in as f32).sqrt();
                Param::uniform(
                    name.clone(),
                    shape.clone(),
                    bound,
                    StreamKey::new(seed, 0xC0DE_0000 + i as u64),
                )
            })
            .collect();
        Self { config, params }
    }

    /// A network from loaded tensors, checked against the layout of `config`.
    pub fn from_params(config: ConvConfig, params: Vec<Param>) -> Result<Self, ModelError> {
        if config.channels == 0 || config.height == 0 || config.width == 0 || config.features == 0 {
            return Err(ModelError::Layout(format!("conv net: empty shape {config:?}")));
        }
        super::check_layout(&config.layout(), &params)?;
        Ok(Self { config, params })
    }

    /// `L_simple` on a batch and the gradient of every parameter, in order: `xt` and `eps`
    /// are `n × C·H·W` (CHW per example), `t` the step of each example, `labels` the class
    /// of each (empty: none, see [`super::classes::check_labels`]); the loss is the mean of
    /// `(ε − ε̂)²` over all `n·C·H·W` values.
    pub fn loss_and_grads(
        &self,
        xt: &[f32],
        t: &[f32],
        eps: &[f32],
        labels: &[usize],
    ) -> Result<(f32, Vec<Vec<f32>>), ModelError> {
        let cfg = self.config;
        let n = t.len();
        let d = cfg.dim();
        if n == 0 || xt.len() != n * d || eps.len() != n * d {
            return Err(ModelError::Data(format!(
                "conv net: a batch of {n} steps needs {} values of x_t and ε ({}×{}×{} each), got {} and {}",
                n * d,
                cfg.channels,
                cfg.height,
                cfg.width,
                xt.len(),
                eps.len()
            )));
        }
        let dev = Device::Cpu;
        let vars = super::ops::vars(&self.params)?;
        let tensors: Vec<&Tensor> = vars.iter().map(Var::as_tensor).collect();
        let px = cfg.height * cfg.width;
        let x = Tensor::from_vec(
            transpose_examples(xt, cfg.channels, px, false),
            (n * px, cfg.channels),
            &dev,
        )?;
        super::classes::check_labels(labels, cfg.classes, n)?;
        let t = Tensor::from_slice(t, (n, 1), &dev)?;
        let emb = t.apply_op1_no_bwd(&Embed::new(vec![1.0], TIME_EMBEDDING))?;
        let temb = time_embedding(&cfg, &tensors, &emb, labels, n)?;
        let biases = block_biases(&tensors, &temb, cfg.blocks)?;
        let out = forward(&cfg, &tensors, &x, &biases)?;
        let target = Tensor::from_vec(
            transpose_examples(eps, cfg.channels, px, false),
            (n * px, cfg.channels),
            &dev,
        )?;
        Ok(super::ops::mse_and_grads(&out, &target, &vars)?)
    }

    /// Ready-to-run tensors for inference.
    pub fn inference(&self) -> Result<ConvInference, ModelError> {
        self.inference_on(self.config)
    }

    /// [`ConvNet::inference`] on images of `config`'s size: the same weights (no tensor
    /// depends on the image size), a grid of another height and width — the single-image
    /// model's canvas ([`super::patch`]). `config` must have this network's layout.
    pub fn inference_on(&self, config: ConvConfig) -> Result<ConvInference, ModelError> {
        if config.layout() != self.config.layout() {
            return Err(ModelError::Layout(format!(
                "conv net: {config:?} does not have the layout of {:?}",
                self.config
            )));
        }
        let tensors = super::ops::tensors(&self.params)?;
        let grid = config.grid();
        let images = conv_infer::chunk_images(grid);
        let conv = |i: usize, dilation: usize| -> Result<(TapConv, Vec<f32>), ModelError> {
            let (w, b) = (&self.params[i], &self.params[i + 1]);
            let [out, c, 3, 3] = w.shape[..] else {
                return Err(ModelError::Data(format!(
                    "{} is not a 3×3 convolution weight",
                    w.name
                )));
            };
            Ok((TapConv::new(grid, dilation, &w.data, (out, c)), b.data.clone()))
        };
        let blocks = (0..config.blocks)
            .map(|i| {
                let k = FIRST_BLOCK + PER_BLOCK * i;
                let d = ConvConfig::dilation(i);
                let (conv1, bias1) = conv(k, d)?;
                let (conv2, bias2) = conv(k + 4, d)?;
                Ok(conv_infer::Block {
                    conv1,
                    bias1,
                    conv2,
                    bias2,
                })
            })
            .collect::<Result<_, ModelError>>()?;
        let network = Box::new(conv_infer::Network::new(
            (grid, config.channels, images),
            conv(2, 1)?,
            blocks,
            conv(FIRST_BLOCK + PER_BLOCK * config.blocks, 1)?,
        ));
        Ok(ConvInference {
            config,
            tensors,
            network,
            freqs: kernels::frequencies(TIME_EMBEDDING),
        })
    }
}

/// `temb = GELU(emb(t)·W_tᵀ + class_emb[c] + b_t)` for `n` examples (`emb` has one row
/// per example, or one row for all: then an unconditional model's `temb` is one row too).
fn time_embedding(
    cfg: &ConvConfig,
    w: &[&Tensor],
    emb: &Tensor,
    labels: &[usize],
    n: usize,
) -> candle_core::Result<Tensor> {
    let pre = emb.apply_op2(w[0], Linear { input_grad: false })?;
    let pre = if cfg.classes > 0 {
        let table = w[FIRST_BLOCK + PER_BLOCK * cfg.blocks + 2];
        pre.broadcast_add(&super::classes::rows(table, labels, n)?)?
    } else {
        pre
    };
    pre.apply_op2(w[1], BiasGelu)
}

/// The per-image bias of every block's first activation, `temb·W_iᵀ + b_i` (`rows × F`,
/// one row per row of `temb`).
fn block_biases(w: &[&Tensor], temb: &Tensor, blocks: usize) -> candle_core::Result<Vec<Tensor>> {
    (0..blocks)
        .map(|i| {
            let k = FIRST_BLOCK + PER_BLOCK * i;
            temb.apply_op2(w[k + 2], Linear { input_grad: true })?
                .broadcast_add(w[k + 3])
        })
        .collect()
}

/// The network from the NHWC input `x` (`(n·H·W) × C`) and the block biases (`n × F`
/// each) to `ε̂` (`(n·H·W) × C`), as training runs it (inference:
/// [`super::conv_infer`]).
fn forward(cfg: &ConvConfig, w: &[&Tensor], x: &Tensor, biases: &[Tensor]) -> candle_core::Result<Tensor> {
    let grid = cfg.grid();
    let conv = |dilation, input_grad| Conv3x3 {
        grid,
        dilation,
        input_grad,
        prepared: false,
    };
    let mut h = x.apply_op3(w[2], w[3], conv(1, false))?;
    let act = ExampleBiasGelu {
        pixels: grid.pixels(),
    };
    for (i, bias) in biases.iter().enumerate() {
        let k = FIRST_BLOCK + PER_BLOCK * i;
        let d = ConvConfig::dilation(i);
        let u = h
            .apply_op1(Gelu)?
            .apply_op3(w[k], w[k + 1], conv(d, true))?
            .apply_op2(bias, act)?;
        h = (h + u.apply_op3(w[k + 4], w[k + 5], conv(d, true))?)?;
    }
    let last = FIRST_BLOCK + PER_BLOCK * cfg.blocks;
    h.apply_op1(Gelu)?.apply_op3(w[last], w[last + 1], conv(1, true))
}

/// The image denoiser prepared for sampling: one `t` for the whole batch, so the time
/// embedding, its MLP and every block's bias are computed once per call.
#[derive(Debug)]
pub struct ConvInference {
    config: ConvConfig,
    /// The parameters as tensors, for the time embedding.
    tensors: Vec<Tensor>,
    /// The convolutions, prepared (boxed: it is large beside the other models' inference).
    network: Box<conv_infer::Network>,
    freqs: Vec<f32>,
}

impl ConvInference {
    /// Labelled classes of a class-conditional model; 0 for an unconditional one.
    #[must_use]
    pub const fn classes(&self) -> usize {
        self.config.classes
    }

    /// `ε̂(x_t, t, c)` for `n × C·H·W` values `xt` (CHW per example), all at step `t` (a
    /// float, 1..T), with a class per example (`labels`; empty: none).
    pub fn predict_eps(&self, xt: &[f32], t: f32, labels: &[usize]) -> Result<Vec<f32>, ModelError> {
        let cfg = self.config;
        let d = cfg.dim();
        if d == 0 || !xt.len().is_multiple_of(d) {
            return Err(ModelError::Data(format!(
                "conv net: {} values are not whole {}×{}×{} images",
                xt.len(),
                cfg.channels,
                cfg.height,
                cfg.width
            )));
        }
        let n = xt.len() / d;
        if n == 0 {
            return Ok(Vec::new());
        }
        let dev = Device::Cpu;
        let w: Vec<&Tensor> = self.tensors.iter().collect();
        let mut e = vec![0f32; TIME_EMBEDDING];
        kernels::embed_into(t, 1.0, &self.freqs, &mut e);
        super::classes::check_labels(labels, cfg.classes, n)?;
        let emb = Tensor::from_vec(e, (1, TIME_EMBEDDING), &dev)?;
        let temb = time_embedding(&cfg, &w, &emb, labels, n)?;
        let biases = block_biases(&w, &temb, cfg.blocks)?
            .iter()
            .map(tensor_vec)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mut eps = vec![0f32; xt.len()];
        self.network.run(xt, &biases, &mut eps);
        Ok(eps)
    }
}
