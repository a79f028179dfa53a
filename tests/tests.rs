//! diffscope's integration tests, one binary so they link once.

mod cli;
mod data;
mod export;
mod math;
