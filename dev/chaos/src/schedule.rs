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

/// Draws the schedule. Faults come every 8–25 s; a suspension lasts 10–40 s and an API fault
/// 15–45 s (never two at once); nothing starts in the last 10 s. Restarts are drawn whatever
/// the `CHAOS_RESTART_SERVICES` switch says, so a seed means the same schedule everywhere.
pub fn draw(seed: u64, length: Duration) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let end = length.as_secs_f64();
    let mut steps = Vec::new();
    let mut t = 0.0;
    let mut suspended_until = 0.0;
    let mut fault_until = 0.0;
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
        // Weights: kills 6, rescale and budget 4, API faults 3, suspend 1, restarts 2.
        let action = match rng.random_range(0..16) {
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
            // Never two API faults or two suspensions at once.
            let (mut faults, mut suspended) = (0i32, 0i32);
            for step in &steps {
                match step.action {
                    Action::InjectApiFault(_) => faults += 1,
                    Action::ClearApiFaults => faults -= 1,
                    Action::Suspend => suspended += 1,
                    Action::Resume => suspended -= 1,
                    _ => {}
                }
                assert!(
                    (0..=1).contains(&faults) && (0..=1).contains(&suspended),
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

    #[test]
    fn ten_minutes_exercise_every_kind_of_fault_over_a_few_seeds() {
        let kinds: std::collections::BTreeSet<&str> = (0..5)
            .flat_map(|seed| draw(seed, Duration::from_secs(600)))
            .map(|s| s.action.kind())
            .collect();
        assert_eq!(kinds.len(), 13, "{kinds:?}");
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
}
