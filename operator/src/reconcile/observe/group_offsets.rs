//! A consumer group's committed offsets, by librdkafka's admin call ListConsumerGroupOffsets
//! (rdkafka 0.39 does not wrap it), issued on the endpoint's long-lived lag reader
//! ([`crate::reconcile::clients::KafkaClients::lag_reader`]): one OffsetFetch on connections that
//! are already open, no client made per read.
//!
//! Why on a *consumer* handle: when a coordinator answers NOT_COORDINATOR (while it loads the
//! offsets topic: on a new cluster, after a broker restart) librdkafka asks the handle's own
//! consumer group to look its coordinator up again (`rd_kafka_handle_OffsetFetch` →
//! `rd_kafka_cgrp_op(rk->rk_cgrp, ...)`). An admin client has no consumer group, so that is a
//! null dereference and the process dies (librdkafka #5040, still in 2.12.1); a consumer with a
//! `group.id` has one, so the answer is an error this read returns and the next read retries.
//! Before, each read made a consumer of the pipeline's group and closed it (a librdkafka client
//! per read: its threads, buffers and a bootstrap connection; see the Benchmark section of
//! docs/operator.md).

use std::collections::HashMap;
use std::ffi::CString;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::reconcile::rdkafka_c::{AdminCall, AdminFailure, Owned, copied};

/// Events that may wait on the reader's own queue (connection errors, say) drained per read, at
/// most: nothing else polls it, and unpolled they would pile up.
const DRAINED_PER_READ: usize = 64;

fn c_string(text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| format!("{text:?} contains a NUL byte"))
}

/// Committed offsets of `group` on partitions `0..partitions` of `topic` (negative: none).
/// Blocking, for at most about `timeout`.
pub fn committed(
    reader: &BaseConsumer,
    group: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<HashMap<i32, i64>, String> {
    for _ in 0..DRAINED_PER_READ {
        if reader.poll(Duration::ZERO).is_none() {
            break;
        }
    }
    let client = reader.client().native_ptr();
    let (group_c, topic_c) = (c_string(group)?, c_string(topic)?);
    let cannot = |what: &str| format!("librdkafka: cannot make {what}");

    // SAFETY (every block below): `client` is the reader's live handle, borrowed for the call;
    // every pointer passed is owned by a guard alive across the call, or a CString alive across
    // it; librdkafka copies the group, the topic and the request.
    let call = unsafe {
        AdminCall::new(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
            timeout,
        )
    }
    .map_err(|e| failure(e, timeout))?;
    let list = Owned::new(
        unsafe { rd::rd_kafka_topic_partition_list_new(partitions.max(1)) },
        rd::rd_kafka_topic_partition_list_destroy,
    )
    .ok_or_else(|| cannot("a partition list"))?;
    for partition in 0..partitions {
        unsafe { rd::rd_kafka_topic_partition_list_add(list.pointer, topic_c.as_ptr(), partition) };
    }
    let request = Owned::new(
        unsafe { rd::rd_kafka_ListConsumerGroupOffsets_new(group_c.as_ptr(), list.pointer) },
        rd::rd_kafka_ListConsumerGroupOffsets_destroy,
    )
    .ok_or_else(|| cannot("the request"))?;
    let mut requests = [request.pointer];
    unsafe {
        rd::rd_kafka_ListConsumerGroupOffsets(
            client,
            requests.as_mut_ptr(),
            requests.len(),
            call.options.pointer,
            call.queue.pointer,
        )
    };
    let event = call.answer().map_err(|e| failure(e, timeout))?;
    let result = unsafe { rd::rd_kafka_event_ListConsumerGroupOffsets_result(event.pointer) };
    if result.is_null() {
        return Err("the answer is not a ListConsumerGroupOffsets result".into());
    }
    let mut count = 0_usize;
    let groups = unsafe { rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count) };
    if groups.is_null() || count == 0 {
        return Err("the answer names no group".into());
    }
    let mut offsets = HashMap::new();
    for at in 0..count {
        // SAFETY: `groups` holds `count` group results owned by the event, alive while `event`
        // is; so are their errors and partition lists.
        let group = unsafe { *groups.add(at) };
        let error = unsafe { rd::rd_kafka_group_result_error(group) };
        if !error.is_null() {
            return Err(unsafe { copied(rd::rd_kafka_error_string(error)) });
        }
        let list = unsafe { rd::rd_kafka_group_result_partitions(group) };
        if list.is_null() {
            continue;
        }
        let (elems, cnt) = unsafe { ((*list).elems, usize::try_from((*list).cnt).unwrap_or(0)) };
        if elems.is_null() || cnt == 0 {
            continue;
        }
        let elements = unsafe { std::slice::from_raw_parts(elems, cnt) };
        for element in elements {
            if element.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                // A partition's own error would read as "nothing committed", a lag of everything.
                let message = unsafe { copied(rd::rd_kafka_err2str(element.err)) };
                return Err(format!("partition {}: {message}", element.partition));
            }
            offsets.insert(element.partition, element.offset);
        }
    }
    Ok(offsets)
}

fn failure(failure: AdminFailure, timeout: Duration) -> String {
    match failure {
        AdminFailure::Make(why) => why,
        AdminFailure::Timeout => format!("no answer within {timeout:?}"),
        AdminFailure::Failed { message, .. } => message,
    }
}
