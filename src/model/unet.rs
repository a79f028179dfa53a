//! The U-Net for the 28×28 glyph digits: three resolutions (28 → 14 → 7 → 14 → 28) with a
//! skip across the middle, time and class embeddings in every residual block, on the same
//! fused 3×3 convolution as the conv net ([`super::conv_ops`]).
//!
//! ```text
//! x_t  n × C × H × W (H, W multiples of 4), F = features, E = 2F (the embedding width)
//! temb = GELU(emb(t)·W_tᵀ + E[c] + b_t)                 n × E     time_mlp      [E, 128], [E]
//!   E[c]: a class-conditional model's table, K + 1 rows (∅ = K last)   class_emb [K + 1, E]
//! down 28 → 14:  h  = conv3x3(unshuffle(x_t)) + b       F @ H/2   conv_in       [F, 4C, 3, 3]
//!                h  = block(h)                         F @ H/2   down          (→ skip s)
//! down 14 → 7:   m  = unshuffle(h)·W_dᵀ + b_d          2F @ H/4  down_proj     [2F, 4F]
//!                m  = block(m), mid_blocks times       2F @ H/4  mid.i
//! up 7 → 14:     u  = shuffle(m·W_uᵀ + b_u)            F @ H/2   up_proj       [4F, 2F]
//!                u  = [u, s]·W_mᵀ + b_m                F @ H/2   merge         [F, 2F]
//!                u  = block(u)                         F @ H/2   up
//! up 14 → 28:    ε̂  = shuffle(conv3x3(GELU(u)) + b)    C @ H     conv_out      [4C, F, 3, 3]
//! block(h), width c:  (the conv net's residual block, its time bias from temb)
//!   v = GELU(conv3x3(GELU(h)) + b_1 + temb·W_iᵀ + b_i)           *.conv1 [c, c, 3, 3], [c]
//!                                                                *.temb  [c, E], [c]
//!   h + conv3x3(v) + b_2                                         *.conv2 [c, c, 3, 3], [c]
//! ```
//! `unshuffle` and `shuffle` are PyTorch's `pixel_unshuffle(2)` and `pixel_shuffle(2)`:
//! the 2×2 pixels of a block become 4 channels (channel `4c + 2dy + dx`) and back. The
//! first and last resolution changes are these lossless rearrangements rather than
//! convolutions at 28×28: every convolution runs at 14×14 or 7×7, where a 3×3 tap costs a
//! quarter or a sixteenth, so the whole network is 18.3 MFLOP per 28×28 image with F = 24 and two middle blocks
//! ([`UNetConfig::flops`]). Each output pixel sees the whole 28×28 image.
//!
//! The same network in PyTorch (its `state_dict` names and shapes are
//! [`UNetConfig::layout`]; `emb` and `Block` are the conv net's, [`super::conv`], with the
//! block's time projection `nn.Linear(E, c)`):
//!
//! ```python
//! class UNet(nn.Module):
//!     def __init__(self, channels=1, features=24, mid_blocks=2, classes=0):
//!         super().__init__()
//!         c, f, e = channels, features, 2 * features
//!         self.time_mlp = nn.Linear(128, e)
//!         self.conv_in = nn.Conv2d(4 * c, f, 3, padding=1)
//!         self.down = Block(f, e)
//!         self.down_proj = nn.Linear(4 * f, 2 * f)
//!         self.mid = nn.ModuleList(Block(2 * f, e) for _ in range(mid_blocks))
//!         self.up_proj = nn.Linear(2 * f, 4 * f)
//!         self.merge = nn.Linear(2 * f, f)
//!         self.up = Block(f, e)
//!         self.conv_out = nn.Conv2d(f, 4 * c, 3, padding=1)
//!         if classes:
//!             self.class_emb = nn.Embedding(classes + 1, e)
//!     def forward(self, x, t, c=None):
//!         pre = self.time_mlp(emb(t))
//!         if hasattr(self, "class_emb"):
//!             c = torch.full_like(t, self.class_emb.num_embeddings - 1, dtype=torch.long) if c is None else c
//!             pre = pre + self.class_emb(c)
//!         temb = F.gelu(pre)
//!         lin = lambda layer, h: layer(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # a 1×1 conv
//!         s = self.down(self.conv_in(F.pixel_unshuffle(x, 2)), temb)
//!         m = lin(self.down_proj, F.pixel_unshuffle(s, 2))
//!         for block in self.mid:
//!             m = block(m, temb)
//!         u = F.pixel_shuffle(lin(self.up_proj, m), 2)
//!         u = self.up(lin(self.merge, torch.cat((u, s), 1)), temb)
//!         return F.pixel_shuffle(self.conv_out(F.gelu(u)), 2)
//! ```

