//! The learned models (candle, CPU): the 2D denoiser of tiny-diffusion ([`mlp`]) and a
//! small convolutional denoiser for images ([`conv`]), both predicting ε; their fused
//! kernels ([`kernels`], [`ops`]), parameters and optimiser ([`params`]), safetensors
//! files ([`io`]), training ([`train`]) and the reverse chain ([`sample`]); the 2D
//! network can be trained by flow matching instead ([`flow_matching`]).

pub mod bench;
pub mod classes;
pub mod conv;
pub mod conv_infer;
pub mod conv_ops;
pub mod dense;
pub mod elbo;
pub mod flow;
pub mod flow_matching;
pub mod io;
pub mod kernels;
pub mod mhvae;
pub mod mlp;
pub mod ops;
pub mod params;
pub mod patch;
pub mod quality;
pub mod sample;
pub mod shipped;
pub mod train;
pub mod unet;
pub mod vae;
pub mod vae_io;

use std::fmt;

use conv::{ConvConfig, ConvInference, ConvNet};
use mlp::{Mlp2d, MlpConfig, MlpInference};
use params::Param;
use patch::{PatchConfig, PatchNet};
use unet::{UNet, UNetConfig, UNetInference};

use crate::diffusion::ScheduleSpec;
pub use flow_matching::Objective;

/// What can go wrong building, running, training or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// An error inside candle.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// Tensors that do not fit the architecture.
    #[error("{0}")]
    Layout(String),
    /// A weights file that cannot be read or is not a diffscope model.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// Data the model cannot take (wrong dimension, empty set).
    #[error("{0}")]
    Data(String),
    /// Training diverged.
    #[error("{0}")]
    Diverged(String),
    /// The probability-flow ODE cannot be solved (its message says why).
    #[error("{0}")]
    Ode(#[from] crate::diffusion::ode::OdeError),
}

/// Number of values in a tensor layout.
#[must_use]
pub fn layout_size(layout: &[(String, Vec<usize>)]) -> usize {
    layout.iter().map(|(_, s)| s.iter().product::<usize>()).sum()
}

