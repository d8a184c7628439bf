//! Unit tests that need the operator's I/O layer: the builders of the objects and accounts the
//! reconcile applies (`builders`), and one reconcile's I/O against a mock API server
//! (`reconcile_io`, `mock_api`), and the MySQL dependency against a scripted schema owner
//! (`schema_io`). The pure core's tests live beside their modules in
//! `operator/core`.

mod builders;
mod dependencies_io;
mod fakes;
mod mock_api;
mod reconcile_io;
mod schema_io;
