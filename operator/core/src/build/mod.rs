//! Builders: pure functions from the spec and the decisions to the objects to apply.

pub mod resources;
pub mod secret_digest;
pub mod topics;
pub mod worker_config;
pub mod workloads;

#[cfg(test)]
mod tests;
