//! The extractor's loop: take and release query slots as the group decides, pace each owned
//! query on its own share, poll it, write the page and its checkpoint in one fenced Kafka
//! transaction, react to every kind of failure, and stop cleanly on cancellation.

mod streaming;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tweetpipe_common::codec::PostEncoder;
use tweetpipe_common::contract::checkpoint::{Checkpoint, RateWindow};
use tweetpipe_common::serve::Readiness;
use tweetpipe_common::telemetry::current_trace_headers;

use crate::backoff::Backoff;
use crate::config::{ExtractorConfig, QuerySlot};
use crate::live_config::{self, Reload};
use crate::metrics::Metrics;
use crate::ownership::{SlotEvent, SlotOwnership};
use crate::pacing::Pacer;
use crate::progress::{self, month_of};
use crate::sink::{self, PageRecords, Sink, SlotFence};
use crate::xapi::{ApiError, BearerToken, SearchRequest, XClient, snowflake_millis};

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What a run did, for tests and the final log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub requests: u64,
    pub posts: u64,
    pub rate_limited: u64,
    /// Queries that stopped, with the reason.
    pub stopped: Vec<(String, String)>,
    /// Checkpoints found outside the API's 7-day window (each a recorded gap).
    pub gaps: u64,
    /// Slot assignments received from the group.
    pub assignments: u64,
}

/// One query this replica runs now.
struct OwnedQuery {
    spec: QuerySlot,
    checkpoint: Checkpoint,
    pacer: Pacer,
    stopped: bool,
    backoff: Backoff,
    not_before_ms: i64,
}

/// Everything the loop needs, built by [`crate::start`].
pub struct WorkerParts {
    pub config: ExtractorConfig,
    /// The mounted config file, re-read for live settings; `None` in tests that pass a value.
    pub config_file: Option<PathBuf>,
    pub client: XClient,
    pub tokens: HashMap<PathBuf, BearerToken>,
    pub sink: Sink,
    pub encoder: PostEncoder,
    pub metrics: Metrics,
    pub readiness: Readiness,
    pub cancel: CancellationToken,
    pub ownership: Arc<SlotOwnership>,
    pub slot_events: UnboundedReceiver<SlotEvent>,
    /// For reading checkpoints of newly assigned slots.
    pub kafka: ClientConfig,
    pub checkpoint_topic: String,
}

pub struct Worker {
    parts: WorkerParts,
    owned: BTreeMap<usize, OwnedQuery>,
    /// Slots assigned whose checkpoints could not be read yet, and when to try again.
    pending: Option<(BTreeSet<usize>, Backoff, i64)>,
    /// Rate windows of queries this replica ran before (a slot that comes back after a
    /// rebalance continues its window even if the last requests were never committed).
    known_windows: HashMap<String, RateWindow>,
    warned_restart: bool,
    summary: RunSummary,
    /// Stream connections this replica holds, by leader slot (see [`crate::stream`]).
    streams: BTreeMap<usize, streaming::StreamRun>,
    /// Sweeps of rules left on apps no stream query uses, by slot.
    sweeps: BTreeMap<usize, streaming::SweepRun>,
    /// Every connection's events, tagged with its run id. Bounded: a worker busy writing
    /// (or filling a gap) makes the connection wait rather than buffer without limit.
    stream_events: (
        tokio::sync::mpsc::Sender<RunEvent>,
        tokio::sync::mpsc::Receiver<RunEvent>,
    ),
}

/// An event of a stream connection, tagged with the id of its run.
type RunEvent = (u64, crate::stream::connection::StreamEvent);

/// What woke the loop.
enum Wake {
    Cancelled,
    Slots(Option<SlotEvent>),
    Stream(Option<RunEvent>),
    Timer,
}

/// Sleeps until `at_ms` (epoch) unless cancelled first; true when the sleep completed.
async fn sleep_until(at_ms: i64, cancel: &CancellationToken) -> bool {
    let wait = at_ms - now_ms();
    if wait <= 0 {
        return !cancel.is_cancelled();
    }
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())) => true,
        () = cancel.cancelled() => false,
    }
}