/// Checks that `params` has exactly the names and shapes of `layout`, in order.
pub fn check_layout(layout: &[(String, Vec<usize>)], params: &[Param]) -> Result<(), ModelError> {
    for (name, shape) in layout {
        match params.iter().find(|p| &p.name == name) {
            None => return Err(ModelError::Layout(format!("tensor `{name}` is missing"))),
            Some(p) if &p.shape != shape => {
                return Err(ModelError::Layout(format!(
                    "tensor `{name}` has shape {:?}, the architecture needs {shape:?}",
                    p.shape
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = params.iter().find(|p| !layout.iter().any(|(n, _)| n == &p.name)) {
        return Err(ModelError::Layout(format!("unexpected tensor `{}`", extra.name)));
    }
    if params.len() != layout.len() || params.iter().zip(layout).any(|(p, (n, _))| &p.name != n) {
        return Err(ModelError::Layout(
            "tensors are not in the architecture's order".into(),
        ));
    }
    Ok(())
}

/// The shape of one example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataShape {
    /// A 2D point.
    Points,
    /// An image, `channels × height × width`, stored channel-major (CHW).
    Image {
        /// 1 (grey) or 3 (RGB).
        channels: usize,
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
}

impl DataShape {
    /// Values per example (`d` of MATH.md).
    #[must_use]
    pub const fn dim(self) -> usize {
        match self {
            Self::Points => 2,
            Self::Image {
                channels,
                height,
                width,
            } => channels * height * width,
        }
    }
}

impl fmt::Display for DataShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Points => f.write_str("2D points"),
            Self::Image {
                channels,
                height,
                width,
            } => {
                write!(
                    f,
                    "{width}×{height} {}",
                    if *channels == 1 { "grey" } else { "RGB" }
                )
            }
        }
    }
}

/// An architecture and its shape parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// The 2D denoiser.
    Mlp2d(MlpConfig),
    /// The image denoiser.
    Conv(ConvConfig),
    /// The U-Net of the 28×28 glyph digits.
    UNet(UNetConfig),
    /// The single-image model: the conv net trained on crops of one photo.
    Patch(PatchConfig),
}

impl Architecture {
    /// The data this architecture denoises.
    #[must_use]
    pub fn data_shape(&self) -> DataShape {
        match self {
            Self::Mlp2d(_) => DataShape::Points,
            Self::Conv(c) => DataShape::Image {
                channels: c.channels,
                height: c.height,
                width: c.width,
            },
            Self::UNet(c) => DataShape::Image {
                channels: c.channels,
                height: c.height,
                width: c.width,
            },
            Self::Patch(c) => c.canvas_shape(),
        }
    }

    /// The shape of one training example: [`Architecture::data_shape`], except for the
    /// single-image model, which trains on crops and samples a canvas.
    #[must_use]
    pub fn train_shape(&self) -> DataShape {
        match self {
            Self::Patch(c) => c.crop_shape(),
            _ => self.data_shape(),
        }
    }

    /// Tensor names and shapes, in order.
    #[must_use]
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        match self {
            Self::Mlp2d(c) => c.layout(),
            Self::Conv(c) => c.layout(),
            Self::UNet(c) => c.layout(),
            Self::Patch(c) => c.layout(),
        }
    }

    /// Number of parameters.
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        layout_size(&self.layout())
    }

    /// Labelled classes of a class-conditional model; 0 for an unconditional one.
    #[must_use]
    pub const fn classes(&self) -> usize {
        match self {
            Self::Mlp2d(c) => c.classes,
            Self::Conv(c) => c.classes,
            Self::UNet(c) => c.classes,
            Self::Patch(_) => 0,
        }
    }

    /// The same architecture with `classes` labelled classes (0: unconditional).
    #[must_use]
    pub const fn with_classes(self, classes: usize) -> Self {
        match self {
            Self::Mlp2d(c) => Self::Mlp2d(MlpConfig { classes, ..c }),
            Self::Conv(c) => Self::Conv(ConvConfig { classes, ..c }),
            Self::UNet(c) => Self::UNet(UNetConfig { classes, ..c }),
            // Learns one photo: it has no classes.
            Self::Patch(c) => Self::Patch(c),
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mlp2d(c) => write!(
                f,
                "MLP {}×{} (embedding {}), {} parameters",
                c.hidden,
                c.blocks,
                c.embedding,
                c.parameter_count()
            )?,
            Self::Conv(c) => write!(
                f,
                "conv net {}ch×{} blocks for {}, {} parameters",
                c.features,
                c.blocks,
                self.data_shape(),
                c.parameter_count()
            )?,
            Self::UNet(c) => write!(
                f,
                "U-Net {}ch/{}ch×{} blocks for {}, {} parameters",
                c.features,
                c.embedding(),
                c.mid_blocks + 2,
                self.data_shape(),
                c.parameter_count()
            )?,
            Self::Patch(c) => write!(
                f,
                "single-image conv net {}ch×{} blocks, receptive field {} px, of a {}×{} photo, {} parameters",
                c.features,
                c.blocks,
                c.receptive_field(),
                c.photo.1,
                c.photo.0,
                self.parameter_count()
            )?,
        }
        match self.classes() {
            0 => Ok(()),
            k => write!(f, ", conditional on {k} classes"),
        }
    }
}

/// What a weights file says about itself besides its tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The schedule it was trained with (its `T` included).
    pub schedule: ScheduleSpec,
    /// The data it was trained on (a data-set name, a file name, `digits`).
    pub dataset: String,
    /// Training iterations done.
    pub iterations: u64,
    /// The seed of initialisation and training noise.
    pub seed: u64,
    /// The decay of the weights' moving average the file holds, if it holds one (else the
    /// last training step's weights).
    pub ema: Option<f32>,
    /// The command that produced it, if any.
    pub command: String,
    /// What the network predicts: `ε` (a diffusion model) or the straight path's velocity
    /// (flow matching, [`flow_matching`]); the file's `objective` key.
    pub objective: Objective,
}

/// A network of either architecture with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Network {
    /// The 2D denoiser.
    Mlp(Mlp2d),
    /// The image denoiser.
    Conv(ConvNet),
    /// The U-Net of the 28×28 glyph digits.
    UNet(UNet),
    /// The single-image model.
    Patch(PatchNet),
}

/// Rows of a data-parallel training batch's part, at least: below it a part's fixed cost
/// (a candle graph per part, forward and backward) outweighs the second core.
pub const SHARD_ROWS: usize = 128;

/// Parts a training batch of `n` rows is split into on a pool of `threads` threads: one
/// per thread, each of at least [`SHARD_ROWS`] rows. One thread never splits: the parts
/// cost 15 % there (BENCHMARKS.md, "Training on two cores").
#[must_use]
pub fn shards(n: usize, threads: usize) -> usize {
    (n / SHARD_ROWS).clamp(1, threads.max(1))
}

impl Network {
    /// A freshly initialised network of `arch`.
    #[must_use]
    pub fn new(arch: Architecture, seed: u64) -> Self {
        match arch {
            Architecture::Mlp2d(c) => Self::Mlp(Mlp2d::new(c, seed)),
            Architecture::Conv(c) => Self::Conv(ConvNet::new(c, seed)),
            Architecture::UNet(c) => Self::UNet(UNet::new(c, seed)),
            Architecture::Patch(c) => Self::Patch(PatchNet::new(c, seed)),
        }
    }

