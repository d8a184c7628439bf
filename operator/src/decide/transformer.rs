//! Transformer replicas from consumer lag, bounded by min/max and by the topic's partitions
//! (a consumer group never uses more consumers than partitions).

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
