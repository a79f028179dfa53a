//! Background threads: named, behind typed commands and events that carry plain data.

pub mod export;
pub mod frames;
pub mod model;