use candle_core::{Device, Tensor, Var};

use super::conv::TIME_EMBEDDING;
use super::conv_ops::{Conv3x3, ExampleBiasGelu, Gelu, Grid};
use super::ops::{BiasGelu, Embed, Linear, tensor_vec};
use super::params::Param;
use super::{ModelError, kernels};
use crate::diffusion::noise::StreamKey;

/// Shape of the U-Net.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UNetConfig {
    /// Image channels (1 or 3).
    pub channels: usize,
    /// Image height (a multiple of 4).
    pub height: usize,
    /// Image width (a multiple of 4).
    pub width: usize,
    /// Feature channels `F` at half resolution (`2F` at quarter resolution and in the
    /// embedding).
    pub features: usize,
    /// Residual blocks at quarter resolution.
    pub mid_blocks: usize,
    /// Labelled classes `K` of a class-conditional model (0: unconditional).
    pub classes: usize,
}

/// Tensors per residual block.
const PER_BLOCK: usize = 6;
/// Index of `down.conv1.weight`.
const DOWN: usize = 4;
/// Index of `down_proj.weight`.
const DOWN_PROJ: usize = DOWN + PER_BLOCK;
/// Index of `mid.0.conv1.weight`.
const MID: usize = DOWN_PROJ + 2;

impl UNetConfig {
    /// The glyph digits' network: 28×28 grey, F = 24, two middle blocks.
    #[must_use]
    pub const fn glyphs() -> Self {
        Self {
            channels: 1,
            height: 28,
            width: 28,
            features: 24,
            mid_blocks: 2,
            classes: 0,
        }
    }

    /// Values per example, `C·H·W`.
    #[must_use]
    pub const fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The embedding width `E = 2F`.
    #[must_use]
    pub const fn embedding(&self) -> usize {
        2 * self.features
    }

    const fn up_proj(&self) -> usize {
        MID + PER_BLOCK * self.mid_blocks
    }

    const fn merge(&self) -> usize {
        self.up_proj() + 2
    }

    const fn up(&self) -> usize {
        self.merge() + 2
    }

    const fn conv_out(&self) -> usize {
        self.up() + PER_BLOCK
    }

    /// The first tensor of every residual block, in the order of their time biases.
    fn blocks(&self) -> Vec<usize> {
        std::iter::once(DOWN)
            .chain((0..self.mid_blocks).map(|i| MID + PER_BLOCK * i))
            .chain(std::iter::once(self.up()))
            .collect()
    }

