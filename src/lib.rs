//! diffscope: a desktop app that teaches diffusion models.
//!
//! The library holds everything the window and the command line share:
//! [`diffusion`] (the lecture's mathematics in `f64`, the one place a formula lives),
//! [`data`] (toy 2D sets, images, digits, CSV), [`export`] (PNG, GIF), [`cli`] (the
//! headless commands), [`worker`] (background threads), [`app`] (the window's state) and
//! [`ui`] (its panels).

pub mod app;
pub mod cli;
pub mod data;
pub mod diffusion;
pub mod export;
pub mod gui;
pub mod model;
pub mod simd;
pub mod ui;
pub mod worker;
