//! The decide functions: scaling table, budget split, monthly forecast, transformer scaling,
//! conditions and the whole plan.

use chrono::{TimeZone, Utc};

use crate::decide::conditions::{self, Check, Facts, SchemaState};
use crate::decide::monthly::{self, MonthlyState};
use crate::decide::plan::{self, Checkpoint, Observed, StopReason};
use crate::decide::scaling::{self, CapReason, ScalingInput};
use crate::decide::transformer::{self, TransformerBound, TransformerInput};
use crate::fixtures::{pipeline, pipeline_with};

fn input(
    tokens: u32,
    limit: u32,
    margin: u32,
    min_share: u32,
    queries: u32,
    max: i32,
) -> ScalingInput {
    ScalingInput {
        tokens,
        requests_per_window: limit,
        safety_margin_percent: margin,
        min_requests_per_replica: min_share,
        queries,
        stream_connections: 0,
        max_replicas: max,
        suspended: false,
        monthly_budget_spent: false,
        api_host_refused: false,
        schema_refused: None,
    }
}

#[test]
fn scaling_rule_table() {
    // (tokens, limit, margin%, min share, queries, maxReplicas) → (replicas, reason, budget total)
    let cases = [
        // Pro app token: 450 → 405 after 10%; 405/30 = 13 replicas worth; 3 queries bind.
        ((1, 450, 10, 30, 3, 10), (3, CapReason::Queries, 405)),
        // Many queries, small max: maxReplicas binds.
        ((1, 450, 10, 30, 50, 4), (4, CapReason::MaxReplicas, 405)),
        // Many queries, big max: the budget binds at 13.
        ((1, 450, 10, 30, 50, 100), (13, CapReason::RateBudget, 405)),
        // Basic tier: 60 → 54; at 30 per replica only one replica is useful.
        ((1, 60, 10, 30, 5, 4), (1, CapReason::RateBudget, 54)),
        // Two Basic tokens double the budget: two replicas.
        ((2, 60, 10, 30, 5, 4), (2, CapReason::RateBudget, 108)),
        // Budget below the smallest useful share: no replica.
        ((1, 60, 60, 30, 5, 4), (0, CapReason::RateBudget, 24)),
        // No margin, exact fit: 450/150 = 3 per token, three tokens.
        ((3, 450, 0, 150, 20, 20), (9, CapReason::RateBudget, 1350)),
        // Equal limits: budget and queries both allow 4; the rate budget is reported.
        ((1, 400, 0, 100, 4, 8), (4, CapReason::RateBudget, 400)),
        // Queries and max tie at 2: queries reported.
        ((1, 450, 10, 30, 2, 2), (2, CapReason::Queries, 405)),
        // maxReplicas 0 stops extractors.
        ((1, 450, 10, 30, 3, 0), (0, CapReason::MaxReplicas, 405)),
        // Margin rounds down: 7 × 0.9 = 6.3 → 6.
        ((1, 7, 10, 3, 5, 5), (2, CapReason::RateBudget, 6)),
        // Single query never gets more than one replica.
        ((4, 450, 10, 10, 1, 50), (1, CapReason::Queries, 1620)),
    ];
    for (
        (tokens, limit, margin, min_share, queries, max),
        (want_replicas, want_reason, want_budget),
    ) in cases
    {
        let decision = scaling::decide_extractor_replicas(&input(
            tokens, limit, margin, min_share, queries, max,
        ));
        let case = format!(
            "tokens={tokens} limit={limit} margin={margin} min={min_share} queries={queries} max={max}"
        );
        assert_eq!(decision.replicas, want_replicas, "replicas for {case}");
        assert_eq!(decision.reason, want_reason, "reason for {case}");
        assert_eq!(decision.budget_total, want_budget, "budget for {case}");
        assert!(!decision.message.is_empty());
    }
}

#[test]
fn suspend_and_monthly_cap_stop_extractors() {
    let suspended = scaling::decide_extractor_replicas(&ScalingInput {
        suspended: true,
        ..input(1, 450, 10, 30, 3, 4)
    });
    assert_eq!(
        (suspended.replicas, suspended.reason),
        (0, CapReason::Suspended)
    );
    let capped = scaling::decide_extractor_replicas(&ScalingInput {
        monthly_budget_spent: true,
        ..input(1, 450, 10, 30, 3, 4)
    });
    assert_eq!((capped.replicas, capped.reason), (0, CapReason::MonthlyCap));
}

