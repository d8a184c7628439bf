//! Decisions: pure functions from what was observed to what should be.

pub mod conditions;
pub mod monthly;
pub mod plan;
pub mod scaling;
pub mod transformer;