    /// Parameter names and shapes, in order (PyTorch `state_dict` names).
    #[must_use]
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        let (c, f, e) = (self.channels, self.features, self.embedding());
        let block = |out: &mut Vec<(String, Vec<usize>)>, name: &str, w: usize| {
            out.push((format!("{name}.conv1.weight"), vec![w, w, 3, 3]));
            out.push((format!("{name}.conv1.bias"), vec![w]));
            out.push((format!("{name}.temb.weight"), vec![w, e]));
            out.push((format!("{name}.temb.bias"), vec![w]));
            out.push((format!("{name}.conv2.weight"), vec![w, w, 3, 3]));
            out.push((format!("{name}.conv2.bias"), vec![w]));
        };
        let mut out = vec![
            ("time_mlp.weight".to_owned(), vec![e, TIME_EMBEDDING]),
            ("time_mlp.bias".to_owned(), vec![e]),
            ("conv_in.weight".to_owned(), vec![f, 4 * c, 3, 3]),
            ("conv_in.bias".to_owned(), vec![f]),
        ];
        block(&mut out, "down", f);
        out.push(("down_proj.weight".to_owned(), vec![2 * f, 4 * f]));
        out.push(("down_proj.bias".to_owned(), vec![2 * f]));
        for i in 0..self.mid_blocks {
            block(&mut out, &format!("mid.{i}"), 2 * f);
        }
        out.push(("up_proj.weight".to_owned(), vec![4 * f, 2 * f]));
        out.push(("up_proj.bias".to_owned(), vec![4 * f]));
        out.push(("merge.weight".to_owned(), vec![f, 2 * f]));
        out.push(("merge.bias".to_owned(), vec![f]));
        block(&mut out, "up", f);
        out.push(("conv_out.weight".to_owned(), vec![4 * c, f, 3, 3]));
        out.push(("conv_out.bias".to_owned(), vec![4 * c]));
        out.extend(super::classes::table_layout(self.classes, e));
        out
    }

    /// Number of parameters.
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        super::layout_size(&self.layout())
    }

    /// Multiply-adds ×2 of one image's forward pass (the convolutions and 1×1 maps;
    /// activations and the embedding left out).
    #[must_use]
    pub fn flops(&self) -> usize {
        let (c, f) = (self.channels, self.features);
        let half = self.height * self.width / 4;
        let quarter = half / 4;
        let conv = |px: usize, i: usize, o: usize| 2 * px * 9 * i * o;
        let lin = |px: usize, i: usize, o: usize| 2 * px * i * o;
        conv(half, 4 * c, f)
            + 2 * 2 * conv(half, f, f)
            + lin(quarter, 4 * f, 2 * f)
            + self.mid_blocks * 2 * conv(quarter, 2 * f, 2 * f)
            + lin(quarter, 2 * f, 4 * f)
            + lin(half, 2 * f, f)
            + conv(half, f, 4 * c)
    }

    fn half(&self) -> Grid {
        Grid {
            height: self.height / 2,
            width: self.width / 2,
        }
    }

    fn quarter(&self) -> Grid {
        Grid {
            height: self.height / 4,
            width: self.width / 4,
        }
    }

    /// The indices of the 3×3 convolution weights among the tensors.
    fn conv_weights(&self) -> Vec<usize> {
        let mut out = vec![2];
        for k in self.blocks() {
            out.extend([k, k + 4]);
        }
        out.push(self.conv_out());
        out
    }
}

/// The U-Net: a configuration and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct UNet {
    /// Its shape.
    pub config: UNetConfig,
    /// Its parameters, in [`UNetConfig::layout`] order.
    pub params: Vec<Param>,
}

impl UNet {
    /// A freshly initialised network, PyTorch's default for `nn.Conv2d` and `nn.Linear`
    /// (uniform in `±1/√fan_in`), as the conv net.
    #[must_use]
    pub fn new(config: UNetConfig, seed: u64) -> Self {
        let layout = config.layout();
        let params = layout
            .iter()
            .enumerate()
            .map(|(i, (name, shape))| {
                if name == super::classes::CLASS_TABLE {
                    return super::classes::init_table(shape.clone(), seed);
                }
                let weight = if shape.len() == 1 { &layout[i - 1].1 } else { shape };
                let fan_in: usize = weight[1..].iter().product();
                let bound = 1.0 / (fan_in as f32).sqrt();
                Param::uniform(
                    name.clone(),
                    shape.clone(),
                    bound,
                    StreamKey::new(seed, 0x0E7E_0000 + i as u64),
                )
            })
            .collect();
        Self { config, params }
    }

