//! The single-image model ("learn this photo"): the image denoiser of [`super::conv`],
//! fully convolutional, trained with `L_simple` on random square crops of one photo at a
//! working size, and run on a canvas of any size — so that it samples new images that
//! rearrange the photo's patches (SinDiffusion, Wang et al. 2022, one model at one scale)
//! instead of copying the photo.
//!
//! The network is [`ConvNet`] with no weight that depends on the image size: the time
//! embedding enters as a per-channel bias, every layer is a 3×3 convolution with zero
//! padding. What it learns is the distribution of its receptive field's windows, so the
//! receptive field against the photo's size decides between copying (a window as large
//! as the photo) and texture soup (a window of a few pixels). SinDDM (Kulikov et al.
//! 2023) sets its coarsest scale so that the receptive field covers about 40 % of the
//! image's area (35² of 3110 px); SinDiffusion's U-Net sees about 100 px of a 250 px
//! image. Here the photo is reduced to [`PHOTO_SIDE`] = 64 px on its long side and the
//! network has 3 blocks of dilations 1, 2, 4: each output pixel sees a 33×33 window
//! (`5 + 4·Σ d`, [`PatchConfig::receptive_field`]) — 40 % of the 64×43 cat's area, 27 %
//! of a 64×64 photo's. Training crops are [`CROP`] = 48 px (or the photo's short side):
//! larger than the window, so that most outputs see no padding, as on a canvas's inside.

use super::conv::{ConvConfig, ConvInference, ConvNet};
use super::params::Param;
use super::{DataShape, ModelError};

/// The long side, in pixels, of the photo as the single-image model learns it (the
/// window's; `diffscope train --side` chooses another up to [`MAX_PHOTO_SIDE`]).
pub const PHOTO_SIDE: usize = 64;
/// The longest side a single-image model may learn.
pub const MAX_PHOTO_SIDE: usize = 128;
/// The side of the square training crops.
pub const CROP: usize = 48;
/// The largest canvas side a single-image model samples.
pub const MAX_CANVAS_SIDE: usize = 512;

/// Shape of a single-image model: the network, the photo it learned and the canvas it
/// samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchConfig {
    /// Image channels (1 or 3).
    pub channels: usize,
    /// The photo's size as learned, `(height, width)` (saved with the weights).
    pub photo: (usize, usize),
    /// Side of the square training crops.
    pub crop: usize,
    /// Feature channels `F`.
    pub features: usize,
    /// Residual blocks; block `i` has dilation [`ConvConfig::dilation`]`(i)`.
    pub blocks: usize,
    /// The size it samples, `(height, width)`: the photo's unless set
    /// ([`super::Network::with_canvas`]); not saved.
    pub canvas: (usize, usize),
}

