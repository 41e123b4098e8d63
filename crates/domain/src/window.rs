//! The days a run extracts.

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::ReportSpec;

/// An inclusive range of days, `since..=until`, serialized as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    pub since: NaiveDate,
    pub until: NaiveDate,
}

impl Window {
    /// The window of a run at `reference` for an account in `tz`:
    /// `[cursor - lookback, yesterday]`, or `[today - backfill, yesterday]` on the first run,
    /// where the cursor is the first day not yet extracted. `None` when there is nothing to
    /// read (e.g. the cursor is already past yesterday and the lookback is 0).
    pub fn for_run(
        reference: DateTime<Utc>,
        tz: Tz,
        cursor: Option<NaiveDate>,
        report: &ReportSpec,
    ) -> Option<Window> {
        let today = reference.with_timezone(&tz).date_naive();
        let until = today.checked_sub_days(Days::new(1))?;
        let since = match cursor {
            Some(c) => c.checked_sub_days(Days::new(report.lookback_days.into()))?,
            None => today.checked_sub_days(Days::new(report.backfill_days.into()))?,
        };
        (since <= until).then_some(Window { since, until })
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.since.iter_days().take_while(|d| d <= &self.until)
    }

    pub fn len_days(&self) -> u64 {
        (self.until - self.since).num_days() as u64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    fn report(lookback: u16, backfill: u16) -> ReportSpec {
        ReportSpec {
            level: Level::Campaign,
            lookback_days: lookback,
            backfill_days: backfill,
            conversion_action_types: Vec::new(),
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_run_reads_the_backfill_up_to_yesterday() {
        let w =
            Window::for_run(at("2026-03-10T06:00:00Z"), Tz::UTC, None, &report(14, 30)).unwrap();
        assert_eq!((w.since, w.until), (d("2026-02-08"), d("2026-03-09")));
        assert_eq!(w.len_days(), 30);
    }

    #[test]
    fn later_runs_reread_the_lookback_before_the_cursor() {
        let w = Window::for_run(
            at("2026-03-10T06:00:00Z"),
            Tz::UTC,
            Some(d("2026-03-09")),
            &report(3, 30),
        )
        .unwrap();
        assert_eq!((w.since, w.until), (d("2026-03-06"), d("2026-03-09")));
    }

    #[test]
    fn yesterday_is_taken_in_the_accounts_time_zone() {
        // 03:00 UTC on March 10 is still March 9 in Los Angeles.
        let tz: Tz = "America/Los_Angeles".parse().unwrap();
        let w = Window::for_run(
            at("2026-03-10T03:00:00Z"),
            tz,
            Some(d("2026-03-08")),
            &report(0, 30),
        )
        .unwrap();
        assert_eq!((w.since, w.until), (d("2026-03-08"), d("2026-03-08")));
        let w = Window::for_run(
            at("2026-03-10T23:00:00Z"),
            Tz::Asia__Tokyo,
            Some(d("2026-03-08")),
            &report(0, 30),
        )
        .unwrap();
        assert_eq!(w.until, d("2026-03-10"));
    }

    #[test]
    fn an_up_to_date_cursor_with_no_lookback_reads_nothing() {
        let w = Window::for_run(
            at("2026-03-10T06:00:00Z"),
            Tz::UTC,
            Some(d("2026-03-10")),
            &report(0, 30),
        );
        assert_eq!(w, None);
        assert_eq!(
            Window::for_run(at("2026-03-10T06:00:00Z"), Tz::UTC, None, &report(0, 0)),
            None
        );
    }

    #[test]
    fn days_iterates_the_inclusive_range() {
        let w = Window {
            since: d("2026-02-27"),
            until: d("2026-03-01"),
        };
        let days: Vec<_> = w.days().collect();
        assert_eq!(
            days,
            vec![d("2026-02-27"), d("2026-02-28"), d("2026-03-01")]
        );
    }
}
