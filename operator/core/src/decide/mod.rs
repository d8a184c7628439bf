//! Decisions: pure functions from what was observed to what should be.

pub mod cleanup;
pub mod conditions;
pub mod events;
pub mod monthly;
pub mod plan;
pub mod scaling;
pub mod stream;
pub mod topic_owner;
pub mod transformer;

#[cfg(test)]
mod tests;
