//! diffscope's integration tests, one binary so they link once.

#![allow(
    clippy::float_cmp,
    reason = "exactness is what many tests check: round trips, determinism, exact zeros"
)]

mod beside_paths;
mod cli;
mod d3pm;
mod data;
mod deck;
mod discrete;
mod drawing;
mod drawing_ui;
mod elbo;
mod elbo_layout;
mod elbo_ui;
mod export;
mod faults;
mod finite;
mod first_minutes;
mod flow_matching;
mod forward_gif;
mod glyphs;
mod guidance;
mod hostile;
mod hostile_corpus;
mod largest_alloc;
mod latent_ui;
mod lecture;
mod markov;
mod markov_tab;
mod math;
mod model;
mod model_conv;
mod model_patch;
mod model_unet;
mod model_worker;
mod path_prompt;
mod presenter;
mod prob_flow;
mod quality;
mod reverse_gif;
mod reverse_ui;
mod soak;
mod tex;
mod ui;
mod vae;
mod window;
mod worker;
