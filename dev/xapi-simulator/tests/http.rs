//! The simulator over HTTP: shapes, headers, limits, caps, pagination and faults.

use std::time::Duration;

use serde_json::Value;
use xapi_simulator::params::{WINDOW_MS, first_id_at};
use xapi_simulator::{Burst, CorpusConfig, FaultConfig, RunningSimulator, SimConfig, TokenConfig};

fn token(name: &str, secret: &str, limit: u32, window: u64, cap: u64) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        token: Some(secret.into()),
        token_file: None,
        requests_per_window: limit,
        window_seconds: window,
        monthly_post_cap: cap,
    }
}

async fn simulator(tokens: Vec<TokenConfig>, corpus: CorpusConfig) -> RunningSimulator {
    let config = SimConfig {
        listen: "127.0.0.1:0".into(),
        seed: 11,
        tokens,
        corpus,
        ..SimConfig::default()
    };
    xapi_simulator::start(config)
        .await
        .expect("simulator starts")
}

fn small_corpus() -> CorpusConfig {
    CorpusConfig {
        posts_per_second: 20.0,
        backfill_posts: 500,
        max_posts: Some(500),
    }
}

/// The simulator with `tokens` over the small corpus.
async fn small_simulator(tokens: Vec<TokenConfig>) -> RunningSimulator {
    simulator(tokens, small_corpus()).await
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: String,
}

async fn get(sim: &RunningSimulator, secret: Option<&str>, query: &[(&str, &str)]) -> Answer {
    let client = reqwest::Client::new();
    let mut request = client
        .get(format!("{}/2/tweets/search/recent", sim.base_url()))
        .query(query);
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let raw = response.text().await.expect("body");
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        raw,
    }
}

fn header(a: &Answer, name: &str) -> i64 {
    a.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("header {name} missing: {:?}", a.headers))
}

/// The secret of token `t`, which most tests use alone.
const SECRET: &str = "secret";

/// The simulator with one token, `t` (100 requests per 15 minutes, a million posts a month),
/// over the small corpus.
async fn one_token() -> RunningSimulator {
    small_simulator(vec![token("t", SECRET, 100, 900, 1_000_000)]).await
}

/// A search with token `t`'s secret.
async fn search(sim: &RunningSimulator, query: &[(&str, &str)]) -> Answer {
    get(sim, Some(SECRET), query).await
}

/// The status of a plain `covid` search with `secret`.
async fn covid_status(sim: &RunningSimulator, secret: &str) -> u16 {
    get(sim, Some(secret), &[("query", "covid")]).await.status
}

/// X's 400 answer to a request with an invalid parameter (its `errors` are the test's).
fn assert_invalid_request(answer: &Answer) {
    assert_eq!(answer.status, 400, "{}", answer.raw);
    assert_eq!(answer.body["title"], "Invalid Request");
    assert_eq!(
        answer.body["type"],
        "https://api.twitter.com/2/problems/invalid-request"
    );
    assert_eq!(
        answer.body["detail"],
        "One or more parameters to your request was invalid."
    );
}