#[test]
fn rate_budget_message_explains_the_arithmetic() {
    let decision = scaling::decide_extractor_replicas(&input(2, 60, 10, 30, 5, 4));
    assert!(
        decision
            .message
            .contains("2 token(s) × 60 requests per window"),
        "{}",
        decision.message
    );
    assert!(
        decision.message.contains("108 requests per window"),
        "{}",
        decision.message
    );
}

#[test]
fn budget_split_never_exceeds_a_token_and_covers_every_query() {
    for (tokens, budget, throttle, queries) in [
        (1, 405, 100, 7),
        (2, 54, 100, 5),
        (3, 100, 50, 9),
        (2, 405, 100, 3),
        (7, 10, 100, 7),
        (3, 405, 100, 2),
    ] {
        let shares = scaling::query_shares(tokens, budget, throttle, queries);
        assert_eq!(
            shares.iter().map(|s| s.query).collect::<Vec<_>>(),
            (0..queries).collect::<Vec<_>>(),
            "every query exactly once"
        );
        let throttled = u64::from(budget) * u64::from(throttle) / 100;
        for token in 0..tokens {
            let on_token: Vec<_> = shares.iter().filter(|s| s.token == token).collect();
            if on_token.is_empty() {
                continue;
            }
            let spent: u64 = on_token
                .iter()
                .map(|s| u64::from(s.requests_per_window))
                .sum();
            assert_eq!(spent, throttled, "token {token} spends exactly its budget");
            let min = on_token
                .iter()
                .map(|s| s.requests_per_window)
                .min()
                .unwrap();
            let max = on_token
                .iter()
                .map(|s| s.requests_per_window)
                .max()
                .unwrap();
            assert!(max - min <= 1, "shares of one token differ by at most one");
        }
    }
    assert!(scaling::query_shares(0, 405, 100, 3).is_empty());
}

#[test]
fn a_deep_slow_down_still_leaves_every_query_a_request() {
    let shares = scaling::query_shares(1, 405, 1, 6);
    assert!(shares.iter().all(|a| a.requests_per_window >= 1));
}

#[test]
fn monthly_forecast_cases() {
    let mid_month = Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap(); // 15 of 30 days gone
    // 100k of a 1M cap by mid-month: on pace for 200k, comfortably within.
    let f = monthly::forecast(mid_month, 100_000, 1_000_000, 10);
    assert_eq!((f.state, f.throttle_percent), (MonthlyState::Within, 100));
    assert_eq!(f.month, "2026-11");
    assert!(
        f.cap_reached_at.is_none(),
        "the cap is not reached this month at this pace"
    );
    // 600k by mid-month: on pace for 1.2M > 900k usable → slow down to spend 300k over the rest.
    let f = monthly::forecast(mid_month, 600_000, 1_000_000, 10);
    assert_eq!(f.state, MonthlyState::Near);
    assert_eq!(f.throttle_percent, 50);
    let at = f.cap_reached_at.expect("forecast within the month");
    assert_eq!(
        at,
        Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap(),
        "400k more at 40k/day = 10 days"
    );
    // 460k by mid-month: within the usable pace but over 80% of... no: 460k*2 = 920k > 900k → slight slow-down.
    let f = monthly::forecast(mid_month, 460_000, 1_000_000, 10);
    assert_eq!(f.state, MonthlyState::Near);
    assert_eq!(f.throttle_percent, 95);
    // 900k used = the usable budget: stop.
    let f = monthly::forecast(mid_month, 900_000, 1_000_000, 10);
    assert_eq!((f.state, f.throttle_percent), (MonthlyState::Reached, 0));
    // Late in the month, 85% of usable used but little time left: near, no slow-down needed.
    let late = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
    let f = monthly::forecast(late, 8_000, 10_000, 0);
    assert_eq!((f.state, f.throttle_percent), (MonthlyState::Near, 100));
    // Nothing read yet.
    let f = monthly::forecast(mid_month, 0, 10_000, 10);
    assert_eq!(
        (f.state, f.throttle_percent, f.cap_reached_at),
        (MonthlyState::Within, 100, None)
    );
}

