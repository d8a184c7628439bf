//! The worker's side of stream mode: starting and ending an app's connection with the
//! ownership of its leader slot, and writing what it delivers — batches of streamed posts per
//! query, and the recovery search over a gap — each with the query's checkpoint in one fenced
//! transaction (the leader slot's fence).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tweetpipe_common::contract::checkpoint::{
    Checkpoint, ConnectionProgress, Gap, STREAM_RECENT_IDS_MAX, StreamProgress,
};
use tweetpipe_common::contract::extractor::{QuerySlot, StreamSettings, rule_tag_prefix};
use tweetpipe_common::post::Post;
use tweetpipe_common::telemetry::current_trace_headers;

use super::{Worker, millis, now_ms, sleep_until};
use crate::metrics::Metrics;
use crate::progress::{SEARCH_WINDOW_MS, month_of, rfc3339};
use crate::sink::PageRecords;
use crate::stream::backoff::ReconnectBackoff;
use crate::stream::connection::{self, ConnectionSpec, StreamEvent};
use crate::stream::recovery::{self, Interval};
use crate::stream::route::RecentIds;
use crate::stream::rules::{Desired, RulesClient};
use crate::xapi::{ApiError, BearerToken, SearchRequest, snowflake_millis};

/// One stream query served by this replica's connection.
pub(super) struct StreamQuery {
    spec: QuerySlot,
    checkpoint: Checkpoint,
    recent: RecentIds,
}

/// A connection this replica holds, because it owns the leader slot.
pub(super) struct StreamRun {
    id: u64,
    leader: usize,
    queries: Vec<StreamQuery>,
    /// The connection as the status shows it, stamped on every checkpoint of its queries.
    connection: ConnectionProgress,
    /// A connection was opened before (by this run or, as the checkpoints say, an earlier
    /// one): the next one is a reconnect.
    opened_before: bool,
    /// Rule id per query index, once the rules are in place.
    rule_ids: HashMap<usize, String>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl StreamRun {
    /// Whether `q`'s stored checkpoint lacks the current connection or rule id: written once
    /// after each (re)connect even when the query is quiet, so the status sees reconnects.
    fn stamp_outdated(&self, index: usize, q: &StreamQuery) -> bool {
        let stored = q.checkpoint.stream.as_ref();
        stored.and_then(|s| s.connection.as_ref().and_then(|c| c.connected_at.as_ref()))
            != self.connection.connected_at.as_ref()
            || stored.and_then(|s| s.rule_id.as_ref()) != self.rule_ids.get(&index)
    }

    /// `next` with the connection and the query's rule id as this run knows them.
    fn stamp(&self, index: usize, mut next: Checkpoint) -> Checkpoint {
        if let Some(stream) = next.stream.as_mut() {
            stream.connection = Some(self.connection.clone());
            if let Some(id) = self.rule_ids.get(&index) {
                stream.rule_id = Some(id.clone());
            }
        }
        next
    }
}

/// The connection's record to continue from: the group's checkpoints' freshest (most
/// reconnects), so the count goes on across restarts and handoffs.
fn continued_connection<'a>(
    checkpoints: impl Iterator<Item = &'a Checkpoint>,
) -> Option<ConnectionProgress> {
    checkpoints
        .filter_map(|c| c.stream.as_ref()?.connection.clone())
        .max_by_key(|c| c.reconnects)
}

impl Drop for StreamRun {
    fn drop(&mut self) {
        // Ending the task drops the response, which closes the connection for the next holder.
        self.cancel.cancel();
        self.task.abort();
    }
}

/// A sweep of this pipeline's rules on an app no stream query uses (see
/// [`crate::stream::sweep_slots`]); ends with its slot.
pub(super) struct SweepRun {
    task: JoinHandle<()>,
}

