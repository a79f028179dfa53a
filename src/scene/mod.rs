//! The scene: the data a view shows (an image or a 2D point cloud), how it is loaded, and
//! what the window and the command line make of it — pictures of the forward process
//! ([`render`]), image grids ([`tile`]) and the data the models train and sample on
//! ([`prepare`]). No egui here: the window (`app`, `ui`) and the CLI both sit on top.
//!
//! Loading never replaces the current scene itself: it returns a new [`Scene`] or an
//! error, and the app swaps only on success, so a failed load loses nothing.

pub mod chain_gif;
pub mod contour;
pub mod forward_gif;
pub mod guidance;
pub mod prepare;
pub mod render;
pub mod tile;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::drawing::DrawnPoints;
use crate::data::{self, BuiltinImage, Dataset, ImageData};
use crate::model::{Checkpoint, io, shipped};

/// Why a scene could not be loaded, or a model's data not made from it; `Display` is the
/// one-line message the window and the command line show.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    /// The data layer's reason (an unknown name, a bad file, …).
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// The model layer's reason (a training set it refuses).
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// A folder where a file was expected.
    #[error("cannot open '{}': it is a folder, not a file", .0.display())]
    Folder(PathBuf),
    /// The embedded digits did not parse (the data layer's reason, kept from the first
    /// attempt).
    #[error("{0}")]
    Digits(String),
    /// The scene has no data the ideal denoiser can use.
    #[error("no data for the ideal denoiser")]
    NoIdealData,
    /// An image scene with a shape that is not an image's.
    #[error("the ideal denoiser of an image needs an image shape")]
    IdealNeedsImageShape,
    /// SDEdit with a model of 2D points.
    #[error("SDEdit needs an image model (the model denoises 2D points)")]
    SdeditNeedsImageModel,
    /// A drawing with too few points to train on.
    #[error(
        "a drawing of {0} points is too few to train on: draw at least {min}",
        min = data::drawing::MIN_TRAIN_POINTS
    )]
    DrawingTooSmall(usize),
    /// SDEdit over 2D points.
    #[error("SDEdit starts from an image: open an image or the digits")]
    SdeditNeedsImage,
}

/// Where the data on screen comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceChoice {
    /// A built-in image, by name.
    Image(String),
    /// A built-in 2D data set, by name.
    Dataset(String),
    /// A file the user opened (image or points CSV).
    File(PathBuf),
    /// The 1797 8×8 handwritten digits (shown as a grid; training uses them all).
    Digits,
    /// The 28×28 glyph digits rendered from the embedded fonts ([`data::glyphs`]; shown
    /// as a grid, [`GLYPH_COUNT`] of them for training and the ideal denoiser).
    Glyphs,
    /// The points drawn by hand in the window ([`SceneOptions::drawing`]; see
    /// [`drawing_scene`]).
    Drawing,
}

impl Default for SourceChoice {
    fn default() -> Self {
        Self::Image(BuiltinImage::Astronaut.name().to_owned())
    }
}

impl SourceChoice {
    /// The built-in image `image`.
    #[must_use]
    pub fn image(image: BuiltinImage) -> Self {
        Self::Image(image.name().to_owned())
    }

    /// The built-in data set `dataset`.
    #[must_use]
    pub fn dataset(dataset: Dataset) -> Self {
        Self::Dataset(dataset.name().to_owned())
    }

    /// The built-in data called `name` (`digits`, an image or a 2D set; see
    /// [`BUILTIN_NAMES`]), if there is one.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("digits") {
            Some(Self::Digits)
        } else if name.eq_ignore_ascii_case("glyphs") {
            Some(Self::Glyphs)
        } else if let Ok(image) = name.parse::<BuiltinImage>() {
            Some(Self::image(image))
        } else {
            name.parse::<Dataset>().ok().map(Self::dataset)
        }
    }

    /// The name [`SourceChoice::from_name`] reads, or the path of a file.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::Image(name) | Self::Dataset(name) => name.clone(),
            Self::File(path) => path.display().to_string(),
            Self::Digits => "digits".into(),
            Self::Glyphs => "glyphs".into(),
            Self::Drawing => "drawing".into(),
        }
    }
}

