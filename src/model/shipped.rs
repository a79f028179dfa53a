//! The weights that ship with diffscope, embedded in the binary: one 2D model per
//! built-in data set, the conv net of the 8×8 digits, the U-Net of the 28×28 glyph
//! digits and the single-image model of each built-in photo, each produced by the
//! `diffscope train` command recorded in its metadata (README, "Shipped weights").

use super::{Checkpoint, ModelError, io};

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../assets/weights/", $name, ".safetensors")))),*]
    };
}

/// `(name, safetensors bytes)` of every shipped model: the 2D sets under their
/// command-line names, `digits`, `glyphs`, and `photo-NAME`, the single-image model of
/// each built-in photo.
const SHIPPED: &[(&str, &[u8])] = shipped![
    "two-moons",
    "swiss-roll",
    "8gaussians",
    "checkerboard",
    "circles",
    "spiral",
    "digits",
    "glyphs",
    "photo-astronaut",
    "photo-camera",
    "photo-cat"
];

/// Names of the shipped models.
pub fn names() -> impl Iterator<Item = &'static str> {
    SHIPPED.iter().map(|(n, _)| *n)
}

/// The shipped model called `name`, if there is one.
#[must_use]
pub fn load(name: &str) -> Option<Result<Checkpoint, ModelError>> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(n, bytes)| {
        io::from_bytes(bytes).map_err(|e| ModelError::File {
            path: format!("shipped weights '{n}'"),
            message: e.to_string(),
        })
    })
}
