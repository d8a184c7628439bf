//! Kafka's IncrementalAlterConfigs (KIP-339) for one topic: sets the named configs and leaves
//! every other one as it is. rdkafka 0.39 wraps only AlterConfigs, which *replaces* a topic's
//! whole dynamic config, so correcting `retention.ms` through it drops whatever an administrator
//! or another tool set on the topic (and a read-modify-write around it races with them). This is
//! the one call librdkafka has for it (`rd_kafka_IncrementalAlterConfigs`, librdkafka ≥ 2.2),
//! through the C bindings rdkafka re-exports: the same librdkafka, no new dependency.
//!
//! Every C object is owned by a guard that destroys it on every path; the call blocks for at
//! most about the timeout (run it on a blocking thread).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use thiserror::Error;

use crate::reconcile::rdkafka_c::{AdminCall, AdminFailure, Owned, copied};

/// Why the configs were not set.
#[derive(Debug, Error)]
pub enum IncrementalAlterError {
    /// A name or value with a NUL byte (never a valid Kafka config).
    #[error("config {0:?} contains a NUL byte")]
    Nul(String),
    /// librdkafka refused to build the request.
    #[error("{0}")]
    Request(String),
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The request or the topic's change failed with this code.
    #[error("{code:?}: {message}")]
    Failed {
        code: RDKafkaErrorCode,
        message: String,
    },
}

impl IncrementalAlterError {
    /// The Kafka error code, when the broker answered with one.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            IncrementalAlterError::Failed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

fn failure(failure: AdminFailure, timeout: Duration) -> IncrementalAlterError {
    match failure {
        AdminFailure::Make(why) => IncrementalAlterError::Request(why),
        AdminFailure::Timeout => IncrementalAlterError::Timeout(timeout),
        AdminFailure::Failed { code, message } => IncrementalAlterError::Failed {
            code: code.into(),
            message,
        },
    }
}

fn c_string(text: &str) -> Result<CString, IncrementalAlterError> {
    CString::new(text).map_err(|_| IncrementalAlterError::Nul(text.to_string()))
}

/// Sets `configs` on `topic` (operation SET for each), leaving its other configs alone.
/// Blocking, for at most about `timeout`.
pub fn set_topic_configs(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    configs: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<(), IncrementalAlterError> {
    let client = admin.inner().native_ptr();
    let name = c_string(topic)?;
    let request = |what: &str| IncrementalAlterError::Request(format!("librdkafka: {what}"));

    // SAFETY (every block below): `client` is the admin client's live handle, borrowed for the
    // call; every pointer passed is either owned by a guard alive across the call or a CString
    // alive across it; librdkafka copies names and values.
    let resource = Owned::new(
        unsafe {
            rd::rd_kafka_ConfigResource_new(
                rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
                name.as_ptr(),
            )
        },
        rd::rd_kafka_ConfigResource_destroy,
    )
    .ok_or_else(|| request("cannot make the config resource"))?;
    for (key, value) in configs {
        let (key, value) = (c_string(key)?, c_string(value)?);
        let error = unsafe {
            rd::rd_kafka_ConfigResource_add_incremental_config(
                resource.pointer,
                key.as_ptr(),
                rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                value.as_ptr(),
            )
        };
        if let Some(error) = Owned::new(error, rd::rd_kafka_error_destroy) {
            let message = unsafe { copied(rd::rd_kafka_error_string(error.pointer)) };
            return Err(IncrementalAlterError::Request(message));
        }
    }
    let call = unsafe {
        AdminCall::new(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            timeout,
        )
    }
    .map_err(|e| failure(e, timeout))?;
    let mut resources = [resource.pointer];
    unsafe {
        rd::rd_kafka_IncrementalAlterConfigs(
            client,
            resources.as_mut_ptr(),
            resources.len(),
            call.options.pointer,
            call.queue.pointer,
        )
    };
    let event = call.answer().map_err(|e| failure(e, timeout))?;
    let result = unsafe { rd::rd_kafka_event_IncrementalAlterConfigs_result(event.pointer) };
    if result.is_null() {
        return Err(request(
            "the answer is not an IncrementalAlterConfigs result",
        ));
    }
    let mut count = 0_usize;
    let answered =
        unsafe { rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count) };
    if answered.is_null() || count == 0 {
        return Err(request("the answer names no topic"));
    }
    for at in 0..count {
        // SAFETY: `answered` holds `count` resource pointers owned by the event, alive while
        // `event` is.
        let resource = unsafe { *answered.add(at) };
        let code = unsafe { rd::rd_kafka_ConfigResource_error(resource) };
        if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(IncrementalAlterError::Failed {
                code: code.into(),
                message: unsafe { copied(rd::rd_kafka_ConfigResource_error_string(resource)) },
            });
        }
    }
    Ok(())
}
