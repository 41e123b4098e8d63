//! What a schedule extracts: the report level and how far back it reads.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{FieldError, Platform};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Campaign,
    AdGroup,
    Ad,
    Channel,
    Video,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Campaign => "campaign",
            Level::AdGroup => "ad_group",
            Level::Ad => "ad",
            Level::Channel => "channel",
            Level::Video => "video",
        }
    }

    fn allowed(platform: Platform) -> &'static [Level] {
        match platform {
            Platform::Facebook | Platform::GoogleAds => {
                &[Level::Campaign, Level::AdGroup, Level::Ad]
            }
            Platform::Youtube => &[Level::Channel, Level::Video],
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A schedule's report, complete and valid for its connection's platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSpec {
    pub level: Level,
    /// Days before the cursor that every run reads again: platforms revise recent days.
    pub lookback_days: u16,
    /// Days before today that the first run reads.
    pub backfill_days: u16,
}

/// The `report` object of a request: every field optional, unknown fields refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpecInput {
    pub level: Option<Level>,
    pub lookback_days: Option<i64>,
    pub backfill_days: Option<i64>,
}

impl ReportSpec {
    pub const MAX_LOOKBACK_DAYS: i64 = 90;
    pub const MAX_BACKFILL_DAYS: i64 = 1095;
    pub const DEFAULT_BACKFILL_DAYS: u16 = 30;

    /// The platform's defaults: campaign or channel level, and a lookback as long as the
    /// window in which the platform still revises its numbers.
    pub fn default_for(platform: Platform) -> Self {
        let (level, lookback_days) = match platform {
            Platform::Facebook => (Level::Campaign, 28),
            Platform::GoogleAds => (Level::Campaign, 14),
            Platform::Youtube => (Level::Channel, 3),
        };
        Self {
            level,
            lookback_days,
            backfill_days: Self::DEFAULT_BACKFILL_DAYS,
        }
    }

    /// A new schedule's report: the input over the platform's defaults.
    pub fn resolve(platform: Platform, input: &ReportSpecInput) -> Result<Self, FieldError> {
        Self::default_for(platform).updated(platform, input)
    }

    /// This report with the fields the input names replaced (a PATCH).
    pub fn updated(&self, platform: Platform, input: &ReportSpecInput) -> Result<Self, FieldError> {
        let level = input.level.unwrap_or(self.level);
        if !Level::allowed(platform).contains(&level) {
            let names: Vec<_> = Level::allowed(platform)
                .iter()
                .map(|l| l.as_str())
                .collect();
            return Err(FieldError::new(
                "report.level",
                format!(
                    "level '{level}' is not available on {platform}; use one of {}",
                    names.join(", ")
                ),
            ));
        }
        Ok(Self {
            level,
            lookback_days: days(
                input.lookback_days,
                self.lookback_days,
                "report.lookback_days",
                Self::MAX_LOOKBACK_DAYS,
            )?,
            backfill_days: days(
                input.backfill_days,
                self.backfill_days,
                "report.backfill_days",
                Self::MAX_BACKFILL_DAYS,
            )?,
        })
    }
}

fn days(input: Option<i64>, current: u16, field: &str, max: i64) -> Result<u16, FieldError> {
    match input {
        None => Ok(current),
        Some(n) if (0..=max).contains(&n) => Ok(n as u16),
        Some(n) => Err(FieldError::new(
            field,
            format!("must be between 0 and {max}, got {n}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_each_platforms_revision_window() {
        assert_eq!(
            ReportSpec::default_for(Platform::Facebook).lookback_days,
            28
        );
        assert_eq!(
            ReportSpec::default_for(Platform::GoogleAds).lookback_days,
            14
        );
        let yt = ReportSpec::default_for(Platform::Youtube);
        assert_eq!(
            (yt.level, yt.lookback_days, yt.backfill_days),
            (Level::Channel, 3, 30)
        );
    }

    #[test]
    fn a_level_of_another_platform_is_refused() {
        let input = ReportSpecInput {
            level: Some(Level::Video),
            ..Default::default()
        };
        let err = ReportSpec::resolve(Platform::Facebook, &input).unwrap_err();
        assert_eq!(err.field, "report.level");
        let input = ReportSpecInput {
            level: Some(Level::AdGroup),
            ..Default::default()
        };
        assert!(ReportSpec::resolve(Platform::Youtube, &input).is_err());
    }

    #[test]
    fn day_counts_outside_their_range_name_the_field() {
        for (lookback, backfill, field) in [
            (Some(-1), None, "report.lookback_days"),
            (Some(91), None, "report.lookback_days"),
            (None, Some(1096), "report.backfill_days"),
            (None, Some(-5), "report.backfill_days"),
        ] {
            let input = ReportSpecInput {
                level: None,
                lookback_days: lookback,
                backfill_days: backfill,
            };
            assert_eq!(
                ReportSpec::resolve(Platform::GoogleAds, &input)
                    .unwrap_err()
                    .field,
                field
            );
        }
    }

    #[test]
    fn an_update_keeps_the_fields_it_does_not_name() {
        let base = ReportSpec::resolve(
            Platform::Facebook,
            &ReportSpecInput {
                level: Some(Level::Ad),
                lookback_days: Some(7),
                backfill_days: Some(365),
            },
        )
        .unwrap();
        let patched = base
            .updated(
                Platform::Facebook,
                &ReportSpecInput {
                    lookback_days: Some(0),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            patched,
            ReportSpec {
                level: Level::Ad,
                lookback_days: 0,
                backfill_days: 365
            }
        );
    }
}
