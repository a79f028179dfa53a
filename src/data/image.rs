// Over 500 lines: decoding, reduction and the memory bound that guards them belong together.
//! Images: decode safely, reduce to a working size, map pixels to `[-1, 1]`.
//!
//! The external crate is written `::image` here, since this module shares its name.

use std::borrow::Cow;
use std::io::Cursor;
use std::path::Path;
use std::str::FromStr;

use ::image::imageops::{self, FilterType};
use ::image::{
    ColorType, DynamicImage, GrayImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage,
    error::LimitErrorKind,
};

use super::DataError;

/// The longest side an image is reduced to unless the caller asks otherwise.
pub const DEFAULT_MAX_SIDE: u32 = 512;
/// The smallest `max_side` accepted by [`decode_image`] and [`load_image`].
pub const MIN_MAX_SIDE: u32 = 8;
/// The largest width or height, in pixels, that an image file may declare.
pub const MAX_IMAGE_DIMENSION: u32 = 16_384;
/// The most memory, in bytes, loading an image may allocate (1 GiB): the decoder and the
/// conversion to the working size together; also the largest file [`load_image`] reads.
pub const MAX_IMAGE_ALLOC_BYTES: u64 = 1 << 30;

/// `x = 2·v/255 − 1` for every 8-bit value `v`, rounded once from `f64`.
const PIXEL_TO_UNIT: [f32; 256] = {
    let mut table = [0.0; 256];
    let mut v = 0;
    while v < 256 {
        table[v] = (2.0 * v as f64 / 255.0 - 1.0) as f32;
        v += 1;
    }
    table
};

/// An image in the data convention: pixels `x = 2·v/255 − 1 ∈ [-1, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageData {
    /// Width in pixels (after any reduction).
    pub width: u32,
    /// Height in pixels (after any reduction).
    pub height: u32,
    /// 1 for grey, 3 for RGB.
    pub channels: u8,
    /// `height · width · channels` values, row-major, channels interleaved (HWC).
    pub pixels: Vec<f32>,
    /// `(width, height)` of the file, before reduction.
    pub source_size: (u32, u32),
}

impl ImageData {
    /// Number of values, `height · width · channels` (the data dimension `d`).
    #[must_use]
    pub fn len(&self) -> usize {
        self.pixels.len()
    }

    /// Whether the image holds no values.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// Whether the image was shrunk to fit the maximum side.
    #[must_use]
    pub fn was_reduced(&self) -> bool {
        (self.width, self.height) != self.source_size
    }

    /// The image as 8-bit RGB, `v = round(255·(x + 1)/2)` clamped to `0..=255`; grey is
    /// replicated to the three channels (values missing from a malformed `pixels` are 0).
    #[must_use]
    pub fn to_rgb8(&self) -> RgbImage {
        let channels = usize::from(self.channels.max(1));
        let byte = |i: usize| {
            self.pixels
                .get(i)
                .map_or(0, |&x| (255.0 * (x + 1.0) / 2.0).round().clamp(0.0, 255.0) as u8)
        };
        RgbImage::from_fn(self.width, self.height, |x, y| {
            let first = (y as usize * self.width as usize + x as usize) * channels;
            if channels == 1 {
                ::image::Rgb([byte(first); 3])
            } else {
                ::image::Rgb([byte(first), byte(first + 1), byte(first + 2)])
            }
        })
    }

    /// Maps 8-bit channel values to the data convention.
    fn from_bytes(width: u32, height: u32, channels: u8, bytes: &[u8], source_size: (u32, u32)) -> Self {
        Self {
            width,
            height,
            channels,
            pixels: bytes.iter().map(|&v| PIXEL_TO_UNIT[usize::from(v)]).collect(),
            source_size,
        }
    }
}

