//! Unit tests of the pure parts (decide, build, CRD rules, settings), with fixtures from
//! `operator/fixtures/`; and of one reconcile's I/O against a mock API server (`reconcile_io`).

mod builders;
mod contract_twins;
mod crd_rules;
mod decisions;
mod examples;
mod mock_api;
mod reconcile_io;
mod support;
