//! PNG strips and grids, scatter plots and animated GIFs of the diffusion chain.
//!
//! Data conventions: image values live in [-1, 1] (see [`image_to_rgb`]); 2D points are
//! standardised and drawn on a fixed square view (see [`render_scatter`]), so every frame
//! of a chain shares its axes. Labels use a built-in bitmap font ([`draw_text`]).
//!
//! ```
//! use diffscope::export::{render_scatter, strip, ScatterStyle};
//!
//! let style = ScatterStyle { size_px: 64, ..ScatterStyle::default() };
//! let tile = render_scatter(&[[0.0, 0.0], [1.0, -0.5]], None, &style);
//! let figure = strip(&[(tile, vec!["t = 0".to_owned()])]);
//! assert_eq!(figure.width(), 64 + 2 * 8);
//! ```

mod font;
mod gif;
mod layout;
mod scatter;
mod states;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, ImageError, RgbImage};

pub use font::{draw_text, text_size};
pub use gif::write_gif;
pub use layout::{GAP_PX, LABEL_LINE_GAP_PX, LABEL_PAD_PX, LABEL_SCALE, MARGIN_PX, grid, strip};
pub use scatter::{ScatterStyle, VIEW_EXTENT, draw_path, draw_points, render_scatter};
pub use states::{GAP_RGB, MASK_RGB, state_rgb, states_to_rgb};

/// Why an export failed; every message that concerns a file names it.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The file could not be created or written.
    #[error("cannot write '{}': {reason}", path.display())]
    Io {
        /// The file being written.
        path: PathBuf,
        /// What the operating system said.
        reason: io::Error,
    },
    /// The encoder rejected the image (for example a GIF wider than 65,535 pixels).
    #[error("cannot write '{}': {reason}", path.display())]
    Encode {
        /// The file being written.
        path: PathBuf,
        /// What the encoder said.
        reason: ImageError,
    },
    /// A GIF frame's size differs from the first frame's.
    #[error(
        "cannot write '{}': frame {index} is {}×{} but frame 0 is {}×{}",
        path.display(), found.0, found.1, expected.0, expected.1
    )]
    FrameSize {
        /// The file being written.
        path: PathBuf,
        /// Index of the offending frame (0-based).
        index: usize,
        /// Width and height of frame 0.
        expected: (u32, u32),
        /// Width and height of frame `index`.
        found: (u32, u32),
    },
    /// A GIF was asked for with no frames.
    #[error("cannot write '{}': no frames to write", path.display())]
    NoFrames {
        /// The file that was not written.
        path: PathBuf,
    },
    /// The progress callback asked to stop; the partial file was removed.
    #[error("export cancelled")]
    Cancelled,
}

impl ExportError {
    /// The error for `reason` from the encoder while writing `path`; I/O failures inside
    /// the encoder become [`ExportError::Io`].
    fn encode(path: &Path, reason: ImageError) -> Self {
        let path = path.to_owned();
        match reason {
            ImageError::IoError(reason) => Self::Io { path, reason },
            reason => Self::Encode { path, reason },
        }
    }
}

/// Removes a file on drop unless told to keep it, so a failed or cancelled export leaves
/// nothing half-written behind.
struct PartialFile<'a> {
    /// The file being written.
    path: &'a Path,
    /// Whether this export created the file (and so may remove it).
    created: bool,
}

impl<'a> PartialFile<'a> {
    /// A guard for `path`, which does not exist yet as far as it knows.
    fn new(path: &'a Path) -> Self {
        Self { path, created: false }
    }

    /// Records that the file now exists and is ours to remove on failure.
    fn created(&mut self) {
        self.created = true;
    }

    /// The export succeeded: leave the file.
    fn keep(&mut self) {
        self.created = false;
    }
}

impl Drop for PartialFile<'_> {
    fn drop(&mut self) {
        if self.created {
            // Best effort: the export already failed, and that error is the one to report.
            let _ = std::fs::remove_file(self.path);
        }
    }
}

/// Converts an image with values in [-1, 1], `height` rows of `width` pixels of
/// `channels` interleaved values (1: grey, replicated to R, G and B; 3: RGB), to RGB8.
///
/// Each value maps to `round(255 · (x + 1) / 2)` clamped to 0..=255, so −1 → 0, 0 → 128
/// (127.5 rounds up), 1 → 255, and noise beyond [-1, 1] is clipped; NaN → 0. Never
/// panics: a buffer shorter than `width·height·channels` (a bug, caught by a debug
/// assertion) leaves the missing pixels black, and any other channel count uses the first
/// channel if it has fewer than 3, else the first three.
#[must_use]
pub fn image_to_rgb(pixels: &[f32], width: u32, height: u32, channels: u8) -> RgbImage {
    let n_pixels = width as usize * height as usize;
    let channels = usize::from(channels);
    debug_assert!(
        channels == 1 || channels == 3,
        "channels must be 1 or 3, not {channels}"
    );
    debug_assert_eq!(
        pixels.len(),
        n_pixels * channels,
        "pixel buffer length for {width}×{height}×{channels}"
    );
    let rgb = interleave(pixels, n_pixels, channels, 3);
    RgbImage::from_raw(width, height, rgb).unwrap_or_else(|| RgbImage::new(width, height))
}

/// The same mapping as [`image_to_rgb`], to unmultiplied RGBA bytes (alpha 255), as the
/// window's textures want them.
#[must_use]
pub fn image_to_rgba(pixels: &[f32], width: u32, height: u32, channels: u8) -> Vec<u8> {
    let n_pixels = width as usize * height as usize;
    debug_assert_eq!(
        pixels.len(),
        n_pixels * usize::from(channels),
        "pixel buffer length"
    );
    interleave(pixels, n_pixels, usize::from(channels), 4)
}

/// One value in `[−1, 1]` to a byte: `round(255 · (x + 1) / 2)`, clamped; NaN → 0.
#[inline]
#[must_use]
pub fn value_to_u8(x: f32) -> u8 {
    (255.0 * (x + 1.0) / 2.0).round().clamp(0.0, 255.0) as u8
}

/// Grey or RGB values to `out_channels` (3 or 4) bytes per pixel; a 4th byte is 255.
/// Pixels missing from a short buffer stay black.
fn interleave(pixels: &[f32], n_pixels: usize, channels: usize, out_channels: usize) -> Vec<u8> {
    let mut out = vec![0u8; n_pixels * out_channels];
    if out_channels == 4 {
        out.iter_mut().skip(3).step_by(4).for_each(|a| *a = 255);
    }
    if channels > 0 {
        for (o, px) in out
            .chunks_exact_mut(out_channels)
            .zip(pixels.chunks_exact(channels))
        {
            if channels < 3 {
                o[..3].fill(value_to_u8(px[0]));
            } else {
                for (o, &x) in o[..3].iter_mut().zip(px) {
                    *o = value_to_u8(x);
                }
            }
        }
    }
    out
}

/// Writes `img` to `path` as a PNG; on failure no partial file is left behind.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<(), ExportError> {
    let mut partial = PartialFile::new(path);
    let file = File::create(path).map_err(|reason| ExportError::Io {
        path: path.to_owned(),
        reason,
    })?;
    partial.created();
    let mut writer = BufWriter::new(file);
    PngEncoder::new(&mut writer)
        .write_image(img.as_raw(), img.width(), img.height(), ExtendedColorType::Rgb8)
        .map_err(|e| ExportError::encode(path, e))?;
    writer.flush().map_err(|reason| ExportError::Io {
        path: path.to_owned(),
        reason,
    })?;
    partial.keep();
    Ok(())
}
