//! diffscope's integration tests, one binary so they link once.

#![allow(
    clippy::float_cmp,
    reason = "exactness is what many tests check: round trips, determinism, exact zeros"
)]

mod cli;
mod data;
mod elbo;
mod export;
mod faults;
mod math;
mod model;
mod model_conv;
mod model_worker;
mod reverse_ui;
mod soak;
mod ui;
mod window;
mod worker;
