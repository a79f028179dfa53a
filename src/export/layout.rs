//! Labelled strips and grids of tiles, the figures `render` writes and the GUI exports.
//!
//! Both put a white margin of [`MARGIN_PX`] around everything and [`GAP_PX`] between
//! tiles; labels use the built-in font at [`LABEL_SCALE`].

use image::{Rgb, RgbImage};

use super::font::{draw_text, text_size};

/// White margin around a strip or grid, in pixels.
pub const MARGIN_PX: u32 = 8;
/// Gap between neighbouring tiles, and between row labels and the first column, in pixels.
pub const GAP_PX: u32 = 8;
/// Gap between a tile and the labels under it (or the column labels above it), in pixels.
pub const LABEL_PAD_PX: u32 = 6;
/// Gap between two label lines, in pixels.
pub const LABEL_LINE_GAP_PX: u32 = 4;
/// Integer scale of the font in labels (a glyph is 10×14 pixels).
pub const LABEL_SCALE: u32 = 2;

/// Background of strips and grids.
const PAPER_RGB: [u8; 3] = [255, 255, 255];
/// Colour of label text.
const TEXT_RGB: [u8; 3] = [24, 24, 24];

/// Height of one label line in pixels.
fn line_height() -> u32 {
    text_size("0", LABEL_SCALE).1
}

/// The lines of `labels`, each string also split at `'\n'`.
fn lines_of(labels: &[String]) -> impl Iterator<Item = &str> {
    labels.iter().flat_map(|s| s.split('\n'))
}

/// Height in pixels of `n` stacked label lines.
fn block_height(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        n * line_height() + (n - 1) * LABEL_LINE_GAP_PX
    }
}

/// Draws `lines` one under the other from `top`, each centred on the column that starts
/// at `left` and is `width` wide.
fn draw_lines_centred<'a>(
    img: &mut RgbImage,
    left: u32,
    width: u32,
    top: u32,
    lines: impl Iterator<Item = &'a str>,
) {
    let pitch = line_height() + LABEL_LINE_GAP_PX;
    for (i, line) in lines.enumerate() {
        let line_w = text_size(line, LABEL_SCALE).0;
        let x = i64::from(left) + (i64::from(width) - i64::from(line_w)) / 2;
        let y = i64::from(top) + i64::from(pitch) * i as i64;
        draw_text(img, x, y, line, LABEL_SCALE, TEXT_RGB);
    }
}

/// Tiles side by side on white, each with its label lines centred under it.
///
/// Layout, in pixels: a margin of [`MARGIN_PX`] all round; tile i sits in a column
/// `max(width_i, widest label line of i)` wide, centred in it, columns [`GAP_PX`] apart;
/// tiles are top-aligned; the label lines of every tile start on one row,
/// [`LABEL_PAD_PX`] under the tallest tile, and are [`LABEL_LINE_GAP_PX`] apart. So when
/// the labels are no wider than their tiles, the width is
/// `Σ width_i + 8·(n − 1) + 16` and the height is `max height_i + 16`, plus
/// `6 + 18·k + 4·(k − 1)` for the most label lines k of any tile. No tiles give a blank
/// 16×16 image.
#[must_use]
pub fn strip(tiles: &[(RgbImage, Vec<String>)]) -> RgbImage {
    let columns: Vec<u32> = tiles
        .iter()
        .map(|(tile, labels)| {
            lines_of(labels)
                .map(|l| text_size(l, LABEL_SCALE).0)
                .fold(tile.width(), u32::max)
        })
        .collect();
    let tile_h = tiles.iter().map(|(t, _)| t.height()).max().unwrap_or(0);
    let max_lines = tiles
        .iter()
        .map(|(_, labels)| lines_of(labels).count() as u32)
        .max()
        .unwrap_or(0);
    let labels_h = if max_lines == 0 {
        0
    } else {
        LABEL_PAD_PX + block_height(max_lines)
    };
    let gaps = GAP_PX * (tiles.len() as u32).saturating_sub(1);
    let width = 2 * MARGIN_PX + columns.iter().sum::<u32>() + gaps;
    let height = 2 * MARGIN_PX + tile_h + labels_h;

    let mut img = RgbImage::from_pixel(width, height, Rgb(PAPER_RGB));
    let mut left = MARGIN_PX;
    for ((tile, labels), &column) in tiles.iter().zip(&columns) {
        let x = left + (column - tile.width()) / 2;
        image::imageops::replace(&mut img, tile, i64::from(x), i64::from(MARGIN_PX));
        let labels_top = MARGIN_PX + tile_h + LABEL_PAD_PX;
        draw_lines_centred(&mut img, left, column, labels_top, lines_of(labels));
        left += column + GAP_PX;
    }
    img
}

