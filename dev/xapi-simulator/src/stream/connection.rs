//! One filtered-stream connection: newline-delimited posts as the corpus publishes them, each
//! with the app's rules that match it, keep-alives when quiet, backfill on request, and the
//! injected faults.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

use super::rules::Rule;
use crate::app::{AppState, lock, now_ms};
use crate::config::{StreamFaults, StreamTrigger};
use crate::corpus::{Corpus, SimPost};
use crate::metrics::SimMetrics;
use crate::params::{self, Fields, ParamError};
use crate::search::{render_includes, render_post};

/// The parameters `GET /2/tweets/search/stream` accepts; anything else is a 400.
pub const ACCEPTED: &[&str] = &[
    "expansions",
    "tweet.fields",
    "user.fields",
    "place.fields",
    "media.fields",
    "poll.fields",
    "backfill_minutes",
];

/// X delimits stream messages with CRLF; a bare CRLF is the keep-alive.
const DELIMITER: &str = "\r\n";

/// How long the connection sleeps at most between looks at the clock and the fault settings,
/// so a fault set while a connection is quiet fires within this much of its time.
const MAX_NAP: Duration = Duration::from_millis(50);

/// Messages buffered towards a slow reader before the connection waits for it.
const BUFFERED_MESSAGES: usize = 64;

/// What a stream connection was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamParams {
    pub fields: Fields,
    /// Minutes of posts published before the connection to deliver first (0: none).
    pub backfill_minutes: u32,
}

/// Validates the stream's query pairs, reporting every problem at once as search does.
pub fn parse_params(pairs: &[(String, String)]) -> Result<StreamParams, Vec<ParamError>> {
    let mut errors = Vec::new();
    let values = params::collect_pairs(pairs, ACCEPTED, &mut errors);
    let backfill_minutes = match values.get("backfill_minutes") {
        None => 0,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n <= 5 => n,
            _ => {
                errors.push(ParamError {
                    parameters: vec![("backfill_minutes".into(), vec![(*v).to_string()])],
                    message: format!(
                        "The `backfill_minutes` query parameter value [{v}] is not between 0 and 5"
                    ),
                });
                0
            }
        },
    };
    let fields = params::parse_fields(&values, &mut errors);
    if errors.is_empty() {
        Ok(StreamParams {
            fields,
            backfill_minutes,
        })
    } else {
        Err(errors)
    }
}

/// An app's connection slot, given back when the connection ends however it ends.
pub(crate) struct Slot {
    state: Arc<AppState>,
    token: String,
}