#[tokio::test]
async fn default_fields_and_expansions_have_the_real_shape() {
    let sim = one_token().await;
    let plain = search(&sim, &[("query", "covid")]).await;
    assert_eq!(plain.status, 200, "{}", plain.raw);
    let data = plain.body["data"].as_array().expect("data");
    assert_eq!(data.len(), 10, "default max_results is 10");
    let first = data[0].as_object().expect("object");
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["edit_history_tweet_ids", "id", "text"],
        "only default fields"
    );
    assert!(plain.body.get("includes").is_none());
    assert_eq!(plain.body["meta"]["result_count"], 10);
    assert_eq!(plain.body["meta"]["newest_id"], data[0]["id"]);
    assert_eq!(plain.body["meta"]["oldest_id"], data[9]["id"]);
    assert!(plain.body["meta"]["next_token"].is_string());
    let ids: Vec<u64> = data
        .iter()
        .map(|d| {
            d["id"]
                .as_str()
                .expect("string id")
                .parse()
                .expect("numeric")
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert!(plain.headers.get("retry-after").is_none());

    let full = search(
        &sim,
        &[
            ("query", "covid"),
            ("max_results", "100"),
            (
                "expansions",
                "author_id,referenced_tweets.id,entities.mentions.username,geo.place_id",
            ),
            (
                "tweet.fields",
                "created_at,lang,public_metrics,entities,conversation_id,referenced_tweets,geo",
            ),
            ("user.fields", "created_at,location,public_metrics,verified"),
            ("place.fields", "country_code,name,place_type"),
        ],
    )
    .await;
    assert_eq!(full.status, 200, "{}", full.raw);
    let data = full.body["data"].as_array().expect("data");
    assert_eq!(data.len(), 100);
    let users = full.body["includes"]["users"]
        .as_array()
        .expect("includes.users");
    for post in data {
        assert!(
            post["created_at"]
                .as_str()
                .expect("created_at")
                .ends_with(".000Z")
                || post["created_at"]
                    .as_str()
                    .is_some_and(|s| s.ends_with('Z'))
        );
        assert!(["en", "pt", "es"].contains(&post["lang"].as_str().expect("lang")));
        let author = post["author_id"].as_str().expect("author_id");
        assert!(
            users.iter().any(|u| u["id"] == author),
            "author {author} included"
        );
        assert!(post["public_metrics"]["like_count"].is_u64());
    }
    assert!(users[0]["public_metrics"]["followers_count"].is_u64());
    assert!(
        full.body["includes"]["tweets"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "referenced posts included"
    );
    assert!(
        full.body["includes"]["places"]
            .as_array()
            .is_some_and(|p| p[0]["country_code"].is_string())
    );
    sim.stop().await;
}

#[tokio::test]
async fn pagination_since_id_and_empty_pages() {
    let sim = small_simulator(vec![token("t", SECRET, 300, 900, 1_000_000)]).await;
    let expected = sim.handle.matching_ids("covid lang:pt").expect("query");
    let mut collected: Vec<String> = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut q = vec![("query", "covid lang:pt"), ("max_results", "10")];
        if let Some(token) = &next {
            q.push(("next_token", token.as_str()));
        }
        let page = search(&sim, &q).await;
        assert_eq!(page.status, 200, "{}", page.raw);
        if let Some(data) = page.body["data"].as_array() {
            collected.extend(
                data.iter()
                    .map(|d| d["id"].as_str().expect("id").to_string()),
            );
        }
        match page.body["meta"]["next_token"].as_str() {
            Some(token) => {
                // A token replays the same page, under either name.
                let replay = |name| {
                    let sim = &sim;
                    let query = [
                        ("query", "covid lang:pt"),
                        ("max_results", "10"),
                        (name, token),
                    ];
                    async move { search(sim, &query).await.body }
                };
                assert_eq!(replay("pagination_token").await, replay("next_token").await);
                next = Some(token.to_string());
            }
            None => break,
        }
    }
    assert_eq!(
        collected, expected,
        "pagination yields every match exactly once, newest first"
    );

    let newest = expected[0].clone();
    let empty = search(&sim, &[("query", "covid lang:pt"), ("since_id", &newest)]).await;
    assert_eq!(empty.status, 200);
    assert!(
        empty.body.get("data").is_none(),
        "no data key on an empty page: {}",
        empty.raw
    );
    assert_eq!(empty.body["meta"], serde_json::json!({"result_count": 0}));
    let older = search(
        &sim,
        &[
            ("query", "covid lang:pt"),
            ("since_id", &expected[5]),
            ("max_results", "100"),
        ],
    )
    .await;
    assert_eq!(
        older.body["meta"]["result_count"], 5,
        "since_id is exclusive"
    );
    sim.stop().await;
}

#[tokio::test]
async fn invalid_requests_get_the_real_400_shape() {
    let sim = one_token().await;
    let bad = search(
        &sim,
        &[
            ("query", "covid (vaccine"),
            ("max_results", "500"),
            ("colour", "red"),
        ],
    )
    .await;
    assert_invalid_request(&bad);
    let errors = bad.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 3, "{}", bad.raw);
    assert!(
        errors
            .iter()
            .any(|e| e["parameters"]["colour"] == serde_json::json!(["red"]))
    );
    assert!(
        errors
            .iter()
            .any(|e| e["parameters"]["query"] == serde_json::json!(["covid (vaccine"]))
    );
    assert!(
        header(&bad, "x-rate-limit-remaining") < 100,
        "400s carry rate-limit headers and count"
    );
    let long = "covid ".repeat(90);
    let too_long = search(&sim, &[("query", long.as_str())]).await;
    assert_eq!(too_long.status, 400);
    assert!(too_long.raw.contains("exceeds the maximum of 512"));
    sim.stop().await;
}

