//! Unit tests of the pure parts (decide, build, CRD rules, settings), with fixtures from
//! `operator/fixtures/`.

mod builders;
mod contract_twins;
mod crd_rules;
mod decisions;
mod examples;
mod support;
