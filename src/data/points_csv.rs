//! 2D points from a CSV file: two numeric columns, an optional header row.

use std::path::Path;

use super::DataError;

/// Parses `text` (the contents of the file called `source`) into raw points.
///
/// The format: one point per line, two fields separated by a comma (or, on a line with
/// no comma, by `;`, a tab, or else whitespace). Fields may be surrounded by whitespace
/// and by one pair of double quotes. Blank lines, `\r\n` endings and a leading UTF-8 BOM
/// are accepted. The first non-blank line is a header, and skipped, when one of its
/// fields is not a number; any later non-numeric field is an error, and so are NaN,
/// infinities, a row without exactly two fields and fewer than two points. Errors name
/// `source` and the 1-based line.
pub fn parse_points_csv(text: &str, source: &str) -> Result<Vec<[f64; 2]>, DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut points = Vec::new();
    let mut first_row = true;
    for (index, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line).trim();
        if line.is_empty() {
            continue;
        }
        let fields = split_fields(line);
        let is_first = std::mem::replace(&mut first_row, false);
        if is_first && fields.iter().any(|f| f.parse::<f64>().is_err()) {
            continue;
        }
        points.push(parse_row(&fields, source, index + 1)?);
    }
    match points.len() {
        0 => Err(DataError::PointsEmpty {
            file: source.to_owned(),
        }),
        1 => Err(DataError::PointsTooFew {
            file: source.to_owned(),
            found: 1,
        }),
        _ => Ok(points),
    }
}

/// Reads the CSV file at `path` with [`parse_points_csv`]; the points are returned raw
/// (not standardised). Errors name the path as given.
pub fn load_points_csv(path: &Path) -> Result<Vec<[f64; 2]>, DataError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|io| DataError::PointsRead {
        file: file.clone(),
        io,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        DataError::PointsNotUtf8 {
            file: file.clone(),
            line: valid.split(|&b| b == b'\n').count(),
            byte: bytes[e.valid_up_to()],
        }
    })?;
    parse_points_csv(text, &file)
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