/// How long a stop waits for the request in flight (then its page is written as usual).
/// Within the pod's 30 s grace, beside leaving the slot group (`ownership::LEAVE_TIMEOUT`).
pub const IN_FLIGHT_GRACE_ON_STOP: Duration = Duration::from_secs(10);

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The later of two windows (same window: the larger count), so a restore never forgets
/// requests that were sent.
fn merge_windows(a: Option<RateWindow>, b: Option<RateWindow>) -> Option<RateWindow> {
    match (a, b) {
        (Some(a), Some(b)) if a.reset == b.reset => Some(RateWindow {
            reset: a.reset,
            sent: a.sent.max(b.sent),
        }),
        (Some(a), Some(b)) => Some(if a.reset > b.reset { a } else { b }),
        (a, b) => a.or(b),
    }
}

impl Worker {
    pub fn new(parts: WorkerParts) -> Self {
        Worker {
            parts,
            owned: BTreeMap::new(),
            pending: None,
            known_windows: HashMap::new(),
            warned_restart: false,
            summary: RunSummary::default(),
            streams: BTreeMap::new(),
            sweeps: BTreeMap::new(),
            stream_events: tokio::sync::mpsc::channel(16),
        }
    }

    fn backoff(&self) -> Backoff {
        crate::backoff::from_tuning(&self.parts.config.tuning)
    }

