//! The fault schedule: a pure function of the seed and the run's length, so `CHAOS_SEED=n`
//! replays the same steps at the same offsets.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which pods a kill step picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Extractor,
    Transformer,
    Operator,
}

/// A fault injected through the simulator's `PUT /_sim/faults`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiFault {
    /// `length` of every `every` requests answer `status` (5xx).
    ServerErrors {
        every: u64,
        length: u64,
        status: u16,
    },
    /// `length` of every `every` requests wait `delay_ms` first.
    Slow {
        every: u64,
        length: u64,
        delay_ms: u64,
    },
    /// `length` of every `every` requests answer 200 with the JSON cut in half.
    Malformed { every: u64, length: u64 },
}

impl ApiFault {
    /// The simulator's fault configuration for this fault alone.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ApiFault::ServerErrors {
                every,
                length,
                status,
            } => {
                serde_json::json!({"server_errors": {"every": every, "length": length, "status": status}})
            }
            ApiFault::Slow {
                every,
                length,
                delay_ms,
            } => {
                serde_json::json!({"slow": {"every": every, "length": length, "delay_ms": delay_ms}})
            }
            ApiFault::Malformed { every, length } => {
                serde_json::json!({"malformed": {"every": every, "length": length}})
            }
        }
    }
}

/// A fault of the filtered stream, through the simulator's `PUT /_sim/faults` `stream` block.
/// A trigger (`after_ms`) counts from each connection's start and applies to every connection
/// while the fault is set, so a connection older than it is hit at once and every reconnection
/// again after that long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFault {
    /// Connections end without a message (a network cut).
    Drop { after_ms: u64 },
    /// Connections go silent, keep-alives included, and stay open: the extractor must notice
    /// the missing keep-alives (after its 30 s timeout, longer than X's 20 s keep-alive) and
    /// reconnect.
    Stall { after_ms: u64 },
    /// Connections get X's operational-disconnect error object, then end.
    OperationalDisconnect { after_ms: u64 },
    /// The stream's own 429: connections end after `after_ms` and one reconnection attempt in
    /// `every` is refused with 429 (the extractor backs off from a minute).
    TooManyRequests { every: u64, after_ms: u64 },
    /// A gap longer than the backfill: the connection ends at once and every attempt is refused
    /// (429) for the whole fault, which lasts longer than `backfillMinutes`, so the reconnection
    /// finds posts the backfill no longer covers and search recovery must fetch exactly those.
    Outage,
}

impl StreamFault {
    /// The simulator's `faults.stream` block for this fault.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            StreamFault::Drop { after_ms } => json!({"drop": {"after_ms": after_ms}}),
            StreamFault::Stall { after_ms } => json!({"stall": {"after_ms": after_ms}}),
            StreamFault::OperationalDisconnect { after_ms } => {
                json!({"operational_disconnect": {"after_ms": after_ms}})
            }
            StreamFault::TooManyRequests { every, after_ms } => json!({
                "drop": {"after_ms": after_ms},
                "reject_connects": {"every": every, "length": 1}
            }),
            StreamFault::Outage => json!({
                "drop": {"after_ms": 0},
                "reject_connects": {"every": 1, "length": 1}
            }),
        }
    }

    /// The kinds, in the order the schedule rotates through them.
    const KINDS: usize = 5;
}

/// The faults set at one moment: the simulator's configuration is replaced as a whole, so the
/// search (API) fault and the stream fault in force are kept here and sent together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActiveFaults {
    pub api: Option<ApiFault>,
    pub stream: Option<StreamFault>,
}