impl PatchConfig {
    /// The default for a photo of `channels` reduced to `height × width` (≤ [`PHOTO_SIDE`]):
    /// F = 32, 3 blocks (receptive field 33), crops of [`CROP`] (or the short side, if
    /// shorter).
    #[must_use]
    pub fn photo(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            photo: (height, width),
            crop: CROP.min(height).min(width),
            features: 32,
            blocks: 3,
            canvas: (height, width),
        }
    }

    /// Side in pixels of the square each output pixel sees: `5 + 4·Σ d_i` (the input and
    /// output convolutions 1 each, every block's two convolutions `2·d_i` each).
    #[must_use]
    pub fn receptive_field(&self) -> usize {
        5 + 4 * (0..self.blocks).map(ConvConfig::dilation).sum::<usize>()
    }

    /// The conv net's configuration on a `height × width` grid.
    #[must_use]
    pub const fn conv(&self, height: usize, width: usize) -> ConvConfig {
        ConvConfig {
            channels: self.channels,
            height,
            width,
            features: self.features,
            blocks: self.blocks,
            classes: 0,
        }
    }

    /// One training crop's shape.
    #[must_use]
    pub const fn crop_shape(&self) -> DataShape {
        DataShape::Image {
            channels: self.channels,
            height: self.crop,
            width: self.crop,
        }
    }

    /// The canvas's shape (what a sample is).
    #[must_use]
    pub const fn canvas_shape(&self) -> DataShape {
        DataShape::Image {
            channels: self.channels,
            height: self.canvas.0,
            width: self.canvas.1,
        }
    }

    /// Parameter names and shapes, in order: the conv net's (PyTorch `state_dict` names).
    #[must_use]
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        self.conv(self.crop, self.crop).layout()
    }

    /// Checks the sizes: a non-empty photo no larger than [`PHOTO_SIDE`], crops that fit
    /// in it, a canvas of at most [`MAX_CANVAS_SIDE`] a side.
    pub fn check(&self) -> Result<(), ModelError> {
        let (h, w) = self.photo;
        let (ch, cw) = self.canvas;
        if self.channels == 0 || self.channels > 3 || self.features == 0 || self.blocks == 0 {
            return Err(ModelError::Layout(format!(
                "single-image model: empty shape {self:?}"
            )));
        }
        if h == 0 || w == 0 || h.max(w) > MAX_PHOTO_SIDE {
            return Err(ModelError::Layout(format!(
                "single-image model: a photo of {w}×{h} is not 1…{MAX_PHOTO_SIDE} px a side"
            )));
        }
        if self.crop == 0 || self.crop > h.min(w) {
            return Err(ModelError::Layout(format!(
                "single-image model: crops of {0}×{0} do not fit its {w}×{h} photo",
                self.crop
            )));
        }
        if ch == 0 || cw == 0 || ch.max(cw) > MAX_CANVAS_SIDE {
            return Err(ModelError::Data(format!(
                "a canvas of {cw}×{ch} is not 1…{MAX_CANVAS_SIDE} px a side"
            )));
        }
        Ok(())
    }
}

/// The single-image model: its shape and the conv net, held at the crop size it trains on.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchNet {
    /// Its shape.
    pub config: PatchConfig,
    /// The network, configured for one crop.
    pub net: ConvNet,
}

impl PatchNet {
    /// A freshly initialised network (as [`ConvNet::new`]).
    #[must_use]
    pub fn new(config: PatchConfig, seed: u64) -> Self {
        Self {
            config,
            net: ConvNet::new(config.conv(config.crop, config.crop), seed),
        }
    }

    /// A network from loaded tensors, checked against the layout of `config`.
    pub fn from_params(config: PatchConfig, params: Vec<Param>) -> Result<Self, ModelError> {
        config.check()?;
        Ok(Self {
            config,
            net: ConvNet::from_params(config.conv(config.crop, config.crop), params)?,
        })
    }

    /// The network prepared for inference on its canvas.
    pub fn inference(&self) -> Result<ConvInference, ModelError> {
        self.config.check()?;
        let (h, w) = self.config.canvas;
        self.net.inference_on(self.config.conv(h, w))
    }
}

/// Every `crop × crop` window of a `channels × height × width` image (CHW) at a stride of
/// `stride` pixels (and the last row and column of windows), each CHW: the training set
/// of a single-image model (overlapping windows: each batch draws among them).
#[must_use]
pub fn crops(
    chw: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    crop: usize,
    stride: usize,
) -> Vec<Vec<f32>> {
    let starts = |side: usize| -> Vec<usize> {
        if crop > side {
            return Vec::new();
        }
        let mut s: Vec<usize> = (0..=side - crop).step_by(stride.max(1)).collect();
        if s.last() != Some(&(side - crop)) {
            s.push(side - crop);
        }
        s
    };
    let (ys, xs) = (starts(height), starts(width));
    let mut out = Vec::with_capacity(ys.len() * xs.len());
    for &y0 in &ys {
        for &x0 in &xs {
            let mut c = Vec::with_capacity(channels * crop * crop);
            for ch in 0..channels {
                for y in y0..y0 + crop {
                    let row = (ch * height + y) * width;
                    c.extend_from_slice(&chw[row + x0..row + x0 + crop]);
                }
            }
            out.push(c);
        }
    }
    out
}