    /// A network from loaded tensors, checked against the layout of `config`.
    pub fn from_params(config: UNetConfig, params: Vec<Param>) -> Result<Self, ModelError> {
        check_shape(&config)?;
        super::check_layout(&config.layout(), &params)?;
        Ok(Self { config, params })
    }

    /// `L_simple` on a batch and the gradient of every parameter, in order (as
    /// [`super::conv::ConvNet::loss_and_grads`]).
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
                "U-Net: a batch of {n} steps needs {} values of x_t and ε ({}×{}×{} each), got {} and {}",
                n * d,
                cfg.channels,
                cfg.height,
                cfg.width,
                xt.len(),
                eps.len()
            )));
        }
        super::classes::check_labels(labels, cfg.classes, n)?;
        let dev = Device::Cpu;
        let vars = super::ops::vars(&self.params)?;
        let w: Vec<&Tensor> = vars.iter().map(Var::as_tensor).collect();
        let x = to_nhwc(xt, &cfg, n)?;
        let t = Tensor::from_slice(t, (n, 1), &dev)?;
        let emb = t.apply_op1_no_bwd(&Embed::new(vec![1.0], TIME_EMBEDDING))?;
        let biases = block_biases(&cfg, &w, &emb, labels, n)?;
        let out = forward(&cfg, &w, &x, &biases, n, false)?;
        let target = to_nhwc(eps, &cfg, n)?;
        Ok(super::ops::mse_and_grads(&out, &target, &vars)?)
    }

    /// Ready-to-run tensors for inference.
    pub fn inference(&self) -> Result<UNetInference, ModelError> {
        let mut tensors = super::ops::tensors(&self.params)?;
        for i in self.config.conv_weights() {
            let p = &self.params[i];
            let [out, c, 3, 3] = p.shape[..] else {
                return Err(ModelError::Data(format!(
                    "{} is not a 3×3 convolution weight",
                    p.name
                )));
            };
            tensors[i] = Tensor::from_vec(
                super::conv_ops::weight_to_cols(&p.data, out, c, false),
                (out, 9 * c),
                &Device::Cpu,
            )?;
        }
        Ok(UNetInference {
            config: self.config,
            tensors,
            freqs: kernels::frequencies(TIME_EMBEDDING),
        })
    }
}

fn check_shape(cfg: &UNetConfig) -> Result<(), ModelError> {
    if cfg.channels == 0 || cfg.features == 0 || cfg.height == 0 || cfg.width == 0 {
        return Err(ModelError::Layout(format!("U-Net: empty shape {cfg:?}")));
    }
    if !cfg.height.is_multiple_of(4) || !cfg.width.is_multiple_of(4) {
        return Err(ModelError::Layout(format!(
            "U-Net: {}×{} images are not whole 4×4 blocks (it halves them twice)",
            cfg.width, cfg.height
        )));
    }
    Ok(())
}

/// `n` examples of `C × H × W` values (CHW) as the `(n·H·W) × C` matrix (NHWC).
fn to_nhwc(data: &[f32], cfg: &UNetConfig, n: usize) -> candle_core::Result<Tensor> {
    let (c, px) = (cfg.channels, cfg.height * cfg.width);
    if c == 1 {
        return Tensor::from_slice(data, (n * px, 1), &Device::Cpu);
    }
    let t = Tensor::from_slice(data, (n, c, px), &Device::Cpu)?;
    t.transpose(1, 2)?.contiguous()?.reshape((n * px, c))
}

/// PyTorch's `pixel_unshuffle(2)` on an NHWC matrix: `(n·H·W) × c` → `(n·H/2·W/2) × 4c`,
/// channel `4c + 2dy + dx`. In inference (`fast`) a plain loop: candle's copy of a
/// six-dimensional permutation walks its strides value by value.
fn unshuffle(x: &Tensor, n: usize, grid: Grid, fast: bool) -> candle_core::Result<Tensor> {
    let (_, c) = x.dims2()?;
    if fast {
        return rearranged(x, n, grid, c, true);
    }
    let (h, w) = (grid.height / 2, grid.width / 2);
    x.reshape(vec![n, h, 2, w, 2, c])?
        .permute([0, 1, 3, 5, 2, 4])?
        .contiguous()?
        .reshape((n * h * w, 4 * c))
}

