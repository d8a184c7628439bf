//! Gap arithmetic: what a (re)connection leaves missing for a stream query, and how far a
//! query's `stored_until` may advance.
//!
//! A query's checkpoint says every matching post published before `stored_until` is stored.
//! A connection opened at `C` with `backfill_minutes = B` redelivers what was published from
//! `C − B` on, so the interval `[stored_until, C − B)` is missing when `stored_until < C − B`
//! (one second more, [`BACKFILL_EDGE_MS`]): recent search fills exactly that (`start_time`
//! inclusive, `end_time` exclusive).

use crate::progress::SEARCH_WINDOW_MS;

/// A time interval `[from_ms, to_ms)`, epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The backfill's first second is not relied on: whether a post published exactly
/// `backfill_minutes` before the connection is redelivered is the server's rounding.
pub const BACKFILL_EDGE_MS: i64 = 1_000;

/// The interval a connection at `connected_at_ms` asking `backfill_minutes` leaves missing,
/// for a query stored up to `stored_until_ms` (`None`: a query never streamed, nothing missing).
pub fn missing(
    stored_until_ms: Option<i64>,
    connected_at_ms: i64,
    backfill_minutes: u8,
) -> Option<Interval> {
    let from_ms = stored_until_ms?;
    let to_ms = connected_at_ms - i64::from(backfill_minutes) * 60_000 + BACKFILL_EDGE_MS;
    (from_ms < to_ms).then_some(Interval { from_ms, to_ms })
}

/// How far the search reaches past the gap's end: the server opened the connection (and so
/// began its backfill) a little after we measured the gap, by the request's latency. The
/// overlap finds posts the backfill redelivers too; the recent-id set drops them.
pub const RECOVERY_OVERLAP_MS: i64 = 5_000;

/// Search's own bounds: `start_time` within the last 7 days (the part before is lost), the end
/// [`RECOVERY_OVERLAP_MS`] later, both whole seconds widened outwards (the API takes
/// `YYYY-MM-DDTHH:mm:ssZ`), and the end at least 10 s before now as the API requires.
/// Returns the interval to search (`None`: nothing searchable) and the lost part, if any.
pub fn searchable(gap: Interval, now_ms: i64) -> (Option<Interval>, Option<Interval>) {
    // A minute of margin: the request must not reach the API after the start fell out.
    let oldest = now_ms - SEARCH_WINDOW_MS + 60_000;
    let lost = (gap.from_ms < oldest).then_some(Interval {
        from_ms: gap.from_ms,
        to_ms: gap.to_ms.min(oldest),
    });
    let from_ms = gap.from_ms.max(oldest).div_euclid(1000) * 1000;
    // X wants end_time at least 10 s before the request.
    let to_ms =
        ((gap.to_ms + RECOVERY_OVERLAP_MS + 999).div_euclid(1000) * 1000).min(now_ms - 11_000);
    let search = (from_ms < to_ms).then_some(Interval { from_ms, to_ms });
    (search, lost)
}

/// The `stored_until` after the connection read a message at `read_at_ms`: everything
/// published `lag_ms` before the read has been delivered. Never goes back.
pub fn advance_stored_until(current_ms: Option<i64>, read_at_ms: i64, lag_ms: u64) -> i64 {
    let candidate = read_at_ms - i64::try_from(lag_ms).unwrap_or(i64::MAX);
    current_ms.map_or(candidate, |c| c.max(candidate))
}

/// RFC 3339 with whole seconds, as `start_time`/`end_time` want.
pub fn api_time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Epoch milliseconds of an RFC 3339 time.
pub fn parse_ms(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const NOW: i64 = 1_764_000_000_000;

    #[test]
    fn missing_is_what_backfill_does_not_cover() {
        let table = [
            // (stored_until, connected_at, backfill, expected)
            (None, NOW, 5, None),
            (Some(NOW - 2 * MIN), NOW, 5, None),
            (Some(NOW - 5 * MIN + 1_000), NOW, 5, None),
            (
                Some(NOW - 5 * MIN + 999),
                NOW,
                5,
                Some((NOW - 5 * MIN + 999, NOW - 5 * MIN + 1_000)),
            ),
            (
                Some(NOW - 5 * MIN),
                NOW,
                5,
                Some((NOW - 5 * MIN, NOW - 5 * MIN + 1_000)),
            ),
            (
                Some(NOW - 30 * MIN),
                NOW,
                1,
                Some((NOW - 30 * MIN, NOW - MIN + 1_000)),
            ),
            (Some(NOW + MIN), NOW, 1, None),
        ];
        for (stored, connected, backfill, expected) in table {
            assert_eq!(
                missing(stored, connected, backfill).map(|i| (i.from_ms, i.to_ms)),
                expected,
                "stored_until {stored:?}, connected {connected}, backfill {backfill}"
            );
        }
    }

    #[test]
    fn searchable_widens_to_seconds_and_keeps_to_the_window() {
        let gap = Interval {
            from_ms: NOW - 10 * MIN + 1_500,
            to_ms: NOW - 5 * MIN + 200,
        };
        let (search, lost) = searchable(gap, NOW);
        assert_eq!(
            search,
            Some(Interval {
                from_ms: NOW - 10 * MIN + 1_000,
                to_ms: NOW - 5 * MIN + RECOVERY_OVERLAP_MS + 1_000
            })
        );
        assert_eq!(lost, None);
        let old = Interval {
            from_ms: NOW - SEARCH_WINDOW_MS - MIN,
            to_ms: NOW - MIN,
        };
        let (search, lost) = searchable(old, NOW);
        assert_eq!(
            search.map(|s| s.from_ms),
            Some(NOW - SEARCH_WINDOW_MS + MIN)
        );
        assert_eq!(lost.map(|l| l.to_ms), Some(NOW - SEARCH_WINDOW_MS + MIN));
        // Ends within 10 s of now are pulled back; nothing left to search here.
        let recent = Interval {
            from_ms: NOW - 5_000,
            to_ms: NOW - 1_000,
        };
        assert_eq!(searchable(recent, NOW), (None, None));
    }

    #[test]
    fn stored_until_lags_the_last_read_and_never_goes_back() {
        assert_eq!(advance_stored_until(None, NOW, 5_000), NOW - 5_000);
        assert_eq!(advance_stored_until(Some(NOW), NOW, 5_000), NOW);
        assert_eq!(
            advance_stored_until(Some(NOW - MIN), NOW, 5_000),
            NOW - 5_000
        );
        assert_eq!(api_time(NOW + 999), "2025-11-24T16:00:00Z");
        assert_eq!(parse_ms("2025-11-24T16:00:00.999Z"), Some(NOW + 999));
    }
}