/// The names of the built-in data, for messages.
pub const BUILTIN_NAMES: &str = "astronaut, camera, cat, digits, glyphs, two-moons, swiss-roll, 8gaussians, checkerboard, circles, spiral";

/// What loading a source needs besides the source itself (the window keeps these in its
/// settings, the command line takes them as flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneOptions {
    /// Images are reduced so their long side is at most this many pixels.
    pub max_side: u32,
    /// Points drawn from a built-in 2D set.
    pub n_points: usize,
    /// Seed of the built-in 2D set.
    pub data_seed: u64,
    /// The window's drawing, as drawn ([`SourceChoice::Drawing`]; empty elsewhere).
    pub drawing: DrawnPoints,
    /// At most this many points of a points file are shown ([`Scene::all_points`]).
    pub points_shown: usize,
}

/// Points of a points file the views show by default (the largest built-in set).
pub const DEFAULT_POINTS_SHOWN: usize = 20_000;
/// The most points the views may be asked to show: both views of the forward chain of
/// every shown point are computed on the UI thread when `t` moves.
pub const MAX_POINTS_SHOWN: usize = 100_000;
/// The fewest.
pub const MIN_POINTS_SHOWN: usize = 1000;
/// Seed of the uniform subsample a large points file shows.
const SHOWN_SEED: u64 = 0x5107;

/// How far a load has got: bytes read of the file's size, written by the loading
/// thread and read by the window for its status line.
#[derive(Debug, Default)]
pub struct LoadProgress {
    read: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
}

impl LoadProgress {
    fn set(&self, read: u64, total: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.total.store(total, Relaxed);
        self.read.store(read, Relaxed);
    }

    /// The fraction read, once a file of known size is being read.
    #[must_use]
    pub fn fraction(&self) -> Option<f64> {
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.total.load(Relaxed);
        (total > 0).then(|| (self.read.load(Relaxed) as f64 / total as f64).min(1.0))
    }
}

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
    /// All the points of a points file with more than [`SceneOptions::points_shown`]:
    /// then [`Self::data`] is a uniform subsample of them, which the views and the ideal
    /// denoiser use; training uses these. `None` when every point is shown.
    pub all_points: Option<Arc<Vec<[f64; 2]>>>,
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
            SceneData::Points(p) => match &self.all_points {
                Some(all) => format!("{} of {} points shown", p.len(), all.len()),
                None => format!("{} points", p.len()),
            },
        }
    }

    /// Every point of the scene: [`Self::all_points`], or the points shown.
    #[must_use]
    pub fn every_point(&self) -> Option<&Arc<Vec<[f64; 2]>>> {
        match &self.data {
            SceneData::Points(p) => Some(self.all_points.as_ref().unwrap_or(p)),
            SceneData::Image(_) => None,
        }
    }

    /// This points file's scene showing at most `limit` of its points (a new uniform
    /// subsample, or all of them); `None` for any other scene.
    #[must_use]
    pub fn showing(&self, limit: usize) -> Option<Self> {
        let SourceChoice::File(path) = &self.source else {
            return None;
        };
        let all = self.every_point()?.clone();
        Some(points_file_scene(path, self.name.clone(), all, limit))
    }
}

/// The scene of a points file's standardised `points`, showing at most `limit`.
fn points_file_scene(path: &Path, name: String, points: Arc<Vec<[f64; 2]>>, limit: usize) -> Scene {
    let n = points.len();
    let (data, all_points, shown) = if n > limit {
        let shown = data::uniform_subsample(&points, limit, SHOWN_SEED);
        (
            SceneData::Points(Arc::new(shown)),
            Some(points),
            format!("; the views and the ideal denoiser show a uniform {limit} of them, training uses all"),
        )
    } else {
        (SceneData::Points(points), None, String::new())
    };
    Scene {
        source: SourceChoice::File(path.to_owned()),
        name,
        data,
        note: Some(format!("{}: {n} points, standardised{shown}", path.display())),
        all_points,
    }
}

