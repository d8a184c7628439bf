//! Transformer replicas from consumer lag, bounded by min/max and by the topic's partitions
//! (a consumer group never uses more consumers than partitions), and stabilised like the HPA:
//! scaling up is immediate, scaling down takes the highest recommendation of the last window,
//! so a short dip in lag never makes the group rebalance twice.

use chrono::{DateTime, TimeDelta, Utc};

/// What bounded the transformer replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformerBound {
    /// Lag asked for exactly this many.
    Lag,
    /// `minReplicas` raised it.
    MinReplicas,
    /// `maxReplicas` lowered it.
    MaxReplicas,
    /// The partition count lowered it.
    Partitions,
    /// `spec.suspend`.
    Suspended,
}

/// Inputs of the transformer scaling rule.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerInput {
    /// Records not yet committed by the group; `None` when unknown (Kafka unreachable).
    pub lag: Option<i64>,
    /// Lag one replica absorbs.
    pub target_lag_per_replica: u64,
    /// Lower bound.
    pub min_replicas: i32,
    /// Upper bound.
    pub max_replicas: i32,
    /// Partitions of the posts topic.
    pub partitions: i32,
    /// Replicas now, kept when the lag is unknown.
    pub current: Option<i32>,
    /// `spec.suspend`.
    pub suspended: bool,
}

/// Replicas and the bound that decided them.
pub fn decide_transformer_replicas(input: &TransformerInput) -> (i32, TransformerBound) {
    if input.suspended {
        return (0, TransformerBound::Suspended);
    }
    let wanted = match (input.lag, input.current) {
        (Some(lag), _) => {
            let lag = u64::try_from(lag.max(0)).unwrap_or(0);
            let per = input.target_lag_per_replica.max(1);
            i32::try_from(lag.div_ceil(per)).unwrap_or(i32::MAX)
        }
        // Unknown lag: hold the current size rather than flapping.
        (None, Some(current)) => current,
        (None, None) => input.min_replicas,
    };
    let mut replicas = wanted;
    let mut bound = TransformerBound::Lag;
    if replicas < input.min_replicas {
        replicas = input.min_replicas;
        bound = TransformerBound::MinReplicas;
    }
    if replicas > input.max_replicas {
        replicas = input.max_replicas;
        bound = TransformerBound::MaxReplicas;
    }
    if replicas > input.partitions.max(1) {
        replicas = input.partitions.max(1);
        bound = TransformerBound::Partitions;
    }
    (replicas.max(0), bound)
}

/// Earlier recommendations: (when, replicas).
pub type Recommendations = Vec<(DateTime<Utc>, i32)>;

/// The replica count to run: `recommendation` when it scales up or holds, otherwise the highest
/// recommendation made within `window` before `now` (`history` holds earlier ones, any order).
pub fn stabilise(
    recommendation: i32,
    history: &[(DateTime<Utc>, i32)],
    now: DateTime<Utc>,
    window: TimeDelta,
) -> i32 {
    history
        .iter()
        .filter(|(at, _)| now.signed_duration_since(*at) <= window)
        .map(|&(_, replicas)| replicas)
        .fold(recommendation, i32::max)
}

/// Drops recommendations older than `window` (the history kept between reconciles).
pub fn prune(history: &mut Recommendations, now: DateTime<Utc>, window: TimeDelta) {
    history.retain(|(at, _)| now.signed_duration_since(*at) <= window);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn scale_down_waits_for_the_window_scale_up_does_not() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let window = TimeDelta::minutes(5);
        let at = |minutes: i64| t0 + TimeDelta::minutes(minutes);
        // (history, recommendation now, now, expected)
        let cases: [(Recommendations, i32, DateTime<Utc>, i32); 5] = [
            (vec![], 3, at(0), 3),
            (vec![(at(0), 2)], 4, at(1), 4),
            (vec![(at(0), 4)], 1, at(1), 4),
            (vec![(at(0), 4), (at(2), 3)], 1, at(4), 4),
            (vec![(at(0), 4), (at(2), 3)], 1, at(6), 3),
        ];
        for (history, recommendation, now, expected) in cases {
            assert_eq!(
                stabilise(recommendation, &history, now, window),
                expected,
                "history {history:?}, recommendation {recommendation} at {now}"
            );
        }
        let mut history = vec![(at(0), 4), (at(6), 2)];
        prune(&mut history, at(7), window);
        assert_eq!(history, vec![(at(6), 2)]);
    }
}
