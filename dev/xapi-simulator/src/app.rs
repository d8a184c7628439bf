//! The HTTP application: the search endpoint, the filtered stream's endpoints ([`crate::stream`]),
//! the admin API (`/_sim/...`) and the ops routes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{FaultConfig, StreamConfig, TokenConfig};
use crate::corpus::Corpus;
use crate::ledger::{Ledger, LedgerSnapshot};
use crate::limits::{Admission, RateHeaders, TokenLimits};
use crate::metrics::{FaultLabel, SimMetrics, TokenStatus};
use crate::params::{self, ParamError};
use crate::query::{self, AccessLevel, QueryError};
use crate::search;
use crate::stream::{self, StreamState, StreamStats};

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) struct TokenState {
    pub(crate) name: String,
    pub(crate) limits: TokenLimits,
    requests: u64,
    rate_limited: u64,
    usage_capped: u64,
    pub(crate) posts_served: u64,
    bad_requests: u64,
    unauthorized: u64,
    injected_server_errors: u64,
    injected_slow: u64,
    injected_malformed: u64,
    statuses: BTreeMap<u16, u64>,
}

impl TokenState {
    fn new(name: String, limits: TokenLimits) -> Self {
        TokenState {
            name,
            limits,
            requests: 0,
            rate_limited: 0,
            usage_capped: 0,
            posts_served: 0,
            bad_requests: 0,
            unauthorized: 0,
            injected_server_errors: 0,
            injected_slow: 0,
            injected_malformed: 0,
            statuses: BTreeMap::new(),
        }
    }
}

/// Shared state of a running simulator.
pub struct AppState {
    pub(crate) corpus: Corpus,
    seed: u64,
    /// By secret.
    pub(crate) tokens: Mutex<HashMap<String, TokenState>>,
    pub(crate) faults: RwLock<FaultConfig>,
    requests: AtomicU64,
    pub(crate) metrics: SimMetrics,
    pub(crate) ledger: Mutex<Ledger>,
    access_level: AccessLevel,
    pub(crate) streams: StreamState,
}

/// Per-token counters, for tests and `/_sim/stats`. The three kinds of trouble are apart, so a
/// checker can assert "no rate-limit 429" while faults are injected: `rate_limited` counts only
/// 429s for an exceeded request window, never a usage cap or an injected fault.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenStats {
    /// Authenticated requests of a known, non-revoked token (every status).
    pub requests: u64,
    /// 429 Too Many Requests: the token's request window was exceeded (the real limit).
    pub rate_limited: u64,
    /// 429 UsageCapExceeded: the monthly post cap was reached.
    pub usage_capped: u64,
    /// Injected 5xx answers (`faults.server_errors`).
    pub injected_server_errors: u64,
    /// Injected delays (`faults.slow`); the request was then answered normally.
    pub injected_slow: u64,
    /// Injected cut-off 200 bodies (`faults.malformed`).
    pub injected_malformed: u64,
    /// The sum of the three injected kinds.
    pub injected_faults: u64,
    /// 400 Invalid Request answers.
    pub bad_requests: u64,
    /// 401 answers because the token was revoked (`faults.revoked_tokens`).
    pub unauthorized: u64,
    /// Answers by HTTP status (JSON keys are the status as a string).
    pub statuses: BTreeMap<u16, u64>,
    /// Posts returned in readable 200 answers (cut-off bodies excluded): the ledger's
    /// `served_posts` for this token.
    pub posts_served: u64,
    /// Posts counted against this UTC month's cap.
    pub month_posts: u64,
}

/// In-process control of a simulator (the admin API does the same over HTTP).
#[derive(Clone)]
pub struct SimHandle {
    state: Arc<AppState>,
}

impl SimHandle {
    pub fn set_faults(&self, faults: FaultConfig) {
        if let Ok(mut f) = self.state.faults.write() {
            *f = faults;
        }
    }

