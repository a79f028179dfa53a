//! 2D points from a CSV file: two numeric columns, an optional header row.
//!
//! The file is read a line at a time and never whole, so memory stays bounded whatever
//! its size: at most [`MAX_POINTS`] points and one line of at most [`MAX_LINE_BYTES`].

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::DataError;

/// The most points a file may hold: 80 MB of `f64` pairs, read in at most about 250 MB
/// (the vector of points doubles as it grows; BENCHMARKS.md, "Large point clouds"). The
/// window's views and the ideal denoiser use a uniform subsample of them
/// ([`uniform_subsample`]); training uses them all. A file beyond it is refused at the
/// first point too many, without reading the rest.
pub const MAX_POINTS: usize = 5_000_000;
/// Lines between two calls of the progress callback of [`read_points_csv_with`].
const PROGRESS_LINES: usize = 65_536;
/// The longest line, in bytes, a points file may have (a row is two numbers: tens of bytes).
pub const MAX_LINE_BYTES: usize = 4096;

/// `points` as a points CSV that [`read_points_csv`] reads back exactly: an `x,y` header,
/// then one `x,y` row per point, each number in the shortest form that parses back to
/// the same `f64`.
#[must_use]
pub fn points_csv_text(points: &[[f64; 2]]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(16 * points.len() + 4);
    text.push_str("x,y\n");
    for [x, y] in points {
        let _ = writeln!(text, "{x},{y}");
    }
    text
}

/// Parses `text` (the contents of the file called `source`) into raw points, with
/// [`read_points_csv`].
pub fn parse_points_csv(text: &str, source: &str) -> Result<Vec<[f64; 2]>, DataError> {
    read_points_csv(text.as_bytes(), source)
}

/// Reads the CSV file at `path` with [`read_points_csv`]; the points are returned raw
/// (not standardised). Errors name the path as given.
pub fn load_points_csv(path: &Path) -> Result<Vec<[f64; 2]>, DataError> {
    load_points_csv_with(path, |_, _| {})
}

