//! The data on screen: an image or a 2D point cloud, and how it is loaded.
//!
//! Loading never replaces the current scene itself: it returns a new [`Scene`] or an
//! error, and the app swaps only on success, so a failed load loses nothing.

use std::path::Path;
use std::sync::Arc;

use super::settings::{Settings, SourceChoice};
use crate::data::{self, BuiltinImage, Dataset, ImageData};

/// The data of a scene.
#[derive(Clone, Debug)]
pub enum SceneData {
    /// An image in `[−1, 1]`, HWC.
    Image(Arc<ImageData>),
    /// Standardised 2D points.
    Points(Arc<Vec<[f64; 2]>>),
}

/// What is on screen, with where it came from.
#[derive(Clone, Debug)]
pub struct Scene {
    /// Where it came from (persisted).
    pub source: SourceChoice,
    /// A short name for titles and file names.
    pub name: String,
    /// The data.
    pub data: SceneData,
    /// What was done to it on load (reduced, standardised), shown under the data.
    pub note: Option<String>,
}

impl Scene {
    /// The number of values `d` of one example.
    #[must_use]
    pub fn dim(&self) -> usize {
        match &self.data {
            SceneData::Image(img) => img.pixels.len(),
            SceneData::Points(p) => 2 * p.len(),
        }
    }

    /// The data as one flat `f64` array: HWC for an image, `x, y, x, y, …` for points.
    #[must_use]
    pub fn values(&self) -> Vec<f64> {
        match &self.data {
            SceneData::Image(img) => img.pixels.iter().map(|&v| f64::from(v)).collect(),
            SceneData::Points(p) => p.iter().flatten().copied().collect(),
        }
    }

    /// `‖x_0‖²` over the whole scene (all pixels, or all points).
    #[must_use]
    pub fn sq_norm(&self) -> f64 {
        match &self.data {
            SceneData::Image(img) => img.pixels.iter().map(|&v| f64::from(v) * f64::from(v)).sum(),
            SceneData::Points(p) => p.iter().map(|[x, y]| x * x + y * y).sum(),
        }
    }

    /// A one-line description: size, channels or point count.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.data {
            SceneData::Image(img) => format!(
                "{} × {} {}",
                img.width,
                img.height,
                if img.channels == 1 { "grey" } else { "RGB" }
            ),
            SceneData::Points(p) => format!("{} points", p.len()),
        }
    }
}

/// Loads the scene `source` describes, with the data settings in `settings`.
pub fn load(source: &SourceChoice, settings: &Settings) -> Result<Scene, String> {
    match source {
        SourceChoice::Image(name) => {
            let image: BuiltinImage = name.parse().map_err(|e: data::DataError| e.to_string())?;
            let img = image.load(settings.max_side).map_err(|e| e.to_string())?;
            Ok(image_scene(
                source.clone(),
                image.name().to_owned(),
                img,
                settings.max_side,
            ))
        }
        SourceChoice::Dataset(name) => {
            let dataset: Dataset = name.parse().map_err(|e: data::DataError| e.to_string())?;
            let points = data::generate(dataset, settings.n_points, settings.data_seed);
            Ok(Scene {
                source: source.clone(),
                name: dataset.name().to_owned(),
                data: SceneData::Points(Arc::new(points)),
                note: Some("standardised: zero mean, unit standard deviation per coordinate".into()),
            })
        }
        SourceChoice::File(path) => load_file(path, settings.max_side),
        SourceChoice::Digits => {
            let digits = cached_digits()?;
            Ok(Scene {
                source: source.clone(),
                name: "digits".into(),
                data: SceneData::Image(Arc::new(digit_grid(digits, DIGIT_GRID))),
                note: Some(format!(
                    "the first {} of {} 8×8 digits; training and the ideal denoiser use all of them",
                    DIGIT_GRID * DIGIT_GRID,
                    digits.len()
                )),
            })
        }
    }
}

/// Digits per side of the grid the Forward tab shows.
pub const DIGIT_GRID: usize = 8;

/// The embedded digits, parsed once.
pub fn cached_digits() -> Result<&'static data::Digits, String> {
    static DIGITS: std::sync::OnceLock<Result<data::Digits, String>> = std::sync::OnceLock::new();
    DIGITS
        .get_or_init(|| data::digits().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// The first `side × side` digits as one grey image, 1-pixel mid-grey gaps between them.
#[must_use]
pub fn digit_grid(digits: &data::Digits, side: usize) -> ImageData {
    let d = data::DIGIT_SIDE;
    let px = side * d + side - 1;
    let mut pixels = vec![0.0f32; px * px];
    for (k, image) in digits.images.iter().take(side * side).enumerate() {
        let (gy, gx) = (k / side, k % side);
        for y in 0..d {
            for x in 0..d {
                pixels[(gy * (d + 1) + y) * px + gx * (d + 1) + x] = image[y * d + x];
            }
        }
    }
    ImageData {
        width: px as u32,
        height: px as u32,
        channels: 1,
        pixels,
        source_size: (px as u32, px as u32),
    }
}

/// Whether `path` names a points CSV (by extension) rather than an image.
#[must_use]
pub fn is_points_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("txt"))
}

/// Loads an image or a points CSV from a file.
pub fn load_file(path: &Path, max_side: u32) -> Result<Scene, String> {
    let name = path
        .file_stem()
        .map_or_else(|| "data".to_owned(), |s| s.to_string_lossy().into_owned());
    let source = SourceChoice::File(path.to_owned());
    if path.is_dir() {
        return Err(format!(
            "cannot open '{}': it is a folder, not a file",
            path.display()
        ));
    }
    if is_points_file(path) {
        let mut points = data::load_points_csv(path).map_err(|e| e.to_string())?;
        let n = points.len();
        data::standardise(&mut points);
        Ok(Scene {
            source,
            name,
            data: SceneData::Points(Arc::new(points)),
            note: Some(format!("{}: {n} points, standardised", path.display())),
        })
    } else {
        let img = data::load_image(path, max_side).map_err(|e| e.to_string())?;
        Ok(image_scene(source, name, img, max_side))
    }
}

fn image_scene(source: SourceChoice, name: String, img: ImageData, max_side: u32) -> Scene {
    let note = img.was_reduced().then(|| {
        format!(
            "reduced from {} × {} to {} × {} (long side ≤ {max_side})",
            img.source_size.0, img.source_size.1, img.width, img.height
        )
    });
    Scene {
        source,
        name,
        data: SceneData::Image(Arc::new(img)),
        note,
    }
}