#[test]
fn month_bounds_wrap_the_year() {
    let december = Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap();
    let (start, end) = monthly::month_bounds(december);
    assert_eq!(start, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    assert_eq!(end, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
}

#[test]
fn transformer_scaling_table() {
    let base = TransformerInput {
        lag: Some(0),
        target_lag_per_replica: 1000,
        min_replicas: 1,
        max_replicas: 8,
        partitions: 6,
        current: Some(2),
        suspended: false,
    };
    let cases = [
        (
            TransformerInput { ..base.clone() },
            (1, TransformerBound::MinReplicas),
        ),
        (
            TransformerInput {
                lag: Some(2500),
                ..base.clone()
            },
            (3, TransformerBound::Lag),
        ),
        (
            TransformerInput {
                lag: Some(7000),
                ..base.clone()
            },
            (6, TransformerBound::Partitions),
        ),
        (
            TransformerInput {
                lag: Some(7000),
                partitions: 12,
                ..base.clone()
            },
            (7, TransformerBound::Lag),
        ),
        (
            TransformerInput {
                lag: Some(1_000_000),
                partitions: 12,
                ..base.clone()
            },
            (8, TransformerBound::MaxReplicas),
        ),
        (
            TransformerInput {
                lag: None,
                ..base.clone()
            },
            (2, TransformerBound::Lag),
        ),
        (
            TransformerInput {
                lag: None,
                current: None,
                ..base.clone()
            },
            (1, TransformerBound::Lag),
        ),
        (
            TransformerInput {
                lag: Some(0),
                min_replicas: 0,
                ..base.clone()
            },
            (0, TransformerBound::Lag),
        ),
        (
            TransformerInput {
                lag: Some(5000),
                suspended: true,
                ..base.clone()
            },
            (0, TransformerBound::Suspended),
        ),
        (
            TransformerInput {
                lag: Some(-5),
                ..base.clone()
            },
            (1, TransformerBound::MinReplicas),
        ),
        (
            TransformerInput {
                lag: Some(1),
                min_replicas: 3,
                partitions: 2,
                ..base.clone()
            },
            (2, TransformerBound::Partitions),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            transformer::decide_transformer_replicas(&input),
            want,
            "{input:?}"
        );
    }
}

fn facts() -> Facts {
    Facts {
        generation: Some(3),
        suspended: false,
        secrets: Check::Ok,
        kafka: Check::Ok,
        mysql: Check::Ok,
        schema: SchemaState::NotUsed,
        rate_limited: None,
        monthly: None,
        extractors: (2, 2),
        extractor_cap: crate::decide::scaling::CapReason::Queries,
        transformers: (1, 1),
        stopped_queries: Vec::new(),
        invalid_queries: Vec::new(),
        api_host_refusal: None,
        image_refusal: None,
        stream_apps: None,
    }
}

fn find<'a>(conditions: &'a [crate::crd::Condition], type_: &str) -> &'a crate::crd::Condition {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .expect("condition present")
}

