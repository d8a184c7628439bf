//! Read → decide → apply. This module does the I/O; [`crate::decide`] and [`crate::build`] decide.

pub mod apply;
pub mod backoff;
pub mod controller;
pub mod kafka;
pub mod mysql;
pub mod secrets;