    /// A network of `arch` from loaded tensors.
    pub fn from_params(arch: Architecture, params: Vec<Param>) -> Result<Self, ModelError> {
        Ok(match arch {
            Architecture::Mlp2d(c) => Self::Mlp(Mlp2d::from_params(c, params)?),
            Architecture::Conv(c) => Self::Conv(ConvNet::from_params(c, params)?),
            Architecture::UNet(c) => Self::UNet(UNet::from_params(c, params)?),
            Architecture::Patch(c) => Self::Patch(PatchNet::from_params(c, params)?),
        })
    }

    /// Its architecture.
    #[must_use]
    pub fn architecture(&self) -> Architecture {
        match self {
            Self::Mlp(m) => Architecture::Mlp2d(m.config),
            Self::Conv(m) => Architecture::Conv(m.config),
            Self::UNet(m) => Architecture::UNet(m.config),
            Self::Patch(m) => Architecture::Patch(m.config),
        }
    }

    /// Labelled classes of a class-conditional model; 0 for an unconditional one.
    #[must_use]
    pub fn classes(&self) -> usize {
        self.architecture().classes()
    }

    /// Its parameters.
    #[must_use]
    pub fn params(&self) -> &[Param] {
        match self {
            Self::Mlp(m) => &m.params,
            Self::Conv(m) => &m.params,
            Self::UNet(m) => &m.params,
            Self::Patch(m) => &m.net.params,
        }
    }

    /// Its parameters, to update.
    pub fn params_mut(&mut self) -> &mut [Param] {
        match self {
            Self::Mlp(m) => &mut m.params,
            Self::Conv(m) => &mut m.params,
            Self::UNet(m) => &mut m.params,
            Self::Patch(m) => &mut m.net.params,
        }
    }

    /// `L_simple` on a batch (`xt` is `n × d`, `t` the float step of each row, `eps` the
    /// noise that made `xt`, `labels` the class of each row or empty, see
    /// [`classes::check_labels`]) and the gradient of every parameter, in order.
    pub fn loss_and_grads(
        &self,
        xt: &[f32],
        t: &[f32],
        eps: &[f32],
        labels: &[usize],
    ) -> Result<(f32, Vec<Vec<f32>>), ModelError> {
        match self {
            Self::Mlp(m) => m.loss_and_grads(xt, t, eps, labels),
            Self::Conv(m) => m.loss_and_grads(xt, t, eps, labels),
            Self::UNet(m) => m.loss_and_grads(xt, t, eps, labels),
            // The conv net at the crops' size.
            Self::Patch(m) => m.net.loss_and_grads(xt, t, eps, labels),
        }
    }

    /// [`Self::loss_and_grads`] split into [`shards`] consecutive parts of the batch, one
    /// per thread of the current rayon pool, computed in parallel and summed in order,
    /// each part weighted by its share of the rows (the loss is a mean over rows):
    /// data-parallel training. On one thread it is `loss_and_grads` itself; on more, the
    /// same numbers up to the rounding of the sums (so a run's weights depend on the thread
    /// count at that level, as PyTorch's do).
    pub fn loss_and_grads_sharded(
        &self,
        xt: &[f32],
        t: &[f32],
        eps: &[f32],
        labels: &[usize],
    ) -> Result<(f32, Vec<Vec<f32>>), ModelError> {
        use rayon::prelude::*;
        let n = t.len();
        let parts = shards(n, rayon::current_num_threads());
        if parts == 1 || xt.len() != eps.len() || !xt.len().is_multiple_of(n) {
            return self.loss_and_grads(xt, t, eps, labels);
        }
        let d = xt.len() / n;
        let bounds: Vec<(usize, usize)> = (0..parts).map(|k| (k * n / parts, (k + 1) * n / parts)).collect();
        let results: Vec<(f32, Vec<Vec<f32>>)> = bounds
            .par_iter()
            .map(|&(a, b)| {
                let rows = if labels.is_empty() { labels } else { &labels[a..b] };
                self.loss_and_grads(&xt[a * d..b * d], &t[a..b], &eps[a * d..b * d], rows)
            })
            .collect::<Result<_, _>>()?;
        let mut parts_iter = bounds.iter().zip(results);
        let (&(a, b), (loss, mut grads)) = parts_iter.next().expect("at least two parts");
        let share = |a: usize, b: usize| (b - a) as f32 / n as f32;
        let w = share(a, b);
        let mut total = w * loss;
        grads.iter_mut().flatten().for_each(|g| *g *= w);
        for (&(a, b), (loss, part)) in parts_iter {
            let w = share(a, b);
            total += w * loss;
            for (sum, g) in grads.iter_mut().zip(&part) {
                sum.iter_mut().zip(g).for_each(|(s, g)| *s += w * g);
            }
        }
        Ok((total, grads))
    }

