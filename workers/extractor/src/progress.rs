//! How a query's checkpoint advances after a page: `since_id` + `next_token`, such that a
//! restart from any committed checkpoint neither skips nor re-fetches posts.
//!
//! A pagination run starts when a poll from `since_id` returns a `next_token`: the run's
//! pages all repeat that `since_id` and the run's first `newest_id` is remembered. Only when
//! the last page of the run has been committed does `since_id` move to that `newest_id`.
//! Posts that arrive during the run are newer than it and are fetched by the next run.

use chrono::{DateTime, SecondsFormat, Utc};
use tweetpipe_common::contract::checkpoint::{Checkpoint, Gap, Pagination, StopReason};

use crate::xapi::snowflake_millis;

/// Recent search serves the last 7 days; a `since_id` older than that is refused with a 400.
pub const SEARCH_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;
/// A `since_id` this close to the window's edge already counts as outside: the request must
/// not reach the API after the id fell out (slow answers, clock skew between us and the API).
pub const WINDOW_EDGE_MS: i64 = 5 * 60 * 1000;

/// `YYYY-MM` of an epoch-millisecond time.
pub fn month_of(now_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .format("%Y-%m")
        .to_string()
}

pub fn rfc3339(now_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The `since_id` and `next_token` to send for the query's next request.
pub fn next_request(cp: &Checkpoint) -> (Option<&str>, Option<&str>) {
    match &cp.pagination {
        Some(p) => (p.run_since_id.as_deref(), Some(p.next_token.as_str())),
        None => (cp.since_id.as_deref(), None),
    }
}

/// The `since_id` the next request would send, when it is no longer inside the API's window
/// (with [`WINDOW_EDGE_MS`] to spare).
pub fn since_id_outside_window(cp: &Checkpoint, now_ms: i64) -> Option<i64> {
    let (since, _) = next_request(cp);
    let since_ms = snowflake_millis(since?)?;
    (since_ms < now_ms - SEARCH_WINDOW_MS + WINDOW_EDGE_MS).then_some(since_ms)
}

/// The checkpoint that resumes a query whose `since_id` fell out of the window: it polls like
/// a new query (the whole window, newest first, in one pagination run) and records the range
/// that can no longer be fetched. `from_ms` is the time of the last post fully collected.
pub fn restart_in_window(cp: &Checkpoint, from_ms: i64, now_ms: i64) -> Checkpoint {
    let mut next = cp.clone();
    next.since_id = None;
    next.pagination = None;
    next.last_gap = Some(Gap {
        from: rfc3339(from_ms),
        to: rfc3339(now_ms - SEARCH_WINDOW_MS),
        recorded_at: rfc3339(now_ms),
    });
    next.gaps_total += 1;
    next
}

fn max_id(a: Option<&str>, b: Option<&str>) -> Option<String> {
    let parse = |s: Option<&str>| s.and_then(|v| v.parse::<u64>().ok());
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => Some(x.max(y).to_string()),
        (Some(x), None) => Some(x.to_string()),
        (None, Some(y)) => Some(y.to_string()),
        (None, None) => None,
    }
}

/// The checkpoint after a page with `posts` posts, `newest_id` and `next_token`.
pub fn advance(
    cp: &Checkpoint,
    posts: u64,
    newest_id: Option<&str>,
    next_token: Option<&str>,
    now_ms: i64,
) -> Checkpoint {
    let mut next = cp.clone();
    let month = month_of(now_ms);
    if next.month != month {
        next.month = month;
        next.month_posts = 0;
    }
    next.posts_total += posts;
    next.month_posts += posts;
    next.last_poll_at = Some(rfc3339(now_ms));
    next.stopped = None;
    match (&cp.pagination, next_token, newest_id) {
        (None, Some(token), Some(newest)) => {
            next.pagination = Some(Pagination {
                next_token: token.to_string(),
                run_since_id: cp.since_id.clone(),
                run_newest_id: newest.to_string(),
            });
        }
        (None, _, newest) => {
            if let Some(newest) = newest {
                next.since_id = Some(newest.to_string());
            }
        }
        (Some(run), Some(token), _) => {
            next.pagination = Some(Pagination {
                next_token: token.to_string(),
                ..run.clone()
            });
        }
        (Some(run), None, _) => {
            next.since_id = Some(run.run_newest_id.clone());
            next.pagination = None;
        }
    }
    next.newest_id = max_id(next.newest_id.as_deref(), newest_id);
    next
}

