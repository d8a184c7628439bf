//! The monthly post cap: usage, a forecast of when the cap is reached, and the slow-down that
//! keeps the pipeline under it.
//!
//! The usable budget is the cap minus the safety margin. If the month's average rate would spend
//! it before the month ends, the rate budget is scaled down so that what is left lasts until the
//! month ends; when it is spent, the extractors stop until the next month.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use tweetpipe_common::contract::budget::after_safety_margin;

/// Share of the usable budget from which the cap counts as "near" even without a slow-down.
const NEAR_PERCENT: u64 = 80;

/// Where the month stands.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyForecast {
    /// `YYYY-MM`.
    pub month: String,
    /// Posts read this month.
    pub posts_used: u64,
    /// The cap.
    pub cap: u64,
    /// Cap minus the safety margin.
    pub usable: u64,
    /// When the full cap is reached at this month's average rate, if within this month.
    pub cap_reached_at: Option<DateTime<Utc>>,
    /// Percent of the rate budget to hand out (100 = full speed, 0 = stop).
    pub throttle_percent: u32,
    /// Usage state.
    pub state: MonthlyState,
}

/// Usage state, for the `MonthlyCap` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthlyState {
    /// Comfortably under the cap.
    Within,
    /// Over `NEAR_PERCENT` of the usable budget, or slowed down to stay under it.
    Near,
    /// The usable budget is spent; extractors stop.
    Reached,
}

/// `YYYY-MM` of an instant (UTC).
pub fn month_of(now: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", now.year(), now.month())
}

/// First instant of the month holding `now`, and of the next month.
pub fn month_bounds(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    (start, end)
}

/// The forecast for a month in which `posts_used` posts have been read by `now`.
pub fn forecast(
    now: DateTime<Utc>,
    posts_used: u64,
    cap: u64,
    safety_margin_percent: u32,
) -> MonthlyForecast {
    let (start, end) = month_bounds(now);
    let usable = after_safety_margin(cap, safety_margin_percent);
    // At least a minute elapsed, so a burst in the first seconds of a month is not extrapolated wildly.
    let elapsed = (now - start).num_seconds().max(60) as f64;
    let remaining = (end - now).num_seconds().max(0) as f64;
    let rate = posts_used as f64 / elapsed;
    let cap_reached_at = if posts_used >= cap {
        Some(now)
    } else if rate > 0.0 {
        let seconds = ((cap - posts_used) as f64 / rate).ceil();
        let at = now + Duration::seconds(seconds.min(1e12) as i64);
        (at < end).then_some(at)
    } else {
        None
    };
    let (throttle_percent, state) = if posts_used >= usable {
        (0, MonthlyState::Reached)
    } else {
        let projected_more = rate * remaining;
        let left = (usable - posts_used) as f64;
        if projected_more <= left {
            let state = if posts_used * 100 >= usable * NEAR_PERCENT {
                MonthlyState::Near
            } else {
                MonthlyState::Within
            };
            (100, state)
        } else {
            // Spend what is left evenly over the rest of the month; never 0 while budget remains.
            let percent = (left / projected_more * 100.0).floor().clamp(1.0, 99.0) as u32;
            (percent, MonthlyState::Near)
        }
    };
    MonthlyForecast {
        month: month_of(now),
        posts_used,
        cap,
        usable,
        cap_reached_at,
        throttle_percent,
        state,
    }
}