#[tokio::test]
async fn unauthorized_and_revoked_tokens_get_401() {
    let sim = one_token().await;
    for secret in [None, Some("wrong")] {
        let a = get(&sim, secret, &[("query", "covid")]).await;
        assert_eq!(a.status, 401);
        assert_eq!(
            a.body,
            serde_json::json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})
        );
    }
    assert_eq!(covid_status(&sim, SECRET).await, 200);
    sim.handle.revoke("t");
    assert_eq!(covid_status(&sim, SECRET).await, 401);
    sim.handle.restore("t");
    assert_eq!(covid_status(&sim, SECRET).await, 200);
    sim.stop().await;
}

#[tokio::test]
async fn rate_limit_per_token_with_headers_and_reset() {
    // The window's reset as the last answer in it advertised.
    let mut reset = 0;
    let sim = small_simulator(vec![
        token("a", "secret-a", 3, 2, 1_000_000),
        token("b", "secret-b", 3, 2, 1_000_000),
    ])
    .await;
    for expected in [2, 1, 0] {
        let a = get(&sim, Some("secret-a"), &[("query", "covid")]).await;
        assert_eq!(a.status, 200);
        assert_eq!(header(&a, "x-rate-limit-limit"), 3);
        assert_eq!(header(&a, "x-rate-limit-remaining"), expected);
        reset = header(&a, "x-rate-limit-reset");
    }
    let limited = get(&sim, Some("secret-a"), &[("query", "covid")]).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["title"], "Too Many Requests");
    assert_eq!(header(&limited, "x-rate-limit-remaining"), 0);
    assert_eq!(header(&limited, "x-rate-limit-reset"), reset);
    assert!(limited.headers.get("retry-after").is_none());
    // Another token has its own bucket.
    assert_eq!(covid_status(&sim, "secret-b").await, 200);
    // After the advertised reset the window is fresh.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let wait = Duration::from_secs(reset as u64).saturating_sub(now) + Duration::from_millis(50);
    tokio::time::sleep(wait).await;
    let fresh = get(&sim, Some("secret-a"), &[("query", "covid")]).await;
    assert_eq!(fresh.status, 200);
    assert_eq!(header(&fresh, "x-rate-limit-remaining"), 2);
    assert_eq!(sim.handle.stats()["a"].rate_limited, 1);
    sim.stop().await;
}

#[tokio::test]
async fn monthly_cap_answers_usage_capped() {
    let sim = small_simulator(vec![token("t", SECRET, 100, 900, 150)]).await;
    for _ in 0..2 {
        let a = search(&sim, &[("query", "covid"), ("max_results", "100")]).await;
        assert_eq!(a.status, 200);
    }
    let capped = search(&sim, &[("query", "covid")]).await;
    assert_eq!(capped.status, 429);
    assert_eq!(
        capped.body["type"],
        "https://api.twitter.com/2/problems/usage-capped"
    );
    assert_eq!(capped.body["title"], "UsageCapExceeded");
    assert_eq!(capped.body["period"], "Monthly");
    assert_eq!(sim.handle.stats()["t"].usage_capped, 1);
    sim.stop().await;
}