#[test]
fn conditions_ready_and_each_failure() {
    let now = "2026-11-22T03:00:00Z";
    let ready = conditions::compute(&facts(), &[], now);
    assert_eq!(find(&ready, "Ready").status, "True");
    assert!(ready.iter().all(|c| c.observed_generation == Some(3)));

    let cases = [
        (
            Facts {
                secrets: Check::failed("SecretMissing", "Secret \"x-token-a\" missing"),
                ..facts()
            },
            "SecretMissing",
            "SecretsResolved",
        ),
        (
            Facts {
                kafka: Check::failed("KafkaUnreachable", "Kafka down"),
                ..facts()
            },
            "KafkaUnreachable",
            "KafkaReady",
        ),
        (
            Facts {
                mysql: Check::failed("MySQLUnreachable", "MySQL down"),
                ..facts()
            },
            "MySQLUnreachable",
            "MySQLReady",
        ),
    ];
    for (facts, reason, type_) in cases {
        let conditions = conditions::compute(&facts, &[], now);
        let ready = find(&conditions, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reason)
        );
        let specific = find(&conditions, type_);
        assert_eq!(
            (specific.status.as_str(), specific.reason.as_str()),
            ("False", reason)
        );
    }
    let starting = conditions::compute(
        &Facts {
            extractors: (2, 1),
            ..facts()
        },
        &[],
        now,
    );
    assert_eq!(find(&starting, "Ready").reason, "WorkloadsNotReady");
    assert!(conditions::PROGRESSING_REASONS.contains(&"WorkloadsNotReady"));
    let suspended = conditions::compute(
        &Facts {
            suspended: true,
            extractors: (0, 0),
            transformers: (0, 0),
            ..facts()
        },
        &[],
        now,
    );
    assert_eq!(find(&suspended, "Ready").reason, "Suspended");
    assert_eq!(find(&suspended, "Suspended").status, "True");
    let capped = conditions::compute(
        &Facts {
            monthly: Some((MonthlyState::Reached, "spent".into())),
            extractors: (0, 0),
            ..facts()
        },
        &[],
        now,
    );
    assert_eq!(find(&capped, "Ready").reason, "MonthlyCapReached");
    assert_eq!(find(&capped, "MonthlyCap").reason, "CapReached");
    let stopped = conditions::compute(
        &Facts {
            stopped_queries: vec!["query a stopped (invalid_query): bad".into()],
            ..facts()
        },
        &[],
        now,
    );
    assert_eq!(find(&stopped, "Ready").reason, "QueryStopped");
    let no_budget = conditions::compute(
        &Facts {
            extractors: (0, 0),
            ..facts()
        },
        &[],
        now,
    );
    assert_eq!(find(&no_budget, "Ready").reason, "NoExtractorBudget");
    assert!(find(&no_budget, "Ready").message.contains("rate budget"));
    // Scaled to zero by maxReplicas (kubectl scale --replicas=0): said so, not blamed on the budget.
    let scaled_to_zero = conditions::compute(
        &Facts {
            extractors: (0, 0),
            extractor_cap: crate::decide::scaling::CapReason::MaxReplicas,
            ..facts()
        },
        &[],
        now,
    );
    let ready = find(&scaled_to_zero, "Ready");
    assert_eq!(ready.reason, "NoExtractorBudget");
    assert!(
        ready.message.contains("maxReplicas is 0"),
        "{}",
        ready.message
    );
    assert!(!ready.message.contains("rate budget"), "{}", ready.message);
    let skipped = conditions::compute(
        &Facts {
            kafka: Check::Skipped("waiting".into()),
            ..facts()
        },
        &[],
        now,
    );
    assert_eq!(find(&skipped, "KafkaReady").status, "Unknown");
}

#[test]
fn transition_time_is_kept_until_status_changes() {
    let first = conditions::compute(&facts(), &[], "2026-11-22T03:00:00Z");
    let again = conditions::compute(&facts(), &first, "2026-11-22T03:05:00Z");
    assert_eq!(first, again, "nothing changed, so nothing to write");
    assert!(conditions::transitions(&first, &again).is_empty());
    let broken = conditions::compute(
        &Facts {
            kafka: Check::failed("KafkaUnreachable", "down"),
            ..facts()
        },
        &again,
        "2026-11-22T03:10:00Z",
    );
    assert_eq!(
        find(&broken, "Ready").last_transition_time,
        "2026-11-22T03:10:00Z"
    );
    assert_eq!(
        find(&broken, "SecretsResolved").last_transition_time,
        "2026-11-22T03:00:00Z"
    );
    let changed: Vec<&str> = conditions::transitions(&again, &broken)
        .iter()
        .map(|(c, _)| c.type_.as_str())
        .collect();
    assert_eq!(changed, vec!["Ready", "KafkaReady"]);
}

fn observed() -> Observed {
    Observed {
        checkpoints: vec![
            Checkpoint {
                query: "covid-en".into(),
                since_id: Some("190".into()),
                newest_id: Some("200".into()),
                posts_total: 5_000,
                last_poll_at: Some("2026-11-15T23:59:00Z".into()),
                month: "2026-11".into(),
                month_posts: 4_000,
                pagination: None,
                stopped: None,
                rate_window: None,
                last_gap: None,
                gaps_total: 0,
                stream: None,
            },
            Checkpoint {
                query: "covid-pt".into(),
                posts_total: 700,
                month: "2026-10".into(),
                month_posts: 700,
                gaps_total: 2,
                last_gap: Some(tweetpipe_common::contract::checkpoint::Gap {
                    from: "2026-10-01T00:00:00.000Z".into(),
                    to: "2026-11-08T00:00:00.000Z".into(),
                    recorded_at: "2026-11-15T00:00:00.000Z".into(),
                }),
                ..Checkpoint::default()
            },
        ],
        ..crate::fixtures::observed()
    }
}

