//! The OAuth scopes adpipe's connectors read with: what the API's sign-in asks for and
//! checks (`crates/schedule-api/src/signin.rs`) and what the extractor's connectors check
//! a token for (`crates/extractor/src/connectors/`).

use crate::Platform;

/// Google Ads API: read and manage the accounts (Google has no read-only scope).
pub const ADWORDS: &str = "https://www.googleapis.com/auth/adwords";
/// YouTube Analytics: the user-activity metrics.
pub const YT_ANALYTICS: &str = "https://www.googleapis.com/auth/yt-analytics.readonly";
/// YouTube Analytics: the monetary metrics (revenue); never asked for, used when granted.
pub const YT_ANALYTICS_MONETARY: &str =
    "https://www.googleapis.com/auth/yt-analytics-monetary.readonly";
/// YouTube Analytics `reports.query` also requires read access to the YouTube account.
pub const YOUTUBE_READONLY: &str = "https://www.googleapis.com/auth/youtube.readonly";
/// Meta Marketing API: read ads and their insights.
pub const ADS_READ: &str = "ads_read";

/// The scope the platform's connector cannot work without.
pub fn required_scope(platform: Platform) -> &'static str {
    match platform {
        Platform::GoogleAds => ADWORDS,
        Platform::Youtube => YT_ANALYTICS,
        Platform::Facebook => ADS_READ,
    }
}
