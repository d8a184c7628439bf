//! The one connection of an app: makes sure its rules exist, connects (with `backfill_minutes`
//! after the first connection, or on the first when resuming from checkpoints), reads the
//! newline-delimited JSON with every read bounded by the keep-alive timeout, routes each post
//! to its queries and hands batches to the worker. Any end of the connection is followed by a
//! reconnect on X's schedule for that kind of failure.

use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;
use tweetpipe_common::contract::extractor::StreamSettings;
use tweetpipe_common::post::Post;

use super::backoff::{FailureKind, ReconnectBackoff};
use super::route::Router;
use super::rules::{Desired, RulesClient};
use crate::metrics::{ConnectionReason, Metrics};
use crate::worker::now_ms;
use crate::xapi::{BearerToken, StreamMessage, parse_stream_line};

/// A line this long without its end is not a post (X's are a few KB): reconnect rather than
/// buffer without bound.
const MAX_LINE_BYTES: usize = 4 << 20;

/// What the connection tells the worker.
#[derive(Debug)]
pub enum StreamEvent {
    /// A connection was opened, asking `backfill_minutes` (0: none). The server started it
    /// between `requested_at_ms` (the backfill covers at least from `requested_at_ms − backfill`)
    /// and `answered_at_ms` (every post published after that millisecond is delivered).
    Connected {
        requested_at_ms: i64,
        answered_at_ms: i64,
        backfill_minutes: u8,
        /// `(query, rule id)` of the rules this connection delivers by.
        rules: Vec<(usize, String)>,
    },
    /// Posts per query (index among the connection's queries) read up to `read_at_ms`: every
    /// message read before that time is in this batch or an earlier one.
    Batch {
        routed: Vec<(usize, Vec<Post>)>,
        read_at_ms: i64,
        /// Newest `created_at` of the posts read in this batch, ours or not. While a backfill
        /// (oldest first) is read, the stream has delivered up to here, not up to the read time.
        newest_created_ms: Option<i64>,
    },
}

/// Everything one connection needs; built by the worker when it takes the connection.
pub struct ConnectionSpec {
    /// Metrics and log label: the first query's name (never the token).
    pub label: String,
    pub base_url: String,
    pub field_params: Vec<(&'static str, String)>,
    pub token: BearerToken,
    pub pipeline: String,
    pub desired: Vec<Desired>,
    pub own_prefix: String,
    pub settings: StreamSettings,
    pub request_timeout: Duration,
    /// Ask backfill on the first connection too (the queries have stored something before).
    pub resume: bool,
}

/// Why a connection ended, and on which schedule to wait.
struct Ended {
    kind: FailureKind,
    reason: String,
    /// The connection delivered something: the failure counters start again.
    delivered: bool,
}

/// Runs until cancelled or until the worker stops listening. `events` carry `run_id`, so the
/// worker can tell this connection from a later one of the same slot.
pub async fn run(
    spec: ConnectionSpec,
    run_id: u64,
    events: Sender<(u64, StreamEvent)>,
    metrics: Metrics,
    cancel: CancellationToken,
) {
    let label = Metrics::connection(&spec.label);
    let built = RulesClient::new(&spec.base_url, spec.request_timeout).and_then(|rules| {
        let http = reqwest::Client::builder()
            // No overall timeout: the body never ends. Connecting and each read are bounded.
            .connect_timeout(spec.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tweetpipe-extractor/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok((rules, http))
    });
    let (rules, http) = match built {
        Ok(clients) => clients,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the stream's HTTP client");
            return;
        }
    };
    let url = format!(
        "{}/2/tweets/search/stream",
        spec.base_url.trim_end_matches('/')
    );
    let mut backoff = ReconnectBackoff::default();
    let mut router: Option<Router> = None;
    let mut rule_ids: Vec<(usize, String)> = Vec::new();
    let mut resume = spec.resume;
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let ended = match &router {
            None => match rules
                .ensure(&spec.token, &spec.desired, &spec.own_prefix)
                .await
            {
                Ok(ids) => {
                    let mut r = Router::new(spec.desired.iter().map(|d| (d.tag.clone(), d.query)));
                    for (query, id) in &ids {
                        r.add_rule_id(id, *query);
                    }
                    tracing::info!(connection = %spec.label, rules = ids.len(), "stream rules in place");
                    router = Some(r);
                    rule_ids = ids;
                    continue;
                }
                Err(e) => Ended {
                    kind: e.kind(),
                    reason: e.to_string(),
                    delivered: false,
                },
            },
            Some(router) => {
                let backfill = if resume {
                    spec.settings.backfill_minutes
                } else {
                    0
                };
                let connection = Connection {
                    spec: &spec,
                    http: &http,
                    url: &url,
                    router,
                    rule_ids: &rule_ids,
                    run_id,
                    events: &events,
                    metrics: &metrics,
                };
                let Some(ended) = connection.run(backfill, &cancel).await else {
                    return;
                };
                if ended.delivered || ended.kind == FailureKind::Network {
                    // From now on every connection follows one that may have missed posts.
                    resume = true;
                }
                ended
            }
        };
        metrics.stream_connected.get_or_create(&label).set(0);
        if ended.delivered {
            backoff.reset();
        }
        let kind = match ended.kind {
            FailureKind::Network => "network",
            FailureKind::Http => "http",
            FailureKind::RateLimited => "rate_limited",
        };
        metrics
            .stream_reconnects
            .get_or_create(&ConnectionReason {
                connection: spec.label.clone(),
                reason: kind.into(),
            })
            .inc();
        let delay = backoff.next_delay(&spec.settings, ended.kind);
        tracing::warn!(connection = %spec.label, reason = %ended.reason, schedule = kind, retry_in_ms = delay.as_millis() as u64, "stream connection ended; reconnecting");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancel.cancelled() => return,
        }
    }
}