/// Decodes an image file's `bytes` (the file called `source`) and reduces it so that its
/// long side is at most `max_side`, keeping the aspect ratio (never enlarging).
///
/// The format is recognised from the content, not the name. Grey images (with or
/// without alpha) stay one channel; all others become RGB. Alpha is composited on black
/// (`v·a/255`), so fully transparent pixels are black whatever colour they store. A
/// file declaring a side above [`MAX_IMAGE_DIMENSION`] is refused from its header,
/// before any pixel is decoded, and the decoder and the reduction together may allocate
/// at most [`MAX_IMAGE_ALLOC_BYTES`] (counted from the header, before decoding). Reduction uses a triangle (bilinear) filter whose support
/// widens with the reduction, so it averages rather than aliases.
pub fn decode_image(bytes: &[u8], source: &str, max_side: u32) -> Result<ImageData, DataError> {
    check_max_side(max_side)?;
    let file = || source.to_owned();
    if bytes.is_empty() {
        return Err(DataError::ImageEmpty { file: file() });
    }
    if let Some(png) = PngHeader::read(bytes) {
        check_dimensions(source, png.width, png.height)?;
        if png.min_data_bytes() > MAX_DEFLATE_RATIO * bytes.len() as u64 {
            return Err(DataError::ImageDecode {
                file: file(),
                reason: format!(
                    "the file is truncated: its {} bytes cannot hold the {}×{} pixels its header declares",
                    bytes.len(),
                    png.width,
                    png.height
                ),
            });
        }
    }

    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_error(source, &ImageError::IoError(e)))?;
    let format = reader.format();
    if !format.is_some_and(is_supported) {
        return Err(DataError::ImageUnsupported { file: file() });
    }
    // First only the memory limit, so that the header's size can be reported in full.
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_IMAGE_ALLOC_BYTES);
    reader.limits(limits.clone());
    let mut decoder = reader.into_decoder().map_err(|e| decode_error(source, &e))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(source, width, height)?;
    // The JPEG decoder fills whatever is missing from a cut file with grey, silently.
    if format == Some(ImageFormat::Jpeg) && jpeg_is_truncated(bytes) {
        return Err(DataError::ImageDecode {
            file: file(),
            reason: "the file is truncated (it ends before the JPEG's end-of-image marker)".into(),
        });
    }
    limits.max_image_width = Some(MAX_IMAGE_DIMENSION);
    limits.max_image_height = Some(MAX_IMAGE_DIMENSION);
    // The limit holds for the whole load: the decoded image and what `reduce` makes of it.
    let reduce_bytes = reduce_bytes(decoder.color_type(), (width, height), max_side);
    limits
        .reserve(decoder.total_bytes().saturating_add(reduce_bytes))
        .map_err(|e| decode_error(source, &e))?;
    decoder.set_limits(limits).map_err(|e| decode_error(source, &e))?;
    let decoded = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(source, &e))?;
    Ok(reduce(&decoded, max_side))
}

/// Reads the image file at `path` and decodes it with [`decode_image`]; errors name the
/// path as given.
pub fn load_image(path: &Path, max_side: u32) -> Result<ImageData, DataError> {
    check_max_side(max_side)?;
    let file = path.display().to_string();
    let read_error = |io| DataError::ImageRead {
        file: file.clone(),
        io,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_IMAGE_ALLOC_BYTES {
        return Err(DataError::ImageDecode {
            file,
            reason: format!("the file's {size} bytes exceed the 1 GiB limit"),
        });
    }
    let bytes = std::fs::read(path).map_err(read_error)?;
    decode_image(&bytes, &file, max_side)
}

/// One of the images embedded in the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuiltinImage {
    /// Eileen Collins, NASA portrait, 512×512 RGB (public domain).
    Astronaut,
    /// The "cameraman" test photo, 512×512 grey (CC0).
    Camera,
    /// Chelsea the cat, 451×300 RGB (CC0).
    Cat,
}