/// Loads the scene `source` describes, with `options`.
///
/// # Errors
/// An unknown name, a file that cannot be read or decoded, or broken embedded digits.
pub fn load(source: &SourceChoice, options: &SceneOptions) -> Result<Scene, SceneError> {
    load_with(source, options, &LoadProgress::default())
}

/// [`load`], reporting a points file's reading in `progress`.
///
/// # Errors
/// As [`load`].
pub fn load_with(
    source: &SourceChoice,
    options: &SceneOptions,
    progress: &LoadProgress,
) -> Result<Scene, SceneError> {
    match source {
        SourceChoice::Image(name) => {
            let image: BuiltinImage = name.parse()?;
            let img = image.load(options.max_side)?;
            Ok(image_scene(
                source.clone(),
                image.name().to_owned(),
                img,
                options.max_side,
            ))
        }
        SourceChoice::Dataset(name) => {
            let dataset: Dataset = name.parse()?;
            let points = data::generate(dataset, options.n_points, options.data_seed);
            Ok(Scene {
                source: source.clone(),
                name: dataset.name().to_owned(),
                data: SceneData::Points(Arc::new(points)),
                note: Some("standardised: zero mean, unit standard deviation per coordinate".into()),
                all_points: None,
            })
        }
        SourceChoice::File(path) => load_file_with(path, options, progress),
        SourceChoice::Drawing => Ok(drawing_scene(&options.drawing)),
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
                all_points: None,
            })
        }
        SourceChoice::Glyphs => {
            let (images, _) = cached_glyphs();
            let side = data::glyphs::GLYPH_SIDE;
            let values: Vec<f32> = images
                .iter()
                .take(GLYPH_GRID * GLYPH_GRID)
                .flatten()
                .copied()
                .collect();
            Ok(Scene {
                source: source.clone(),
                name: "glyphs".into(),
                data: SceneData::Image(Arc::new(tile::tile_images(&values, 1, side, side, GLYPH_GRID))),
                note: Some(format!(
                    "the first {} of {GLYPH_COUNT} 28×28 glyph digits (the embedded fonts, jittered); training and the ideal denoiser use all of them",
                    GLYPH_GRID * GLYPH_GRID
                )),
                all_points: None,
            })
        }
    }
}

/// The scene of a drawing: its points standardised as a points CSV's are ([`load_points`]),
/// so that the drawing saved as CSV and opened again is the same scene. The drawing itself
/// (the coordinates it was drawn in) stays with the window, which shows it while drawing
/// and saves it.
#[must_use]
pub fn drawing_scene(drawing: &DrawnPoints) -> Scene {
    let mut points = drawing.points().to_vec();
    data::standardise(&mut points);
    let n = points.len();
    Scene {
        source: SourceChoice::Drawing,
        name: "drawing".into(),
        data: SceneData::Points(Arc::new(points)),
        note: Some(format!(
            "drawn by hand: {n} point{}, standardised for the forward process and the model",
            if n == 1 { "" } else { "s" }
        )),
        all_points: None,
    }
}

/// Digits per side of the grid the Forward tab shows.
pub const DIGIT_GRID: usize = 8;
/// Glyphs per side of the grid the Forward tab shows.
pub const GLYPH_GRID: usize = 4;
/// Glyph digits drawn (seed [`GLYPH_SEED`]) for training and the ideal denoiser.
pub const GLYPH_COUNT: usize = 2000;
/// The seed of the glyph digits on screen.
pub const GLYPH_SEED: u64 = 1;

