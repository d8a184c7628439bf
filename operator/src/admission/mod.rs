//! Admission: what the operator refuses at `kubectl apply` time.

pub mod rules;