struct Connection<'a> {
    spec: &'a ConnectionSpec,
    http: &'a reqwest::Client,
    url: &'a str,
    router: &'a Router,
    rule_ids: &'a [(usize, String)],
    run_id: u64,
    events: &'a Sender<(u64, StreamEvent)>,
    metrics: &'a Metrics,
}

/// Posts read but not yet handed over.
struct Batch {
    routed: Vec<(usize, Vec<Post>)>,
    posts: usize,
    started: Option<tokio::time::Instant>,
    read_at_ms: i64,
    newest_created_ms: Option<i64>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            routed: Vec::new(),
            posts: 0,
            started: None,
            read_at_ms: 0,
            newest_created_ms: None,
        }
    }

    fn add(&mut self, query: usize, post: Post) {
        match self.routed.iter_mut().find(|(q, _)| *q == query) {
            Some((_, posts)) => posts.push(post),
            None => self.routed.push((query, vec![post])),
        }
        self.posts += 1;
        self.started.get_or_insert_with(tokio::time::Instant::now);
    }
}

impl Connection<'_> {
    /// One connection, from the request to its end; `None` when cancelled or the worker is gone.
    async fn run(&self, backfill: u8, cancel: &CancellationToken) -> Option<Ended> {
        let label = Metrics::connection(&self.spec.label);
        let mut params = self.spec.field_params.clone();
        if backfill > 0 {
            params.push(("backfill_minutes", backfill.to_string()));
        }
        let connected_at = now_ms();
        let request = self
            .http
            .get(self.url)
            .bearer_auth(&self.spec.token.0)
            .query(&params)
            .send();
        let response = tokio::select! {
            r = tokio::time::timeout(self.spec.request_timeout, request) => r,
            () = cancel.cancelled() => return None,
        };
        let mut response = match response {
            Err(_) => return Some(network("connecting timed out".into(), false)),
            Ok(Err(e)) => return Some(network(format!("cannot connect: {e}"), false)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if status != 200 {
            let body = tokio::time::timeout(self.spec.request_timeout, response.text())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            let kind = if status == 429 {
                FailureKind::RateLimited
            } else {
                FailureKind::Http
            };
            if matches!(status, 401 | 403) {
                tracing::error!(connection = %self.spec.label, status, "the stream refused the bearer token");
            }
            return Some(Ended {
                kind,
                reason: format!("HTTP {status}: {body}"),
                delivered: false,
            });
        }
        self.metrics.stream_connected.get_or_create(&label).set(1);
        if backfill > 0 {
            self.metrics
                .stream_backfill_minutes
                .get_or_create(&label)
                .inc_by(u64::from(backfill));
        }
        tracing::info!(connection = %self.spec.label, backfill_minutes = backfill, "stream connected");
        self.send(StreamEvent::Connected {
            requested_at_ms: connected_at,
            answered_at_ms: now_ms(),
            backfill_minutes: backfill,
            rules: self.rule_ids.to_vec(),
        })
        .await?;

        let keepalive = self.spec.settings.keepalive_timeout();
        let batch_age = Duration::from_millis(self.spec.settings.batch_max_ms.max(1));
        let mut buffer: Vec<u8> = Vec::new();
        let mut batch = Batch::new();
        let mut delivered = false;
        let mut last_read = tokio::time::Instant::now();
        loop {
            // Wake for the batch's age or the keep-alive deadline, whichever comes first.
            let silence_deadline = last_read + keepalive;
            let wake = match batch.started {
                Some(started) => (started + batch_age).min(silence_deadline),
                None => silence_deadline,
            };
            let read = tokio::select! {
                r = tokio::time::timeout_at(wake, response.chunk()) => r,
                () = cancel.cancelled() => return None,
            };
            match read {
                Err(_) => {
                    if tokio::time::Instant::now() >= silence_deadline {
                        self.flush(&mut batch).await?;
                        return Some(network(
                            format!("no keep-alive for {} ms", keepalive.as_millis()),
                            delivered,
                        ));
                    }
                    let handing_over = tokio::time::Instant::now();
                    self.flush(&mut batch).await?;
                    last_read += handing_over.elapsed();
                }
                Ok(Err(e)) => {
                    self.flush(&mut batch).await?;
                    return Some(network(format!("reading the stream: {e}"), delivered));
                }
                Ok(Ok(None)) => {
                    self.flush(&mut batch).await?;
                    return Some(network("the server ended the stream".into(), delivered));
                }
                Ok(Ok(Some(bytes))) => {
                    buffer.extend_from_slice(&bytes);
                    let read_at = now_ms();
                    while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buffer.drain(..=end).collect();
                        delivered = true;
                        match parse_stream_line(&line, &self.spec.pipeline, read_at) {
                            Ok(StreamMessage::KeepAlive) => {
                                self.metrics.stream_keep_alives.get_or_create(&label).inc();
                                batch.read_at_ms = read_at;
                                // Lets the queries' stored_until advance while quiet.
                                self.flush_always(&mut batch).await?;
                            }
                            Ok(StreamMessage::Post { post, rules }) => {
                                batch.newest_created_ms = Some(
                                    batch
                                        .newest_created_ms
                                        .unwrap_or(i64::MIN)
                                        .max(post.created_at),
                                );
                                let queries = self.router.route(&rules);
                                if queries.is_empty() {
                                    tracing::debug!(id = %post.id, ?rules, "a streamed post matched no rule of ours");
                                }
                                for query in queries {
                                    batch.add(query, (*post).clone());
                                }
                                batch.read_at_ms = read_at;
                            }
                            Ok(StreamMessage::Disconnect { detail }) => {
                                self.flush(&mut batch).await?;
                                return Some(network(
                                    format!("operational disconnect: {detail}"),
                                    delivered,
                                ));
                            }
                            Err(e) => {
                                // One bad line must not stop the stream; its post is missing
                                // until a recovery search (a reconnect) covers it.
                                tracing::warn!(connection = %self.spec.label, error = %e, "unreadable stream line; reconnecting so backfill covers it");
                                self.flush(&mut batch).await?;
                                return Some(network(format!("malformed line: {e}"), delivered));
                            }
                        }
                    }
                    if buffer.len() > MAX_LINE_BYTES {
                        self.flush(&mut batch).await?;
                        return Some(network(
                            format!("a line longer than {MAX_LINE_BYTES} bytes"),
                            delivered,
                        ));
                    }
                    if batch.posts >= self.spec.settings.batch_max_posts {
                        self.flush(&mut batch).await?;
                    }
                    // After the hand-over: time the worker spent writing is not silence.
                    last_read = tokio::time::Instant::now();
                }
            }
        }
    }

    async fn send(&self, event: StreamEvent) -> Option<()> {
        self.events.send((self.run_id, event)).await.ok()
    }

    /// Hands over the batch when it has posts.
    async fn flush(&self, batch: &mut Batch) -> Option<()> {
        if batch.posts == 0 {
            batch.started = None;
            return Some(());
        }
        self.flush_always(batch).await
    }

    async fn flush_always(&self, batch: &mut Batch) -> Option<()> {
        let full = std::mem::replace(batch, Batch::new());
        batch.read_at_ms = full.read_at_ms;
        self.send(StreamEvent::Batch {
            routed: full.routed,
            read_at_ms: full.read_at_ms,
            newest_created_ms: full.newest_created_ms,
        })
        .await
    }
}

fn network(reason: String, delivered: bool) -> Ended {
    Ended {
        kind: FailureKind::Network,
        reason,
        delivered,
    }
}