/// A grid of cells (`cells[row][column]`) with row labels at the left and column labels
/// on top, on white (for example rows = schedules, columns = t).
///
/// Layout, in pixels: a margin of [`MARGIN_PX`] all round; column c is as wide as its
/// widest cell or label line, row r as tall as its tallest cell or label; cells are
/// centred in their slots, [`GAP_PX`] apart. Row labels are left-aligned in a column as
/// wide as the widest of them, [`GAP_PX`] before the first column of cells, and
/// vertically centred on their rows; column labels are centred over their columns and
/// end [`LABEL_PAD_PX`] above the first row. A label column or row appears only if some
/// label is non-empty. Rows may be ragged (missing cells stay blank); the grid has as
/// many rows and columns as the cells or the labels ask for, whichever is more.
#[must_use]
pub fn grid(cells: &[Vec<RgbImage>], row_labels: &[String], col_labels: &[String]) -> RgbImage {
    let n_rows = cells.len().max(row_labels.len());
    let n_cols = cells
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(0)
        .max(col_labels.len());
    let cell = |r: usize, c: usize| cells.get(r).and_then(|row| row.get(c));
    let label_size =
        |labels: &[String], i: usize| labels.get(i).map_or((0, 0), |l| text_size(l, LABEL_SCALE));

    let col_w: Vec<u32> = (0..n_cols)
        .map(|c| {
            (0..n_rows)
                .filter_map(|r| cell(r, c).map(RgbImage::width))
                .fold(label_size(col_labels, c).0, u32::max)
        })
        .collect();
    let row_h: Vec<u32> = (0..n_rows)
        .map(|r| {
            (0..n_cols)
                .filter_map(|c| cell(r, c).map(RgbImage::height))
                .fold(label_size(row_labels, r).1, u32::max)
        })
        .collect();
    let row_label_w = (0..row_labels.len())
        .map(|r| label_size(row_labels, r).0)
        .max()
        .unwrap_or(0);
    let col_label_h = (0..col_labels.len())
        .map(|c| label_size(col_labels, c).1)
        .max()
        .unwrap_or(0);
    let left0 = MARGIN_PX + if row_label_w > 0 { row_label_w + GAP_PX } else { 0 };
    let top0 = MARGIN_PX
        + if col_label_h > 0 {
            col_label_h + LABEL_PAD_PX
        } else {
            0
        };
    let width = left0 + col_w.iter().sum::<u32>() + GAP_PX * (n_cols as u32).saturating_sub(1) + MARGIN_PX;
    let height = top0 + row_h.iter().sum::<u32>() + GAP_PX * (n_rows as u32).saturating_sub(1) + MARGIN_PX;

    let mut img = RgbImage::from_pixel(width, height, Rgb(PAPER_RGB));
    let mut left = left0;
    for (c, &w) in col_w.iter().enumerate() {
        if let Some(label) = col_labels.get(c) {
            let label_top = (top0 - LABEL_PAD_PX).saturating_sub(label_size(col_labels, c).1);
            draw_lines_centred(&mut img, left, w, label_top, label.split('\n'));
        }
        let mut top = top0;
        for (r, &h) in row_h.iter().enumerate() {
            if let Some(tile) = cell(r, c) {
                let x = left + (w - tile.width()) / 2;
                let y = top + (h - tile.height()) / 2;
                image::imageops::replace(&mut img, tile, i64::from(x), i64::from(y));
            }
            top += h + GAP_PX;
        }
        left += w + GAP_PX;
    }
    let mut top = top0;
    for (r, &h) in row_h.iter().enumerate() {
        if let Some(label) = row_labels.get(r) {
            let y = top + (h - label_size(row_labels, r).1) / 2;
            draw_text(
                &mut img,
                i64::from(MARGIN_PX),
                i64::from(y),
                label,
                LABEL_SCALE,
                TEXT_RGB,
            );
        }
        top += h + GAP_PX;
    }
    img
}