/// The checkpoint recording that the query stopped, and why.
pub fn stopped(cp: &Checkpoint, reason: &str, message: &str, now_ms: i64) -> Checkpoint {
    let mut next = cp.clone();
    next.last_poll_at = Some(rfc3339(now_ms));
    next.stopped = Some(StopReason {
        reason: reason.to_string(),
        message: message.to_string(),
        at: rfc3339(now_ms),
    });
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000_000;

    #[test]
    fn a_single_page_moves_since_id() {
        let cp = Checkpoint::new("q", "2025-11");
        let next = advance(&cp, 7, Some("70"), None, NOW);
        assert_eq!(next.since_id.as_deref(), Some("70"));
        assert_eq!(next.posts_total, 7);
        assert_eq!(next_request(&next), (Some("70"), None));
        // An empty page keeps since_id.
        let empty = advance(&next, 0, None, None, NOW);
        assert_eq!(empty.since_id.as_deref(), Some("70"));
    }

    #[test]
    fn a_pagination_run_commits_since_id_only_at_its_end() {
        let mut cp = Checkpoint::new("q", "2025-11");
        cp.since_id = Some("10".into());
        let p1 = advance(&cp, 100, Some("500"), Some("t1"), NOW);
        assert_eq!(p1.since_id.as_deref(), Some("10"), "not yet");
        assert_eq!(next_request(&p1), (Some("10"), Some("t1")));
        let p2 = advance(&p1, 100, Some("400"), Some("t2"), NOW);
        assert_eq!(next_request(&p2), (Some("10"), Some("t2")));
        assert_eq!(p2.newest_id.as_deref(), Some("500"));
        let done = advance(&p2, 30, Some("300"), None, NOW);
        assert_eq!(done.since_id.as_deref(), Some("500"));
        assert!(done.pagination.is_none());
        assert_eq!(next_request(&done), (Some("500"), None));
        assert_eq!(done.posts_total, 230);
    }

    fn snowflake_at(ms: i64) -> String {
        (((ms - 1_288_834_974_657) as u64) << 22).to_string()
    }

    #[test]
    fn a_since_id_outside_the_window_restarts_with_a_recorded_gap() {
        let day = 24 * 3600 * 1000;
        let mut cp = Checkpoint::new("q", "2025-11");
        for (age_ms, outside) in [
            (day, false),
            (7 * day - WINDOW_EDGE_MS - 1000, false),
            (7 * day - WINDOW_EDGE_MS + 1000, true),
            (30 * day, true),
        ] {
            cp.since_id = Some(snowflake_at(NOW - age_ms));
            assert_eq!(
                since_id_outside_window(&cp, NOW).is_some(),
                outside,
                "{age_ms}"
            );
        }
        // A pagination run is judged by the since_id it repeats.
        cp.since_id = Some(snowflake_at(NOW - day));
        cp.pagination = Some(Pagination {
            next_token: "t".into(),
            run_since_id: Some(snowflake_at(NOW - 8 * day)),
            run_newest_id: snowflake_at(NOW - day / 2),
        });
        let from = since_id_outside_window(&cp, NOW).expect("outside");
        let restarted = restart_in_window(&cp, from, NOW);
        assert_eq!(
            next_request(&restarted),
            (None, None),
            "polls like a new query"
        );
        assert_eq!(restarted.gaps_total, 1);
        let gap = restarted.last_gap.clone().expect("gap");
        assert_eq!(gap.to, rfc3339(NOW - SEARCH_WINDOW_MS));
        assert!(gap.from < gap.to, "{gap:?}");
        // The first page of the restart keeps the gap and starts a run from nothing.
        let page = advance(&restarted, 100, Some("900"), Some("t2"), NOW);
        assert_eq!(page.last_gap, Some(gap));
        assert_eq!(next_request(&page), (None, Some("t2")));
        assert!(since_id_outside_window(&page, NOW).is_none());
        assert_eq!(Checkpoint::new("q", "2025-11").gaps_total, 0);
        assert!(since_id_outside_window(&Checkpoint::new("q", "x"), NOW).is_none());
    }

    #[test]
    fn month_rolls_over() {
        let mut cp = Checkpoint::new("q", "2025-10");
        cp.month_posts = 900;
        let next = advance(&cp, 5, Some("1"), None, NOW);
        assert_eq!(next.month, "2025-11");
        assert_eq!(next.month_posts, 5);
        let s = stopped(&next, "unauthorized", "token refused", NOW);
        assert_eq!(
            s.stopped.as_ref().map(|r| r.reason.as_str()),
            Some("unauthorized")
        );
        assert_eq!(advance(&s, 0, None, None, NOW).stopped, None);
    }
}