#[test]
fn plan_from_fixture() {
    let tp = pipeline();
    let plan = plan::plan(&tp, &observed());
    // 2 tokens × 405 = 810; 810/30 → 26 by budget, 3 queries, max 4 → 3 (queries).
    assert_eq!(plan.scaling.replicas, 3);
    assert_eq!(plan.scaling.reason, CapReason::Queries);
    assert_eq!(
        plan.query_shares
            .iter()
            .map(|a| a.token)
            .collect::<Vec<_>>(),
        vec![0, 1, 0]
    );
    assert_eq!(
        plan.query_shares
            .iter()
            .map(|a| a.requests_per_window)
            .collect::<Vec<_>>(),
        vec![203, 405, 202]
    );
    assert_eq!(plan.transformer_replicas, 3, "12000 lag / 5000 per replica");
    let status = &plan.status;
    assert_eq!(status.observed_generation, Some(3));
    assert_eq!(status.extractor.budget_requests_per_window, 810);
    assert_eq!(status.extractor.requests_per_window_in_use, 810);
    assert_eq!(
        status.extractor.selector,
        "app.kubernetes.io/component=extractor,tweetpipe.io/pipeline=covid19"
    );
    assert_eq!(status.posts_total, 5_700);
    assert_eq!(status.queries[0].newest_id.as_deref(), Some("200"));
    assert_eq!(
        status.queries[1].month_posts, 0,
        "October posts do not count in November"
    );
    assert_eq!(status.queries[2].posts_total, 0, "never polled");
    assert_eq!(
        (
            status.queries[1].gaps_total,
            status.queries[1].last_gap.as_deref()
        ),
        (
            2,
            Some("2026-10-01T00:00:00.000Z to 2026-11-08T00:00:00.000Z")
        )
    );
    assert_eq!(
        (
            status.queries[2].token,
            status.queries[2].requests_per_window
        ),
        (Some(0), 202)
    );
    let monthly = status.monthly.as_ref().expect("the fixture has a cap");
    assert_eq!(
        (
            monthly.posts_used,
            monthly.cap,
            monthly.used_percent.as_str()
        ),
        (4_000, 1_000_000, "0%")
    );
    assert_eq!(find(&status.conditions, "Ready").status, "True");
    assert_eq!(plan::monthly_post_budget(&tp), Some(900_000));
}

#[test]
fn plan_slows_down_near_the_monthly_cap() {
    let tp = pipeline_with(|tp| tp.spec.source.limits.monthly_post_cap = Some(10_000));
    let mut seen = observed();
    seen.checkpoints[0].month_posts = 6_000; // half the month gone: pace 12k > 9k usable
    let plan = plan::plan(&tp, &seen);
    let monthly = plan.status.monthly.as_ref().unwrap();
    assert_eq!(monthly.throttle_percent, 50);
    assert_eq!(
        plan.status.extractor.requests_per_window_in_use, 404,
        "half of 405 per token, split"
    );
    assert_eq!(
        find(&plan.status.conditions, "MonthlyCap").reason,
        "CapNear"
    );
    seen.checkpoints[0].month_posts = 9_000;
    let stopped = plan::plan(&tp, &seen);
    assert_eq!(stopped.scaling.replicas, 0);
    assert_eq!(stopped.scaling.reason, CapReason::MonthlyCap);
    assert_eq!(
        find(&stopped.status.conditions, "Ready").reason,
        "MonthlyCapReached"
    );
}

#[test]
fn plan_reports_stopped_queries_and_suspension() {
    let tp = pipeline();
    let mut seen = observed();
    seen.checkpoints[0].stopped = Some(StopReason {
        reason: "invalid_query".into(),
        message: "no such operator".into(),
        ..StopReason::default()
    });
    let plan = plan::plan(&tp, &seen);
    assert_eq!(
        plan.status.queries[0].stopped_reason.as_deref(),
        Some("invalid_query")
    );
    assert_eq!(
        find(&plan.status.conditions, "Ready").reason,
        "QueryStopped"
    );

    let suspended = pipeline_with(|tp| tp.spec.suspend = true);
    let plan = plan::plan(&suspended, &observed());
    assert_eq!((plan.scaling.replicas, plan.transformer_replicas), (0, 0));
    assert_eq!(plan.status.extractor.cap_reason, "Suspended");
}

