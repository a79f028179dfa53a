//! What the models get from a scene, shared by the Reverse and ELBO tabs and the command
//! line: the training set and architecture, the ideal denoiser's data, SDEdit's start,
//! and the shape of one example as the models see it.

use super::{Scene, SceneData, SceneError, SourceChoice, cached_digits, cached_glyphs};
use crate::data::drawing::MIN_TRAIN_POINTS;
use crate::data::glyphs::{GLYPH_CLASSES, GLYPH_SIDE};
use crate::data::{self, Dataset, ImageData};
use crate::model::patch::{self, PHOTO_SIDE, PatchConfig};
use crate::model::train::TrainSet;
use crate::model::{Architecture, DataShape, conv::ConvConfig, mlp::MlpConfig, unet::UNetConfig};

/// Images are reduced so their long side is at most this for the ideal denoiser of an
/// image (a photo's learned model is the single-image model, [`photo_train_set`]).
pub const TRAIN_MAX_SIDE: usize = 32;

/// `(height, width)` of `img` reduced so its long side is at most [`TRAIN_MAX_SIDE`].
fn train_size(img: &ImageData) -> (usize, usize) {
    let (w, h) = data::reduced_size((img.width.max(1), img.height.max(1)), TRAIN_MAX_SIDE as u32);
    (h as usize, w as usize)
}

/// One glyph digit, 1 × 28 × 28.
const GLYPH_SHAPE: DataShape = DataShape::Image {
    channels: 1,
    height: GLYPH_SIDE,
    width: GLYPH_SIDE,
};

/// The shape of one example of the scene as the models see it: a point, an 8×8 digit, or
/// the image reduced to ≤ [`TRAIN_MAX_SIDE`].
#[must_use]
pub fn ideal_shape(scene: &Scene) -> Option<DataShape> {
    match (&scene.data, &scene.source) {
        (SceneData::Points(_), _) => Some(DataShape::Points),
        (SceneData::Image(_), SourceChoice::Digits) => Some(DataShape::Image {
            channels: 1,
            height: data::DIGIT_SIDE,
            width: data::DIGIT_SIDE,
        }),
        (SceneData::Image(_), SourceChoice::Glyphs) => Some(GLYPH_SHAPE),
        (SceneData::Image(img), _) => {
            let (height, width) = train_size(img);
            Some(DataShape::Image {
                channels: usize::from(img.channels),
                height,
                width,
            })
        }
    }
}

/// Whether a model of samples `shape` (a single-image model: of a photo of `photo`) denoises
/// the data of `scene`: the ideal denoiser's shape, or — a single-image model — any photo
/// with as many channels (it learns the photo on screen when trained here; another photo
/// still makes a valid SDEdit start).
#[must_use]
pub fn model_fits(scene: &Scene, shape: DataShape, photo: Option<(usize, usize)>) -> bool {
    match (photo, &scene.data, &scene.source, shape) {
        (None, ..) => ideal_shape(scene) == Some(shape),
        (Some(_), SceneData::Image(img), source, DataShape::Image { channels, .. }) => {
            !matches!(source, SourceChoice::Digits | SourceChoice::Glyphs)
                && usize::from(img.channels) == channels
        }
        (Some(_), ..) => false,
    }
}

/// The name of the shipped weights for the scene, if there are any.
#[must_use]
pub fn shipped_name(scene: &Scene) -> Option<String> {
    let name = match (&scene.source, &scene.data) {
        (SourceChoice::Digits, _) => "digits".to_owned(),
        (SourceChoice::Glyphs, _) => "glyphs".to_owned(),
        (SourceChoice::Dataset(name), _) => name.parse::<Dataset>().ok()?.name().to_owned(),
        (SourceChoice::Image(name), _) => {
            format!("photo-{}", name.parse::<crate::data::BuiltinImage>().ok()?.name())
        }
        _ => return None,
    };
    crate::model::shipped::names().any(|n| n == name).then_some(name)
}

/// The name of the shipped flow-matching model of the data on screen (`fm-two-moons`),
/// if there is one (the six built-in 2D sets).
#[must_use]
pub fn shipped_flow_name(scene: &Scene) -> Option<String> {
    match &scene.source {
        SourceChoice::Dataset(name) => {
            let dataset: Dataset = name.parse().ok()?;
            let name = crate::model::shipped::name_for(dataset, crate::model::Objective::FlowMatching);
            crate::model::shipped::names().any(|n| n == name).then_some(name)
        }
        _ => None,
    }
}

