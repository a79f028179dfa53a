//! The weights that ship with diffscope, embedded in the binary: one 2D model per
//! built-in data set and one trained by flow matching (`fm-NAME`), the conv net of the 8×8 digits, the U-Net of the 28×28 glyph
//! digits and the single-image model of each built-in photo, each produced by the
//! `diffscope train` command recorded in its metadata (README, "Shipped weights").

use super::{Checkpoint, ModelError, Objective, io};
use crate::data::Dataset;

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../assets/weights/", $name, ".safetensors")))),*]
    };
}

/// `(name, safetensors bytes)` of every shipped model: the 2D sets under their
/// command-line names, their flow-matching models `fm-NAME`, `digits`, `glyphs`, and
/// `photo-NAME`, the single-image model of each built-in photo.
const SHIPPED: &[(&str, &[u8])] = shipped![
    "two-moons",
    "swiss-roll",
    "8gaussians",
    "checkerboard",
    "circles",
    "spiral",
    "fm-two-moons",
    "fm-swiss-roll",
    "fm-8gaussians",
    "fm-checkerboard",
    "fm-circles",
    "fm-spiral",
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

/// The name of the shipped 2D model of `dataset` trained with `objective`: the set's
/// command-line name for diffusion, `fm-` and it for flow matching (e.g. `fm-two-moons`).
#[must_use]
pub fn name_for(dataset: Dataset, objective: Objective) -> String {
    match objective {
        Objective::Epsilon => dataset.name().to_owned(),
        Objective::FlowMatching => format!("fm-{}", dataset.name()),
    }
}

/// The shipped 2D model of `dataset` trained with `objective`, if there is one.
#[must_use]
pub fn shipped_for(dataset: Dataset, objective: Objective) -> Option<Result<Checkpoint, ModelError>> {
    load(&name_for(dataset, objective))
}