impl ActiveFaults {
    /// The body of `PUT /_sim/faults` (`{}` when nothing is set).
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = match &self.api {
            Some(fault) => fault.to_json(),
            None => serde_json::json!({}),
        };
        if let (Some(stream), Some(object)) = (&self.stream, body.as_object_mut()) {
            object.insert("stream".into(), stream.to_json());
        }
        body
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Force-delete (grace period 0) one pod of the role, picked by the run's seeded generator.
    KillPod(Role),
    /// `spec.source.limits.requestsPerWindow`.
    SetBudget(u32),
    /// `spec.extractor.maxReplicas`.
    SetMaxReplicas(u32),
    Suspend,
    Resume,
    RestartKafka,
    RestartMariaDb,
    InjectApiFault(ApiFault),
    ClearApiFaults,
    InjectStreamFault(StreamFault),
    ClearStreamFaults,
}

impl Action {
    /// The report's name for the kind of fault.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::KillPod(Role::Extractor) => "kill extractor pod",
            Action::KillPod(Role::Transformer) => "kill transformer pod",
            Action::KillPod(Role::Operator) => "kill operator pod",
            Action::SetBudget(_) => "change request budget",
            Action::SetMaxReplicas(_) => "change maxReplicas",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::RestartKafka => "restart Kafka",
            Action::RestartMariaDb => "restart MariaDB",
            Action::InjectApiFault(ApiFault::ServerErrors { .. }) => "API 5xx burst",
            Action::InjectApiFault(ApiFault::Slow { .. }) => "API slow answers",
            Action::InjectApiFault(ApiFault::Malformed { .. }) => "API malformed answers",
            Action::ClearApiFaults => "clear API faults",
            Action::InjectStreamFault(StreamFault::Drop { .. }) => "stream drops",
            Action::InjectStreamFault(StreamFault::Stall { .. }) => "stream stalls",
            Action::InjectStreamFault(StreamFault::OperationalDisconnect { .. }) => {
                "stream operational disconnects"
            }
            Action::InjectStreamFault(StreamFault::TooManyRequests { .. }) => {
                "stream 429s (injected)"
            }
            Action::InjectStreamFault(StreamFault::Outage) => "stream outage longer than backfill",
            Action::ClearStreamFaults => "clear stream faults",
        }
    }
}

/// One step: what to do, and when (offset from the start of the chaos phase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub at: Duration,
    pub action: Action,
}

/// The request budgets (per token per window) the schedule moves between; the simulator allows
/// [`crate::pipeline::SIM_REQUESTS_PER_WINDOW`], so none of them may exceed it.
pub const BUDGETS: [u32; 3] = [40, 80, 120];

/// How long a stream outage lasts beyond the backfill (`pipeline::BACKFILL_MINUTES`), at
/// least: the reconnection then misses this much that only search recovery can fetch.
pub const OUTAGE_BEYOND_BACKFILL_SECONDS: f64 = 15.0;

