//! diffscope's integration tests, one binary so they link once.

#![allow(
    clippy::float_cmp,
    reason = "exactness is what many tests check: round trips, determinism, exact zeros"
)]

mod cli;
mod data;
mod elbo;
mod elbo_ui;
mod export;
mod faults;
mod hostile;
mod hostile_corpus;
mod largest_alloc;
mod math;
mod model;
mod model_conv;
mod model_worker;
mod reverse_ui;
mod soak;
mod ui;
mod window;
mod worker;
