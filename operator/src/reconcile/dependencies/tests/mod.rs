//! The dependencies step without a broker or a server: the scripted topic admin and schema owner
//! of [`crate::test_support::fakes`] stand in for Kafka and MySQL. The whole step
//! (`ensure`), and its MySQL half on its own (`schema`).

mod ensure;
mod schema;