impl BuiltinImage {
    /// Every built-in image, in the order the UI lists them.
    pub const ALL: [BuiltinImage; 3] = [BuiltinImage::Astronaut, BuiltinImage::Camera, BuiltinImage::Cat];

    /// The command-line name, e.g. `"astronaut"`; [`FromStr`] accepts it back.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            BuiltinImage::Astronaut => "astronaut",
            BuiltinImage::Camera => "camera",
            BuiltinImage::Cat => "cat",
        }
    }

    /// The human label shown in the UI.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            BuiltinImage::Astronaut => "astronaut (colour)",
            BuiltinImage::Camera => "cameraman (grey)",
            BuiltinImage::Cat => "cat (colour)",
        }
    }

    /// The embedded PNG file's name, used in messages.
    #[must_use]
    pub const fn file_name(self) -> &'static str {
        match self {
            BuiltinImage::Astronaut => "astronaut.png",
            BuiltinImage::Camera => "camera.png",
            BuiltinImage::Cat => "chelsea.png",
        }
    }

    /// The embedded PNG file.
    #[must_use]
    pub const fn bytes(self) -> &'static [u8] {
        match self {
            BuiltinImage::Astronaut => include_bytes!("../../assets/images/astronaut.png"),
            BuiltinImage::Camera => include_bytes!("../../assets/images/camera.png"),
            BuiltinImage::Cat => include_bytes!("../../assets/images/chelsea.png"),
        }
    }

    /// Decodes the embedded file with [`decode_image`] (fails only for a `max_side`
    /// below [`MIN_MAX_SIDE`]).
    pub fn load(self, max_side: u32) -> Result<ImageData, DataError> {
        decode_image(self.bytes(), self.file_name(), max_side)
    }
}

impl std::fmt::Display for BuiltinImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BuiltinImage {
    type Err = DataError;

    /// Accepts the name, case-insensitive, and the aliases `cameraman` and `chelsea`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "astronaut" => Ok(BuiltinImage::Astronaut),
            "camera" | "cameraman" => Ok(BuiltinImage::Camera),
            "cat" | "chelsea" => Ok(BuiltinImage::Cat),
            _ => Err(DataError::UnknownImage { given: s.to_owned() }),
        }
    }
}

/// The valid names, comma separated, for error messages.
pub(super) fn valid_names() -> String {
    BuiltinImage::ALL.map(BuiltinImage::name).join(", ")
}

fn check_max_side(max_side: u32) -> Result<(), DataError> {
    if max_side < MIN_MAX_SIDE {
        return Err(DataError::MaxSideTooSmall { max_side });
    }
    Ok(())
}

fn check_dimensions(source: &str, width: u32, height: u32) -> Result<(), DataError> {
    if width > MAX_IMAGE_DIMENSION || height > MAX_IMAGE_DIMENSION {
        return Err(DataError::ImageTooLarge {
            file: source.to_owned(),
            width,
            height,
        });
    }
    Ok(())
}

/// The formats the `image` features of Cargo.toml decode.
fn is_supported(format: ImageFormat) -> bool {
    matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::Bmp | ImageFormat::WebP
    )
}

/// The most bytes deflate (PNG's compression) can expand one byte into: a 258-byte match
/// coded in 2 bits.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// What a PNG's IHDR chunk declares, read from its first 26 bytes.
///
/// The PNG decoder reads every chunk up to the first `IDAT` before it reports a size,
/// so a file that is only a header claiming 100000×100000 would otherwise fail as
/// truncated instead of too large; and one claiming 16384×16384 (within the limit) would
/// have the image reserved before its missing data is noticed.
struct PngHeader {
    width: u32,
    height: u32,
    /// Bits per pixel; `None` for a colour type PNG does not define (the decoder says so).
    bits_per_pixel: Option<u64>,
}