    pub fn faults(&self) -> FaultConfig {
        self.state
            .faults
            .read()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// Makes every request with the named token answer 401.
    pub fn revoke(&self, token_name: &str) {
        let mut faults = self.faults();
        if !faults.revoked_tokens.iter().any(|t| t == token_name) {
            faults.revoked_tokens.push(token_name.to_string());
        }
        self.set_faults(faults);
    }

    pub fn restore(&self, token_name: &str) {
        let mut faults = self.faults();
        faults.revoked_tokens.retain(|t| t != token_name);
        self.set_faults(faults);
    }

    /// Posts published so far.
    pub fn visible_posts(&self) -> u64 {
        self.state.corpus.visible_count(now_ms())
    }

    /// Ids (newest first) of every post published so far, within the 7-day window, that
    /// matches `query`: what a perfect client would have collected.
    pub fn matching_ids(&self, query: &str) -> Result<Vec<String>, QueryError> {
        let expr = query::parse_for(query, self.state.access_level)?;
        let now = now_ms();
        let corpus = &self.state.corpus;
        let visible = corpus.visible_count(now);
        let lo =
            Corpus::partition_point(visible, |i| corpus.created_ms(i) >= now - params::WINDOW_MS);
        Ok(corpus
            .indexes_matching(lo, visible, |p| expr.matches(&p.facts))
            .into_iter()
            .map(|i| corpus.id_of(i).to_string())
            .collect())
    }

    pub fn stats(&self) -> HashMap<String, TokenStats> {
        let tokens = lock(&self.state.tokens);
        tokens
            .values()
            .map(|t| {
                (
                    t.name.clone(),
                    TokenStats {
                        requests: t.requests,
                        rate_limited: t.rate_limited,
                        usage_capped: t.usage_capped,
                        injected_server_errors: t.injected_server_errors,
                        injected_slow: t.injected_slow,
                        injected_malformed: t.injected_malformed,
                        injected_faults: t.injected_server_errors
                            + t.injected_slow
                            + t.injected_malformed,
                        bad_requests: t.bad_requests,
                        unauthorized: t.unauthorized,
                        statuses: t.statuses.clone(),
                        posts_served: t.posts_served,
                        month_posts: t.limits.month_posts(),
                    },
                )
            })
            .collect()
    }

    /// Every post id served so far, per token and query (see [`crate::ledger`]).
    pub fn ledger(&self) -> LedgerSnapshot {
        lock(&self.state.ledger).snapshot()
    }

    /// The filtered stream's counters, per token label.
    pub fn stream_stats(&self) -> BTreeMap<String, StreamStats> {
        self.state.streams.stats()
    }

    /// The app's active stream rules as `(id, value, tag)`.
    pub fn stream_rules(&self, token_name: &str) -> Vec<(u64, String, Option<String>)> {
        self.state
            .streams
            .rules_of(token_name)
            .iter()
            .map(|r| (r.id, r.value.clone(), r.tag.clone()))
            .collect()
    }

    /// Ends every stream connection open now (stalled ones included), without a message, as a
    /// server restart would; later connections are served. The simulator does this when it
    /// stops.
    pub fn close_streams(&self) {
        self.state
            .streams
            .closings
            .send_modify(|closings| *closings += 1);
    }

    /// Empties the ledger.
    pub fn clear_ledger(&self) {
        let mut ledger = lock(&self.state.ledger);
        ledger.clear();
        self.state.metrics.ledger_entries_stored.set(0);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a simulator serves from and with.
pub(crate) struct AppParts {
    pub corpus: Corpus,
    pub seed: u64,
    pub tokens: Vec<(TokenConfig, String)>,
    pub faults: FaultConfig,
    pub metrics: SimMetrics,
    pub ledger_capacity: usize,
    pub access_level: AccessLevel,
    pub stream: StreamConfig,
}

pub(crate) fn build(parts: AppParts) -> (Router, SimHandle) {
    let AppParts {
        corpus,
        seed,
        tokens,
        faults,
        metrics,
        ledger_capacity,
        access_level,
        stream: stream_config,
    } = parts;
    let tokens = tokens
        .into_iter()
        .map(|(t, secret)| {
            let limits =
                TokenLimits::new(t.requests_per_window, t.window_seconds, t.monthly_post_cap);
            (secret, TokenState::new(t.name.clone(), limits))
        })
        .collect();
    let state = Arc::new(AppState {
        corpus,
        seed,
        tokens: Mutex::new(tokens),
        faults: RwLock::new(faults),
        requests: AtomicU64::new(0),
        metrics,
        ledger: Mutex::new(Ledger::new(ledger_capacity)),
        access_level,
        streams: StreamState::new(stream_config, access_level),
    });
    let router = Router::new()
        .route("/2/tweets/search/recent", get(search_recent))
        .route("/2/tweets/search/stream", get(stream::http::connect))
        .route(
            "/2/tweets/search/stream/rules",
            get(stream::http::get_rules).post(stream::http::post_rules),
        )
        .route("/_sim/stats", get(admin_stats))
        .route("/_sim/faults", get(admin_get_faults).put(admin_put_faults))
        .route("/_sim/tokens/{name}/revoke", post(admin_revoke))
        .route("/_sim/tokens/{name}/restore", post(admin_restore))
        .route("/_sim/matching", get(admin_matching))
        .route("/_sim/streams/close", post(admin_close_streams))
        .route("/_sim/ledger", get(admin_ledger).delete(admin_clear_ledger))
        .with_state(state.clone());
    (router, SimHandle { state })
}

pub(crate) fn json_response(
    status: StatusCode,
    body: &Value,
    rate: Option<RateHeaders>,
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(rate) = rate {
        add_rate_headers(headers, rate);
    }
    response
}

pub(crate) fn add_rate_headers(headers: &mut HeaderMap, rate: RateHeaders) {
    headers.insert("x-rate-limit-limit", HeaderValue::from(rate.limit));
    headers.insert("x-rate-limit-remaining", HeaderValue::from(rate.remaining));
    headers.insert("x-rate-limit-reset", HeaderValue::from(rate.reset_epoch_s));
}

pub(crate) fn unauthorized() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}),
        None,
    )
}

