//! Spending a replica's share of the token's request budget evenly, with the rate-limit
//! headers as the truth.
//!
//! Every query on a token gets `share` requests per window, whichever replica runs it; the
//! operator makes the shares add up to at most the token's limit. The pacer's window travels
//! in the query's checkpoint ([`RateWindow`]), so a restarted or newly assigned owner goes on
//! spending the same window instead of starting a fresh one. The server's window is learnt from
//! `x-rate-limit-reset`: a new reset value means a new window. Within a window the replica
//! spreads the requests it has left evenly over the time left, finishing a little before the
//! reset, and never sends more than its share. It also never sends when the headers say nothing
//! remains. So the replicas together stay within the limit without talking to each other, and
//! a 429 (which should not happen) means: wait until the reset.

use std::time::Duration;

use tweetpipe_common::contract::checkpoint::RateWindow;

use crate::xapi::RateLimit;

#[derive(Debug, Clone)]
pub struct Pacer {
    share: u32,
    window_ms: i64,
    /// Last request of a window goes out this long before the reset.
    guard_ms: i64,
    /// After a reset, wait this much longer (clock skew between us and the API).
    grace_ms: i64,
    window_reset: Option<i64>,
    sent_in_window: u32,
    next_at_ms: i64,
}

impl Pacer {
    pub fn new(share: u32, window: Duration) -> Self {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
        let share = share.max(1);
        let spacing = window_ms / i64::from(share);
        Pacer {
            share,
            window_ms,
            guard_ms: (spacing / 2).min(1000),
            grace_ms: (window_ms / 200).min(1000),
            window_reset: None,
            sent_in_window: 0,
            next_at_ms: 0,
        }
    }

    /// Continues a window recorded in a checkpoint (by this or another replica): the requests
    /// left in it are spread over the time left, from now.
    pub fn restore(&mut self, window: Option<RateWindow>, now_ms: i64) {
        let Some(window) = window else { return };
        let reset_ms = window.reset * 1000;
        if reset_ms <= now_ms {
            return;
        }
        self.window_reset = Some(window.reset);
        self.sent_in_window = window.sent;
        self.schedule_after_answer(now_ms, reset_ms, false);
    }

    /// The current window, for the checkpoint.
    pub fn window(&self) -> Option<RateWindow> {
        self.window_reset.map(|reset| RateWindow {
            reset,
            sent: self.sent_in_window,
        })
    }

    /// A new share (the monthly slow-down moved it); takes effect from the next answer on.
    pub fn set_share(&mut self, share: u32) {
        let share = share.max(1);
        if share != self.share {
            *self = Pacer {
                window_reset: self.window_reset,
                sent_in_window: self.sent_in_window,
                next_at_ms: self.next_at_ms,
                ..Pacer::new(share, Duration::from_millis(self.window_ms.unsigned_abs()))
            };
        }
    }

    pub fn share(&self) -> u32 {
        self.share
    }

    /// Epoch milliseconds before which no request may be sent.
    pub fn next_at_ms(&self) -> i64 {
        self.next_at_ms
    }

    /// Pushes the next request back (after errors, on top of the pacing).
    pub fn not_before(&mut self, at_ms: i64) {
        self.next_at_ms = self.next_at_ms.max(at_ms);
    }

    /// Requests this replica sent in the current window (as far as answers told).
    pub fn sent_in_window(&self) -> u32 {
        self.sent_in_window
    }

    /// Records an answer that counted against the limit.
    pub fn on_answer(&mut self, now_ms: i64, rate: Option<RateLimit>) {
        let Some(rate) = rate else {
            // No headers (connection failure, proxy error): fall back to even spacing.
            self.next_at_ms = now_ms + self.window_ms / i64::from(self.share);
            return;
        };
        if self.window_reset == Some(rate.reset) {
            self.sent_in_window += 1;
        } else {
            self.window_reset = Some(rate.reset);
            self.sent_in_window = 1;
        }
        self.schedule_after_answer(now_ms, rate.reset * 1000, rate.remaining == 0);
    }

    fn schedule_after_answer(&mut self, now_ms: i64, reset_ms: i64, none_remaining: bool) {
        if none_remaining || self.sent_in_window >= self.share || reset_ms <= now_ms {
            self.next_at_ms = reset_ms.max(now_ms) + self.grace_ms;
            return;
        }
        let left = i64::from(self.share - self.sent_in_window);
        let available = (reset_ms - self.guard_ms - now_ms).max(0);
        self.next_at_ms = now_ms + available / left;
    }