impl PngHeader {
    fn read(bytes: &[u8]) -> Option<Self> {
        const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
        if bytes.len() < 26 || bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
            return None;
        }
        let be = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let samples = match bytes[25] {
            0 | 3 => Some(1), // grey, palette
            4 => Some(2),     // grey + alpha
            2 => Some(3),     // RGB
            6 => Some(4),     // RGBA
            _ => None,
        };
        Some(Self {
            width: be(16),
            height: be(20),
            bits_per_pixel: samples.map(|s: u64| s * u64::from(bytes[24])),
        })
    }

    /// The fewest bytes the decompressed pixel data can have (whole bytes per row, no
    /// filter bytes; interlacing only adds to it).
    fn min_data_bytes(&self) -> u64 {
        let row_bits = u64::from(self.width) * self.bits_per_pixel.unwrap_or(0);
        u64::from(self.height) * row_bits.div_ceil(8)
    }
}

/// Whether a JPEG file ends before its end-of-image marker (`FF D9`).
///
/// Walks the marker segments (a 2-byte big-endian length after each marker) and, after
/// each start-of-scan, the entropy-coded data, in which `FF` is followed only by `00` (a
/// stuffed byte) or a restart marker `D0`–`D7`. Structure it does not understand is left
/// for the decoder to judge (`false`); only running out of bytes is truncation.
fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    let mut at = 2; // past the start-of-image marker
    while at < bytes.len() {
        if bytes[at] != 0xFF {
            return false;
        }
        while at < bytes.len() && bytes[at] == 0xFF {
            at += 1; // fill bytes
        }
        let Some(&marker) = bytes.get(at) else {
            return true;
        };
        at += 1;
        match marker {
            0xD9 => return false,
            0x01 | 0xD0..=0xD7 => continue, // markers without a segment
            _ => {}
        }
        let Some(length) = bytes.get(at..at + 2) else {
            return true;
        };
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        if length < 2 {
            return false;
        }
        at += length;
        if marker == 0xDA {
            // Entropy-coded data up to the next marker that is not a stuffed byte or a restart.
            loop {
                let Some(ff) = bytes
                    .get(at..)
                    .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
                else {
                    return true;
                };
                at += ff;
                match bytes.get(at + 1) {
                    None => return true,
                    Some(0x00 | 0xD0..=0xD7) => at += 2,
                    Some(_) => break,
                }
            }
        }
    }
    true
}

/// The user-facing error for a decoder failure, on one line.
fn decode_error(source: &str, error: &ImageError) -> DataError {
    let file = source.to_owned();
    let reason = match error {
        ImageError::Limits(limit) => match limit.kind() {
            LimitErrorKind::InsufficientMemory => {
                "decoding needs more memory than the 1 GiB limit".to_owned()
            }
            LimitErrorKind::DimensionError => {
                format!("the image exceeds the {MAX_IMAGE_DIMENSION}×{MAX_IMAGE_DIMENSION} limit")
            }
            _ => limit.to_string(),
        },
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file is truncated (unexpected end of data)".to_owned()
        }
        ImageError::Decoding(d) => format!("corrupt image data ({})", readable(&d.to_string())),
        other => other.to_string(),
    };
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    DataError::ImageDecode { file, reason }
}

/// A decoder's message made fit for a status line: `Debug` dumps of its internals
/// (`ChunkType { type: …, critical: false }`) dropped, and at most 100 characters.
fn readable(message: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in message.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > 100 {
        format!("{}…", out.chars().take(99).collect::<String>())
    } else {
        out
    }
}

