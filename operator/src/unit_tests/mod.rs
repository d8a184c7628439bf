//! Unit tests that need the operator's I/O layer: the builders of the objects and accounts the
//! reconcile applies (`builders`), and one reconcile's I/O against a mock API server
//! (`reconcile_io`, `mock_api`). The pure core's tests live beside their modules in
//! `operator/core`.

mod builders;
mod mock_api;
mod reconcile_io;
