//! The one image tiler: many small images in a square-ish grid with 1-pixel gaps (the
//! digits on screen, the reverse chain's image samples, `diffscope sample`'s PNG).

use crate::data::ImageData;
use crate::model::chw_to_hwc;

/// `values` — `n` images of `channels × height × width`, CHW each, in `[−1, 1]` — tiled
/// `cols` to a row (at least one) with 1-pixel mid-grey (0) gaps, as one HWC image. A
/// trailing partial image is dropped.
#[must_use]
pub fn tile_images(values: &[f32], channels: usize, height: usize, width: usize, cols: usize) -> ImageData {
    let dim = channels * height * width;
    let n = values.len().checked_div(dim).unwrap_or(0);
    let hwc = values
        .chunks_exact(dim.max(1))
        .take(n)
        .map(|image| chw_to_hwc(image, channels, height, width));
    let (gw, gh, pixels) = tile(hwc, height, width, cols, &vec![0.0; channels]);
    ImageData {
        width: gw as u32,
        height: gh as u32,
        channels: channels as u8,
        pixels,
        source_size: (gw as u32, gh as u32),
    }
}

/// `images` — each `height × width` pixels of `gap.len()` values, interleaved (HWC) —
/// tiled `cols` to a row (at least one) with 1-pixel gaps, as `(width, height, values)`
/// of one interleaved image. Every pixel that no image covers (the gaps, the rest of a
/// partial last row) is `gap`.
pub fn tile<T: Copy, I: AsRef<[T]>>(
    images: impl ExactSizeIterator<Item = I>,
    height: usize,
    width: usize,
    cols: usize,
    gap: &[T],
) -> (usize, usize, Vec<T>) {
    let px = gap.len();
    let cols = cols.max(1);
    let rows = images.len().div_ceil(cols).max(1);
    let gw = cols * width + cols - 1;
    let gh = rows * height + rows - 1;
    let mut pixels: Vec<T> = gap.iter().copied().cycle().take(gw * gh * px).collect();
    for (k, image) in images.enumerate() {
        let image = image.as_ref();
        let (gy, gx) = (k / cols, k % cols);
        for y in 0..height {
            let dst = ((gy * (height + 1) + y) * gw + gx * (width + 1)) * px;
            let src = y * width * px;
            pixels[dst..dst + width * px].copy_from_slice(&image[src..src + width * px]);
        }
    }
    (gw, gh, pixels)
}

/// Columns of a square-ish grid of `n` tiles: `⌈√n⌉`.
#[must_use]
pub fn square_columns(n: usize) -> usize {
    (n as f64).sqrt().ceil() as usize
}

/// Columns of a grid of `n` tiles of `height × width` that is as near square as can be
/// (the views it fills are square): the count whose grid's aspect ratio is closest to 1
/// on a log scale, the fewer columns on a tie. Square tiles get [`square_columns`]; wide
/// ones (a single-image model's 2× wide canvas) stack.
#[must_use]
pub fn grid_columns(n: usize, height: usize, width: usize) -> usize {
    if n == 0 || height == 0 || width == 0 {
        return 1;
    }
    let misfit = |c: usize| {
        let rows = n.div_ceil(c);
        ((c * width) as f64 / (rows * height) as f64).ln().abs()
    };
    (1..=n).fold(
        1,
        |best, c| if misfit(c) < misfit(best) - 1e-9 { c } else { best },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_are_as_square_as_their_tiles_allow() {
        for n in [1, 3, 4, 9, 36, 64, 100] {
            assert_eq!(grid_columns(n, 8, 8), square_columns(n), "{n} square tiles");
        }
        // Three 2× wide canvases of 43×128 stack; three 43×64 photos go two to a row.
        assert_eq!(grid_columns(3, 43, 128), 1);
        assert_eq!(grid_columns(3, 43, 64), 2);
        // Tall tiles sit side by side.
        assert_eq!(grid_columns(3, 64, 20), 3);
    }

    #[test]
    fn tiles_sit_in_rows_with_grey_gaps() {
        // Three 1×2 grey images, two to a row: a 5 × 3 grid.
        let grid = tile_images(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 1, 1, 2, 2);
        assert_eq!((grid.width, grid.height), (5, 3));
        assert_eq!(
            grid.pixels,
            vec![
                0.1, 0.2, 0.0, 0.3, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.6, 0.0, 0.0, 0.0
            ]
        );
    }

    #[test]
    fn byte_tiles_leave_their_gap_value_in_gaps_and_empty_cells() {
        // Three 1×1 RGBA tiles, two to a row: a 3 × 3 grid, half-transparent grey around.
        let tiles = [[1u8, 2, 3, 255], [4, 5, 6, 255], [7, 8, 9, 255]];
        let (w, h, px) = tile(tiles.iter(), 1, 1, 2, &[128, 128, 128, 128]);
        assert_eq!((w, h), (3, 3));
        let g = [128u8; 4];
        let expected: Vec<u8> = [
            tiles[0], g, tiles[1], //
            g, g, g, //
            tiles[2], g, g,
        ]
        .concat();
        assert_eq!(px, expected);
    }

    #[test]
    fn colour_tiles_are_interleaved() {
        // One 1×1 RGB image, CHW in, HWC out.
        let grid = tile_images(&[0.1, 0.2, 0.3], 3, 1, 1, square_columns(1));
        assert_eq!((grid.width, grid.height, grid.channels), (1, 1, 3));
        assert_eq!(grid.pixels, vec![0.1, 0.2, 0.3]);
    }
}
