//! The HTTP application: the search endpoint, the admin API (`/_sim/...`) and the ops routes.

use std::collections::HashMap;
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

use crate::config::{FaultConfig, TokenConfig};
use crate::corpus::Corpus;
use crate::limits::{Admission, RateHeaders, TokenLimits};
use crate::metrics::{FaultLabel, SimMetrics, TokenStatus};
use crate::params::{self, ParamError};
use crate::query::{self, QueryError};
use crate::search;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct TokenState {
    name: String,
    limits: TokenLimits,
    requests: u64,
    rate_limited: u64,
    usage_capped: u64,
    posts_served: u64,
}

/// Shared state of a running simulator.
pub struct AppState {
    pub(crate) corpus: Corpus,
    seed: u64,
    tokens: Mutex<HashMap<String, TokenState>>,
    faults: RwLock<FaultConfig>,
    requests: AtomicU64,
    metrics: SimMetrics,
}

/// Per-token counters, for tests and `/_sim/stats`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenStats {
    pub requests: u64,
    pub rate_limited: u64,
    pub usage_capped: u64,
    pub posts_served: u64,
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
        let expr = query::parse(query)?;
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
                        posts_served: t.posts_served,
                        month_posts: t.limits.month_posts(),
                    },
                )
            })
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn build(
    corpus: Corpus,
    seed: u64,
    tokens: Vec<(TokenConfig, String)>,
    faults: FaultConfig,
    metrics: SimMetrics,
) -> (Router, SimHandle) {
    let tokens = tokens
        .into_iter()
        .map(|(t, secret)| {
            let state = TokenState {
                name: t.name.clone(),
                limits: TokenLimits::new(
                    t.requests_per_window,
                    t.window_seconds,
                    t.monthly_post_cap,
                ),
                requests: 0,
                rate_limited: 0,
                usage_capped: 0,
                posts_served: 0,
            };
            (secret, state)
        })
        .collect();
    let state = Arc::new(AppState {
        corpus,
        seed,
        tokens: Mutex::new(tokens),
        faults: RwLock::new(faults),
        requests: AtomicU64::new(0),
        metrics,
    });
    let router = Router::new()
        .route("/2/tweets/search/recent", get(search_recent))
        .route("/_sim/stats", get(admin_stats))
        .route("/_sim/faults", get(admin_get_faults).put(admin_put_faults))
        .route("/_sim/tokens/{name}/revoke", post(admin_revoke))
        .route("/_sim/tokens/{name}/restore", post(admin_restore))
        .route("/_sim/matching", get(admin_matching))
        .with_state(state.clone());
    (router, SimHandle { state })
}

fn json_response(status: StatusCode, body: &Value, rate: Option<RateHeaders>) -> Response {
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

fn add_rate_headers(headers: &mut HeaderMap, rate: RateHeaders) {
    headers.insert("x-rate-limit-limit", HeaderValue::from(rate.limit));
    headers.insert("x-rate-limit-remaining", HeaderValue::from(rate.remaining));
    headers.insert("x-rate-limit-reset", HeaderValue::from(rate.reset_epoch_s));
}

fn unauthorized() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}),
        None,
    )
}

fn invalid_request(errors: &[ParamError], rate: RateHeaders) -> Response {
    let errors: Vec<Value> = errors
        .iter()
        .map(|e| json!({"parameters": {e.parameter.clone(): e.values}, "message": e.message}))
        .collect();
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({
            "errors": errors,
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"
        }),
        Some(rate),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
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
    let count_status = |status: u16| {
        state
            .metrics
            .requests
            .get_or_create(&TokenStatus {
                token: name.clone(),
                status,
            })
            .inc();
    };
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
    if let Some(slow) = &faults.slow
        && slow.every > 0
        && request_number % slow.every < slow.length
    {
        state
            .metrics
            .faults
            .get_or_create(&FaultLabel {
                kind: "slow".into(),
            })
            .inc();
        tokio::time::sleep(Duration::from_millis(slow.delay_ms)).await;
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
        count_status(burst.status);
        let status = StatusCode::from_u16(burst.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let title = status.canonical_reason().unwrap_or("Service Unavailable");
        return json_response(
            status,
            &json!({"title": title, "detail": title, "type": "about:blank", "status": status.as_u16()}),
            Some(rate),
        );
    }

    let params = match params::parse(&pairs, now, state.seed) {
        Ok(p) => p,
        Err(errors) => {
            count_status(400);
            return invalid_request(&errors, rate);
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
        count_status(200);
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
    state
        .metrics
        .posts_served
        .get_or_create(&SimMetrics::token(&name))
        .inc_by(served);
    count_status(200);
    json_response(StatusCode::OK, &body, Some(rate))
}

async fn admin_stats(State(state): State<Arc<AppState>>) -> Response {
    let handle = SimHandle { state };
    json_response(
        StatusCode::OK,
        &json!({"visible_posts": handle.visible_posts(), "tokens": handle.stats()}),
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
