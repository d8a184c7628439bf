//! Prometheus metrics of the operator.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels naming one pipeline.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PipelineLabels {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub pipeline: String,
}

/// Labels of an error.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Error kind.
    pub reason: String,
}

/// Labels of a reconcile phase.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// `secrets`, `dependencies`, `observe`, `apply`, `status`, `cleanup`; and two reads inside
    /// `observe`, run side by side: `observe-checkpoints` and `observe-lag`.
    pub phase: String,
}

fn phase_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The operator's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Reconciles run.
    pub reconciles: Counter,
    /// Reconciles running now: a stall shows as a value that stays up.
    pub in_flight: Gauge,
    /// Reconciles failed, by reason.
    pub errors: Family<ErrorLabels, Counter>,
    /// Reconcile durations.
    pub duration: Histogram,
    /// Durations of each reconcile phase.
    pub phases: Family<PhaseLabels, Histogram, fn() -> Histogram>,
    /// Rate budget per pipeline (requests per window after the margin).
    pub budget: Family<PipelineLabels, Gauge>,
    /// Rate budget handed to the extractors per pipeline.
    pub budget_in_use: Family<PipelineLabels, Gauge>,
    /// Extractor replicas per pipeline.
    pub extractor_replicas: Family<PipelineLabels, Gauge>,
    /// Transformer replicas per pipeline.
    pub transformer_replicas: Family<PipelineLabels, Gauge>,
    /// Consumer lag per pipeline.
    pub lag: Family<PipelineLabels, Gauge>,
    /// 1 while this replica holds the leader Lease.
    pub leader: Gauge,
    /// 1 while a pipeline's Ready condition is True.
    pub ready: Family<PipelineLabels, Gauge>,
    /// Seconds until the forecast reaches the monthly post cap (only while it is forecast to
    /// be reached this month).
    pub monthly_cap_forecast: Family<PipelineLabels, Gauge>,
}

impl Metrics {
    /// Records how long a reconcile phase took.
    pub fn observe_phase(&self, phase: &str, seconds: f64) {
        self.phases
            .get_or_create(&PhaseLabels {
                phase: phase.to_string(),
            })
            .observe(seconds);
    }

    /// Awaits `work` and records how long it took as phase `phase`.
    pub async fn time_phase<T>(&self, phase: &str, work: impl Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = work.await;
        self.observe_phase(phase, started.elapsed().as_secs_f64());
        out
    }

    /// Registers every metric in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Metrics {
            reconciles: Counter::default(),
            in_flight: Gauge::default(),
            errors: Family::default(),
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            phases: Family::new_with_constructor(phase_histogram),
            budget: Family::default(),
            budget_in_use: Family::default(),
            extractor_replicas: Family::default(),
            transformer_replicas: Family::default(),
            lag: Family::default(),
            leader: Gauge::default(),
            ready: Family::default(),
            monthly_cap_forecast: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("tweetpipe_operator");
        r.register("reconciles", "Reconciles run", metrics.reconciles.clone());
        r.register(
            "reconciles_in_flight",
            "Reconciles running now",
            metrics.in_flight.clone(),
        );
        r.register(
            "reconcile_errors",
            "Reconciles that failed, by reason",
            metrics.errors.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Time per reconcile",
            metrics.duration.clone(),
        );
        r.register(
            "reconcile_phase_duration_seconds",
            "Time per reconcile phase",
            metrics.phases.clone(),
        );
        r.register(
            "budget_requests_per_window",
            "Rate budget of a pipeline after the safety margin",
            metrics.budget.clone(),
        );
        r.register(
            "budget_in_use_requests_per_window",
            "Rate budget handed to a pipeline's extractors",
            metrics.budget_in_use.clone(),
        );
        r.register(
            "extractor_replicas",
            "Desired extractor replicas",
            metrics.extractor_replicas.clone(),
        );
        r.register(
            "transformer_replicas",
            "Desired transformer replicas",
            metrics.transformer_replicas.clone(),
        );
        r.register(
            "consumer_lag_records",
            "Transformer consumer lag",
            metrics.lag.clone(),
        );
        r.register(
            "leader",
            "1 while this replica is the leader",
            metrics.leader.clone(),
        );
        r.register(
            "pipeline_ready",
            "1 while the pipeline's Ready condition is True",
            metrics.ready.clone(),
        );
        r.register(
            "monthly_cap_forecast_seconds",
            "Seconds until the forecast reaches the monthly post cap (absent when not reached this month)",
            metrics.monthly_cap_forecast.clone(),
        );
        metrics
    }

    /// Counts a reconcile as running until the returned guard is dropped (also when the reconcile
    /// is cancelled by its deadline).
    pub fn reconcile_started(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Forgets a deleted pipeline's series.
    pub fn forget(&self, labels: &PipelineLabels) {
        self.budget.remove(labels);
        self.budget_in_use.remove(labels);
        self.extractor_replicas.remove(labels);
        self.transformer_replicas.remove(labels);
        self.lag.remove(labels);
        self.ready.remove(labels);
        self.monthly_cap_forecast.remove(labels);
    }
}

/// A running reconcile, counted in `tweetpipe_operator_reconciles_in_flight` while it lives.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_counts_running_reconciles_until_their_guard_drops() {
        let metrics = Metrics::register(&mut Registry::default());
        let first = metrics.reconcile_started();
        let second = metrics.reconcile_started();
        assert_eq!(metrics.in_flight.get(), 2);
        drop(first);
        assert_eq!(metrics.in_flight.get(), 1);
        drop(second);
        assert_eq!(metrics.in_flight.get(), 0);
    }
}
