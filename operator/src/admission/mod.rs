//! Validating admission webhook for TweetPipelines: [`rules`] judges a pipeline (pure),
//! [`certs`] provides the serving certificate and the CA the API server trusts, [`server`]
//! serves `POST /validate` over HTTPS.

pub mod certs;
pub mod server;

pub use tweetpipe_operator_core::admission::rules;