#[test]
fn checkpoint_records_parse_and_junk_is_ignored() {
    let record = br#"{"query":"covid-en","since_id":"1","newest_id":"2","posts_total":3,"last_poll_at":"2026-11-22T00:00:00Z","month":"2026-11","month_posts":3,"stopped":{"reason":"unauthorized","message":"401","at":"2026-11-22T00:00:00Z"}}"#;
    let checkpoint = plan::parse_checkpoint(record).expect("parses");
    assert_eq!(checkpoint.posts_total, 3);
    assert_eq!(checkpoint.stopped.unwrap().reason, "unauthorized");
    assert!(plan::parse_checkpoint(b"not json").is_none());
}

#[test]
fn a_refused_api_host_runs_no_extractor_and_says_why() {
    let refused = scaling::decide_extractor_replicas(&ScalingInput {
        api_host_refused: true,
        ..input(1, 450, 10, 30, 3, 4)
    });
    assert_eq!(
        (refused.replicas, refused.reason),
        (0, CapReason::ApiHostNotAllowed)
    );
    // Suspended says more (nothing would run anyway); the host refusal beats the monthly cap.
    let both = scaling::decide_extractor_replicas(&ScalingInput {
        api_host_refused: true,
        suspended: true,
        ..input(1, 450, 10, 30, 3, 4)
    });
    assert_eq!(both.reason, CapReason::Suspended);
    let capped = scaling::decide_extractor_replicas(&ScalingInput {
        api_host_refused: true,
        monthly_budget_spent: true,
        ..input(1, 450, 10, 30, 3, 4)
    });
    assert_eq!(capped.reason, CapReason::ApiHostNotAllowed);

    // The condition comes first, even before a missing Secret: the spec must change.
    let message = "source.baseUrl sends the bearer tokens to https://evil.example:443, which is not an allowed X API host";
    let conditions = conditions::compute(
        &Facts {
            api_host_refusal: Some(message.into()),
            secrets: Check::failed("SecretMissing", "Secret \"x-token-a\" missing"),
            extractors: (0, 0),
            ..facts()
        },
        &[],
        "2026-11-22T03:00:00Z",
    );
    let ready = find(&conditions, "Ready");
    assert_eq!(
        (
            ready.status.as_str(),
            ready.reason.as_str(),
            ready.message.as_str()
        ),
        ("False", "ApiHostNotAllowed", message)
    );
    let events = crate::decide::events::condition_events(&[], &conditions);
    let event = events
        .iter()
        .find(|e| e.reason == "ApiHostNotAllowed")
        .expect("an event");
    assert_eq!(event.severity, crate::decide::events::Severity::Warning);

    // The whole plan: zero extractors whatever the budget, the reason in the status; the
    // transformers (no token) still drain what was extracted before.
    let tp = pipeline();
    let mut seen = observed();
    seen.api_host_refusal = Some(message.into());
    let plan = plan::plan(&tp, &seen);
    assert_eq!(plan.scaling.replicas, 0);
    assert_eq!(plan.status.extractor.cap_reason, "ApiHostNotAllowed");
    assert_eq!(plan.status.extractor.requests_per_window_in_use, 0);
    assert!(plan.transformer_replicas > 0);
    assert_eq!(
        find(&plan.status.conditions, "Ready").reason,
        "ApiHostNotAllowed"
    );
    let defaults = crate::build::workloads::WorkerDefaults {
        extractor_image: "e".into(),
        transformer_image: "t".into(),
        image_pull_policy: "Never".into(),
        otlp_endpoint: None,
        log_filter: "info".into(),
    };
    let built = crate::build::resources::resources(
        &tp,
        &plan,
        crate::build::resources::BuildInputs {
            defaults: &defaults,
            writer_url: "mysql://w:p@db/tweets",
            writer_password: "p",
            secrets: &Default::default(),
        },
    )
    .expect("builds");
    let replicas = built.statefulset.spec.as_ref().and_then(|s| s.replicas);
    assert_eq!(replicas, Some(0), "no extractor pod mounts a token");
}

