//! The 8×8 handwritten digits (UCI "Optical Recognition of Handwritten Digits", as
//! shipped in scikit-learn): 1797 images, values `0..=16` mapped to `x = v/8 − 1`.

use std::io::Read;

use flate2::read::GzDecoder;

use super::DataError;

/// Side of a digit image in pixels.
pub const DIGIT_SIDE: usize = 8;
/// Pixels of a digit image, `8 · 8`.
pub const DIGIT_PIXELS: usize = DIGIT_SIDE * DIGIT_SIDE;
/// Images in the embedded set.
pub const DIGIT_COUNT: usize = 1797;
/// Classes of the digits' labels, `0..=9`.
pub const DIGIT_CLASSES: usize = 10;

/// Name of the embedded file, used in messages.
const DIGITS_FILE: &str = "digits.csv.gz";
/// The embedded data: gzip of CSV rows of 64 pixel values `0..=16` then the label.
const DIGITS_GZ: &[u8] = include_bytes!("../../assets/digits/digits.csv.gz");
/// The largest pixel value of the data set.
const MAX_VALUE: u8 = 16;

/// Digit images and their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    /// Images, row-major 8×8, values `x = v/8 − 1 ∈ [-1, 1]`.
    pub images: Vec<[f32; DIGIT_PIXELS]>,
    /// The digit `0..=9` each image shows, `labels[i]` for `images[i]`.
    pub labels: Vec<u8>,
}

impl Digits {
    /// Number of images.
    #[must_use]
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

/// The embedded digits, decompressed and parsed (a few milliseconds; cache the result).
pub fn digits() -> Result<Digits, DataError> {
    let mut text = String::new();
    GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .map_err(|e| DataError::DigitsFile {
            file: DIGITS_FILE.to_owned(),
            reason: format!("cannot decompress: {e}"),
        })?;
    parse_digits_csv(&text, DIGITS_FILE)
}

/// Parses digits CSV text (the file called `source`): one image per non-blank line, 64
/// integers `0..=16` then the label `0..=9`, comma separated; `\r\n` endings accepted.
pub fn parse_digits_csv(text: &str, source: &str) -> Result<Digits, DataError> {
    let mut digits = Digits {
        images: Vec::new(),
        labels: Vec::new(),
    };
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let row_error = |reason: String| DataError::DigitsFormat {
            file: source.to_owned(),
            line: index + 1,
            reason,
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != DIGIT_PIXELS + 1 {
            return Err(row_error(format!(
                "expected {} fields, found {}",
                DIGIT_PIXELS + 1,
                fields.len()
            )));
        }
        let mut image = [0.0; DIGIT_PIXELS];
        for (k, (x, text)) in image.iter_mut().zip(&fields).enumerate() {
            let v = parse_small(text, MAX_VALUE).ok_or_else(|| {
                row_error(format!(
                    "field {} '{text}' is not an integer from 0 to {MAX_VALUE}",
                    k + 1
                ))
            })?;
            *x = f32::from(v) / 8.0 - 1.0;
        }
        let label_text = fields[DIGIT_PIXELS];
        let label = parse_small(label_text, 9)
            .ok_or_else(|| row_error(format!("label '{label_text}' is not a digit from 0 to 9")))?;
        digits.images.push(image);
        digits.labels.push(label);
    }
    if digits.is_empty() {
        return Err(DataError::DigitsFile {
            file: source.to_owned(),
            reason: "no data rows".to_owned(),
        });
    }
    Ok(digits)
}

/// `text` as an integer in `0..=max`, accepting a trailing `.0` (`NumPy`'s float output).
fn parse_small(text: &str, max: u8) -> Option<u8> {
    let digits = text.strip_suffix(".0").unwrap_or(text);
    digits.parse::<u8>().ok().filter(|&v| v <= max)
}
