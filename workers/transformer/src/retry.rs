//! The transformer's retry backoff: the shared one of `tweetpipe_common` (equal jitter), so
//! transformers that lost MySQL together do not come back in lock step.

pub use tweetpipe_common::backoff::Backoff;