pub(crate) fn invalid_request(errors: &[ParamError], rate: Option<RateHeaders>) -> Response {
    let errors: Vec<Value> = errors
        .iter()
        .map(|e| {
            let parameters: serde_json::Map<String, Value> = e
                .parameters
                .iter()
                .map(|(name, values)| (name.clone(), json!(values)))
                .collect();
            json!({"parameters": parameters, "message": e.message})
        })
        .collect();
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({
            "errors": errors,
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"
        }),
        rate,
    )
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn search_recent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let now = now_ms();
    state
        .metrics
        .visible_posts
        .set(state.corpus.visible_count(now) as i64);
    let Some(secret) = bearer(&headers) else {
        return unauthorized();
    };
    let faults = state.faults.read().map(|f| f.clone()).unwrap_or_default();
    // Admission happens under the lock; everything slow happens after it is released.
    let (name, admission, rate) = {
        let mut tokens = lock(&state.tokens);
        let Some(token) = tokens.get_mut(secret) else {
            return unauthorized();
        };
        if faults.revoked_tokens.contains(&token.name) {
            token.unauthorized += 1;
            *token.statuses.entry(401).or_default() += 1;
            state
                .metrics
                .requests
                .get_or_create(&TokenStatus {
                    token: token.name.clone(),
                    status: 401,
                })
                .inc();
            return unauthorized();
        }
        token.requests += 1;
        let admission = token.limits.admit(now);
        match admission {
            Admission::RateLimited => token.rate_limited += 1,
            Admission::UsageCapped => token.usage_capped += 1,
            Admission::Allowed => {}
        }
        (token.name.clone(), admission, token.limits.headers())
    };
    // Counts an answer per token, in the metrics and in `/_sim/stats`.
    let count = |status: u16, also: fn(&mut TokenState)| {
        state
            .metrics
            .requests
            .get_or_create(&TokenStatus {
                token: name.clone(),
                status,
            })
            .inc();
        if let Some(token) = lock(&state.tokens).get_mut(secret) {
            *token.statuses.entry(status).or_default() += 1;
            also(token);
        }
    };
    let count_status = |status: u16| count(status, |_| {});
    match admission {
        Admission::RateLimited => {
            count_status(429);
            state
                .metrics
                .rate_limited
                .get_or_create(&SimMetrics::token(&name))
                .inc();
            tracing::info!(token = %name, reset = rate.reset_epoch_s, "rate limited");
            return json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}),
                Some(rate),
            );
        }
        Admission::UsageCapped => {
            count_status(429);
            state
                .metrics
                .usage_capped
                .get_or_create(&SimMetrics::token(&name))
                .inc();
            return json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({
                    "title": "UsageCapExceeded",
                    "detail": "Usage cap exceeded: Monthly product cap",
                    "type": "https://api.twitter.com/2/problems/usage-capped",
                    "period": "Monthly",
                    "scope": "Product"
                }),
                Some(rate),
            );
        }
        Admission::Allowed => {}
    }

    let request_number = state.requests.fetch_add(1, Ordering::Relaxed);
    let slow = faults
        .slow
        .as_ref()
        .filter(|slow| slow.every > 0 && request_number % slow.every < slow.length);
    if let Some(slow) = slow {
        state
            .metrics
            .faults
            .get_or_create(&FaultLabel {
                kind: "slow".into(),
            })
            .inc();
        if let Some(token) = lock(&state.tokens).get_mut(secret) {
            token.injected_slow += 1;
        }
        if !slow.after_counting {
            tokio::time::sleep(Duration::from_millis(slow.delay_ms)).await;
        }
    }
    if let Some(burst) = &faults.server_errors
        && burst.hits(request_number)
    {
        state
            .metrics
            .faults
            .get_or_create(&FaultLabel {
                kind: "server_error".into(),
            })
            .inc();
        count(burst.status, |t| t.injected_server_errors += 1);
        let status = StatusCode::from_u16(burst.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let title = status.canonical_reason().unwrap_or("Service Unavailable");
        return json_response(
            status,
            &json!({"title": title, "detail": title, "type": "about:blank", "status": status.as_u16()}),
            Some(rate),
        );
    }

    let params = match params::parse(&pairs, now, state.seed, state.access_level) {
        Ok(p) => p,
        Err(errors) => {
            count(400, |t| t.bad_requests += 1);
            return invalid_request(&errors, Some(rate));
        }
    };
    let page = search::select(&state.corpus, &params, now);
    let body = search::render(&state.corpus, &page, &params, state.seed);
    if let Some(burst) = &faults.malformed
        && burst.hits(request_number)
    {
        state
            .metrics
            .faults
            .get_or_create(&FaultLabel {
                kind: "malformed".into(),
            })
            .inc();
        count(200, |t| t.injected_malformed += 1);
        let text = body.to_string();
        let cut: String = text.chars().take(text.chars().count() / 2).collect();
        let mut response = (StatusCode::OK, cut).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        add_rate_headers(response.headers_mut(), rate);
        return response;
    }
    let served = page.posts.len() as u64;
    {
        let mut tokens = lock(&state.tokens);
        if let Some(token) = tokens.get_mut(secret) {
            token.limits.record_posts(served);
            token.posts_served += served;
        }
    }
    record_in_ledger(&state, &name, &params.query_text, &page);
    state
        .metrics
        .posts_served
        .get_or_create(&SimMetrics::token(&name))
        .inc_by(served);
    count_status(200);
    if let Some(slow) = slow.filter(|slow| slow.after_counting) {
        tokio::time::sleep(Duration::from_millis(slow.delay_ms)).await;
    }
    json_response(StatusCode::OK, &body, Some(rate))
}

