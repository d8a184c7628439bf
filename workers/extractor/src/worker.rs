//! The extractor's loop: pace, poll a query, write the page and its checkpoint in one Kafka
//! transaction, react to every kind of failure, and stop cleanly on cancellation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tweetpipe_common::codec::PostEncoder;
use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::serve::Readiness;
use tweetpipe_common::telemetry::current_trace_headers;

use crate::backoff::Backoff;
use crate::config::{ExtractorConfig, Query};
use crate::metrics::Metrics;
use crate::pacing::Pacer;
use crate::progress::{self, month_of};
use crate::sink::{PageRecords, Sink};
use crate::xapi::{ApiError, SearchRequest, XClient, snowflake_millis};

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
    /// Another instance with this replica's transactional id took over; this one gave up.
    pub fenced: bool,
}

struct QueryState {
    spec: Query,
    checkpoint: Checkpoint,
    stopped: bool,
    backoff: Backoff,
    not_before_ms: i64,
}

pub struct Worker {
    pub(crate) config: ExtractorConfig,
    pub(crate) client: XClient,
    pub(crate) sink: Sink,
    pub(crate) encoder: PostEncoder,
    pub(crate) metrics: Metrics,
    pub(crate) readiness: Readiness,
    pub(crate) cancel: CancellationToken,
    pub(crate) pacer: Pacer,
    pub(crate) budget_share: Option<u64>,
    queries: Vec<QueryState>,
    turn: usize,
    summary: RunSummary,
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

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: ExtractorConfig,
        client: XClient,
        sink: Sink,
        encoder: PostEncoder,
        metrics: Metrics,
        readiness: Readiness,
        cancel: CancellationToken,
        pacer: Pacer,
        budget_share: Option<u64>,
        queries: Vec<Query>,
        checkpoints: &HashMap<String, Checkpoint>,
    ) -> Self {
        let month = month_of(now_ms());
        let backoff = Backoff::new(
            Duration::from_millis(config.tuning.backoff_initial_ms),
            Duration::from_millis(config.tuning.backoff_max_ms),
        );
        let queries = queries
            .into_iter()
            .map(|spec| {
                let mut checkpoint = checkpoints
                    .get(&spec.name)
                    .cloned()
                    .unwrap_or_else(|| Checkpoint::new(&spec.name, &month));
                // A restart (usually after a config or Secret change) tries stopped queries again.
                if let Some(reason) = checkpoint.stopped.take() {
                    tracing::info!(query = %spec.name, reason = %reason.reason, "retrying a query stopped before the restart");
                }
                tracing::info!(
                    query = %spec.name,
                    since_id = ?checkpoint.since_id,
                    resuming_pagination = checkpoint.pagination.is_some(),
                    posts_total = checkpoint.posts_total,
                    "query restored from checkpoint"
                );
                QueryState { spec, checkpoint, stopped: false, backoff: backoff.clone(), not_before_ms: 0 }
            })
            .collect();
        Worker {
            config,
            client,
            sink,
            encoder,
            metrics,
            readiness,
            cancel,
            pacer,
            budget_share,
            queries,
            turn: 0,
            summary: RunSummary::default(),
        }
    }

    /// Runs until cancelled. Returns what was done.
    pub async fn run(mut self) -> RunSummary {
        self.readiness.set(true);
        while !self.cancel.is_cancelled() {
            let now = now_ms();
            let active: Vec<usize> = (0..self.queries.len())
                .filter(|i| !self.queries[*i].stopped)
                .collect();
            if active.is_empty() {
                tracing::error!(stopped = ?self.summary.stopped, "no query left to poll; idle until restarted");
                self.cancel.cancelled().await;
                break;
            }
            if self.budget_spent(now) {
                self.budget_spent_wait().await;
                continue;
            }
            if !sleep_until(self.pacer.next_at_ms(), &self.cancel).await {
                break;
            }
            // Round-robin over the queries that are not backing off.
            let now = now_ms();
            let ready = (0..active.len())
                .map(|k| active[(self.turn + k) % active.len()])
                .find(|i| self.queries[*i].not_before_ms <= now);
            let Some(index) = ready else {
                let earliest = active
                    .iter()
                    .map(|i| self.queries[*i].not_before_ms)
                    .min()
                    .unwrap_or(now);
                if !sleep_until(earliest, &self.cancel).await {
                    break;
                }
                continue;
            };
            self.turn = (active.iter().position(|i| *i == index).unwrap_or(0) + 1) % active.len();
            let span = tracing::info_span!("poll", query = %self.queries[index].spec.name);
            self.poll(index).instrument(span).await;
        }
        self.readiness.set(false);
        self.sink.flush().await;
        tracing::info!(summary = ?self.summary, "extractor stopped");
        self.summary
    }

    /// While the budget is spent, look again every minute (the month changes at midnight UTC).
    async fn budget_spent_wait(&self) {
        let _ = sleep_until(now_ms() + 60_000, &self.cancel).await;
    }

    fn month_posts(&self, now: i64) -> u64 {
        let month = month_of(now);
        self.queries
            .iter()
            .filter(|q| q.checkpoint.month == month)
            .map(|q| q.checkpoint.month_posts)
            .sum()
    }

    /// True when this replica's monthly post budget share would be exceeded by another page.
    fn budget_spent(&mut self, now: i64) -> bool {
        let used = self.month_posts(now);
        self.metrics
            .month_posts
            .set(i64::try_from(used).unwrap_or(i64::MAX));
        let Some(share) = self.budget_share else {
            return false;
        };
        if used + u64::from(self.config.max_results) <= share {
            self.metrics.budget_paused.set(0);
            return false;
        }
        if self.metrics.budget_paused.get() == 0 {
            tracing::warn!(
                used,
                share,
                "monthly post budget share spent; pausing until the month changes"
            );
        }
        self.metrics.budget_paused.set(1);
        true
    }

    async fn poll(&mut self, index: usize) {
        let cancel = self.cancel.clone();
        let started = now_ms();
        let (name, query, since_id, next_token) = {
            let q = &self.queries[index];
            let (since, token) = progress::next_request(&q.checkpoint);
            (
                q.spec.name.clone(),
                q.spec.query.clone(),
                since.map(str::to_string),
                token.map(str::to_string),
            )
        };
        let request = SearchRequest {
            query: &query,
            since_id: since_id.as_deref(),
            next_token: next_token.as_deref(),
        };
        self.summary.requests += 1;
        let result = tokio::select! {
            r = self.client.search(&request, &name, &self.config.pipeline, started) => r,
            () = cancel.cancelled() => return,
        };
        let now = now_ms();
        match result {
            Ok(page) => {
                self.pacer.on_answer(now, page.rate);
                self.note_rate(page.rate);
                self.metrics
                    .requests
                    .get_or_create(&Metrics::outcome(&name, "ok"))
                    .inc();
                let q = &mut self.queries[index];
                q.backoff.reset();
                let count = page.posts.len() as u64;
                let next = progress::advance(
                    &q.checkpoint,
                    count,
                    page.newest_id.as_deref(),
                    page.next_token.as_deref(),
                    now,
                );
                let records = match PageRecords::encode(
                    &page.posts,
                    &self.encoder,
                    next.clone(),
                    current_trace_headers(),
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        // Cannot happen with the API's types; never drop silently.
                        tracing::error!(error = %e, "cannot encode a page; retrying later");
                        q.not_before_ms = now + q.backoff.next_delay().as_millis() as i64;
                        return;
                    }
                };
                if !self.write(records).await {
                    return;
                }
                let q = &mut self.queries[index];
                q.checkpoint = next;
                self.summary.posts += count;
                self.metrics
                    .posts
                    .get_or_create(&Metrics::query(&name))
                    .inc_by(count);
                if let Some(since_ms) = q.checkpoint.since_id.as_deref().and_then(snowflake_millis)
                {
                    self.metrics
                        .behind_seconds
                        .get_or_create(&Metrics::query(&name))
                        .set((now - since_ms) / 1000);
                }
                tracing::debug!(posts = count, since_id = ?q.checkpoint.since_id, paginating = q.checkpoint.pagination.is_some(), "page committed");
            }
            Err(error) => self.on_error(index, error, now).await,
        }
    }

    fn note_rate(&self, rate: Option<crate::xapi::RateLimit>) {
        if let Some(rate) = rate {
            self.metrics.rate_remaining.set(i64::from(rate.remaining));
            self.metrics.rate_reset.set(rate.reset);
        }
    }

    async fn on_error(&mut self, index: usize, error: ApiError, now: i64) {
        let name = self.queries[index].spec.name.clone();
        self.metrics
            .requests
            .get_or_create(&Metrics::outcome(&name, error.kind()))
            .inc();
        self.note_rate(error.rate());
        match &error {
            ApiError::RateLimited { rate } => {
                self.summary.rate_limited += 1;
                self.metrics
                    .rate_limited
                    .get_or_create(&Metrics::query(&name))
                    .inc();
                self.pacer.on_rate_limited(now, *rate);
                tracing::warn!(reset = ?rate.map(|r| r.reset), "HTTP 429: waiting until the rate-limit reset");
            }
            ApiError::UsageCapped { .. }
            | ApiError::InvalidRequest { .. }
            | ApiError::Unauthorized { .. } => {
                if error.rate().is_some() {
                    self.pacer.on_answer(now, error.rate());
                }
                let reason = error.kind();
                let message = error.to_string();
                tracing::error!(reason, %message, "stopping the query: retrying cannot fix this");
                let q = &mut self.queries[index];
                let next = progress::stopped(&q.checkpoint, reason, &message, now);
                let records = PageRecords {
                    query: name.clone(),
                    posts: vec![],
                    checkpoint: next.clone(),
                    trace_headers: current_trace_headers(),
                };
                if !self.write(records).await {
                    return;
                }
                let q = &mut self.queries[index];
                q.checkpoint = next;
                q.stopped = true;
                self.metrics
                    .stopped
                    .get_or_create(&crate::metrics::StopLabel {
                        query: name.clone(),
                        reason: reason.to_string(),
                    })
                    .set(1);
                self.summary.stopped.push((name, reason.to_string()));
            }
            ApiError::Server { .. } | ApiError::Transport(_) | ApiError::Malformed { .. } => {
                self.pacer.on_answer(now, error.rate());
                let q = &mut self.queries[index];
                let delay = q.backoff.next_delay();
                q.not_before_ms = now + delay.as_millis() as i64;
                tracing::warn!(error = %error, attempt = q.backoff.failures(), retry_in_ms = delay.as_millis() as u64, "request failed; backing off");
            }
        }
    }

    /// Writes a page transactionally, retrying with backoff until it commits. False when
    /// cancelled first (nothing of the page is visible then; a restart fetches it again).
    async fn write(&mut self, records: PageRecords) -> bool {
        let records = Arc::new(records);
        let mut backoff = Backoff::new(
            Duration::from_millis(self.config.tuning.backoff_initial_ms),
            Duration::from_millis(self.config.tuning.backoff_max_ms),
        );
        loop {
            match self.sink.write_page(records.clone()).await {
                Ok(()) => {
                    self.metrics.transactions.inc();
                    self.readiness.set(true);
                    return true;
                }
                Err(e) if e.is_fenced() => {
                    tracing::error!(error = %e, "another extractor instance with this replica's transactional id took over; exiting");
                    self.summary.fenced = true;
                    self.cancel.cancel();
                    return false;
                }
                Err(e) => {
                    self.metrics.kafka_errors.inc();
                    self.readiness.set(false);
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, attempt = backoff.failures(), retry_in_ms = delay.as_millis() as u64, "Kafka transaction failed; will retry the same page");
                    if e.needs_new_producer()
                        && let Err(e) = self.sink.reconnect().await
                    {
                        tracing::warn!(error = %e, "cannot recreate the Kafka producer yet");
                    }
                    if !sleep_until(now_ms() + delay.as_millis() as i64, &self.cancel).await {
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
