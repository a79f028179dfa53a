//! diffscope: a desktop app that teaches diffusion models.
//!
//! The library holds everything the window and the command line share, in layers that
//! only look down (ARCHITECTURE.md): [`diffusion`] (the lecture's mathematics in `f64`,
//! the one place a formula lives), [`data`] (toy 2D sets, images, digits, CSV), [`model`]
//! (the candle denoisers), [`worker`] (background threads), [`scene`] (loading and
//! rendering the data, egui-free), [`app`] (the window's state), [`ui`] (its panels),
//! [`gui`] (the eframe window) and [`cli`] (the command line); [`export`] (PNG, GIF) and
//! [`format`] (numbers) are leaves.

pub mod app;
pub mod cli;
pub mod data;
pub mod diffusion;
pub mod export;
pub mod format;
pub mod gui;
pub mod model;
pub mod scene;
pub mod simd;
pub mod ui;
pub mod worker;
