//! What the calls into librdkafka's C API share (the admin calls rdkafka 0.39 does not wrap:
//! IncrementalAlterConfigs, ListConsumerGroupOffsets): an owner that destroys each C object on
//! every path, C strings copied out, and the options, queue and answer of an admin call.

use std::ffi::{CStr, c_char, c_int};
use std::time::Duration;

use rdkafka::bindings as rd;

/// Owns a librdkafka object and destroys it when dropped.
pub(crate) struct Owned<T> {
    pub(crate) pointer: *mut T,
    destroy: unsafe extern "C" fn(*mut T),
}

impl<T> Owned<T> {
    /// `None` for a null pointer (librdkafka could not make the object).
    pub(crate) fn new(pointer: *mut T, destroy: unsafe extern "C" fn(*mut T)) -> Option<Self> {
        (!pointer.is_null()).then_some(Owned { pointer, destroy })
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came non-null from librdkafka's matching constructor and is
        // destroyed exactly once, here.
        unsafe { (self.destroy)(self.pointer) }
    }
}

/// A C string owned by librdkafka, copied out (empty for null).
///
/// SAFETY: `text` is null or a NUL-terminated string that lives at least as long as this call.
pub(crate) unsafe fn copied(text: *const c_char) -> String {
    if text.is_null() {
        String::new()
    } else {
        // SAFETY: see the function's contract.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }
}

/// How an admin request failed as a whole.
pub(crate) enum AdminFailure {
    /// librdkafka could not make one of the request's objects (`what`).
    Make(String),
    /// No answer within the request's timeout (and a second more).
    Timeout,
    /// The request failed with this code.
    Failed {
        code: rd::rd_kafka_resp_err_t,
        message: String,
    },
}

/// What every admin call needs: its options, with the request timeout set, and a queue for its
/// answer.
pub(crate) struct AdminCall {
    pub(crate) options: Owned<rd::rd_kafka_AdminOptions_t>,
    pub(crate) queue: Owned<rd::rd_kafka_queue_t>,
    millis: c_int,
}

impl AdminCall {
    /// SAFETY: `client` is a live librdkafka handle that outlives the returned call.
    pub(crate) unsafe fn new(
        client: *mut rd::rd_kafka_t,
        operation: rd::rd_kafka_admin_op_t,
        timeout: Duration,
    ) -> Result<Self, AdminFailure> {
        let millis = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
        let make = |what: &str| AdminFailure::Make(format!("librdkafka: cannot make {what}"));
        // SAFETY (each block): `client` is live (the caller's contract); every pointer passed is
        // owned by a guard alive across the call.
        let options = Owned::new(
            unsafe { rd::rd_kafka_AdminOptions_new(client, operation) },
            rd::rd_kafka_AdminOptions_destroy,
        )
        .ok_or_else(|| make("the admin options"))?;
        let mut why = [0 as c_char; 256];
        let set = unsafe {
            rd::rd_kafka_AdminOptions_set_request_timeout(
                options.pointer,
                millis,
                why.as_mut_ptr(),
                why.len(),
            )
        };
        if set != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(AdminFailure::Make(unsafe { copied(why.as_ptr()) }));
        }
        let queue = Owned::new(
            unsafe { rd::rd_kafka_queue_new(client) },
            rd::rd_kafka_queue_destroy,
        )
        .ok_or_else(|| make("a result queue"))?;
        Ok(AdminCall {
            options,
            queue,
            millis,
        })
    }

    /// The answer of the request made with this call's options and queue, when it succeeded as
    /// a whole (its parts may still carry errors of their own).
    pub(crate) fn answer(&self) -> Result<Owned<rd::rd_kafka_event_t>, AdminFailure> {
        // SAFETY: the queue is alive (owned by `self`); the event, when there is one, is owned by
        // the returned guard. The request's own timeout answers first; a second more for the
        // result to be queued.
        let event = Owned::new(
            unsafe {
                rd::rd_kafka_queue_poll(self.queue.pointer, self.millis.saturating_add(1_000))
            },
            rd::rd_kafka_event_destroy,
        )
        .ok_or(AdminFailure::Timeout)?;
        let code = unsafe { rd::rd_kafka_event_error(event.pointer) };
        if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(AdminFailure::Failed {
                code,
                message: unsafe { copied(rd::rd_kafka_event_error_string(event.pointer)) },
            });
        }
        Ok(event)
    }
}
