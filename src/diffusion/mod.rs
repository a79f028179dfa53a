//! The lecture's mathematics in `f64`: schedules, the forward chain, the posterior, the
//! reverse steps, the ELBO's closed-form pieces and the ideal denoiser.
//!
//! This module imports neither egui nor candle (a test enforces it): it is the one place
//! a formula lives, and everything else calls it.

pub mod discrete;
pub mod elbo;
pub mod finite;
pub mod flow_matching;
pub mod forward;
pub mod ideal;
mod linalg;
pub mod metrics;
pub mod noise;
pub mod ode;
pub mod prob_flow;
pub mod reverse;
pub mod schedule;

pub use forward::{MarkovChain, Real, q_sample, q_step};
pub use ideal::IdealDenoiser;
pub use reverse::ReverseVariance;
pub use schedule::{Schedule, ScheduleError, ScheduleKind, ScheduleSpec};