#[test]
fn a_refused_post_schema_runs_no_extractor_and_an_outage_keeps_them() {
    let why = "the schema registry refuses the schema for subject posts-value as incompatible: reader type: STRING not compatible with writer type: LONG at /fields/0/type";
    let refused = scaling::decide_extractor_replicas(&ScalingInput {
        schema_refused: Some(why.into()),
        ..input(1, 450, 10, 30, 3, 4)
    });
    assert_eq!(
        (refused.replicas, refused.reason),
        (0, CapReason::SchemaNotRegistered)
    );
    assert!(refused.message.contains(why), "{}", refused.message);

    let incompatible =
        SchemaState::Problem(Check::failed(conditions::reasons::SCHEMA_INCOMPATIBLE, why));
    assert_eq!(incompatible.refusal(), Some(why));
    let conditions = conditions::compute(
        &Facts {
            schema: incompatible.clone(),
            extractors: (0, 0),
            ..facts()
        },
        &[],
        "2026-11-22T03:00:00Z",
    );
    for type_ in ["Ready", "SchemaRegistered"] {
        let c = find(&conditions, type_);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            ("False", "SchemaIncompatible", why),
            "{type_}"
        );
    }

    // An unreachable registry is reported but stops nothing: running extractors have their id.
    let outage = SchemaState::Problem(Check::failed(
        conditions::reasons::SCHEMA_REGISTRY_UNREACHABLE,
        "schema registry at http://r:8081 is unreachable: connection refused",
    ));
    assert_eq!(outage.refusal(), None);
    let conditions = conditions::compute(
        &Facts {
            schema: outage,
            ..facts()
        },
        &[],
        "2026-11-22T03:00:00Z",
    );
    assert_eq!(
        find(&conditions, "Ready").reason,
        "SchemaRegistryUnreachable"
    );

    // Registered: the id is in the message; not used: True as well.
    let registered = conditions::compute(
        &Facts {
            schema: SchemaState::Registered {
                subject: "posts-value".into(),
                id: 7,
            },
            ..facts()
        },
        &[],
        "2026-11-22T03:00:00Z",
    );
    let c = find(&registered, "SchemaRegistered");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "SchemaRegistered")
    );
    assert!(
        c.message.contains("posts-value") && c.message.contains("id 7"),
        "{}",
        c.message
    );
    assert_eq!(find(&registered, "Ready").status, "True");
    let unused = conditions::compute(&facts(), &[], "2026-11-22T03:00:00Z");
    assert_eq!(find(&unused, "SchemaRegistered").reason, "RegistryNotUsed");

    // The whole plan: zero extractors, the reason in the status.
    let tp = pipeline();
    let seen = Observed {
        schema: incompatible,
        ..observed()
    };
    let decided = plan::plan(&tp, &seen);
    assert_eq!(decided.scaling.replicas, 0);
    assert_eq!(decided.status.extractor.cap_reason, "SchemaNotRegistered");
}

/// A per-pipeline image the administrator does not allow: Ready says so, naming the setting,
/// right after an API host refusal and before everything else.
#[test]
fn a_worker_image_not_allowed_is_the_ready_reason() {
    let message = "transformer.image \"ghcr.io/mallory/x:1\" is not an allowed worker image (allowed: e, t); ... operator setting TWEETPIPE_ALLOWED_WORKER_IMAGES";
    let conditions = conditions::compute(
        &Facts {
            image_refusal: Some(message.into()),
            secrets: Check::failed("SecretMissing", "Secret \"x-token-a\" missing"),
            ..facts()
        },
        &[],
        "2026-11-22T03:00:00Z",
    );
    let ready = find(&conditions, "Ready");
    assert_eq!(
        (
            ready.status.as_str(),
            ready.reason.as_str(),
            ready.message.as_str()
        ),
        ("False", "WorkerImageNotAllowed", message)
    );
    let tp = pipeline();
    let mut seen = observed();
    seen.image_refusal = Some(message.into());
    let plan = plan::plan(&tp, &seen);
    assert_eq!(
        find(&plan.status.conditions, "Ready").reason,
        "WorkerImageNotAllowed"
    );
}