/// `img` resampled to `channels × height × width`, CHW (area average; grey ↔ RGB by
/// replication or the mean of the channels).
#[must_use]
pub fn resample_chw(img: &ImageData, channels: usize, height: usize, width: usize) -> Vec<f32> {
    let (sw, sh, sc) = (img.width as usize, img.height as usize, usize::from(img.channels));
    let mut out = vec![0f32; channels * height * width];
    if sw == 0 || sh == 0 || sc == 0 || img.pixels.len() < sw * sh * sc {
        return out;
    }
    for y in 0..height {
        let y0 = y * sh / height;
        let y1 = ((y + 1) * sh / height).max(y0 + 1).min(sh);
        for x in 0..width {
            let x0 = x * sw / width;
            let x1 = ((x + 1) * sw / width).max(x0 + 1).min(sw);
            let mut sums = [0f64; 3];
            for sy in y0..y1 {
                for sx in x0..x1 {
                    let base = (sy * sw + sx) * sc;
                    for (c, sum) in sums.iter_mut().enumerate().take(sc.min(3)) {
                        *sum += f64::from(img.pixels[base + c]);
                    }
                }
            }
            let count = ((y1 - y0) * (x1 - x0)) as f64;
            let mean: Vec<f64> = sums[..sc.min(3)].iter().map(|s| s / count).collect();
            for c in 0..channels {
                let v = if channels == mean.len() {
                    mean[c]
                } else if mean.len() == 1 {
                    mean[0]
                } else {
                    mean.iter().sum::<f64>() / mean.len() as f64
                };
                out[(c * height + y) * width + x] = v as f32;
            }
        }
    }
    out
}

/// The training set and architecture for the data on screen: a built-in 2D set, the
/// user's points, the digits, the glyphs, or a photo's single-image model ([`photo_train_set`]).
///
/// # Errors
/// A training set the model layer refuses (too few points, …).
pub fn train_set(scene: &Scene, seed: u64) -> Result<(TrainSet, Architecture), SceneError> {
    match (&scene.source, &scene.data) {
        (SourceChoice::Dataset(name), SceneData::Points(_)) => {
            let dataset: Dataset = name.parse()?;
            // A labelled set trains a class-conditional model (its unconditional branch
            // samples as an unconditional model does; guidance needs the classes).
            Ok((
                TrainSet::dataset(dataset, seed),
                Architecture::Mlp2d(MlpConfig {
                    classes: dataset.classes(),
                    ..MlpConfig::default()
                }),
            ))
        }
        (SourceChoice::Drawing, SceneData::Points(points)) if points.len() < MIN_TRAIN_POINTS => {
            Err(SceneError::DrawingTooSmall(points.len()))
        }
        (_, SceneData::Points(points)) => Ok((
            // Every point of a large file, not only the ones shown.
            TrainSet::points(&scene.name, scene.all_points.as_ref().unwrap_or(points), seed)?,
            Architecture::Mlp2d(MlpConfig::default()),
        )),
        (SourceChoice::Glyphs, _) => {
            let (images, labels) = cached_glyphs();
            Ok((
                TrainSet::labelled_images("glyphs", GLYPH_SHAPE, images, labels, GLYPH_CLASSES, seed)?,
                Architecture::UNet(UNetConfig {
                    classes: GLYPH_CLASSES,
                    ..UNetConfig::glyphs()
                }),
            ))
        }
        (SourceChoice::Digits, _) => Ok((
            TrainSet::digits(seed)?,
            Architecture::Conv(ConvConfig {
                classes: data::DIGIT_CLASSES,
                ..ConvConfig::digits()
            }),
        )),
        (_, SceneData::Image(img)) => photo_train_set(&scene.name, img, PHOTO_SIDE, None, seed),
    }
}

/// `img` reduced so its long side is `side` (≤ [`patch::MAX_PHOTO_SIDE`]; never enlarged),
/// `(height, width)`.
#[must_use]
pub fn photo_size(img: &ImageData, side: usize) -> (usize, usize) {
    let (w, h) = data::reduced_size((img.width.max(1), img.height.max(1)), side as u32);
    (h as usize, w as usize)
}