/// Draws the schedule. Faults come every 8–25 s; a suspension lasts 10–40 s, an API (search)
/// fault 15–45 s, a stream fault 15–45 s (a stall 35–60 s, an outage the backfill plus
/// 15–50 s); never two API faults, two stream faults or two suspensions at once (an API and a
/// stream fault may overlap: they are separate parts of the simulator's configuration). Stream
/// faults rotate through their five kinds from a drawn start, so a run with five of them has
/// each. Nothing starts in the last 10 s. Restarts are drawn whatever the
/// `CHAOS_RESTART_SERVICES` switch says, so a seed means the same schedule everywhere.
pub fn draw(seed: u64, length: Duration) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let end = length.as_secs_f64();
    let backfill = f64::from(crate::pipeline::BACKFILL_MINUTES) * 60.0;
    let mut steps = Vec::new();
    let mut t = 0.0;
    let mut suspended_until = 0.0;
    let mut fault_until = 0.0;
    let mut stream_until = 0.0;
    let mut stream_kind = rng.random_range(0..StreamFault::KINDS);
    loop {
        t += rng.random_range(8.0..25.0);
        if t >= end - 10.0 {
            break;
        }
        let at = Duration::from_secs_f64(t);
        let closing = |rng: &mut StdRng, lo: f64, hi: f64| {
            let until = (t + rng.random_range(lo..hi)).min(end - 1.0);
            (until, Duration::from_secs_f64(until))
        };
        // Weights: kills 6, rescale and budget 4, API faults 3, stream faults 4, suspend 1,
        // restarts 2.
        let action = match rng.random_range(0..20) {
            0..=2 => Action::KillPod(Role::Extractor),
            3..=4 => Action::KillPod(Role::Transformer),
            5 => Action::KillPod(Role::Operator),
            6..=7 => Action::SetBudget(BUDGETS[rng.random_range(0..BUDGETS.len())]),
            8..=9 => Action::SetMaxReplicas(rng.random_range(1..=4)),
            10..=12 if t >= fault_until => {
                let fault = match rng.random_range(0..3) {
                    0 => ApiFault::ServerErrors {
                        every: rng.random_range(4..=10),
                        length: rng.random_range(1..=3),
                        status: [500, 502, 503][rng.random_range(0..3)],
                    },
                    1 => ApiFault::Slow {
                        every: rng.random_range(2..=5),
                        length: 1,
                        delay_ms: rng.random_range(1_000..=8_000),
                    },
                    _ => ApiFault::Malformed {
                        every: rng.random_range(3..=8),
                        length: 1,
                    },
                };
                let (until, clear_at) = closing(&mut rng, 15.0, 45.0);
                fault_until = until;
                steps.push(Step {
                    at: clear_at,
                    action: Action::ClearApiFaults,
                });
                Action::InjectApiFault(fault)
            }
            16..=19 if t >= stream_until => {
                // A stall must outlast the keep-alive timeout and an outage the backfill: a kind
                // that no longer fits before the end gives way to the next.
                let fits = |kind: usize| match kind % StreamFault::KINDS {
                    1 => t + 35.0 < end - 1.0,
                    4 => t + backfill + OUTAGE_BEYOND_BACKFILL_SECONDS < end - 1.0,
                    _ => true,
                };
                while !fits(stream_kind) {
                    stream_kind += 1;
                }
                let (fault, (lo, hi)) = match stream_kind % StreamFault::KINDS {
                    0 => (
                        StreamFault::Drop {
                            after_ms: rng.random_range(10_000..=20_000),
                        },
                        (15.0, 45.0),
                    ),
                    1 => (
                        StreamFault::Stall {
                            after_ms: rng.random_range(0..=10_000),
                        },
                        (35.0, 60.0),
                    ),
                    2 => (
                        StreamFault::OperationalDisconnect {
                            after_ms: rng.random_range(10_000..=20_000),
                        },
                        (15.0, 45.0),
                    ),
                    3 => (
                        StreamFault::TooManyRequests {
                            every: rng.random_range(2..=3),
                            after_ms: rng.random_range(5_000..=15_000),
                        },
                        (15.0, 45.0),
                    ),
                    _ => (
                        StreamFault::Outage,
                        (
                            backfill + OUTAGE_BEYOND_BACKFILL_SECONDS,
                            backfill + OUTAGE_BEYOND_BACKFILL_SECONDS + 35.0,
                        ),
                    ),
                };
                stream_kind += 1;
                let (until, clear_at) = closing(&mut rng, lo, hi);
                stream_until = until;
                steps.push(Step {
                    at: clear_at,
                    action: Action::ClearStreamFaults,
                });
                Action::InjectStreamFault(fault)
            }
            13 if t >= suspended_until => {
                let (until, resume_at) = closing(&mut rng, 10.0, 40.0);
                suspended_until = until;
                steps.push(Step {
                    at: resume_at,
                    action: Action::Resume,
                });
                Action::Suspend
            }
            14 => Action::RestartKafka,
            15 => Action::RestartMariaDb,
            // A fault or a suspension already running: kill an extractor instead.
            _ => Action::KillPod(Role::Extractor),
        };
        steps.push(Step { at, action });
    }
    steps.sort_by_key(|s| s.at);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_schedule_and_another_seed_does_not() {
        let ten = Duration::from_secs(600);
        assert_eq!(draw(7, ten), draw(7, ten));
        assert_ne!(draw(7, ten), draw(8, ten));
    }

    #[test]
    fn steps_are_ordered_inside_the_run_and_pairs_close() {
        for seed in 0..50 {
            let length = Duration::from_secs(600);
            let steps = draw(seed, length);
            assert!(steps.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(steps.iter().all(|s| s.at < length));
            let count = |a: &dyn Fn(&Action) -> bool| steps.iter().filter(|s| a(&s.action)).count();
            assert_eq!(
                count(&|a| *a == Action::Suspend),
                count(&|a| *a == Action::Resume)
            );
            assert_eq!(
                count(&|a| matches!(a, Action::InjectApiFault(_))),
                count(&|a| *a == Action::ClearApiFaults)
            );
            assert_eq!(
                count(&|a| matches!(a, Action::InjectStreamFault(_))),
                count(&|a| *a == Action::ClearStreamFaults)
            );
            // Never two API faults, two stream faults or two suspensions at once.
            let (mut faults, mut stream, mut suspended) = (0i32, 0i32, 0i32);
            for step in &steps {
                match step.action {
                    Action::InjectApiFault(_) => faults += 1,
                    Action::ClearApiFaults => faults -= 1,
                    Action::InjectStreamFault(_) => stream += 1,
                    Action::ClearStreamFaults => stream -= 1,
                    Action::Suspend => suspended += 1,
                    Action::Resume => suspended -= 1,
                    _ => {}
                }
                assert!(
                    (0..=1).contains(&faults)
                        && (0..=1).contains(&stream)
                        && (0..=1).contains(&suspended),
                    "seed {seed}"
                );
            }
            assert!(steps.iter().all(|s| match s.action {
                Action::SetBudget(b) => BUDGETS.contains(&b),
                Action::SetMaxReplicas(r) => (1..=4).contains(&r),
                _ => true,
            }));
        }
    }

    /// Each stream fault with the time it is cleared.
    fn stream_faults(steps: &[Step]) -> Vec<(Duration, StreamFault, Duration)> {
        let mut out = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            if let Action::InjectStreamFault(fault) = &step.action {
                let cleared = steps[i..]
                    .iter()
                    .find(|s| s.action == Action::ClearStreamFaults)
                    .map(|s| s.at)
                    .expect("every stream fault is cleared");
                out.push((step.at, fault.clone(), cleared));
            }
        }
        out
    }

    #[test]
    fn stream_faults_outlast_what_they_must_outlast() {
        let backfill = f64::from(crate::pipeline::BACKFILL_MINUTES) * 60.0;
        let mut outages = 0;
        for seed in 0..50 {
            for (at, fault, cleared) in stream_faults(&draw(seed, Duration::from_secs(600))) {
                let lasts = (cleared - at).as_secs_f64();
                match fault {
                    // Longer than the backfill: the reconnection leaves a gap for search.
                    StreamFault::Outage => {
                        outages += 1;
                        assert!(
                            lasts >= backfill + OUTAGE_BEYOND_BACKFILL_SECONDS,
                            "seed {seed}: outage of {lasts} s"
                        );
                    }
                    // Longer than the extractor's 30 s keep-alive timeout, so the stall is
                    // noticed while the fault is set.
                    StreamFault::Stall { after_ms } => {
                        assert!(
                            after_ms <= 10_000 && lasts >= 30.0,
                            "seed {seed}: {lasts} s"
                        )
                    }
                    StreamFault::TooManyRequests { every, .. } => assert!((2..=3).contains(&every)),
                    // A trigger by time well past a connection's start: a reconnection's
                    // backfill is read and written before the next cut.
                    StreamFault::Drop { after_ms }
                    | StreamFault::OperationalDisconnect { after_ms } => {
                        assert!(after_ms >= 10_000)
                    }
                }
            }
        }
        assert!(outages > 10, "{outages} outages over 50 seeds");
    }

    #[test]
    fn ten_minutes_exercise_every_kind_of_fault_over_a_few_seeds() {
        let kinds: std::collections::BTreeSet<&str> = (0..5)
            .flat_map(|seed| draw(seed, Duration::from_secs(600)))
            .map(|s| s.action.kind())
            .collect();
        // 13 before the stream: 3 kills, budget, replicas, suspend, resume, 2 restarts, 3 API
        // faults and their clearing; then 5 stream faults and their clearing.
        assert_eq!(kinds.len(), 19, "{kinds:?}");
    }

    #[test]
    fn most_ten_minute_runs_have_every_stream_fault() {
        let complete = (0..20)
            .filter(|seed| {
                let kinds: std::collections::BTreeSet<&str> = draw(*seed, Duration::from_secs(600))
                    .iter()
                    .filter(|s| matches!(s.action, Action::InjectStreamFault(_)))
                    .map(|s| s.action.kind())
                    .collect();
                kinds.len() == 5
            })
            .count();
        assert!(complete >= 10, "{complete} of 20 seeds");
    }

    #[test]
    fn api_faults_render_the_simulator_shape() {
        let json = ApiFault::ServerErrors {
            every: 5,
            length: 2,
            status: 503,
        }
        .to_json();
        assert_eq!(json["server_errors"]["status"], 503);
        assert!(json.get("slow").is_none());
    }

    #[test]
    fn the_simulator_accepts_every_fault_the_schedule_draws() {
        for seed in 0..20 {
            let mut active = ActiveFaults::default();
            for step in draw(seed, Duration::from_secs(600)) {
                match step.action {
                    Action::InjectApiFault(f) => active.api = Some(f),
                    Action::ClearApiFaults => active.api = None,
                    Action::InjectStreamFault(f) => active.stream = Some(f),
                    Action::ClearStreamFaults => active.stream = None,
                    _ => continue,
                }
                let body = active.to_json();
                let parsed: xapi_simulator::FaultConfig = serde_json::from_value(body.clone())
                    .unwrap_or_else(|e| panic!("seed {seed}: {body}: {e}"));
                assert_eq!(
                    parsed.stream.drop.is_some()
                        || parsed.stream.stall.is_some()
                        || parsed.stream.operational_disconnect.is_some(),
                    active.stream.is_some()
                );
            }
        }
    }

    #[test]
    fn api_and_stream_faults_are_sent_together_and_cleared_apart() {
        let mut active = ActiveFaults::default();
        assert_eq!(active.to_json(), serde_json::json!({}));
        active.api = Some(ApiFault::Malformed {
            every: 4,
            length: 1,
        });
        active.stream = Some(StreamFault::Outage);
        let both = active.to_json();
        assert_eq!(both["malformed"]["every"], 4);
        assert_eq!(both["stream"]["drop"]["after_ms"], 0);
        assert_eq!(both["stream"]["reject_connects"]["every"], 1);
        active.api = None;
        let stream_only = active.to_json();
        assert!(stream_only.get("malformed").is_none());
        assert!(stream_only.get("stream").is_some());
        let shapes = [
            (StreamFault::Drop { after_ms: 5 }, "drop"),
            (StreamFault::Stall { after_ms: 5 }, "stall"),
            (
                StreamFault::OperationalDisconnect { after_ms: 5 },
                "operational_disconnect",
            ),
            (
                StreamFault::TooManyRequests {
                    every: 2,
                    after_ms: 5,
                },
                "reject_connects",
            ),
        ];
        for (fault, key) in shapes {
            assert!(fault.to_json().get(key).is_some(), "{fault:?}");
        }
    }
}