/// [`load_points_csv`], calling `progress(bytes read, file size)` as it reads.
pub fn load_points_csv_with(
    path: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<Vec<[f64; 2]>, DataError> {
    let file = path.display().to_string();
    let reader = std::fs::File::open(path).map_err(|io| DataError::PointsRead {
        file: file.clone(),
        io,
    })?;
    let size = reader.metadata().map_or(0, |m| m.len());
    read_points_csv_with(BufReader::new(reader), &file, |bytes| progress(bytes, size))
}

/// `k` of `points` drawn uniformly without replacement, in their order (selection
/// sampling, Knuth's Algorithm S: one seeded uniform per point, no index array), or all
/// of them if there are at most `k`.
#[must_use]
pub fn uniform_subsample(points: &[[f64; 2]], k: usize, seed: u64) -> Vec<[f64; 2]> {
    let n = points.len();
    if n <= k {
        return points.to_vec();
    }
    let key = crate::diffusion::noise::StreamKey::new(seed, SUBSAMPLE_STREAM);
    let mut out = Vec::with_capacity(k);
    for (i, p) in points.iter().enumerate() {
        let left = (k - out.len()) as f64;
        if key.uniform(i as u64) * ((n - i) as f64) < left {
            out.push(*p);
            if out.len() == k {
                break;
            }
        }
    }
    out
}

/// The noise stream of [`uniform_subsample`].
const SUBSAMPLE_STREAM: u64 = 0x5B5A_0000_0000_0000;

/// Reads raw points from `reader`, the bytes of the file called `source`.
///
/// The format: one point per line, two fields separated by a comma (or, on a line with
/// no comma, by `;`, a tab, or else whitespace). Fields may be surrounded by whitespace
/// and by one pair of double quotes. Blank lines, `\r\n` endings and a leading UTF-8 BOM
/// are accepted. The first non-blank line is a header, and skipped, when one of its
/// fields is not a number; any later non-numeric field is an error, and so are NaN,
/// infinities, a row without exactly two fields, bytes that are not UTF-8, fewer than
/// two points, more than [`MAX_POINTS`] and a line longer than [`MAX_LINE_BYTES`]. Errors
/// name `source` and the 1-based line. Reading stops at the first error.
pub fn read_points_csv(reader: impl BufRead, source: &str) -> Result<Vec<[f64; 2]>, DataError> {
    read_points_csv_with(reader, source, |_| {})
}

/// [`read_points_csv`], calling `progress(bytes read)` every 65,536 lines.
pub fn read_points_csv_with(
    mut reader: impl BufRead,
    source: &str,
    mut progress: impl FnMut(u64),
) -> Result<Vec<[f64; 2]>, DataError> {
    let file = || source.to_owned();
    let mut bytes_read = 0u64;
    let mut points = Vec::new();
    let mut first_row = true;
    let mut bytes = Vec::with_capacity(128);
    for line in 1.. {
        bytes.clear();
        // One byte past the limit, so that a line over it is told from one exactly at it.
        let limit = MAX_LINE_BYTES as u64 + 1;
        let read = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut bytes)
            .map_err(|io| DataError::PointsRead { file: file(), io })?;
        if read == 0 {
            break;
        }
        bytes_read += read as u64;
        if line % PROGRESS_LINES == 0 {
            progress(bytes_read);
        }
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        } else if bytes.len() > MAX_LINE_BYTES {
            return Err(DataError::PointsLineTooLong { file: file(), line });
        }
        let text = std::str::from_utf8(&bytes).map_err(|e| DataError::PointsNotUtf8 {
            file: file(),
            line,
            byte: bytes[e.valid_up_to()],
        })?;
        let text = if line == 1 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        let text = text.strip_suffix('\r').unwrap_or(text).trim();
        if text.is_empty() {
            continue;
        }
        let fields = split_fields(text);
        let is_first = std::mem::replace(&mut first_row, false);
        if is_first && fields.iter().any(|f| f.parse::<f64>().is_err()) {
            continue;
        }
        if points.len() == MAX_POINTS {
            return Err(DataError::PointsTooMany { file: file(), line });
        }
        points.push(parse_row(&fields, source, line)?);
    }
    match points.len() {
        0 => Err(DataError::PointsEmpty { file: file() }),
        1 => Err(DataError::PointsTooFew {
            file: file(),
            found: 1,
        }),
        _ => Ok(points),
    }
}

/// The fields of a non-blank line, trimmed, with one pair of surrounding quotes removed.
fn split_fields(line: &str) -> Vec<&str> {
    let fields: Vec<&str> = if line.contains(',') {
        line.split(',').collect()
    } else if line.contains(';') {
        line.split(';').collect()
    } else if line.contains('\t') {
        line.split('\t').collect()
    } else {
        line.split_whitespace().collect()
    };
    fields.into_iter().map(unquote).collect()
}

/// `field` trimmed, without one pair of surrounding double quotes.
fn unquote(field: &str) -> &str {
    let field = field.trim();
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .map_or(field, str::trim)
}

/// The point of a data row, validated.
fn parse_row(fields: &[&str], source: &str, line: usize) -> Result<[f64; 2], DataError> {
    let &[a, b] = fields else {
        return Err(DataError::PointsFieldCount {
            file: source.to_owned(),
            line,
            found: fields.len(),
        });
    };
    Ok([parse_field(a, 1, source, line)?, parse_field(b, 2, source, line)?])
}

/// One finite number, or the error naming its line and field.
fn parse_field(text: &str, field: usize, source: &str, line: usize) -> Result<f64, DataError> {
    let value: f64 = text.parse().map_err(|_| DataError::PointsNotANumber {
        file: source.to_owned(),
        line,
        field,
        text: text.to_owned(),
    })?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(DataError::PointsNotFinite {
            file: source.to_owned(),
            line,
            field,
            is_nan: value.is_nan(),
        })
    }
}