/// Converts to 8-bit grey or RGB (alpha composited on black), reduces so the long side is
/// at most `max_side`, and maps to `[-1, 1]`. An 8-bit grey or RGB image is read where it
/// lies, not copied; [`reduce_bytes`] counts every buffer made here.
fn reduce(decoded: &DynamicImage, max_side: u32) -> ImageData {
    let source_size = (decoded.width(), decoded.height());
    let (width, height) = reduced_size(source_size, max_side);
    let color = decoded.color();
    let is_grey = color.channel_count() <= 2;
    if is_grey {
        let grey: Cow<'_, GrayImage> = if let Some(grey) = decoded.as_luma8() {
            Cow::Borrowed(grey)
        } else if color.has_alpha() {
            let la = decoded
                .as_luma_alpha8()
                .map_or_else(|| Cow::Owned(decoded.to_luma_alpha8()), Cow::Borrowed);
            Cow::Owned(GrayImage::from_fn(la.width(), la.height(), |x, y| {
                let [v, a] = la.get_pixel(x, y).0;
                ::image::Luma([over_black(v, a)])
            }))
        } else {
            Cow::Owned(decoded.to_luma8())
        };
        let grey = if (width, height) == source_size {
            grey
        } else {
            Cow::Owned(imageops::resize(&*grey, width, height, FilterType::Triangle))
        };
        ImageData::from_bytes(width, height, 1, grey.as_raw(), source_size)
    } else {
        let rgb: Cow<'_, RgbImage> = if let Some(rgb) = decoded.as_rgb8() {
            Cow::Borrowed(rgb)
        } else if color.has_alpha() {
            let rgba = decoded
                .as_rgba8()
                .map_or_else(|| Cow::Owned(decoded.to_rgba8()), Cow::Borrowed);
            Cow::Owned(RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
                let [r, g, b, a] = rgba.get_pixel(x, y).0;
                ::image::Rgb([over_black(r, a), over_black(g, a), over_black(b, a)])
            }))
        } else {
            Cow::Owned(decoded.to_rgb8())
        };
        let rgb = if (width, height) == source_size {
            rgb
        } else {
            Cow::Owned(imageops::resize(&*rgb, width, height, FilterType::Triangle))
        };
        ImageData::from_bytes(width, height, 3, rgb.as_raw(), source_size)
    }
}

/// The bytes [`reduce`] allocates for an image of `color` and `size`, besides the decoded
/// image: an 8-bit copy of other formats, the composite of an alpha channel on black, the
/// resampler's intermediate (`f32` RGBA, source width × reduced height) and the result.
fn reduce_bytes(color: ColorType, (width, height): (u32, u32), max_side: u32) -> u64 {
    let per_pixel: u64 = match color {
        ColorType::L8 | ColorType::Rgb8 => 0,
        // The composite (La8, Rgba8), or an 8-bit copy (L16, Rgb16, Rgb32F), or both:
        // La16 is copied to 8-bit grey + alpha (2) and composited (1).
        ColorType::La8 | ColorType::L16 => 1,
        ColorType::Rgba8 | ColorType::Rgb16 | ColorType::Rgb32F | ColorType::La16 => 3,
        _ => 4 + 3, // RGBA of 16 or 32 bits: an 8-bit copy, then the composite
    };
    let channels = if color.channel_count() <= 2 { 1 } else { 3 };
    let (w, h) = reduced_size((width, height), max_side);
    let resample = if (w, h) == (width, height) {
        0
    } else {
        u64::from(width) * u64::from(h) * 16 + u64::from(w) * u64::from(h) * channels
    };
    let result = u64::from(w) * u64::from(h) * channels * 4;
    u64::from(width) * u64::from(height) * per_pixel + resample + result
}

/// `v` composited over black with opacity `a`: `round(v·a/255)`.
fn over_black(v: u8, a: u8) -> u8 {
    ((u32::from(v) * u32::from(a) + 127) / 255) as u8
}

/// The size with long side `≤ max_side` and the same aspect ratio (short side rounded,
/// at least 1); the size itself when it already fits.
#[must_use]
pub fn reduced_size((width, height): (u32, u32), max_side: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max_side {
        return (width, height);
    }
    let scale = |side: u32| {
        ((f64::from(side) * f64::from(max_side) / f64::from(long)).round() as u32).clamp(1, max_side)
    };
    (scale(width), scale(height))
}
