//! The run's knobs, from the environment (`make chaos` passes them through).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ChaosError;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `CHAOS_SEED`: draws the schedule and the pods it kills; printed so a run can be replayed.
    pub seed: u64,
    /// `CHAOS_MINUTES` (default 10; fractions allowed): how long faults are injected.
    pub chaos: Duration,
    /// `CHAOS_DRAIN_SECONDS` (default 600): bound on the drain after the faults stop.
    pub drain_bound: Duration,
    /// `CHAOS_KEEP=1`: leave the namespace, pipeline, topics and database for inspection.
    pub keep: bool,
    /// `CHAOS_RESTART_SERVICES` (default 1): restart the platform's Kafka and MariaDB. `0` keeps
    /// them running (the schedule is the same; those steps are reported as skipped).
    pub restart_services: bool,
    /// `CHAOS_NAMESPACE` (default `tweetpipe-chaos`): operator, simulator and pipeline live here.
    pub namespace: String,
    /// `CHAOS_REPORT` (default `target/chaos/report.md`).
    pub report: PathBuf,
    /// `CHAOS_UPGRADE_FROM`: the previous release's directory (`dev/upgrade/previous.sh dir`:
    /// its `chart/`, images tagged `previous`). The run starts on it, creates the pipeline as
    /// `v1alpha1`, and upgrades to this tree halfway through the faults.
    pub upgrade_from: Option<PathBuf>,
    /// `CHAOS_IMAGE_TAG` (default `dev`): the tag of this tree's operator, extractor and
    /// transformer images (`TWEETPIPE_IMAGE_TAG` of `make images`), so a branch can run chaos on
    /// its own images beside the `:dev` ones other tests use.
    pub image_tag: String,
    /// `CHAOS_SIMULATOR_IMAGE` (default `docker.io/tweetpipe/xapi-simulator:<CHAOS_IMAGE_TAG>`).
    pub simulator_image: String,
}

impl Settings {
    pub fn from_env() -> Result<Self, ChaosError> {
        let minutes: f64 = parse("CHAOS_MINUTES", 10.0)?;
        if !(minutes > 0.0 && minutes <= 24.0 * 60.0) {
            return Err(ChaosError::Setting {
                name: "CHAOS_MINUTES",
                message: format!("{minutes} is not between 0 and 1440"),
            });
        }
        let seed = match std::env::var("CHAOS_SEED") {
            Ok(v) if !v.trim().is_empty() => parse("CHAOS_SEED", 0u64)?,
            _ => fresh_seed(),
        };
        let image_tag = std::env::var("CHAOS_IMAGE_TAG")
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "dev".into());
        if !image_tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(ChaosError::Setting {
                name: "CHAOS_IMAGE_TAG",
                message: format!("{image_tag:?} is not an image tag"),
            });
        }
        let simulator_image = std::env::var("CHAOS_SIMULATOR_IMAGE")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| format!("docker.io/tweetpipe/xapi-simulator:{image_tag}"));
        Ok(Settings {
            image_tag,
            simulator_image,
            seed,
            chaos: Duration::from_secs_f64(minutes * 60.0),
            drain_bound: Duration::from_secs(parse("CHAOS_DRAIN_SECONDS", 600u64)?),
            keep: flag("CHAOS_KEEP", false)?,
            restart_services: flag("CHAOS_RESTART_SERVICES", true)?,
            namespace: std::env::var("CHAOS_NAMESPACE")
                .unwrap_or_else(|_| "tweetpipe-chaos".into()),
            report: std::env::var("CHAOS_REPORT")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from("target/chaos/report.md")),
            upgrade_from: std::env::var("CHAOS_UPGRADE_FROM")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(PathBuf::from),
        })
    }
}

fn parse<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ChaosError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map_err(|e: T::Err| ChaosError::Setting {
                name,
                message: format!("{v:?}: {e}"),
            })
        }
        _ => Ok(default),
    }
}

fn flag(name: &'static str, default: bool) -> Result<bool, ChaosError> {
    match std::env::var(name).as_deref().map(str::trim) {
        Ok("1") | Ok("true") => Ok(true),
        Ok("0") | Ok("false") => Ok(false),
        Ok("") | Err(_) => Ok(default),
        Ok(other) => Err(ChaosError::Setting {
            name,
            message: format!("{other:?} is not 0 or 1"),
        }),
    }
}

/// A seed from the clock, when none is given.
fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000_000)
        .unwrap_or(1)
}