impl Slot {
    /// Takes one of the app's slots, or `None` when all are in use.
    pub(crate) fn take(state: &Arc<AppState>, token: &str) -> Option<Slot> {
        if !state.streams.try_open(token) {
            return None;
        }
        let label = SimMetrics::token(token);
        state.metrics.stream_connections.get_or_create(&label).inc();
        state
            .metrics
            .stream_connections_open
            .get_or_create(&label)
            .inc();
        Some(Slot {
            state: state.clone(),
            token: token.to_string(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.state.streams.release(&self.token);
        self.state
            .metrics
            .stream_connections_open
            .get_or_create(&SimMetrics::token(&self.token))
            .dec();
    }
}

/// Starts the connection's writer and returns the response body it feeds.
pub(crate) fn open(state: Arc<AppState>, slot: Slot, secret: String, params: StreamParams) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(BUFFERED_MESSAGES);
    let opened_ms = now_ms();
    // Posts published before the connection are not streamed, except the backfill window.
    let start_index = if params.backfill_minutes > 0 {
        let from_ms = opened_ms - i64::from(params.backfill_minutes) * 60_000;
        let visible = state.corpus.visible_count(opened_ms);
        Corpus::partition_point(visible, |i| state.corpus.created_ms(i) >= from_ms)
    } else {
        state.corpus.visible_count(opened_ms)
    };
    // Subscribed before the writer starts, so a close right after the connection is not missed.
    let closing = state.streams.closings.subscribe();
    let writer = Writer {
        closing,
        state,
        token: slot.token.clone(),
        secret,
        fields: params.fields,
        next_index: start_index,
        posts: 0,
        opened: Instant::now(),
        last_write: Instant::now(),
        tx,
    };
    tokio::spawn(writer.run(slot));
    let messages = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    Body::from_stream(messages)
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    ClientLeft,
    Dropped,
    OperationalDisconnect,
    Stalled,
    /// [`crate::SimHandle::close_streams`], e.g. the simulator stopping.
    Closed,
}

struct Writer {
    /// Changes when open connections must end ([`crate::SimHandle::close_streams`]).
    closing: watch::Receiver<u64>,
    state: Arc<AppState>,
    token: String,
    secret: String,
    fields: Fields,
    /// The next corpus index to look at.
    next_index: u64,
    /// Posts written on this connection.
    posts: u64,
    opened: Instant,
    last_write: Instant,
    tx: mpsc::Sender<Bytes>,
}

impl Writer {
    async fn run(mut self, slot: Slot) {
        let end = self.serve().await;
        tracing::info!(token = %self.token, posts = self.posts, ?end, "stream connection ended");
        drop(slot);
    }

    fn faults(&self) -> StreamFaults {
        self.state
            .faults
            .read()
            .map(|f| f.stream.clone())
            .unwrap_or_default()
    }

    async fn serve(&mut self) -> End {
        let mut closing = self.closing.clone();
        let opened_in = *closing.borrow_and_update();
        let keepalive = Duration::from_millis(self.state.streams.config.keepalive_ms.max(1));
        loop {
            if *closing.borrow() != opened_in {
                return End::Closed;
            }
            let faults = self.faults();
            let age_ms = self.opened.elapsed().as_millis() as u64;
            let fires = |trigger: &Option<StreamTrigger>| {
                trigger
                    .as_ref()
                    .is_some_and(|t| t.fires(self.posts, age_ms))
            };
            if fires(&faults.operational_disconnect) {
                self.state
                    .streams
                    .count(&self.token, |s| s.injected_operational_disconnects += 1);
                self.state.metrics.fault("stream_operational_disconnect");
                let message = json!({"errors": [{
                    "title": "operational-disconnect",
                    "disconnect_type": "UpstreamOperationalDisconnect",
                    "detail": "This stream has been disconnected upstream for operational reasons.",
                    "type": "https://api.twitter.com/2/problems/operational-disconnect"
                }]});
                let _ = self.write(format!("{message}{DELIMITER}")).await;
                return End::OperationalDisconnect;
            }
            if fires(&faults.drop) {
                self.state
                    .streams
                    .count(&self.token, |s| s.injected_drops += 1);
                self.state.metrics.fault("stream_drop");
                return End::Dropped;
            }
            if fires(&faults.stall) {
                self.state
                    .streams
                    .count(&self.token, |s| s.injected_stalls += 1);
                self.state.metrics.fault("stream_stall");
                // Silent until the client gives up or the simulator stops.
                tokio::select! {
                    () = self.tx.closed() => {},
                    _ = closing.wait_for(|closings| *closings != opened_in) => {},
                }
                return End::Stalled;
            }
            // At most one post per turn, so a trigger counted in posts fires exactly.
            if let Some((post, matching)) = self.next_matching_post() {
                let line = self.message(&post, &matching);
                if !self.write(line).await {
                    return End::ClientLeft;
                }
                self.delivered(&post, &matching);
                continue;
            }
            let nap = self.nap(keepalive);
            tokio::select! {
                () = tokio::time::sleep(nap) => {},
                () = self.tx.closed() => return End::ClientLeft,
                _ = closing.wait_for(|closings| *closings != opened_in) => return End::Closed,
            }
            if self.last_write.elapsed() >= keepalive {
                if !self.write(DELIMITER.to_string()).await {
                    return End::ClientLeft;
                }
                self.state
                    .streams
                    .count(&self.token, |s| s.keep_alives += 1);
                self.state
                    .metrics
                    .stream_keepalives
                    .get_or_create(&SimMetrics::token(&self.token))
                    .inc();
            }
        }
    }

    /// The next published post that matches any of the app's rules (read now, so rule changes
    /// apply to the posts published after them), with those rules.
    fn next_matching_post(&mut self) -> Option<(Arc<SimPost>, Vec<Rule>)> {
        let visible = self.state.corpus.visible_count(now_ms());
        while self.next_index < visible {
            let post = self.state.corpus.post(self.next_index);
            self.next_index += 1;
            let rules = self.state.streams.rules_of(&self.token);
            let matching: Vec<Rule> = rules
                .iter()
                .filter(|rule| rule.matches(&post.facts))
                .cloned()
                .collect();
            if !matching.is_empty() {
                return Some((post, matching));
            }
        }
        None
    }

    /// How long to sleep: until the next post is published or a keep-alive is due, at most
    /// [`MAX_NAP`].
    fn nap(&self, keepalive: Duration) -> Duration {
        let corpus = &self.state.corpus;
        let until_publish = corpus.will_publish(self.next_index).then(|| {
            let ms = corpus.created_ms(self.next_index) - now_ms();
            Duration::from_millis(ms.max(1) as u64)
        });
        let until_keepalive = keepalive.saturating_sub(self.last_write.elapsed());
        until_publish
            .unwrap_or(MAX_NAP)
            .min(until_keepalive)
            .min(MAX_NAP)
            .max(Duration::from_millis(1))
    }

    fn message(&self, post: &Arc<SimPost>, matching: &[Rule]) -> String {
        let corpus = &self.state.corpus;
        let mut o = Map::new();
        o.insert("data".into(), render_post(corpus, post, &self.fields));
        if let Some(includes) = render_includes(corpus, std::slice::from_ref(post), &self.fields) {
            o.insert("includes".into(), includes);
        }
        let rules: Vec<Value> = matching
            .iter()
            .map(|rule| {
                let mut r = Map::new();
                r.insert("id".into(), json!(rule.id.to_string()));
                if let Some(tag) = &rule.tag {
                    r.insert("tag".into(), json!(tag));
                }
                Value::Object(r)
            })
            .collect();
        o.insert("matching_rules".into(), Value::Array(rules));
        format!("{}{DELIMITER}", Value::Object(o))
    }

    /// Writes to the client; false when it has gone.
    async fn write(&mut self, text: String) -> bool {
        let sent = self.tx.send(Bytes::from(text)).await.is_ok();
        if sent {
            self.last_write = Instant::now();
        }
        sent
    }

    /// Counts a written post: against the app's monthly cap, in its stats, and in the ledger
    /// under every matching rule.
    fn delivered(&mut self, post: &SimPost, matching: &[Rule]) {
        self.posts += 1;
        let state = &self.state;
        if let Some(token) = lock(&state.tokens).get_mut(&self.secret) {
            token.limits.record_posts(1);
            token.posts_served += 1;
        }
        state.streams.count(&self.token, |s| s.posts_delivered += 1);
        state
            .metrics
            .posts_served
            .get_or_create(&SimMetrics::token(&self.token))
            .inc();
        let mut new_entries = 0;
        let mut unrecorded = 0;
        {
            let mut ledger = lock(&state.ledger);
            for rule in matching {
                let recorded = ledger.record_streamed(
                    &self.token,
                    &rule.value,
                    rule.tag.as_deref(),
                    &[post.id],
                );
                new_entries += recorded.new_entries;
                unrecorded += recorded.unrecorded;
            }
            state
                .metrics
                .ledger_entries_stored
                .set(i64::try_from(ledger.entries()).unwrap_or(i64::MAX));
        }
        let label = SimMetrics::token(&self.token);
        state
            .metrics
            .ledger_entries
            .get_or_create(&label)
            .inc_by(new_entries);
        if unrecorded > 0 {
            state
                .metrics
                .ledger_unrecorded
                .get_or_create(&label)
                .inc_by(unrecorded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn stream_parameters_are_the_search_fields_and_backfill() {
        let p = parse_params(&pairs(&[
            ("tweet.fields", "created_at,lang"),
            ("expansions", "author_id"),
            ("backfill_minutes", "5"),
        ]))
        .expect("valid");
        assert_eq!(p.backfill_minutes, 5);
        assert!(p.fields.tweet_fields.contains("created_at"));
        assert!(p.fields.expansions.contains("author_id"));
        assert_eq!(parse_params(&[]).expect("none").backfill_minutes, 0);
        // (case, pairs, expected messages).
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "backfill past 5 minutes",
                vec![("backfill_minutes", "6")],
                vec!["The `backfill_minutes` query parameter value [6] is not between 0 and 5"],
            ),
            (
                "backfill not a number",
                vec![("backfill_minutes", "two")],
                vec!["The `backfill_minutes` query parameter value [two] is not between 0 and 5"],
            ),
            (
                "a search-only parameter",
                vec![("query", "covid")],
                vec![
                    "The query parameter [query] is not one of [expansions,tweet.fields,user.fields,place.fields,media.fields,poll.fields,backfill_minutes]",
                ],
            ),
            (
                "an unknown field and a repeated parameter",
                vec![
                    ("tweet.fields", "color"),
                    ("backfill_minutes", "1"),
                    ("backfill_minutes", "2"),
                ],
                vec![
                    "Duplicate parameters are not allowed: the `backfill_minutes` query parameter",
                    "The `tweet.fields` query parameter value [color] is not one of",
                ],
            ),
        ];
        for (case, list, expected) in cases {
            let errors = parse_params(&pairs(&list)).expect_err(case);
            let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(messages.len(), expected.len(), "{case}: {messages:#?}");
            for (message, start) in messages.iter().zip(&expected) {
                assert!(message.starts_with(start), "{case}: {message}");
            }
        }
    }
}