fn record_in_ledger(state: &AppState, token: &str, query: &str, page: &search::Page) {
    if page.posts.is_empty() {
        return;
    }
    let ids: Vec<u64> = page.posts.iter().map(|p| p.id).collect();
    let recorded = {
        let mut ledger = lock(&state.ledger);
        let recorded = ledger.record(token, query, &ids);
        // Under the lock, so a concurrent DELETE cannot be overwritten by a stale count.
        state
            .metrics
            .ledger_entries_stored
            .set(i64::try_from(ledger.entries()).unwrap_or(i64::MAX));
        recorded
    };
    let label = SimMetrics::token(token);
    state
        .metrics
        .ledger_entries
        .get_or_create(&label)
        .inc_by(recorded.new_entries);
    if recorded.unrecorded > 0 {
        state
            .metrics
            .ledger_unrecorded
            .get_or_create(&label)
            .inc_by(recorded.unrecorded);
    }
}

async fn admin_ledger(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = SimHandle { state }.ledger();
    // Straight to text: a `Value` tree of millions of ids would cost far more than the ids.
    match serde_json::to_string(&snapshot) {
        Ok(body) => {
            let mut response = (StatusCode::OK, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            response
        }
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": e.to_string()}),
            None,
        ),
    }
}

async fn admin_clear_ledger(State(state): State<Arc<AppState>>) -> Response {
    SimHandle { state }.clear_ledger();
    tracing::info!("ledger cleared");
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_stats(State(state): State<Arc<AppState>>) -> Response {
    let handle = SimHandle { state };
    json_response(
        StatusCode::OK,
        &json!({"visible_posts": handle.visible_posts(), "tokens": handle.stats(),
                "streams": handle.stream_stats()}),
        None,
    )
}

async fn admin_get_faults(State(state): State<Arc<AppState>>) -> Response {
    let faults = SimHandle { state }.faults();
    json_response(
        StatusCode::OK,
        &serde_json::to_value(faults).unwrap_or_default(),
        None,
    )
}

async fn admin_put_faults(State(state): State<Arc<AppState>>, body: String) -> Response {
    match serde_json::from_str::<FaultConfig>(&body) {
        Ok(faults) => {
            tracing::info!(?faults, "fault injection changed");
            SimHandle { state }.set_faults(faults);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": e.to_string()}),
            None,
        ),
    }
}

async fn admin_close_streams(State(state): State<Arc<AppState>>) -> Response {
    SimHandle { state }.close_streams();
    tracing::info!("open stream connections closed");
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_revoke(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    SimHandle { state }.revoke(&name);
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_restore(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    SimHandle { state }.restore(&name);
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_matching(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let query = q.get("query").map(String::as_str).unwrap_or_default();
    match (SimHandle { state }).matching_ids(query) {
        Ok(ids) => json_response(
            StatusCode::OK,
            &json!({"count": ids.len(), "newest_id": ids.first(), "ids": ids}),
            None,
        ),
        Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e.message}), None),
    }
}
