//! Data: the toy 2D sets, points from CSV, images and the 8×8 digits; load, validate,
//! normalise.
//!
//! Everything here hands the rest of the app plain numbers in the conventions of
//! `MATH.md`: 2D points standardised to zero mean and unit standard deviation per
//! coordinate ([`generate`], [`standardise`]), pixels mapped to `x = 2·v/255 − 1`
//! ([`ImageData`]), digits to `x = v/8 − 1` ([`Digits`]). Every random number comes from
//! [`crate::diffusion::noise`], so a data set is a pure function of its seed.
//!
//! Failures are [`DataError`]s whose `Display` is the one-line text shown to the user;
//! it already names the file (and the line, for text formats) and the cause, so the
//! errors carry no separate `source()` chain that would print the cause twice.

mod digits;
pub mod drawing;
pub mod glyphs;
mod image;
mod points_csv;
mod toy;

pub use self::digits::{
    DIGIT_CLASSES, DIGIT_COUNT, DIGIT_PIXELS, DIGIT_SIDE, Digits, digits, parse_digits_csv,
};
pub use self::image::{
    BuiltinImage, DEFAULT_MAX_SIDE, ImageData, MAX_IMAGE_ALLOC_BYTES, MAX_IMAGE_DIMENSION, MIN_MAX_SIDE,
    decode_image, load_image, reduced_size,
};
pub use self::points_csv::{
    MAX_LINE_BYTES, MAX_POINTS, load_points_csv, load_points_csv_with, parse_points_csv, points_csv_text,
    read_points_csv, read_points_csv_with, uniform_subsample,
};
pub use self::toy::{Dataset, generate, generate_raw, standardise};

/// Why data could not be made or loaded; `Display` is the one-line user-facing message.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A toy data set name that [`Dataset`] does not know.
    #[error("unknown data set '{given}' (valid: {})", toy::valid_names())]
    UnknownDataset {
        /// The name as the user typed it.
        given: String,
    },

    /// A built-in image name that [`BuiltinImage`] does not know.
    #[error("unknown built-in image '{given}' (valid: {})", image::valid_names())]
    UnknownImage {
        /// The name as the user typed it.
        given: String,
    },

    /// The points file could not be read from disk.
    #[error("cannot read points file '{file}': {io}")]
    PointsRead {
        /// The path as given.
        file: String,
        /// The operating system's reason.
        io: std::io::Error,
    },

    /// The points file is not UTF-8 text.
    #[error("{file} line {line}: not UTF-8 text (invalid byte 0x{byte:02X})")]
    PointsNotUtf8 {
        /// The file name as given.
        file: String,
        /// 1-based line of the first invalid byte.
        line: usize,
        /// The first invalid byte.
        byte: u8,
    },

    /// A field of a data row does not parse as a number.
    #[error("{file} line {line}: field {field} '{text}' is not a number")]
    PointsNotANumber {
        /// The file name as given.
        file: String,
        /// 1-based line number.
        line: usize,
        /// 1-based field index.
        field: usize,
        /// The field's text (trimmed, quotes removed).
        text: String,
    },

    /// A field of a data row is NaN or infinite.
    #[error("{file} line {line}: field {field} is {}", if *.is_nan { "NaN" } else { "infinite" })]
    PointsNotFinite {
        /// The file name as given.
        file: String,
        /// 1-based line number.
        line: usize,
        /// 1-based field index.
        field: usize,
        /// `true` for NaN, `false` for ±infinity.
        is_nan: bool,
    },

    /// A data row does not have exactly two fields.
    #[error("{file} line {line}: expected 2 fields, found {found}")]
    PointsFieldCount {
        /// The file name as given.
        file: String,
        /// 1-based line number.
        line: usize,
        /// How many fields the row has.
        found: usize,
    },

    /// The points file has no data rows (it is empty, blank or only a header).
    #[error("{file}: no data rows")]
    PointsEmpty {
        /// The file name as given.
        file: String,
    },

    /// The points file has a single data row.
    #[error("{file}: needs at least 2 points, found {found}")]
    PointsTooFew {
        /// The file name as given.
        file: String,
        /// How many points the file has.
        found: usize,
    },

    /// The points file holds more than [`MAX_POINTS`] points.
    #[error("{file} line {line}: more than {MAX_POINTS} points (diffscope takes at most {MAX_POINTS})")]
    PointsTooMany {
        /// The file name as given.
        file: String,
        /// 1-based line of the first point too many.
        line: usize,
    },

    /// A line of the points file is longer than [`MAX_LINE_BYTES`].
    #[error("{file} line {line}: longer than {MAX_LINE_BYTES} bytes (a row is two numbers)")]
    PointsLineTooLong {
        /// The file name as given.
        file: String,
        /// 1-based line number.
        line: usize,
    },

    /// The requested maximum image side is below [`MIN_MAX_SIDE`].
    #[error("maximum image side must be at least {MIN_MAX_SIDE} pixels, got {max_side}")]
    MaxSideTooSmall {
        /// The side that was asked for.
        max_side: u32,
    },

    /// The image file could not be read from disk.
    #[error("cannot read image '{file}': {io}")]
    ImageRead {
        /// The path as given.
        file: String,
        /// The operating system's reason.
        io: std::io::Error,
    },

    /// The image file has no bytes.
    #[error("cannot read image '{file}': file is empty")]
    ImageEmpty {
        /// The file name as given.
        file: String,
    },

    /// The file is not in one of the supported image formats.
    #[error("cannot read image '{file}': not a supported image (PNG, JPEG, GIF, BMP, WebP)")]
    ImageUnsupported {
        /// The file name as given.
        file: String,
    },

    /// The image's header declares more pixels than diffscope accepts.
    #[error(
        "cannot read image '{file}': {width}×{height} pixels exceeds the \
         {MAX_IMAGE_DIMENSION}×{MAX_IMAGE_DIMENSION} limit"
    )]
    ImageTooLarge {
        /// The file name as given.
        file: String,
        /// Declared width in pixels.
        width: u32,
        /// Declared height in pixels.
        height: u32,
    },

    /// The decoder rejected the data (truncated, corrupt, or an unsupported variant).
    #[error("cannot read image '{file}': {reason}")]
    ImageDecode {
        /// The file name as given.
        file: String,
        /// The decoder's message, on one line.
        reason: String,
    },

    /// The digits CSV is malformed (the embedded asset, or text given to
    /// [`parse_digits_csv`]).
    #[error("{file} line {line}: {reason}")]
    DigitsFormat {
        /// The file name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },

    /// The digits file as a whole is unusable (not gzip, not UTF-8, or no rows).
    #[error("{file}: {reason}")]
    DigitsFile {
        /// The file name.
        file: String,
        /// What is wrong.
        reason: String,
    },
}