impl Drop for SweepRun {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Deletes the pipeline's rules on the app of `token` but `keep`; retries outages on the
/// rules endpoint's schedule until done or aborted, and gives up on a refusal (logged).
async fn sweep(
    rules: RulesClient,
    token: BearerToken,
    keep: Vec<String>,
    own_prefix: String,
    settings: StreamSettings,
    label: String,
) {
    let mut backoff = ReconnectBackoff::default();
    loop {
        match rules.delete_own(&token, &keep, &own_prefix).await {
            Ok(0) => {
                tracing::debug!(query = %label, "no stream rule of this pipeline left on the app");
                return;
            }
            Ok(deleted) => {
                tracing::info!(query = %label, deleted, "deleted this pipeline's stream rules that no stream query on the app needs any more");
                return;
            }
            Err(e) if !e.is_transient() => {
                tracing::warn!(query = %label, error = %e, "cannot delete the stream rules left on the app; they go when the pipeline is deleted");
                return;
            }
            Err(e) => {
                let delay = backoff.next_delay(&settings, e.kind());
                tracing::warn!(query = %label, error = %e, retry_in_ms = delay.as_millis() as u64, "looking for stream rules left on the app failed; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn next_run_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn stored_until_ms(cp: &Checkpoint) -> Option<i64> {
    cp.stream
        .as_ref()
        .and_then(|s| recovery::parse_ms(&s.stored_until))
}

/// Where a query that was searched until now (its checkpoint has search progress and no
/// `stream` block: its delivery just changed to a stream mode) starts streaming: every
/// matching post published before the returned time is stored.
///
/// - After a completed run, `since_id`: the run fetched every post newer than the previous
///   one, so every post published up to the millisecond of `since_id` is stored (ids grow
///   with time).
/// - Mid-run, the run's `run_since_id` (the run's pages already written may come again; the
///   transformer's upsert absorbs them), or the start of search's window when the run started
///   from nothing.
/// - Never any post: the last poll found nothing up to its request, at most
///   `request_timeout_ms` before its answer (`last_poll_at`).
/// - Never polled: `None` (the query starts with its first connection).
fn stored_until_from_search(cp: &Checkpoint, request_timeout_ms: i64, now: i64) -> Option<i64> {
    if cp.stream.is_some() {
        return None;
    }
    match &cp.pagination {
        Some(run) => Some(match run.run_since_id.as_deref() {
            Some(id) => snowflake_millis(id)? + 1,
            // Two minutes inside the window, so the recovery finds it still searchable.
            None => now - SEARCH_WINDOW_MS + 120_000,
        }),
        None => match cp.since_id.as_deref() {
            Some(id) => Some(snowflake_millis(id)? + 1),
            None => Some(recovery::parse_ms(cp.last_poll_at.as_deref()?)? - request_timeout_ms),
        },
    }
}

/// The ids written for a query that were published at or after `stored_until_ms` (only those
/// can come again without being dropped as older than `stored_until`): the previous ones
/// still after it, and those of `posts`; the newest [`STREAM_RECENT_IDS_MAX`], ascending.
fn recent_after(previous: &[String], posts: &[Post], stored_until_ms: i64) -> Vec<String> {
    let mut ids: Vec<(u64, &str)> = previous
        .iter()
        .filter(|id| snowflake_millis(id).is_some_and(|t| t >= stored_until_ms))
        .map(String::as_str)
        .chain(
            posts
                .iter()
                .filter(|p| p.created_at >= stored_until_ms)
                .map(|p| p.id.as_str()),
        )
        .filter_map(|id| Some((id.parse().ok()?, id)))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let skip = ids.len().saturating_sub(STREAM_RECENT_IDS_MAX);
    ids[skip..].iter().map(|(_, id)| id.to_string()).collect()
}

/// The checkpoint after `posts` more posts (of which `recovered` by search), stored up to
/// `stored_until_ms`.
fn advanced(
    cp: &Checkpoint,
    posts: &[Post],
    recovered: bool,
    stored_until_ms: i64,
    now: i64,
) -> Checkpoint {
    let mut next = cp.clone();
    let month = month_of(now);
    if next.month != month {
        next.month = month;
        next.month_posts = 0;
    }
    let count = posts.len() as u64;
    next.posts_total += count;
    next.month_posts += count;
    next.last_poll_at = Some(rfc3339(now));
    let newest = posts.iter().filter_map(|p| p.id.parse::<u64>().ok()).max();
    let old_newest = next
        .newest_id
        .as_deref()
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = newest.max(old_newest) {
        next.newest_id = Some(n.to_string());
    }
    let mut stream = next.stream.take().unwrap_or_default();
    let keep = recovery::parse_ms(&stream.stored_until).unwrap_or(i64::MIN);
    let until = stored_until_ms.max(keep);
    stream.stored_until = rfc3339(until);
    stream.recent_ids = recent_after(&stream.recent_ids, posts, until);
    if recovered {
        stream.recovered_posts += count;
    }
    next.stream = Some(stream);
    next
}

impl Worker {
    /// Takes the connection led by `leader` (its slot was just assigned): the group's
    /// checkpoints are in `checkpoints`.
    pub(super) fn start_stream(
        &mut self,
        leader: usize,
        group: &[usize],
        checkpoints: &HashMap<String, Checkpoint>,
    ) {
        let config = &self.parts.config;
        let Some(first) = config.slot(leader) else {
            return;
        };
        let Some(token) = self.parts.tokens.get(&first.token_file).cloned() else {
            tracing::error!(token_file = %first.token_file.display(), "no token read for the stream's token file; restart needed");
            return;
        };
        let now = now_ms();
        let month = month_of(now);
        let request_timeout_ms = i64::try_from(config.tuning.request_timeout_ms).unwrap_or(0);
        let mut queries = Vec::new();
        let mut desired = Vec::new();
        for slot in group {
            let Some(spec) = config.slot(*slot).cloned() else {
                continue;
            };
            desired.push(Desired {
                query: queries.len(),
                value: spec.query.clone(),
                tag: config.rule_tag(*slot),
            });
            let mut checkpoint = checkpoints
                .get(&spec.name)
                .cloned()
                .unwrap_or_else(|| Checkpoint::new(&spec.name, &month));
            // A query searched until now goes on from what search stored, not from the
            // connection: posts published since its last poll are a gap to fill like any other.
            if let Some(from) = stored_until_from_search(&checkpoint, request_timeout_ms, now) {
                tracing::info!(query = %spec.name, stored_until = %rfc3339(from), "a searched query moves to the stream; it resumes from its search progress");
                checkpoint.stream = Some(StreamProgress {
                    stored_until: rfc3339(from),
                    ..StreamProgress::default()
                });
            }
            // What the last owner wrote after `stored_until` is not written again.
            let mut recent = RecentIds::new(config.stream.recent_ids_per_query);
            for id in checkpoint.stream.iter().flat_map(|s| &s.recent_ids) {
                recent.insert(id);
            }
            queries.push(StreamQuery {
                spec,
                checkpoint,
                recent,
            });
        }
        let resume = queries.iter().any(|q| q.checkpoint.stream.is_some());
        let earlier = continued_connection(queries.iter().map(|q| &q.checkpoint));
        let spec = ConnectionSpec {
            label: first.name.clone(),
            base_url: config.api_base_url.clone(),
            field_params: self.parts.client.field_params(),
            token,
            pipeline: config.pipeline.clone(),
            desired,
            own_prefix: rule_tag_prefix(&config.pipeline),
            settings: config.stream.clone(),
            request_timeout: config.tuning.request_timeout(),
            resume,
        };
        let id = next_run_id();
        let cancel = self.parts.cancel.child_token();
        tracing::info!(
            connection = %first.name,
            queries = ?queries.iter().map(|q| q.spec.name.as_str()).collect::<Vec<_>>(),
            resume,
            "taking the app's stream connection (this replica owns its leader slot)"
        );
        let task = tokio::spawn(connection::run(
            spec,
            id,
            self.stream_events.0.clone(),
            self.parts.metrics.clone(),
            cancel.clone(),
        ));
        self.streams.insert(
            leader,
            StreamRun {
                id,
                leader,
                queries,
                opened_before: earlier.is_some(),
                connection: earlier.unwrap_or_default(),
                rule_ids: HashMap::new(),
                cancel,
                task,
            },
        );
    }

    /// Starts deleting the rules left on the app of `token_file` (its lowest slot, `slot`, was
    /// just assigned), keeping those of stream queries whose token is the same app under
    /// another file.
    pub(super) fn start_sweep(&mut self, slot: usize, token_file: &std::path::Path) {
        let config = &self.parts.config;
        let Some(token) = self.parts.tokens.get(token_file).cloned() else {
            return;
        };
        let keep: Vec<String> = (0..config.queries.len())
            .filter(|i| {
                config.slot(*i).is_some_and(|q| {
                    q.delivery.is_stream()
                        && self
                            .parts
                            .tokens
                            .get(&q.token_file)
                            .is_some_and(|t| t.0 == token.0)
                })
            })
            .map(|i| config.rule_tag(i))
            .collect();
        let rules = match RulesClient::new(&config.api_base_url, config.tuning.request_timeout()) {
            Ok(rules) => rules,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the rules endpoint's HTTP client");
                return;
            }
        };
        let label = config
            .slot(slot)
            .map(|q| q.name.clone())
            .unwrap_or_default();
        tracing::info!(query = %label, "a query of this pipeline streamed once: looking for its rule left on the app");
        let task = tokio::spawn(sweep(
            rules,
            token,
            keep,
            rule_tag_prefix(&config.pipeline),
            config.stream.clone(),
            label,
        ));
        self.sweeps.insert(slot, SweepRun { task });
    }

    /// Ends the connections whose leader slot is revoked (between writes, by construction),
    /// and the sweeps of revoked slots.
    pub(super) fn stop_streams(&mut self, slots: &std::collections::BTreeSet<usize>) {
        for slot in slots {
            self.sweeps.remove(slot);
            if let Some(run) = self.streams.remove(slot) {
                if let Some(first) = run.queries.first() {
                    self.parts
                        .metrics
                        .stream_connected
                        .get_or_create(&Metrics::connection(&first.spec.name))
                        .set(0);
                }
                tracing::info!(
                    leader = run.leader,
                    "stream connection released with its slot"
                );
            }
        }
    }

    /// Applies one event of a connection (events of a connection already ended are ignored).
    pub(super) async fn on_stream_event(&mut self, run_id: u64, event: StreamEvent) {
        let Some((leader, run)) = self.streams.iter_mut().find(|(_, r)| r.id == run_id) else {
            return;
        };
        let leader = *leader;
        match event {
            StreamEvent::Connected {
                requested_at_ms,
                answered_at_ms,
                backfill_minutes,
                rules,
            } => {
                if run.opened_before {
                    run.connection.reconnects += 1;
                }
                run.opened_before = true;
                run.connection.connected_at = Some(rfc3339(answered_at_ms));
                run.connection.last_received_at = Some(rfc3339(answered_at_ms));
                run.connection.backfill_minutes = backfill_minutes;
                run.rule_ids = rules.into_iter().collect();
                self.on_connected(leader, requested_at_ms, answered_at_ms, backfill_minutes)
                    .await
            }
            StreamEvent::Batch {
                routed,
                read_at_ms,
                newest_created_ms,
            } => {
                run.connection.last_received_at = Some(rfc3339(read_at_ms));
                let lag = self.parts.config.stream.delivery_lag_ms;
                let mut until = recovery::advance_stored_until(None, read_at_ms, lag);
                if let Some(created) = newest_created_ms {
                    until = until.min(created);
                }
                self.on_batch(leader, routed, until).await;
            }
        }
    }

    /// Decides per query what the new connection leaves missing, and fills or records it.
    async fn on_connected(
        &mut self,
        leader: usize,
        requested_at_ms: i64,
        answered_at_ms: i64,
        backfill_minutes: u8,
    ) {
        let count = self.streams.get(&leader).map_or(0, |r| r.queries.len());
        for index in 0..count {
            let Some(q) = self.streams.get(&leader).and_then(|r| r.queries.get(index)) else {
                return;
            };
            let stored = stored_until_ms(&q.checkpoint);
            let name = q.spec.name.clone();
            match recovery::missing(stored, requested_at_ms, backfill_minutes) {
                None if stored.is_none() => {
                    // A query never streamed starts here; from now on a gap can be measured.
                    // Posts of the answer's own millisecond may count as published before the
                    // connection (not sent): the query starts after it.
                    let next = advanced(&q.checkpoint, &[], false, answered_at_ms + 1, now_ms());
                    self.write_stream(leader, index, vec![], next, false).await;
                }
                None => {
                    tracing::debug!(query = %name, backfill_minutes, "backfill covers the disconnect")
                }
                Some(gap) => {
                    let recover = q.spec.delivery.recovers_by_search();
                    tracing::warn!(query = %name, from = %rfc3339(gap.from_ms), to = %rfc3339(gap.to_ms), backfill_minutes, recover, "the stream was away longer than backfill covers");
                    let (search, lost) = if recover {
                        recovery::searchable(gap, now_ms())
                    } else {
                        (None, Some(gap))
                    };
                    if let Some(lost) = lost
                        && !self.record_gap(leader, index, lost).await
                    {
                        return;
                    }
                    if let Some(search) = search
                        && !self.recover(leader, index, search).await
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Records that `[from, to)` of a query will never be fetched, and moves past it.
    async fn record_gap(&mut self, leader: usize, index: usize, lost: Interval) -> bool {
        let Some(q) = self.streams.get(&leader).and_then(|r| r.queries.get(index)) else {
            return false;
        };
        let now = now_ms();
        let mut next = advanced(&q.checkpoint, &[], false, lost.to_ms, now);
        next.last_gap = Some(Gap {
            from: rfc3339(lost.from_ms),
            to: rfc3339(lost.to_ms),
            recorded_at: rfc3339(now),
        });
        next.gaps_total += 1;
        self.summary.gaps += 1;
        self.parts
            .metrics
            .gaps
            .get_or_create(&Metrics::query(&q.spec.name))
            .inc();
        tracing::warn!(query = %q.spec.name, gap = ?next.last_gap, "posts in this interval are not fetched (stream mode without search recovery, or older than search's 7 days)");
        self.write_stream(leader, index, vec![], next, false).await
    }

    /// Fetches `[from, to)` of a query from recent search, page by page; `stored_until` moves
    /// to `to` with the last page. False when the run ended or the worker stops.
    async fn recover(&mut self, leader: usize, index: usize, interval: Interval) -> bool {
        let start = recovery::api_time(interval.from_ms);
        let end = recovery::api_time(interval.to_ms);
        let mut next_token: Option<String> = None;
        let mut backoff = self.backoff();
        let mut found = 0u64;
        loop {
            let Some(q) = self.streams.get(&leader).and_then(|r| r.queries.get(index)) else {
                return false;
            };
            let (name, query, token_file) = (
                q.spec.name.clone(),
                q.spec.query.clone(),
                q.spec.token_file.clone(),
            );
            let Some(token) = self.parts.tokens.get(&token_file).cloned() else {
                return false;
            };
            let request = SearchRequest {
                query: &query,
                since_id: None,
                next_token: next_token.as_deref(),
                start_time: Some(&start),
                end_time: Some(&end),
            };
            let pipeline = self.parts.config.pipeline.clone();
            self.summary.requests += 1;
            let answer = tokio::select! {
                r = self.parts.client.search(&request, &token, &name, &pipeline, now_ms()) => r,
                () = self.parts.cancel.cancelled() => return false,
            };
            let now = now_ms();
            let outcome = match &answer {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            };
            self.parts
                .metrics
                .requests
                .get_or_create(&Metrics::outcome(&name, outcome))
                .inc();
            match answer {
                Ok(page) => {
                    backoff.reset();
                    let last = page.next_token.is_none();
                    let Some(q) = self.streams.get(&leader).and_then(|r| r.queries.get(index))
                    else {
                        return false;
                    };
                    let stored = stored_until_ms(&q.checkpoint).unwrap_or(interval.from_ms);
                    let until = if last { interval.to_ms } else { stored };
                    // The search starts at a whole second: a post published before
                    // `stored_until` is stored by definition, as in a batch.
                    let fresh: Vec<Post> = page
                        .posts
                        .into_iter()
                        .filter(|p| p.created_at >= stored && !q.recent.contains(&p.id))
                        .collect();
                    let mut next = advanced(&q.checkpoint, &fresh, true, until, now);
                    if last && let Some(s) = next.stream.as_mut() {
                        s.recoveries += 1;
                    }
                    found += fresh.len() as u64;
                    self.parts
                        .metrics
                        .stream_recovered_posts
                        .get_or_create(&Metrics::query(&name))
                        .inc_by(fresh.len() as u64);
                    if !self.write_stream(leader, index, fresh, next, true).await {
                        return false;
                    }
                    if last {
                        tracing::info!(query = %name, from = %start, to = %end, posts = found, "gap filled from recent search");
                        return true;
                    }
                    next_token = page.next_token;
                }
                Err(ApiError::RateLimited { rate }) => {
                    self.summary.rate_limited += 1;
                    let reset_ms = rate.map_or(now + 60_000, |r| r.reset * 1000);
                    let wait = (reset_ms - now).clamp(1_000, 15 * 60_000);
                    tracing::warn!(query = %name, retry_in_ms = wait, "recovery search rate limited; waiting for the reset");
                    if !self.pause_until(now + wait).await {
                        return false;
                    }
                }
                Err(
                    e @ (ApiError::Server { .. }
                    | ApiError::Transport(_)
                    | ApiError::Malformed { .. }),
                ) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(query = %name, error = %e, retry_in_ms = delay.as_millis() as u64, "recovery search failed; retrying");
                    if !self.pause_until(now + millis(delay)).await {
                        return false;
                    }
                }
                Err(e) => {
                    // Retrying cannot fix it (refused token, capped month, refused interval).
                    tracing::error!(query = %name, error = %e, "recovery search refused; the interval is recorded as a gap");
                    return self.record_gap(leader, index, interval).await;
                }
            }
        }
    }

    /// Waits until `at_ms` in short steps; false when stopping or when a slot is being handed
    /// over (the loop must release it: the recovery starts again with the next owner, from the
    /// same `stored_until`).
    async fn pause_until(&self, at_ms: i64) -> bool {
        loop {
            if self.parts.ownership.revoking() {
                tracing::info!("a slot handover interrupts the recovery search");
                return false;
            }
            let step = (now_ms() + 500).min(at_ms);
            if !sleep_until(step, &self.parts.cancel).await {
                return false;
            }
            if now_ms() >= at_ms {
                return true;
            }
        }
    }

    /// Writes a batch of streamed posts per query, each with its checkpoint.
    async fn on_batch(&mut self, leader: usize, routed: Vec<(usize, Vec<Post>)>, until: i64) {
        let mut routed: HashMap<usize, Vec<Post>> = routed.into_iter().collect();
        let count = self.streams.get(&leader).map_or(0, |r| r.queries.len());
        let refresh_ms = i64::try_from(self.parts.config.stream.keepalive_timeout_ms).unwrap_or(0);
        for index in 0..count {
            let Some(q) = self.streams.get(&leader).and_then(|r| r.queries.get(index)) else {
                return;
            };
            let posts = routed.remove(&index).unwrap_or_default();
            let received = posts.len();
            let stored = stored_until_ms(&q.checkpoint).unwrap_or(i64::MIN);
            let mut seen = std::collections::HashSet::new();
            // A post published before `stored_until` is stored by definition: a backfill after
            // a restart or handoff (empty recent-id set) repeats none of those.
            let mut fresh: Vec<Post> = posts
                .into_iter()
                .filter(|p| {
                    p.created_at >= stored && !q.recent.contains(&p.id) && seen.insert(p.id.clone())
                })
                .collect();
            for p in &mut fresh {
                p.query_name.clone_from(&q.spec.name);
            }
            let dropped = received - fresh.len();
            if dropped > 0 {
                self.parts
                    .metrics
                    .stream_duplicates_dropped
                    .get_or_create(&Metrics::query(&q.spec.name))
                    .inc_by(dropped as u64);
            }
            // A quiet query's checkpoint still moves now and then, so a restart after a long
            // quiet spell does not search an interval the stream already covered. The
            // connection's record rides along (no write of its own): once after a reconnect,
            // then with these writes.
            let outdated = self
                .streams
                .get(&leader)
                .is_some_and(|r| r.stamp_outdated(index, q));
            if fresh.is_empty() && until.saturating_sub(stored) < refresh_ms && !outdated {
                continue;
            }
            let next = advanced(&q.checkpoint, &fresh, false, until, now_ms());
            if !self.write_stream(leader, index, fresh, next, false).await {
                return;
            }
        }
    }

    /// Writes posts of a stream query with its next checkpoint (fenced by the leader slot) and
    /// remembers their ids. False when the write was abandoned (stop or handoff).
    async fn write_stream(
        &mut self,
        leader: usize,
        index: usize,
        posts: Vec<Post>,
        next: Checkpoint,
        recovered: bool,
    ) -> bool {
        let now = now_ms();
        let Some(run) = self.streams.get(&leader) else {
            return false;
        };
        let next = run.stamp(index, next);
        let records = match PageRecords::encode(
            &posts,
            &self.parts.encoder,
            next.clone(),
            current_trace_headers(),
            now,
        ) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode streamed posts; they are left to the next reconnect's backfill");
                return false;
            }
        };
        if !self.write(leader, records).await {
            return false;
        }
        let Some(q) = self
            .streams
            .get_mut(&leader)
            .and_then(|r| r.queries.get_mut(index))
        else {
            return false;
        };
        for p in &posts {
            q.recent.insert(&p.id);
        }
        q.checkpoint = next;
        let count = posts.len() as u64;
        self.summary.posts += count;
        self.parts
            .metrics
            .posts
            .get_or_create(&Metrics::query(&q.spec.name))
            .inc_by(count);
        if let Some(until) = stored_until_ms(&q.checkpoint) {
            self.parts
                .metrics
                .behind_seconds
                .get_or_create(&Metrics::query(&q.spec.name))
                .set((now - until).max(0) / 1000);
        }
        tracing::debug!(query = %q.spec.name, posts = count, recovered, stored_until = ?q.checkpoint.stream.as_ref().map(|s| s.stored_until.as_str()), "stream page committed");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_counts_posts_and_never_moves_stored_until_back() {
        let cp = Checkpoint::new("q", "2025-11");
        let post = |id: &str| Post {
            id: id.into(),
            ..tweetpipe_common::fixtures::news_post(1)
        };
        let now = 1_764_000_000_000;
        let a = advanced(&cp, &[post("5"), post("9")], false, now - 10, now);
        assert_eq!((a.posts_total, a.month_posts), (2, 2));
        assert_eq!(a.newest_id.as_deref(), Some("9"));
        assert_eq!(stored_until_ms(&a), Some(now - 10));
        let b = advanced(&a, &[post("7")], true, now - 20, now);
        assert_eq!(b.newest_id.as_deref(), Some("9"));
        assert_eq!(stored_until_ms(&b), Some(now - 10));
        assert_eq!(b.stream.as_ref().map(|s| s.recovered_posts), Some(1));
    }

    /// A snowflake id of `ms` (sequence `seq`).
    fn id_at(ms: i64, seq: u64) -> String {
        ((((ms - 1_288_834_974_657) as u64) << 22) | seq).to_string()
    }

    fn post_at(ms: i64, seq: u64) -> Post {
        Post {
            id: id_at(ms, seq),
            created_at: ms,
            ..tweetpipe_common::fixtures::news_post(1)
        }
    }

    #[test]
    fn the_ids_after_stored_until_travel_in_the_checkpoint() {
        let now = 1_764_000_000_000;
        let cp = Checkpoint::new("q", "2025-11");
        let posts = [
            post_at(now - 9_000, 1),
            post_at(now - 4_000, 2),
            post_at(now - 1_000, 3),
        ];
        let a = advanced(&cp, &posts, false, now - 5_000, now);
        let recent = |c: &Checkpoint| c.stream.as_ref().map(|s| s.recent_ids.clone());
        // Only what a resumed stream could deliver again without it being older than
        // stored_until.
        assert_eq!(
            recent(&a),
            Some(vec![id_at(now - 4_000, 2), id_at(now - 1_000, 3)])
        );
        // stored_until moves on: ids now before it are forgotten, new ones join.
        let b = advanced(&a, &[post_at(now + 500, 4)], false, now - 2_000, now);
        assert_eq!(
            recent(&b),
            Some(vec![id_at(now - 1_000, 3), id_at(now + 500, 4)])
        );
        // Bounded: the newest are kept.
        let many: Vec<Post> = (0..STREAM_RECENT_IDS_MAX as u64 + 5)
            .map(|i| post_at(now + i as i64, i))
            .collect();
        let c = advanced(&cp, &many, false, now, now);
        let kept = recent(&c).expect("recent");
        assert_eq!(kept.len(), STREAM_RECENT_IDS_MAX);
        assert_eq!(kept.first(), Some(&id_at(now + 5, 5)));
        // Older records (no recent ids) read as empty; an empty list is left out of the JSON.
        let json = serde_json::to_string(&advanced(&cp, &[], false, now, now)).expect("json");
        assert!(!json.contains("recent_ids"), "{json}");
    }

    #[test]
    fn a_searched_query_resumes_streaming_from_its_search_progress() {
        let now = 1_764_000_000_000;
        let searched = |since: Option<String>, pagination, last_poll: Option<i64>| Checkpoint {
            since_id: since,
            pagination,
            last_poll_at: last_poll.map(rfc3339),
            ..Checkpoint::new("q", "2025-11")
        };
        let run = |since: Option<String>| {
            Some(tweetpipe_common::contract::checkpoint::Pagination {
                next_token: "t".into(),
                run_since_id: since,
                run_newest_id: id_at(now - 1_000, 0),
            })
        };
        let table = [
            // (case, checkpoint, expected)
            (
                "completed run: just after since_id",
                searched(Some(id_at(now - 60_000, 7)), None, Some(now - 5_000)),
                Some(now - 60_000 + 1),
            ),
            (
                "mid-run: the run's since_id",
                searched(
                    Some(id_at(now - 90_000, 0)),
                    run(Some(id_at(now - 120_000, 3))),
                    None,
                ),
                Some(now - 120_000 + 1),
            ),
            (
                "a first run mid-way: the window",
                searched(None, run(None), Some(now)),
                Some(now - SEARCH_WINDOW_MS + 120_000),
            ),
            (
                "nothing ever found: the last poll's request",
                searched(None, None, Some(now - 10_000)),
                Some(now - 10_000 - 30_000),
            ),
            ("never polled", searched(None, None, None), None),
        ];
        for (case, cp, expected) in table {
            assert_eq!(
                stored_until_from_search(&cp, 30_000, now),
                expected,
                "{case}"
            );
        }
        // A query already streaming keeps its own progress.
        let streaming = advanced(
            &searched(Some(id_at(now, 0)), None, None),
            &[],
            false,
            now,
            now,
        );
        assert_eq!(stored_until_from_search(&streaming, 30_000, now), None);
    }
}
