//! Admission benchmark (`bench/admission.sh`, issue 20): how long the validating webhook takes to
//! judge a pipeline with the CRD's maximum of 200 queries, each using several operator families
//! (keywords, emoji, phrases with escapes, hashtags, cashtags, url:, context:, entity:,
//! conversation and reply ids, the place and geo operators, is:/has:/lang:, negation, groups).
//!
//! It times `admission::server::judge` on the AdmissionReview body the API server sends: JSON
//! parsing, every admission rule (`rules::check`) and the response, which is the webhook's whole
//! answer except TLS and HTTP. ROUNDS (2000) judgements after 50 warm-up ones; prints the mean,
//! p50, p99 and max, and the time the 200 query checks alone take. No pass/fail: a figure for
//! docs/operator.md.
//!
//!   cargo run --release -p tweetpipe-operator --example bench_admission
//!   ROUNDS=500 cargo run --release -p tweetpipe-operator --example bench_admission

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tweetpipe_operator::admission::{rules, server};
use tweetpipe_operator::api_hosts::AllowedApiHosts;
use tweetpipe_operator::crd::TweetPipeline;

const QUERIES: usize = 200;

/// Query shapes a real pipeline set would use; each is made distinct by its index.
fn query(i: usize) -> String {
    let shapes = [
        format!("(covid OR quarantine OR \"stay home\") lang:en -is:retweet #COVID19 variant{i}"),
        format!("(😷 OR 🦠 OR \"❤️\") vacina lang:pt -is:nullcast has:media term{i}"),
        format!(
            "url:\"https://www.who.int/emergencies\" OR context:123.1220701888179359745 OR entity:\"São Paulo\" id{i}"
        ),
        format!(
            "(place_country:BR OR place:\"rio de janeiro\" OR point_radius:[-46.63 -23.55 20km]) covid -is:retweet n{i}"
        ),
        format!("bounding_box:[-0.3 51.4 0.0 51.6] (covid OR lockdown) has:geo -has:links w{i}"),
        format!(
            "conversation_id:1334987486343299072 OR in_reply_to_tweet_id:1539382664746020864 OR to:WHO x{i}"
        ),
        format!(
            "$PFE OR $MRNA OR (vaccine \"he said \\\"go\\\"\" from:CDCgov) has:cashtags min_likes:{i}"
        ),
        format!(
            "(retweets_of:WHO OR quotes_of_tweet_id:1539382664746020864) -from:bot{i} is:verified has:video_link"
        ),
    ];
    shapes[i % shapes.len()].clone()
}

fn review(pipeline: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "tweetpipe.io", "version": "v1beta1", "kind": "TweetPipeline"},
            "resource": {"group": "tweetpipe.io", "version": "v1beta1", "resource": "tweetpipelines"},
            "name": "bench",
            "namespace": "bench",
            "operation": "CREATE",
            "userInfo": {"username": "bench"},
            "object": pipeline,
        }
    }))
    .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut pipeline: Value = serde_yaml::from_str(include_str!("../fixtures/pipeline.yaml"))?;
    let queries: Vec<Value> = (0..QUERIES)
        .map(|i| json!({"name": format!("q{i}"), "query": query(i)}))
        .collect();
    pipeline["spec"]["source"]["queries"] = Value::Array(queries);
    let allowed = tweetpipe_operator::policy::Policy::with_api_hosts(
        AllowedApiHosts::parse("https://api.x.com,x-api-simulator.tweetpipe-system:8080")?,
        &[],
    );
    let body = review(&pipeline);
    let typed: TweetPipeline = serde_json::from_value(pipeline)?;
    let refusals = rules::query_refusals(&typed.spec);
    if !refusals.is_empty() {
        return Err(format!("the bench's queries must be valid: {refusals:?}").into());
    }
    let verdict = server::judge(&body, &allowed);
    if verdict.result != "allowed" {
        return Err(format!("the bench pipeline was not admitted: {:?}", verdict.review).into());
    }
    for _ in 0..50 {
        std::hint::black_box(server::judge(&body, &allowed));
    }
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        std::hint::black_box(server::judge(std::hint::black_box(&body), &allowed));
        times.push(start.elapsed());
    }
    let mut query_times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        std::hint::black_box(rules::query_refusals(std::hint::black_box(&typed.spec)));
        query_times.push(start.elapsed());
    }
    times.sort();
    query_times.sort();
    let mean = times.iter().sum::<Duration>() / rounds as u32;
    println!(
        "admission of a {QUERIES}-query pipeline ({} bytes of AdmissionReview), {rounds} rounds:",
        body.len()
    );
    println!(
        "  judge (parse + all rules + response): mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        mean.as_secs_f64() * 1e3,
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times[rounds - 1].as_secs_f64() * 1e3
    );
    println!(
        "  the {QUERIES} query checks alone: p50 {:.3} ms, p99 {:.3} ms",
        percentile(&query_times, 0.5).as_secs_f64() * 1e3,
        percentile(&query_times, 0.99).as_secs_f64() * 1e3
    );
    Ok(())
}