#[tokio::test]
async fn fault_injection_server_errors_malformed_and_metrics() {
    let sim = one_token().await;
    sim.handle.set_faults(FaultConfig {
        server_errors: Some(Burst {
            every: 4,
            length: 2,
            status: 503,
        }),
        malformed: Some(Burst {
            every: 4,
            length: 3,
            status: 200,
        }),
        ..FaultConfig::default()
    });
    let mut statuses = Vec::new();
    let mut malformed = 0;
    for _ in 0..8 {
        let a = search(&sim, &[("query", "covid")]).await;
        statuses.push(a.status);
        if a.status == 200 && a.body.is_null() {
            malformed += 1;
        }
        assert!(a.headers.get("x-rate-limit-remaining").is_some());
    }
    assert_eq!(statuses, [503, 503, 200, 200, 503, 503, 200, 200]);
    assert_eq!(malformed, 2, "request 2 of each 4 is cut off");
    // Also reachable over the admin API.
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{}/_sim/faults", sim.base_url()))
        .body(r#"{"revoked_tokens":["t"]}"#)
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(covid_status(&sim, SECRET).await, 401);
    let metrics = tweetpipe_testkit::http::get_text(&format!("{}/metrics", sim.base_url())).await;
    assert!(
        metrics.contains(r#"xapi_sim_requests_total{token="t",status="503"} 4"#),
        "{metrics}"
    );
    assert!(metrics.contains("xapi_sim_posts_served_total"));
    assert!(
        !metrics.contains("secret"),
        "tokens never appear in metrics"
    );
    assert_eq!(
        tweetpipe_testkit::http::get_status(&format!("{}/readyz", sim.base_url())).await,
        200
    );
    sim.stop().await;
}

#[tokio::test]
async fn posts_arrive_over_time() {
    let sim = simulator(
        vec![token("t", SECRET, 100, 900, 1_000_000)],
        CorpusConfig {
            posts_per_second: 50.0,
            backfill_posts: 10,
            max_posts: None,
        },
    )
    .await;
    let before = sim.handle.visible_posts();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = sim.handle.visible_posts();
    assert!(after > before, "{before} → {after}");
    sim.stop().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test]
async fn ids_older_than_the_window_get_x_400() {
    let sim = one_token().await;
    let before = now_ms();
    let stale = (first_id_at(before - WINDOW_MS - 3_600_000) | 77).to_string();
    let bad = search(&sim, &[("query", "covid"), ("since_id", &stale)]).await;
    let after = now_ms();
    assert_invalid_request(&bad);
    let errors = bad.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{}", bad.raw);
    assert_eq!(
        errors[0]["parameters"],
        serde_json::json!({"since_id": [stale]})
    );
    // The message names the window's start (to the minute) and the smallest id it accepts.
    let message = errors[0]["message"].as_str().expect("message");
    let (head, smallest) = message
        .split_once(". Please use a 'since_id' that is larger than ")
        .expect(message);
    assert!(
        head.starts_with("'since_id' must be a tweet id created after 20") && head.ends_with('Z'),
        "{message}"
    );
    let smallest: u64 = smallest.parse().expect("an id");
    let cut_off = xapi_simulator::params::snowflake_ms(smallest);
    assert!(
        (before - WINDOW_MS..=after - WINDOW_MS).contains(&cut_off),
        "{message}"
    );

    let until = search(&sim, &[("query", "covid"), ("until_id", &stale)]).await;
    assert_eq!(until.status, 400);
    assert!(
        until
            .raw
            .contains("'until_id' must be a tweet id created after"),
        "{}",
        until.raw
    );

    // An id inside the window is accepted (every corpus post is minutes old).
    let fresh = (first_id_at(now_ms() - WINDOW_MS + 3_600_000)).to_string();
    let ok = search(&sim, &[("query", "covid"), ("since_id", &fresh)]).await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    assert_eq!(ok.body["meta"]["result_count"], 10);

    // Id bounds and time bounds cannot be combined.
    let end = chrono::DateTime::from_timestamp_millis(now_ms() - 60_000)
        .expect("time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mixed = search(
        &sim,
        &[("query", "covid"), ("since_id", &fresh), ("end_time", &end)],
    )
    .await;
    assert_eq!(mixed.status, 400, "{}", mixed.raw);
    assert_eq!(
        mixed.body["errors"][0]["parameters"],
        serde_json::json!({"since_id": [fresh], "end_time": [end]})
    );
    assert_eq!(
        mixed.body["errors"][0]["message"],
        "Invalid use of 'since_id' or 'until_id' in conjunction with 'start_time' or 'end_time'."
    );
    assert_eq!(sim.handle.stats()["t"].bad_requests, 3);
    sim.stop().await;
}

async fn admin_json(sim: &RunningSimulator, path: &str) -> Value {
    tweetpipe_testkit::http::get_json(&format!("{}{path}", sim.base_url())).await
}

fn ids_of(answer: &Answer) -> Vec<String> {
    answer.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn the_ledger_records_every_served_id_per_token_and_query() {
    let sim = small_simulator(vec![
        token("alpha", "secret-a", 100, 900, 1_000_000),
        token("beta", "secret-b", 100, 900, 1_000_000),
    ])
    .await;
    let first = get(&sim, Some("secret-a"), &[("query", "covid")]).await;
    let replay = get(&sim, Some("secret-a"), &[("query", "covid")]).await;
    assert_eq!(ids_of(&first), ids_of(&replay), "the same page twice");
    let next = first.body["meta"]["next_token"].as_str().expect("next");
    let second = get(
        &sim,
        Some("secret-a"),
        &[("query", "covid"), ("next_token", next)],
    )
    .await;
    let english = get(
        &sim,
        Some("secret-a"),
        &[("query", "covid lang:en"), ("max_results", "20")],
    )
    .await;
    let beta = get(&sim, Some("secret-b"), &[("query", "covid")]).await;
    // Nothing is recorded for answers without data.
    let newest = ids_of(&first)[0].clone();
    let empty = get(
        &sim,
        Some("secret-b"),
        &[("query", "covid"), ("since_id", &newest)],
    )
    .await;
    assert_eq!(empty.body["meta"]["result_count"], 0, "{}", empty.raw);

    let ledger = admin_json(&sim, "/_sim/ledger").await;
    let raw = ledger.to_string();
    assert!(!raw.contains("secret"), "labels only: {raw}");
    assert_eq!(ledger["capacity"], 2_000_000);
    assert_eq!(ledger["overflowed"], false);
    let sorted = |mut ids: Vec<String>| {
        ids.sort_by_key(|id| id.parse::<u64>().expect("id"));
        ids.dedup();
        ids
    };
    let covid_a = sorted([ids_of(&first), ids_of(&second)].concat());
    let english_a = sorted(ids_of(&english));
    let union_a = sorted([covid_a.clone(), english_a.clone()].concat());
    let expected = serde_json::json!({
        "capacity": 2_000_000,
        "entries": 20 + 20 + 10,
        "overflowed": false,
        "tokens": [
            {"token": "alpha", "served_posts": 50, "distinct_posts": union_a.len(), "unrecorded_posts": 0,
             "queries": [
                {"query": "covid", "served_posts": 30, "distinct_posts": 20, "unrecorded_posts": 0, "ids": covid_a},
                {"query": "covid lang:en", "served_posts": 20, "distinct_posts": 20, "unrecorded_posts": 0, "ids": english_a},
             ]},
            {"token": "beta", "served_posts": 10, "distinct_posts": 10, "unrecorded_posts": 0,
             "queries": [
                {"query": "covid", "served_posts": 10, "distinct_posts": 10, "unrecorded_posts": 0, "ids": sorted(ids_of(&beta))},
             ]},
        ]
    });
    assert_eq!(ledger, expected);
    assert!(
        union_a.len() < 40,
        "the English page overlaps the covid pages"
    );
    // The ledger's served count is the stats' and the month's.
    let stats = sim.handle.stats();
    assert_eq!(stats["alpha"].posts_served, 50);
    assert_eq!(stats["alpha"].month_posts, 50);
    assert_eq!(stats["beta"].posts_served, 10);

    let metrics = tweetpipe_testkit::http::get_text(&format!("{}/metrics", sim.base_url())).await;
    assert!(
        metrics.contains(r#"xapi_sim_ledger_entries_total{token="alpha"} 40"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("xapi_sim_ledger_entries_stored 50"),
        "{metrics}"
    );

    let cleared = reqwest::Client::new()
        .delete(format!("{}/_sim/ledger", sim.base_url()))
        .send()
        .await
        .expect("delete");
    assert_eq!(cleared.status().as_u16(), 204);
    assert_eq!(
        admin_json(&sim, "/_sim/ledger").await,
        serde_json::json!({"capacity": 2_000_000, "entries": 0, "overflowed": false, "tokens": []})
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_full_ledger_keeps_counting_and_says_so() {
    let sim = xapi_simulator::start(SimConfig {
        listen: "127.0.0.1:0".into(),
        tokens: vec![token("t", SECRET, 100, 900, 1_000_000)],
        corpus: small_corpus(),
        ledger_capacity: 15,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let first = search(&sim, &[("query", "covid")]).await;
    let next = first.body["meta"]["next_token"].as_str().expect("next");
    search(&sim, &[("query", "covid"), ("next_token", next)]).await;
    search(&sim, &[("query", "covid")]).await;
    let ledger = sim.handle.ledger();
    assert!(ledger.overflowed);
    assert_eq!((ledger.capacity, ledger.entries), (15, 15));
    let t = &ledger.tokens[0];
    assert_eq!(t.served_posts, 30, "every serve counted past the capacity");
    assert_eq!(t.distinct_posts, 15);
    assert_eq!(t.unrecorded_posts, 5);
    assert_eq!(t.queries[0].ids.len(), 15);
    sim.stop().await;
}

#[tokio::test]
async fn stats_keep_rate_limits_apart_from_injected_faults_and_caps() {
    // Admitted requests are numbered simulator-wide: 0 and 1 are slowed, then 0 answers 503
    // and 1 and 2 are cut off (a 503 comes before a cut-off).
    let faults = FaultConfig {
        server_errors: Some(Burst {
            every: 100,
            length: 1,
            status: 503,
        }),
        slow: Some(xapi_simulator::SlowResponses {
            every: 100,
            length: 2,
            delay_ms: 10,
            after_counting: false,
        }),
        malformed: Some(Burst {
            every: 100,
            length: 3,
            status: 200,
        }),
        ..FaultConfig::default()
    };
    let sim = small_simulator(vec![
        token("busy", "secret-busy", 6, 900, 1_000_000),
        token("capped", "secret-capped", 100, 900, 10),
    ])
    .await;
    sim.handle.set_faults(faults);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(covid_status(&sim, "secret-busy").await);
    }
    assert_eq!(statuses, [503, 200, 200, 200, 200, 200]);
    let stats = admin_json(&sim, "/_sim/stats").await;
    let busy = &stats["tokens"]["busy"];
    assert_eq!(
        busy["rate_limited"], 0,
        "injected faults are no rate limit: {busy}"
    );
    assert_eq!(busy["injected_server_errors"], 1);
    assert_eq!(busy["injected_slow"], 2);
    assert_eq!(busy["injected_malformed"], 2);
    assert_eq!(busy["injected_faults"], 5);
    assert_eq!(busy["statuses"], serde_json::json!({"200": 5, "503": 1}));
    // Three readable pages of 10 (the cut-off one is not counted as served).
    assert_eq!(busy["posts_served"], 30);
    assert_eq!(sim.handle.ledger().tokens[0].served_posts, 30);

    // Past the window's 6 requests: a real rate limit.
    let limited = get(&sim, Some("secret-busy"), &[("query", "covid")]).await;
    assert_eq!(limited.status, 429);
    // Over the monthly cap: usage-capped, not rate-limited.
    sim.handle.set_faults(FaultConfig::default());
    assert_eq!(covid_status(&sim, "secret-capped").await, 200);
    assert_eq!(covid_status(&sim, "secret-capped").await, 429);
    let stats = sim.handle.stats();
    assert_eq!(stats["busy"].rate_limited, 1);
    assert_eq!(stats["busy"].injected_faults, 5, "unchanged");
    assert_eq!(stats["capped"].rate_limited, 0);
    assert_eq!(stats["capped"].usage_capped, 1);
    assert_eq!(stats["capped"].injected_faults, 0);
    assert_eq!(stats["capped"].statuses.get(&429), Some(&1));
    sim.stop().await;
}
