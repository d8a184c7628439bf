//! What the admission webhook judges a pipeline by; the webhook itself (HTTPS server and
//! certificates) lives in the operator.

pub mod rules;

// Every CEL rule of the CRD beside its admission twin, and the shipped examples held to both.
#[cfg(test)]
mod contract_twins;
#[cfg(test)]
mod examples;