/// A pipeline with stream queries: each query's delivery and stream progress in the status,
/// one connection per token, and the StreamAppsAvailable condition (Ready names a problem).
/// A search-only pipeline has neither the block nor the condition.
#[test]
fn stream_queries_in_the_plan() {
    use crate::crd::QueryDelivery;
    use crate::decide::conditions::{reasons, types};
    use tweetpipe_common::contract::checkpoint::StreamProgress;

    let search_only = plan::plan(&pipeline(), &observed());
    assert!(search_only.status.stream.is_none());
    assert!(
        search_only
            .status
            .conditions
            .iter()
            .all(|c| c.type_ != types::STREAM_APPS_AVAILABLE)
    );
    assert!(
        search_only
            .status
            .queries
            .iter()
            .all(|q| q.delivery == "Search"
                && q.rule_tag.is_none()
                && q.rule_id.is_none()
                && q.stored_until.is_none())
    );

    let tp = pipeline_with(|tp| {
        tp.spec.source.queries[0].delivery = QueryDelivery::Stream;
        tp.spec.source.queries[2].delivery = QueryDelivery::Stream;
        tp.spec.source.queries[2].search_recovery = Some(false);
    });
    let mut seen = observed();
    seen.checkpoints[0].stream = Some(StreamProgress {
        stored_until: "2026-11-15T23:59:30.000Z".into(),
        recovered_posts: 40,
        recoveries: 2,
        rule_id: Some("1866000000000000001".into()),
        connection: None,
        ..StreamProgress::default()
    });
    // Judged by the reconcile; the plan passes it on.
    seen.stream_apps = Some(Check::Ok);
    let decided = plan::plan(&tp, &seen);
    // One search query and one token's stream connection: two replicas would all work, a third
    // would idle (the fixture's three search queries get three).
    assert_eq!(search_only.scaling.replicas, 3);
    assert_eq!(decided.scaling.replicas, 2);
    assert_eq!(decided.scaling.reason, CapReason::Queries);
    assert!(
        decided
            .scaling
            .message
            .starts_with("1 search query and 1 stream connection(s)"),
        "{}",
        decided.scaling.message
    );
    let queries = &decided.status.queries;
    assert_eq!(queries[0].delivery, "StreamWithSearchRecovery");
    assert_eq!(queries[1].delivery, "Search");
    assert_eq!(queries[2].delivery, "Stream");
    assert_eq!(
        queries[0].rule_tag.as_deref(),
        Some("tweetpipe:tweets/covid19:covid-en")
    );
    assert_eq!(
        queries[0].stored_until.as_deref(),
        Some("2026-11-15T23:59:30.000Z")
    );
    assert_eq!((queries[0].recovered_posts, queries[0].recoveries), (40, 2));
    assert_eq!(queries[0].rule_id.as_deref(), Some("1866000000000000001"));
    assert!(queries[2].rule_id.is_none(), "no rule in place yet");
    let connections = &decided.status.stream.as_ref().unwrap().connections;
    assert_eq!(connections.len(), 1);
    // quarantine-en has no stream checkpoint yet.
    assert_eq!(
        (
            connections[0].token,
            connections[0].rules,
            connections[0].state.as_str()
        ),
        (0, 2, "NotStarted")
    );
    let available = find(&decided.status.conditions, types::STREAM_APPS_AVAILABLE);
    assert_eq!(
        (available.status.as_str(), available.reason.as_str()),
        ("True", reasons::STREAM_APPS_EXCLUSIVE)
    );

    seen.stream_apps = Some(Check::failed(
        reasons::STREAM_APP_SHARED,
        "the app of token 0 also streams for pipeline ns/b (token 0)",
    ));
    let shared = plan::plan(&tp, &seen);
    let available = find(&shared.status.conditions, types::STREAM_APPS_AVAILABLE);
    assert_eq!(available.status, "False");
    let ready = find(&shared.status.conditions, types::READY);
    assert_eq!(ready.reason, reasons::STREAM_APP_SHARED);
    assert!(ready.message.contains("ns/b"), "{}", ready.message);

    // A stale judgement of a pipeline that no longer streams is not reported.
    let back_to_search = plan::plan(&pipeline(), &seen);
    assert!(
        back_to_search
            .status
            .conditions
            .iter()
            .all(|c| c.type_ != types::STREAM_APPS_AVAILABLE)
    );
}
