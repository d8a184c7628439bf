//! Per-token request windows and monthly post caps, as X enforces them per app.

use chrono::{DateTime, Datelike, Utc};

/// Whether a request may proceed, with what the rate-limit headers must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    RateLimited,
    UsageCapped,
}

/// The values of `x-rate-limit-limit`, `-remaining` and `-reset` (epoch seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: u32,
    pub remaining: u32,
    pub reset_epoch_s: i64,
}

#[derive(Debug, Clone)]
pub struct TokenLimits {
    limit: u32,
    window_ms: i64,
    monthly_cap: u64,
    /// End of the current window, on a whole second so that a client sleeping until the
    /// advertised reset never arrives early.
    window_end_ms: Option<i64>,
    used: u32,
    month: (i32, u32),
    month_posts: u64,
}

fn month_of(now_ms: i64) -> (i32, u32) {
    let t = DateTime::<Utc>::from_timestamp_millis(now_ms).unwrap_or_default();
    (t.year(), t.month())
}

impl TokenLimits {
    pub fn new(limit: u32, window_seconds: u64, monthly_cap: u64) -> Self {
        TokenLimits {
            limit,
            window_ms: (window_seconds as i64).saturating_mul(1000),
            monthly_cap,
            window_end_ms: None,
            used: 0,
            month: (0, 0),
            month_posts: 0,
        }
    }

    fn roll(&mut self, now_ms: i64) {
        if self.window_end_ms.is_none_or(|end| now_ms >= end) {
            // Windows start on the whole second of their first request, so the reset (in
            // epoch seconds) is exact.
            self.window_end_ms = Some(now_ms.div_euclid(1000) * 1000 + self.window_ms);
            self.used = 0;
        }
        let month = month_of(now_ms);
        if month != self.month {
            self.month = month;
            self.month_posts = 0;
        }
    }

    /// Counts a request against the window (unless refused) and says whether it may proceed.
    pub fn admit(&mut self, now_ms: i64) -> Admission {
        self.roll(now_ms);
        if self.used >= self.limit {
            return Admission::RateLimited;
        }
        self.used += 1;
        if self.month_posts >= self.monthly_cap {
            return Admission::UsageCapped;
        }
        Admission::Allowed
    }

    /// Whether this month's post cap is reached, without counting a request against the
    /// window (a stream connection is not a search request).
    pub fn usage_capped(&mut self, now_ms: i64) -> bool {
        self.roll(now_ms);
        self.month_posts >= self.monthly_cap
    }

    /// Adds served posts to the month's usage.
    pub fn record_posts(&mut self, posts: u64) {
        self.month_posts = self.month_posts.saturating_add(posts);
    }

    pub fn month_posts(&self) -> u64 {
        self.month_posts
    }

    pub fn headers(&self) -> RateHeaders {
        RateHeaders {
            limit: self.limit,
            remaining: self.limit.saturating_sub(self.used),
            reset_epoch_s: self.window_end_ms.unwrap_or_default() / 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_000_000_300;

    #[test]
    fn window_allows_limit_requests_then_refuses_until_reset() {
        let mut l = TokenLimits::new(3, 2, 1000);
        for expected_remaining in [2, 1, 0] {
            assert_eq!(l.admit(T0), Admission::Allowed);
            assert_eq!(l.headers().remaining, expected_remaining);
        }
        assert_eq!(l.admit(T0 + 500), Admission::RateLimited);
        let reset = l.headers().reset_epoch_s;
        // The window began in T0's second and lasts 2 s.
        assert_eq!(reset, T0 / 1000 + 2);
        assert_eq!(l.admit(reset * 1000 - 1), Admission::RateLimited);
        assert_eq!(l.admit(reset * 1000), Admission::Allowed);
        assert_eq!(l.headers().remaining, 2);
        assert!(l.headers().reset_epoch_s > reset);
    }

    #[test]
    fn monthly_cap_is_a_different_refusal_and_resets_with_the_month() {
        let mut l = TokenLimits::new(100, 900, 150);
        assert_eq!(l.admit(T0), Admission::Allowed);
        l.record_posts(100);
        assert_eq!(l.admit(T0), Admission::Allowed);
        l.record_posts(100);
        assert_eq!(l.admit(T0), Admission::UsageCapped);
        assert!(l.usage_capped(T0));
        assert_eq!(l.month_posts(), 200);
        let next_month = T0 + 40 * 24 * 3600 * 1000;
        assert_eq!(l.admit(next_month), Admission::Allowed);
        assert_eq!(l.month_posts(), 0);
    }
}