    /// Runs until cancelled. Returns what was done.
    pub async fn run(mut self) -> RunSummary {
        self.parts.readiness.set(true);
        let reload_every = millis(self.parts.config.tuning.config_reload());
        let mut next_reload = now_ms() + reload_every;
        loop {
            let now = now_ms();
            if now >= next_reload {
                self.reload_config();
                next_reload = now + reload_every;
            }
            let due = self.next_due(now);
            let pending_at = self.pending.as_ref().map(|(_, _, at)| *at);
            let wake_at = [due.map(|(_, at)| at), pending_at, Some(next_reload)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(next_reload);
            let wait = Duration::from_millis((wake_at - now).max(0).unsigned_abs());
            let wake = tokio::select! {
                biased;
                () = self.parts.cancel.cancelled() => Wake::Cancelled,
                event = self.parts.slot_events.recv() => Wake::Slots(event),
                event = self.stream_events.1.recv() => Wake::Stream(event),
                () = tokio::time::sleep(wait) => Wake::Timer,
            };
            match wake {
                Wake::Cancelled => break,
                Wake::Slots(Some(event)) => self.on_slot_event(event),
                Wake::Slots(None) => {
                    tracing::error!("the slot group poller stopped; exiting");
                    break;
                }
                Wake::Stream(Some((run, event))) => {
                    let span = tracing::info_span!("stream");
                    self.on_stream_event(run, event).instrument(span).await;
                }
                // The worker holds a sender itself: never happens.
                Wake::Stream(None) => {}
                Wake::Timer => {
                    let now = now_ms();
                    if pending_at.is_some_and(|at| at <= now) {
                        self.take_pending_slots().await;
                    } else if let Some((slot, at)) = due
                        && at <= now
                    {
                        let span = tracing::info_span!("poll", query = %self.owned.get(&slot).map(|q| q.spec.name.as_str()).unwrap_or_default());
                        self.poll(slot).instrument(span).await;
                    }
                }
            }
        }
        self.parts.readiness.set(false);
        self.streams.clear();
        self.sweeps.clear();
        self.parts.sink.flush().await;
        let Worker { parts, summary, .. } = self;
        // The receiver goes first, so the revocation at leave time does not wait for us.
        drop(parts.slot_events);
        let ownership = parts.ownership;
        // Leaving closes the group consumer, which blocks briefly.
        let _ = tokio::task::spawn_blocking(move || drop(ownership)).await;
        tracing::info!(summary = ?summary, "extractor stopped");
        summary
    }

    /// The owned query to poll next and when: the earliest due, skipping stopped queries
    /// and those whose monthly budget share is spent.
    fn next_due(&mut self, now: i64) -> Option<(usize, i64)> {
        let month = month_of(now);
        let max_results = u64::from(self.parts.config.max_results);
        let mut month_posts = 0u64;
        let mut paused = false;
        let mut best: Option<(usize, i64)> = None;
        for (slot, q) in &self.owned {
            let used = if q.checkpoint.month == month {
                q.checkpoint.month_posts
            } else {
                0
            };
            month_posts += used;
            if q.stopped {
                continue;
            }
            if let Some(share) = self.parts.config.monthly_budget_share(*slot)
                && used + max_results > share
            {
                paused = true;
                continue;
            }
            let at = q.pacer.next_at_ms().max(q.not_before_ms);
            if best.is_none_or(|(_, b)| at < b) {
                best = Some((*slot, at));
            }
        }
        self.parts
            .metrics
            .month_posts
            .set(i64::try_from(month_posts).unwrap_or(i64::MAX));
        let was_paused = self.parts.metrics.budget_paused.get() == 1;
        if paused && !was_paused {
            tracing::warn!(
                month_posts,
                "a query's monthly post budget share is spent; it pauses until the month changes"
            );
        }
        self.parts.metrics.budget_paused.set(i64::from(paused));
        best
    }

    fn on_slot_event(&mut self, event: SlotEvent) {
        self.parts.metrics.slot_changes.inc();
        match event {
            SlotEvent::Revoked { slots, released } => {
                for slot in &slots {
                    if let Some(q) = self.owned.remove(slot)
                        && let Some(window) = q.pacer.window()
                    {
                        self.known_windows.insert(q.spec.name.clone(), window);
                    }
                }
                if let Some((pending, _, _)) = &mut self.pending {
                    pending.retain(|s| !slots.contains(s));
                }
                self.stop_streams(&slots);
                self.parts.metrics.owned_slots.set(self.owned.len() as i64);
                // Between polls by construction: nothing of these slots is in flight.
                let _ = released.send(());
            }
            SlotEvent::Assigned(slots) => {
                self.summary.assignments += 1;
                let slots: BTreeSet<usize> = slots
                    .into_iter()
                    .filter(|s| {
                        let known = *s < self.parts.config.queries.len();
                        if !known {
                            tracing::debug!(
                                slot = s,
                                "slot without a query (queries were removed)"
                            );
                        }
                        known
                    })
                    .collect();
                if !slots.is_empty() {
                    self.pending = Some((slots, self.backoff(), now_ms()));
                }
            }
        }
    }

    /// Reads the checkpoints of newly assigned slots, once no transaction of their previous
    /// owner is pending, and starts running them.
    async fn take_pending_slots(&mut self) {
        let Some((slots, mut backoff, _)) = self.pending.take() else {
            return;
        };
        if slots.is_empty() {
            return;
        }
        let timeout = self.parts.config.tuning.kafka_timeout();
        let settled = {
            let slots = slots.clone();
            let ownership = self.parts.ownership.clone();
            tokio::task::spawn_blocking(move || ownership.wait_until_settled(&slots, timeout))
                .await
                .map_err(|e| sink::SinkError::Join(e.to_string()))
                .and_then(|r| r.map_err(sink::SinkError::from))
        };
        let checkpoints = match settled {
            Ok(()) => {
                sink::read_checkpoints(
                    self.parts.kafka.clone(),
                    &self.parts.checkpoint_topic,
                    timeout,
                )
                .await
            }
            Err(e) => Err(e),
        };
        let checkpoints = match checkpoints {
            Ok(c) => c,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, ?slots, retry_in_ms = delay.as_millis() as u64, "cannot read the checkpoints of assigned slots yet");
                self.pending = Some((slots, backoff, now_ms() + millis(delay)));
                return;
            }
        };
        let now = now_ms();
        let month = month_of(now);
        let groups = crate::stream::connection_groups(&self.parts.config);
        for (slot, token_file) in crate::stream::sweep_slots(&self.parts.config, &checkpoints) {
            if slots.contains(&slot) {
                self.start_sweep(slot, &token_file);
            }
        }
        let foreign = self.parts.ownership.foreign_members();
        for slot in slots {
            let Some(spec) = self.parts.config.slot(slot).cloned() else {
                continue;
            };
            if spec.delivery.is_stream() {
                match groups.get(&slot) {
                    Some(_) if !foreign.is_empty() => tracing::warn!(
                        slot,
                        query = %spec.name,
                        ?foreign,
                        "stream connection held back: members run another config (a roll); the next rebalance starts it, with backfill and recovery from the checkpoints"
                    ),
                    Some(group) => self.start_stream(slot, group, &checkpoints),
                    None => tracing::debug!(
                        slot,
                        query = %spec.name,
                        "stream query: written by the owner of its connection's leader slot"
                    ),
                }
                continue;
            }
            let mut checkpoint = checkpoints
                .get(&spec.name)
                .cloned()
                .unwrap_or_else(|| Checkpoint::new(&spec.name, &month));
            // A new owner tries a stopped query once more (a restart or rescale usually follows
            // a config or Secret change); the checkpoint keeps the reason until a poll succeeds.
            let retried = checkpoint.stopped.take().map(|r| r.reason);
            let mut pacer = Pacer::new(
                spec.requests_per_window,
                Duration::from_secs(spec.window_seconds),
            );
            pacer.restore(
                merge_windows(
                    checkpoint.rate_window,
                    self.known_windows.get(&spec.name).copied(),
                ),
                now,
            );
            tracing::info!(
                slot,
                query = %spec.name,
                since_id = ?checkpoint.since_id,
                resuming_pagination = checkpoint.pagination.is_some(),
                posts_total = checkpoint.posts_total,
                rate_window = ?pacer.window(),
                retrying_stopped = ?retried,
                "query taken over from its checkpoint"
            );
            self.owned.insert(
                slot,
                OwnedQuery {
                    spec,
                    checkpoint,
                    pacer,
                    stopped: false,
                    backoff: self.backoff(),
                    not_before_ms: 0,
                },
            );
        }
        self.parts.metrics.owned_slots.set(self.owned.len() as i64);
    }

    fn reload_config(&mut self) {
        let Some(path) = self.parts.config_file.clone() else {
            return;
        };
        match live_config::reload(&path, &self.parts.config) {
            Reload::Same => {}
            Reload::Live(new) => {
                for (slot, q) in &mut self.owned {
                    if let Some(spec) = new.slot(*slot) {
                        q.pacer.set_share(spec.requests_per_window);
                        q.spec.requests_per_window = spec.requests_per_window;
                    }
                }
                tracing::info!(
                    monthly_post_budget = ?new.monthly_post_budget,
                    "live settings reloaded from the mounted config"
                );
                self.parts.metrics.config_reloads.inc();
                self.parts.config = *new;
            }
            Reload::NeedsRestart => {
                if !self.warned_restart {
                    tracing::info!(
                        "the mounted config changed beyond live settings; running on until the operator rolls this pod"
                    );
                    self.warned_restart = true;
                }
            }
            Reload::Unreadable(e) => {
                tracing::warn!(error = %e, "cannot re-read the mounted config; keeping the current one")
            }
        }
    }

    async fn poll(&mut self, slot: usize) {
        let cancel = self.parts.cancel.clone();
        let started = now_ms();
        let Some(q) = self.owned.get(&slot) else {
            return;
        };
        // A checkpoint outside the API's 7-day window cannot be continued: poll like a new
        // query and record what can no longer be fetched.
        let base = match progress::since_id_outside_window(&q.checkpoint, started) {
            Some(from_ms) => progress::restart_in_window(&q.checkpoint, from_ms, started),
            None => q.checkpoint.clone(),
        };
        let (since_id, next_token) = {
            let (since, token) = progress::next_request(&base);
            (since.map(str::to_string), token.map(str::to_string))
        };
        let name = q.spec.name.clone();
        let query = q.spec.query.clone();
        let Some(token) = self.parts.tokens.get(&q.spec.token_file).cloned() else {
            tracing::error!(token_file = %q.spec.token_file.display(), "no token read for this query's token file; restart needed");
            self.stop_in_memory(slot, "unauthorized");
            return;
        };
        let request = SearchRequest {
            query: &query,
            since_id: since_id.as_deref(),
            next_token: next_token.as_deref(),
            start_time: None,
            end_time: None,
        };
        self.summary.requests += 1;
        let pipeline = self.parts.config.pipeline.clone();
        let result = {
            let search = self
                .parts
                .client
                .search(&request, &token, &name, &pipeline, started);
            tokio::pin!(search);
            tokio::select! {
                r = &mut search => r,
                () = cancel.cancelled() => {
                    // X counts a page against the rate limit and the month's post cap once it
                    // answers, whether or not we read it: a page dropped here is fetched (and paid
                    // for) again by the next owner. So a stop lets the request finish, briefly.
                    match tokio::time::timeout(IN_FLIGHT_GRACE_ON_STOP, &mut search).await {
                        Ok(r) => r,
                        Err(_) => {
                            tracing::warn!(grace_ms = IN_FLIGHT_GRACE_ON_STOP.as_millis() as u64, "stopping with a request still unanswered; its next owner fetches the page again");
                            return;
                        }
                    }
                }
            }
        };
        let now = now_ms();
        match result {
            Ok(page) => {
                self.note_rate(page.rate);
                self.parts
                    .metrics
                    .requests
                    .get_or_create(&Metrics::outcome(&name, "ok"))
                    .inc();
                let Some(q) = self.owned.get_mut(&slot) else {
                    return;
                };
                q.pacer.on_answer(now, page.rate);
                q.backoff.reset();
                let count = page.posts.len() as u64;
                let mut next = progress::advance(
                    &base,
                    count,
                    page.newest_id.as_deref(),
                    page.next_token.as_deref(),
                    now,
                );
                next.rate_window = q.pacer.window();
                let records = match PageRecords::encode(
                    &page.posts,
                    &self.parts.encoder,
                    next.clone(),
                    current_trace_headers(),
                    now,
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        // Cannot happen with the API's types; never drop silently.
                        tracing::error!(error = %e, "cannot encode a page; retrying later");
                        q.not_before_ms = now + millis(q.backoff.next_delay());
                        return;
                    }
                };
                if !self.write(slot, records).await {
                    return;
                }
                let Some(q) = self.owned.get_mut(&slot) else {
                    return;
                };
                if next.gaps_total > q.checkpoint.gaps_total {
                    self.summary.gaps += 1;
                    self.parts
                        .metrics
                        .gaps
                        .get_or_create(&Metrics::query(&name))
                        .inc();
                    tracing::warn!(gap = ?next.last_gap, "the checkpoint was outside the API's 7-day window: resumed from the window's start; posts in the gap cannot be fetched");
                }
                q.checkpoint = next;
                self.summary.posts += count;
                self.parts
                    .metrics
                    .posts
                    .get_or_create(&Metrics::query(&name))
                    .inc_by(count);
                if let Some(since_ms) = q.checkpoint.since_id.as_deref().and_then(snowflake_millis)
                {
                    self.parts
                        .metrics
                        .behind_seconds
                        .get_or_create(&Metrics::query(&name))
                        .set((now - since_ms) / 1000);
                }
                tracing::debug!(posts = count, since_id = ?q.checkpoint.since_id, paginating = q.checkpoint.pagination.is_some(), "page committed");
            }
            Err(error) => self.on_error(slot, &base, error, now).await,
        }
    }

    fn note_rate(&self, rate: Option<crate::xapi::RateLimit>) {
        if let Some(rate) = rate {
            self.parts
                .metrics
                .rate_remaining
                .set(i64::from(rate.remaining));
            self.parts.metrics.rate_reset.set(rate.reset);
        }
    }

    fn stop_in_memory(&mut self, slot: usize, reason: &str) {
        if let Some(q) = self.owned.get_mut(&slot) {
            q.stopped = true;
            self.summary
                .stopped
                .push((q.spec.name.clone(), reason.to_string()));
        }
    }

    async fn on_error(&mut self, slot: usize, base: &Checkpoint, error: ApiError, now: i64) {
        self.note_rate(error.rate());
        let Some(q) = self.owned.get_mut(&slot) else {
            return;
        };
        let name = q.spec.name.clone();
        self.parts
            .metrics
            .requests
            .get_or_create(&Metrics::outcome(&name, error.kind()))
            .inc();
        match &error {
            ApiError::RateLimited { rate } => {
                self.summary.rate_limited += 1;
                self.parts
                    .metrics
                    .rate_limited
                    .get_or_create(&Metrics::query(&name))
                    .inc();
                q.pacer.on_rate_limited(now, *rate);
                tracing::warn!(reset = ?rate.map(|r| r.reset), "HTTP 429: waiting until the rate-limit reset");
            }
            ApiError::InvalidRequest { parameters, .. }
                if base.since_id.is_some()
                    && parameters
                        .iter()
                        .any(|p| p == "since_id" || p == "until_id") =>
            {
                // The API says the since_id is too old (our clock or its differ from the
                // edge we keep): the same restart as for a checkpoint found outside.
                q.pacer.on_answer(now, error.rate());
                let from_ms = base
                    .since_id
                    .as_deref()
                    .and_then(snowflake_millis)
                    .unwrap_or(now - progress::SEARCH_WINDOW_MS);
                q.checkpoint = progress::restart_in_window(base, from_ms, now);
                tracing::warn!(%error, "the API refused the checkpoint's since_id; resuming from the window's start");
            }
            ApiError::UsageCapped { .. }
            | ApiError::InvalidRequest { .. }
            | ApiError::Unauthorized { .. } => {
                if error.rate().is_some() {
                    q.pacer.on_answer(now, error.rate());
                }
                let reason = error.kind();
                let message = error.to_string();
                tracing::error!(reason, %message, "stopping the query: retrying cannot fix this");
                let mut next = progress::stopped(&q.checkpoint, reason, &message, now);
                next.rate_window = q.pacer.window();
                let records = PageRecords {
                    id: sink::next_page_id(),
                    query: name.clone(),
                    posts: vec![],
                    checkpoint: next.clone(),
                    trace_headers: current_trace_headers(),
                    received_at_ms: now,
                };
                if !self.write(slot, records).await {
                    return;
                }
                let Some(q) = self.owned.get_mut(&slot) else {
                    return;
                };
                q.checkpoint = next;
                q.stopped = true;
                self.parts
                    .metrics
                    .stopped
                    .get_or_create(&crate::metrics::StopLabel {
                        query: name.clone(),
                        reason: reason.to_string(),
                    })
                    .set(1);
                self.summary.stopped.push((name, reason.to_string()));
            }
            ApiError::Server { .. } | ApiError::Transport(_) | ApiError::Malformed { .. } => {
                q.pacer.on_answer(now, error.rate());
                let delay = q.backoff.next_delay();
                q.not_before_ms = now + millis(delay);
                tracing::warn!(error = %error, attempt = q.backoff.failures(), retry_in_ms = delay.as_millis() as u64, "request failed; backing off");
            }
        }
    }

    /// Writes a page of `slot` transactionally, fenced by the slot's group membership, retrying
    /// with backoff until it commits. False when cancelled or when the slot is being revoked
    /// first (nothing of the page is visible then; the next owner fetches it again).
    async fn write(&mut self, slot: usize, records: PageRecords) -> bool {
        let records = Arc::new(records);
        let mut backoff = self.backoff();
        loop {
            let fence = match (
                self.parts.ownership.group_metadata(),
                self.parts.ownership.slot_offsets(slot),
            ) {
                (Some(group), Ok(offsets)) => Some(SlotFence { offsets, group }),
                _ => None,
            };
            let result = match fence {
                Some(fence) => {
                    self.parts
                        .sink
                        .write_page(records.clone(), Some(fence))
                        .await
                }
                None => Err(sink::SinkError::NotAMember),
            };
            match result {
                Ok(()) => {
                    self.parts.metrics.transactions.inc();
                    self.parts.readiness.set(true);
                    return true;
                }
                Err(e) => {
                    self.parts.metrics.kafka_errors.inc();
                    self.parts.readiness.set(false);
                    if self.parts.ownership.revoking() {
                        tracing::warn!(error = %e, "the slot is being handed over while its transaction fails; abandoning the page (its next owner fetches it again)");
                        return false;
                    }
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, attempt = backoff.failures(), retry_in_ms = delay.as_millis() as u64, "Kafka transaction failed; will retry the same page");
                    // Fenced: the coordinator aborted our transaction (it ran past its timeout
                    // while Kafka was away) or another instance of this replica started. The
                    // group generation keeps ownership safe either way, so a new producer and
                    // a retry are right; a real duplicate replica is fenced by the group.
                    if (e.needs_new_producer() || e.is_fenced())
                        && let Err(e) = self.parts.sink.reconnect().await
                    {
                        tracing::warn!(error = %e, "cannot recreate the Kafka producer yet");
                    }
                    if !sleep_until(now_ms() + millis(delay), &self.parts.cancel).await {
                        tracing::warn!(
                            "shutdown while Kafka is failing: the uncommitted page will be fetched again after restart"
                        );
                        return false;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_windows_never_forget_requests() {
        let w = |reset, sent| Some(RateWindow { reset, sent });
        assert_eq!(merge_windows(w(10, 3), w(10, 5)), w(10, 5));
        assert_eq!(merge_windows(w(10, 3), w(20, 1)), w(20, 1));
        assert_eq!(merge_windows(None, w(20, 1)), w(20, 1));
        assert_eq!(merge_windows(w(30, 2), None), w(30, 2));
        assert_eq!(merge_windows(None, None), None);
    }
}