/// PyTorch's `pixel_shuffle(2)` on an NHWC matrix: `(n·h·w) × 4c` → `(n·2h·2w) × c`
/// (`grid` is `h × w`).
fn shuffle(x: &Tensor, n: usize, grid: Grid, fast: bool) -> candle_core::Result<Tensor> {
    let (_, c4) = x.dims2()?;
    let c = c4 / 4;
    if fast {
        let full = Grid {
            height: 2 * grid.height,
            width: 2 * grid.width,
        };
        return rearranged(x, n, full, c, false);
    }
    let (h, w) = (grid.height, grid.width);
    x.reshape(vec![n, h, w, c, 2, 2])?
        .permute([0, 1, 4, 2, 5, 3])?
        .contiguous()?
        .reshape((n * 4 * h * w, c))
}

/// [`unshuffle`] (`to_blocks`) or [`shuffle`] of `n` images whose full-resolution grid
/// is `full` with `c` channels there, by index: value `(y, x, ch)` of the full grid is
/// channel `4ch + 2(y mod 2) + x mod 2` of pixel `(y/2, x/2)` of the half grid.
fn rearranged(x: &Tensor, n: usize, full: Grid, c: usize, to_blocks: bool) -> candle_core::Result<Tensor> {
    let src = x.flatten_all()?.to_vec1::<f32>()?;
    let mut out = vec![0f32; src.len()];
    let (h, w) = (full.height, full.width);
    let (w2, c4) = (w / 2, 4 * c);
    for img in 0..n {
        for y in 0..h {
            for xx in 0..w {
                let full_at = ((img * h + y) * w + xx) * c;
                let half_at = ((img * (h / 2) + y / 2) * w2 + xx / 2) * c4 + 2 * (y % 2) + xx % 2;
                for ch in 0..c {
                    if to_blocks {
                        out[half_at + 4 * ch] = src[full_at + ch];
                    } else {
                        out[full_at + ch] = src[half_at + 4 * ch];
                    }
                }
            }
        }
    }
    let rows = if to_blocks { n * h * w / 4 } else { n * h * w };
    Tensor::from_vec(out, (rows, src.len() / rows), &Device::Cpu)
}

/// `x·Wᵀ + b` for the 1×1 maps.
fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    x.apply_op2(w, Linear { input_grad: true })?.broadcast_add(b)
}

/// `temb` and from it every block's time bias `temb·W_iᵀ + b_i` (`rows × c` each, one
/// row per row of `emb`, or per label when labels are given).
fn block_biases(
    cfg: &UNetConfig,
    w: &[&Tensor],
    emb: &Tensor,
    labels: &[usize],
    n: usize,
) -> candle_core::Result<Vec<Tensor>> {
    let pre = emb.apply_op2(w[0], Linear { input_grad: false })?;
    let pre = if cfg.classes > 0 {
        let table = w[cfg.conv_out() + 2];
        pre.broadcast_add(&super::classes::rows(table, labels, n)?)?
    } else {
        pre
    };
    let temb = pre.apply_op2(w[1], BiasGelu)?;
    cfg.blocks()
        .into_iter()
        .map(|k| linear(&temb, w[k + 2], w[k + 3]))
        .collect()
}

/// The residual block whose tensors start at `k`, on a `grid`, with its time bias.
fn block(
    h: &Tensor,
    w: &[&Tensor],
    k: usize,
    bias: &Tensor,
    grid: Grid,
    prepared: bool,
) -> candle_core::Result<Tensor> {
    let conv = Conv3x3 {
        grid,
        dilation: 1,
        input_grad: true,
        prepared,
    };
    let v = h.apply_op1(Gelu)?.apply_op3(w[k], w[k + 1], conv)?.apply_op2(
        bias,
        ExampleBiasGelu {
            pixels: grid.pixels(),
        },
    )?;
    h + v.apply_op3(w[k + 4], w[k + 5], conv)?
}

