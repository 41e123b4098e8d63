//! What a schedule extracts: the report level and how far back it reads.

use std::fmt;
use std::str::FromStr;

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
    pub const ALL: [Level; 5] = [
        Level::Campaign,
        Level::AdGroup,
        Level::Ad,
        Level::Channel,
        Level::Video,
    ];

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

impl FromStr for Level {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    "level",
                    "must be one of campaign, ad_group, ad, channel, video",
                )
            })
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
    /// Facebook action types counted as conversions (and their values); empty means the
    /// connector's documented default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversion_action_types: Vec<String>,
}

/// The `report` object of a request: every field optional, unknown fields refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpecInput {
    pub level: Option<Level>,
    pub lookback_days: Option<i64>,
    pub backfill_days: Option<i64>,
    pub conversion_action_types: Option<Vec<String>>,
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
            conversion_action_types: Vec::new(),
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
            conversion_action_types: match &input.conversion_action_types {
                None => self.conversion_action_types.clone(),
                Some(types) => action_types(platform, types)?,
            },
        })
    }
}

/// Facebook action types (`purchase`, `offsite_conversion.fb_pixel_purchase`, …): at most
/// 20, each 1-100 characters of a-z, 0-9, '_', '.'; empty restores the default.
fn action_types(platform: Platform, types: &[String]) -> Result<Vec<String>, FieldError> {
    const FIELD: &str = "report.conversion_action_types";
    if platform != Platform::Facebook && !types.is_empty() {
        return Err(FieldError::new(
            FIELD,
            "only facebook schedules count conversions by action type",
        ));
    }
    if types.len() > 20 {
        return Err(FieldError::new(FIELD, "at most 20 action types"));
    }
    let valid = |t: &String| {
        (1..=100).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    };
    match types.iter().find(|t| !valid(t)) {
        Some(bad) => Err(FieldError::new(
            FIELD,
            format!("'{bad}' is not an action type: 1-100 characters of a-z, 0-9, '_', '.'"),
        )),
        None => Ok(types.to_vec()),
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
                lookback_days: lookback,
                backfill_days: backfill,
                ..Default::default()
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
                conversion_action_types: Some(vec!["purchase".into()]),
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
                backfill_days: 365,
                conversion_action_types: vec!["purchase".into()],
            }
        );
    }

    #[test]
    fn conversion_action_types_are_facebooks_and_well_formed() {
        let with = |types: &[&str]| ReportSpecInput {
            conversion_action_types: Some(types.iter().map(|t| t.to_string()).collect()),
            ..Default::default()
        };
        let ok = ReportSpec::resolve(
            Platform::Facebook,
            &with(&["offsite_conversion.fb_pixel_purchase"]),
        )
        .unwrap();
        assert_eq!(
            ok.conversion_action_types,
            ["offsite_conversion.fb_pixel_purchase"]
        );
        for (platform, types) in [
            (Platform::GoogleAds, &["purchase"][..]),
            (Platform::Facebook, &["Purchase"][..]),
            (Platform::Facebook, &[""][..]),
            (Platform::Facebook, &["a b"][..]),
        ] {
            let err = ReportSpec::resolve(platform, &with(types)).unwrap_err();
            assert_eq!(
                err.field, "report.conversion_action_types",
                "{platform} {types:?}"
            );
        }
        let cleared = ok.updated(Platform::Facebook, &with(&[])).unwrap();
        assert!(
            cleared.conversion_action_types.is_empty(),
            "empty restores the default"
        );
    }
}
