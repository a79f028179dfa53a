//! Pictures of a discrete chain's states (D3PM on the digits): each state a grey level,
//! the mask state in one fixed colour, each state a square of pixels.

use image::{Rgb, RgbImage};

/// The colour of the absorbing chain's mask state in exported pictures: a saturated blue,
/// `#008CFF`, which no grey level of the digits comes near (the export layer has no
/// theme; the window takes its own from `ui::theme`).
pub const MASK_RGB: [u8; 3] = [0, 140, 255];

/// The colour of a grid's gaps (no state): mid-grey, as between the Gaussian digits.
pub const GAP_RGB: [u8; 3] = [128, 128, 128];

/// The RGB of one state: level `s < levels` is the grey `round(255 · s / (levels − 1))`,
/// `s == levels` the mask ([`MASK_RGB`]), anything larger a gap ([`GAP_RGB`]).
#[must_use]
pub fn state_rgb(state: u16, levels: usize) -> [u8; 3] {
    let s = usize::from(state);
    match s.cmp(&levels) {
        std::cmp::Ordering::Less => [(255.0 * s as f64 / (levels - 1).max(1) as f64).round() as u8; 3],
        std::cmp::Ordering::Equal => MASK_RGB,
        std::cmp::Ordering::Greater => GAP_RGB,
    }
}

/// `width × height` states (row-major) as an RGB picture, each state a `scale × scale`
/// square (`scale` at least 1).
#[must_use]
pub fn states_to_rgb(states: &[u16], width: usize, height: usize, levels: usize, scale: u32) -> RgbImage {
    let scale = scale.max(1);
    let (w, h) = (width as u32 * scale, height as u32 * scale);
    RgbImage::from_fn(w, h, |x, y| {
        let (col, row) = ((x / scale) as usize, (y / scale) as usize);
        let state = states.get(row * width + col).copied().unwrap_or(u16::MAX);
        Rgb(state_rgb(state, levels))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_grey_levels_the_mask_blue_and_gaps_mid_grey() {
        assert_eq!(state_rgb(0, 17), [0; 3]);
        assert_eq!(state_rgb(8, 17), [128; 3]);
        assert_eq!(state_rgb(16, 17), [255; 3]);
        assert_eq!(state_rgb(17, 17), MASK_RGB);
        assert_eq!(state_rgb(u16::MAX, 17), GAP_RGB);
        let img = states_to_rgb(&[0, 17, 16, u16::MAX], 2, 2, 17, 3);
        assert_eq!(img.dimensions(), (6, 6));
        assert_eq!(img.get_pixel(4, 1).0, MASK_RGB);
        assert_eq!(img.get_pixel(2, 5).0, [255; 3]);
        assert_eq!(img.get_pixel(5, 5).0, GAP_RGB);
    }
}