/// The network from the NHWC input `x` (`(n·H·W) × C`) and the blocks' time biases to
/// `ε̂` (`(n·H·W) × C`). With `prepared`, the convolution weights are im2col matrices.
fn forward(
    cfg: &UNetConfig,
    w: &[&Tensor],
    x: &Tensor,
    biases: &[Tensor],
    n: usize,
    prepared: bool,
) -> candle_core::Result<Tensor> {
    let (half, quarter) = (cfg.half(), cfg.quarter());
    let full = Grid {
        height: cfg.height,
        width: cfg.width,
    };
    let conv = |input_grad| Conv3x3 {
        grid: half,
        dilation: 1,
        input_grad,
        prepared,
    };
    let h = unshuffle(x, n, full, prepared)?.apply_op3(w[2], w[3], conv(false))?;
    let skip = block(&h, w, DOWN, &biases[0], half, prepared)?;
    let mut m = linear(
        &unshuffle(&skip, n, half, prepared)?,
        w[DOWN_PROJ],
        w[DOWN_PROJ + 1],
    )?;
    for i in 0..cfg.mid_blocks {
        m = block(&m, w, MID + PER_BLOCK * i, &biases[1 + i], quarter, prepared)?;
    }
    let (up_proj, merge, up, out) = (cfg.up_proj(), cfg.merge(), cfg.up(), cfg.conv_out());
    let u = shuffle(&linear(&m, w[up_proj], w[up_proj + 1])?, n, quarter, prepared)?;
    let u = linear(&Tensor::cat(&[&u, &skip], 1)?, w[merge], w[merge + 1])?;
    let u = block(&u, w, up, &biases[1 + cfg.mid_blocks], half, prepared)?;
    let e = u.apply_op1(Gelu)?.apply_op3(w[out], w[out + 1], conv(true))?;
    shuffle(&e, n, half, prepared)
}

/// The U-Net prepared for sampling: one `t` for the whole batch.
#[derive(Debug)]
pub struct UNetInference {
    config: UNetConfig,
    tensors: Vec<Tensor>,
    freqs: Vec<f32>,
}

impl UNetInference {
    /// Labelled classes of a class-conditional model; 0 for an unconditional one.
    #[must_use]
    pub const fn classes(&self) -> usize {
        self.config.classes
    }

    /// `ε̂(x_t, t, c)` for `n × C·H·W` values `xt` (CHW per example), all at step `t`, with
    /// a class per example (`labels`; empty: none).
    pub fn predict_eps(&self, xt: &[f32], t: f32, labels: &[usize]) -> Result<Vec<f32>, ModelError> {
        let cfg = self.config;
        let d = cfg.dim();
        if !xt.len().is_multiple_of(d) {
            return Err(ModelError::Data(format!(
                "U-Net: {} values are not whole {}×{}×{} images",
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
        super::classes::check_labels(labels, cfg.classes, n)?;
        let dev = Device::Cpu;
        let w: Vec<&Tensor> = self.tensors.iter().collect();
        let mut e = vec![0f32; TIME_EMBEDDING];
        kernels::embed_into(t, 1.0, &self.freqs, &mut e);
        let emb = Tensor::from_vec(e, (1, TIME_EMBEDDING), &dev)?;
        let biases = block_biases(&cfg, &w, &emb, labels, n)?;
        let x = to_nhwc(xt, &cfg, n)?;
        let out = forward(&cfg, &w, &x, &biases, n, true)?;
        let (c, px) = (cfg.channels, cfg.height * cfg.width);
        if c == 1 {
            return Ok(tensor_vec(&out.flatten_all()?)?);
        }
        let chw = out.reshape((n, px, c))?.transpose(1, 2)?.contiguous()?;
        Ok(tensor_vec(&chw.flatten_all()?)?)
    }
}