    /// A 429: nothing more until the reset.
    pub fn on_rate_limited(&mut self, now_ms: i64, rate: Option<RateLimit>) {
        match rate {
            Some(rate) => {
                self.window_reset = Some(rate.reset);
                self.sent_in_window = self.share;
                self.next_at_ms = (rate.reset * 1000).max(now_ms) + self.grace_ms;
            }
            // Without headers, wait a full window: the safe reading of "until the reset".
            None => self.next_at_ms = now_ms + self.window_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_000_000_000;

    /// Simulates a token bucket shared by several paced replicas (fixed windows that start at
    /// the first request after the previous reset, on that request's whole second) and
    /// returns (requests served, 429s) over `duration_ms`.
    fn simulate(
        shares: &[u32],
        limit: u32,
        window_s: i64,
        duration_ms: i64,
        latency_ms: i64,
    ) -> (u32, u32) {
        let mut pacers: Vec<Pacer> = shares
            .iter()
            .map(|s| Pacer::new(*s, Duration::from_secs(window_s as u64)))
            .collect();
        let mut window_end: Option<i64> = None;
        let mut used = 0;
        let (mut served, mut limited) = (0, 0);
        let mut now = T0;
        while now < T0 + duration_ms {
            for p in &mut pacers {
                if p.next_at_ms() <= now {
                    let arrive = now + latency_ms;
                    if window_end.is_none_or(|end| arrive >= end) {
                        window_end = Some(arrive / 1000 * 1000 + window_s * 1000);
                        used = 0;
                    }
                    let reset = window_end.unwrap_or_default() / 1000;
                    if used >= limit {
                        limited += 1;
                        p.on_rate_limited(
                            arrive + latency_ms,
                            Some(RateLimit {
                                limit,
                                remaining: 0,
                                reset,
                            }),
                        );
                    } else {
                        used += 1;
                        served += 1;
                        p.on_answer(
                            arrive + latency_ms,
                            Some(RateLimit {
                                limit,
                                remaining: limit - used,
                                reset,
                            }),
                        );
                    }
                }
            }
            now += 5;
        }
        (served, limited)
    }

    #[test]
    fn one_replica_spends_its_share_evenly_without_429() {
        let (served, limited) = simulate(&[60], 60, 10, 60_000, 20);
        assert_eq!(limited, 0);
        // Six windows of 60; the drift of a few ms per window costs at most one window's tail.
        assert!(served >= 6 * 60 - 5, "{served}");
    }

    #[test]
    fn replicas_sharing_a_token_stay_within_the_limit() {
        for shares in [vec![30, 30], vec![15, 15, 15, 15], vec![20, 20, 19]] {
            let total: u32 = shares.iter().sum();
            let (served, limited) = simulate(&shares, 60, 10, 60_000, 30);
            assert_eq!(limited, 0, "{shares:?}");
            assert!(
                f64::from(served) >= 0.97 * 6.0 * f64::from(total),
                "{shares:?}: {served}"
            );
        }
    }

    #[test]
    fn a_restored_window_is_not_spent_again() {
        let reset = T0 / 1000 + 600;
        let rate = |remaining| {
            Some(RateLimit {
                limit: 450,
                remaining,
                reset,
            })
        };
        // A pod spent 9 of its 10 requests, then restarted: the new one may send one more.
        let mut first = Pacer::new(10, Duration::from_secs(900));
        for _ in 0..9 {
            first.on_answer(T0, rate(400));
        }
        let saved = first.window().expect("window");
        assert_eq!(saved, RateWindow { reset, sent: 9 });
        let mut next = Pacer::new(10, Duration::from_secs(900));
        next.restore(Some(saved), T0 + 1000);
        assert!(next.next_at_ms() < reset * 1000, "one request is left");
        next.on_answer(T0 + 2000, rate(399));
        assert!(
            next.next_at_ms() >= reset * 1000,
            "the share is spent: wait for the reset"
        );
        // A window already over is ignored.
        let mut fresh = Pacer::new(10, Duration::from_secs(900));
        fresh.restore(
            Some(RateWindow {
                reset: T0 / 1000 - 1,
                sent: 10,
            }),
            T0,
        );
        assert_eq!((fresh.next_at_ms(), fresh.window()), (0, None));
    }

    #[test]
    fn a_new_share_keeps_the_window() {
        let mut p = Pacer::new(10, Duration::from_secs(900));
        let rate = Some(RateLimit {
            limit: 450,
            remaining: 400,
            reset: T0 / 1000 + 600,
        });
        for _ in 0..5 {
            p.on_answer(T0, rate);
        }
        p.set_share(5);
        assert_eq!(p.share(), 5);
        assert_eq!(p.window().map(|w| w.sent), Some(5));
        p.on_answer(T0 + 1000, rate);
        assert!(
            p.next_at_ms() >= (T0 / 1000 + 600) * 1000,
            "lowered share is spent"
        );
    }

    #[test]
    fn headers_win_when_others_use_the_token() {
        let mut p = Pacer::new(100, Duration::from_secs(900));
        p.on_answer(
            T0,
            Some(RateLimit {
                limit: 450,
                remaining: 0,
                reset: T0 / 1000 + 600,
            }),
        );
        assert!(
            p.next_at_ms() > T0 + 600_000,
            "remaining 0 means wait for the reset"
        );
        let mut p = Pacer::new(10, Duration::from_secs(10));
        p.on_rate_limited(
            T0,
            Some(RateLimit {
                limit: 10,
                remaining: 0,
                reset: T0 / 1000 + 7,
            }),
        );
        assert!(p.next_at_ms() >= T0 + 7000);
        p.on_rate_limited(T0, None);
        assert!(p.next_at_ms() >= T0 + 7000);
    }
}