    /// The network prepared for inference.
    pub fn inference(&self) -> Result<Inference, ModelError> {
        Ok(match self {
            Self::Mlp(m) => Inference::Mlp(m.inference()?),
            Self::Conv(m) => Inference::Conv(m.inference()?),
            Self::UNet(m) => Inference::UNet(m.inference()?),
            // The same conv net on the canvas.
            Self::Patch(m) => Inference::Conv(m.inference()?),
        })
    }

    /// The single-image model set to sample a `height × width` canvas (checked: at most
    /// [`patch::MAX_CANVAS_SIDE`] a side); any other network cannot change its size.
    pub fn with_canvas(&self, height: usize, width: usize) -> Result<Self, ModelError> {
        match self {
            Self::Patch(m) => {
                let config = PatchConfig {
                    canvas: (height, width),
                    ..m.config
                };
                config.check()?;
                Ok(Self::Patch(PatchNet {
                    config,
                    net: m.net.clone(),
                }))
            }
            other => Err(ModelError::Data(format!(
                "only a single-image model samples a canvas of another size; this is a {}",
                other.architecture()
            ))),
        }
    }
}

/// A network prepared for inference (one `t` per batch).
#[derive(Debug)]
pub enum Inference {
    /// The 2D denoiser.
    Mlp(MlpInference),
    /// The image denoiser.
    Conv(ConvInference),
    /// The U-Net.
    UNet(UNetInference),
}

impl Inference {
    /// `ε̂(x_t, t)` for `n × d` values `xt`, all at step `t` (1..T).
    pub fn predict_eps(&self, xt: &[f32], t: usize) -> Result<Vec<f32>, ModelError> {
        self.predict_eps_at(xt, t as f32)
    }

    /// `ε̂(x_t, t)` at a fractional step `t` of the model's own schedule (both networks
    /// embed `t` as a float; see [`elbo::equivalent_steps`]); a conditional model's
    /// unconditional branch `ε̂(x_t, ∅)`. For a flow-matching model, the velocity
    /// `v(x_τ, τ)` at `t = τ·T` ([`flow_matching`]: the names predate it).
    pub fn predict_eps_at(&self, xt: &[f32], t: f32) -> Result<Vec<f32>, ModelError> {
        self.predict_eps_labelled(xt, t, &[])
    }

    /// `ε̂(x_t, t, c)` with a class per example (`labels`, see [`classes::check_labels`]).
    pub fn predict_eps_labelled(&self, xt: &[f32], t: f32, labels: &[usize]) -> Result<Vec<f32>, ModelError> {
        match self {
            Self::Mlp(m) => m.predict_eps(xt, t, labels),
            Self::Conv(m) => m.predict_eps(xt, t, labels),
            Self::UNet(m) => m.predict_eps(xt, t, labels),
        }
    }

    /// Labelled classes of a class-conditional model; 0 for an unconditional one.
    #[must_use]
    pub fn classes(&self) -> usize {
        match self {
            Self::Mlp(m) => m.classes(),
            Self::Conv(m) => m.classes(),
            Self::UNet(m) => m.classes(),
        }
    }
}

/// A trained network with its training record: what a weights file holds. (Named apart
/// from `app::Model`, the window's view model.)
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The network.
    pub network: Network,
    /// Its training record.
    pub info: ModelInfo,
}

/// Reorders one image from channel-major (CHW, the models') to interleaved (HWC, the
/// exporters' and the window's).
#[must_use]
pub fn chw_to_hwc(chw: &[f32], channels: usize, height: usize, width: usize) -> Vec<f32> {
    let plane = height * width;
    let mut out = vec![0f32; chw.len()];
    for c in 0..channels {
        for p in 0..plane {
            out[p * channels + c] = chw[c * plane + p];
        }
    }
    out
}

/// Reorders one image from interleaved (HWC) to channel-major (CHW).
#[must_use]
pub fn hwc_to_chw(hwc: &[f32], channels: usize, height: usize, width: usize) -> Vec<f32> {
    let plane = height * width;
    let mut out = vec![0f32; hwc.len()];
    for c in 0..channels {
        for p in 0..plane {
            out[c * plane + p] = hwc[p * channels + c];
        }
    }
    out
}