/// The glyph digits of the window and the command line, drawn once: images and labels.
pub fn cached_glyphs() -> &'static (Vec<Vec<f32>>, Vec<usize>) {
    static GLYPHS: std::sync::OnceLock<(Vec<Vec<f32>>, Vec<usize>)> = std::sync::OnceLock::new();
    GLYPHS.get_or_init(|| data::glyphs::glyphs(GLYPH_COUNT, GLYPH_SEED))
}

/// The embedded digits, parsed once.
///
/// # Errors
/// The embedded digits do not parse (every call says why).
pub fn cached_digits() -> Result<&'static data::Digits, SceneError> {
    static DIGITS: std::sync::OnceLock<Result<data::Digits, String>> = std::sync::OnceLock::new();
    DIGITS
        .get_or_init(|| data::digits().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| SceneError::Digits(e.clone()))
}

/// The first `side × side` digits as one grey image, 1-pixel mid-grey gaps between them.
#[must_use]
pub fn digit_grid(digits: &data::Digits, side: usize) -> ImageData {
    let d = data::DIGIT_SIDE;
    let values: Vec<f32> = digits
        .images
        .iter()
        .take(side * side)
        .flatten()
        .copied()
        .collect();
    tile::tile_images(&values, 1, d, d, side)
}

/// Whether `path` names a points CSV (by extension) rather than an image.
#[must_use]
pub fn is_points_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("txt"))
}

/// Loads an image or a points CSV from a file (a points file shows at most
/// [`DEFAULT_POINTS_SHOWN`] of its points).
///
/// # Errors
/// A folder, or a file that cannot be read or decoded.
pub fn load_file(path: &Path, max_side: u32) -> Result<Scene, SceneError> {
    let options = SceneOptions {
        max_side,
        n_points: 0,
        data_seed: 0,
        drawing: DrawnPoints::default(),
        points_shown: DEFAULT_POINTS_SHOWN,
    };
    load_file_with(path, &options, &LoadProgress::default())
}

/// [`load_file`] with the window's `options`, reporting a points file's reading in
/// `progress`.
///
/// # Errors
/// A folder, or a file that cannot be read or decoded.
pub fn load_file_with(
    path: &Path,
    options: &SceneOptions,
    progress: &LoadProgress,
) -> Result<Scene, SceneError> {
    let name = path
        .file_stem()
        .map_or_else(|| "data".to_owned(), |s| s.to_string_lossy().into_owned());
    if path.is_dir() {
        return Err(SceneError::Folder(path.to_owned()));
    }
    if is_points_file(path) {
        let points = load_points_with(path, progress)?;
        Ok(points_file_scene(
            path,
            name,
            Arc::new(points),
            options.points_shown,
        ))
    } else {
        let img = data::load_image(path, options.max_side)?;
        Ok(image_scene(
            SourceChoice::File(path.to_owned()),
            name,
            img,
            options.max_side,
        ))
    }
}

/// The points of a CSV file, standardised (zero mean, unit standard deviation per
/// coordinate): how every points file is read, in the window and on the command line.
///
/// # Errors
/// A folder, or a file that cannot be read or parsed.
pub fn load_points(path: &Path) -> Result<Vec<[f64; 2]>, SceneError> {
    load_points_with(path, &LoadProgress::default())
}

/// [`load_points`], reporting its reading in `progress`.
///
/// # Errors
/// As [`load_points`].
pub fn load_points_with(path: &Path, progress: &LoadProgress) -> Result<Vec<[f64; 2]>, SceneError> {
    if path.is_dir() {
        return Err(SceneError::Folder(path.to_owned()));
    }
    let mut points = data::load_points_csv_with(path, |read, total| progress.set(read, total))?;
    points.shrink_to_fit();
    data::standardise(&mut points);
    Ok(points)
}

/// Weights from a file or, if no such file exists, the shipped weights of that name.
pub fn load_weights(name: &str) -> Result<Checkpoint, crate::model::ModelError> {
    let path = Path::new(name);
    if !path.exists()
        && let Some(model) = shipped::load(name)
    {
        return model;
    }
    io::load(path)
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
        all_points: None,
    }
}