/// The single-image model of a photo ("learn this photo", [`patch`]): the photo reduced so
/// its long side is `side`, every crop of it (stride 1, a seeded tenth held out) and the
/// network of [`PatchConfig::photo`] (with crops of `crop`, if given).
///
/// # Errors
/// A photo too small for a crop, or a side out of range.
pub fn photo_train_set(
    name: &str,
    img: &ImageData,
    side: usize,
    crop: Option<usize>,
    seed: u64,
) -> Result<(TrainSet, Architecture), SceneError> {
    let (height, width) = photo_size(img, side.clamp(1, patch::MAX_PHOTO_SIDE));
    let channels = usize::from(img.channels);
    let default = PatchConfig::photo(channels, height, width);
    let config = PatchConfig {
        crop: crop.unwrap_or(default.crop),
        ..default
    };
    config.check()?;
    let chw = resample_chw(img, channels, height, width);
    let crops = patch::crops(&chw, channels, height, width, config.crop, 1);
    Ok((
        TrainSet::images(name, config.crop_shape(), &crops, seed)?,
        Architecture::Patch(config),
    ))
}

/// The data of the ideal denoiser for the scene (`n × dim`, CHW for images) and its shape.
///
/// # Errors
/// No data for it, or broken embedded digits.
pub fn ideal_data(scene: &Scene) -> Result<(Vec<f64>, DataShape), SceneError> {
    let shape = ideal_shape(scene).ok_or(SceneError::NoIdealData)?;
    let data = match (&scene.source, &scene.data) {
        (_, SceneData::Points(points)) => points.iter().flatten().copied().collect(),
        (SourceChoice::Digits, _) => cached_digits()?
            .images
            .iter()
            .flatten()
            .map(|&v| f64::from(v))
            .collect(),
        (SourceChoice::Glyphs, _) => cached_glyphs()
            .0
            .iter()
            .flatten()
            .map(|&v| f64::from(v))
            .collect(),
        (_, SceneData::Image(img)) => {
            let DataShape::Image {
                channels,
                height,
                width,
            } = shape
            else {
                return Err(SceneError::IdealNeedsImageShape);
            };
            resample_chw(img, channels, height, width)
                .into_iter()
                .map(f64::from)
                .collect()
        }
    };
    Ok((data, shape))
}

/// SDEdit's `x_0`: `n` examples of `shape` (CHW) from the image data on screen — the
/// first `n` digits, or the image resampled to the shape and repeated `n` times.
///
/// # Errors
/// A model of points, a scene of points, or broken embedded digits.
pub fn sdedit_start(scene: &Scene, shape: DataShape, n: usize) -> Result<Vec<f32>, SceneError> {
    let DataShape::Image {
        channels,
        height,
        width,
    } = shape
    else {
        return Err(SceneError::SdeditNeedsImageModel);
    };
    let SceneData::Image(img) = &scene.data else {
        return Err(SceneError::SdeditNeedsImage);
    };
    if scene.source == SourceChoice::Digits
        && channels == 1
        && height == data::DIGIT_SIDE
        && width == data::DIGIT_SIDE
    {
        let digits = cached_digits()?;
        return Ok(digits.images.iter().take(n).flatten().copied().collect());
    }
    if scene.source == SourceChoice::Glyphs && shape == GLYPH_SHAPE {
        return Ok(cached_glyphs()
            .0
            .iter()
            .cycle()
            .take(n)
            .flatten()
            .copied()
            .collect());
    }
    let one = resample_chw(img, channels, height, width);
    Ok(std::iter::repeat_n(one, n).flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_averages_areas_and_converts_channels() {
        let img = ImageData {
            width: 2,
            height: 2,
            channels: 3,
            pixels: vec![1.0, 0.0, -1.0, 1.0, 0.0, -1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 1.0],
            source_size: (2, 2),
        };
        assert_eq!(resample_chw(&img, 3, 1, 1), vec![0.0, 0.0, 0.0]);
        // Grey: the mean of the channels; the top row is (1 + 0 − 1)/3 = 0.
        assert_eq!(resample_chw(&img, 1, 2, 1), vec![0.0, 0.0]);
        assert_eq!(resample_chw(&img, 3, 2, 1), vec![1.0, -1.0, 0.0, 0.0, -1.0, 1.0]);
    }
}
