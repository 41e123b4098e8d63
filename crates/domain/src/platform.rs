//! Ad platforms and the shape of an account id on each.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Facebook,
    GoogleAds,
    Youtube,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Facebook, Platform::GoogleAds, Platform::Youtube];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Facebook => "facebook",
            Platform::GoogleAds => "google_ads",
            Platform::Youtube => "youtube",
        }
    }

    /// The name of the platform's one credential: the only key of a connection's
    /// `credentials` (openapi.yaml) and the key of its token in the connection's secret,
    /// which the API writes and the extractor reads.
    pub fn credential_name(self) -> &'static str {
        match self {
            Platform::Facebook => "access_token",
            Platform::GoogleAds | Platform::Youtube => "refresh_token",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                FieldError::new("platform", "must be one of facebook, google_ads, youtube")
            })
    }
}

/// An ad account id, valid for its platform and in the canonical form adpipe stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId {
    platform: Platform,
    value: String,
}

impl AccountId {
    /// Parses a client-supplied account id for `platform`.
    ///
    /// - facebook: `act_<digits>`
    /// - google_ads: 10-digit customer id; dashes (`123-456-7890`) are accepted and dropped
    /// - youtube: channel id, `UC` + 22 characters of `A-Za-z0-9_-`
    pub fn parse(platform: Platform, raw: &str) -> Result<Self, FieldError> {
        let value = match platform {
            Platform::Facebook => parse_facebook(raw)?,
            Platform::GoogleAds => parse_google_customer_id(raw, "account_id")?,
            Platform::Youtube => parse_channel_id(raw)?,
        };
        Ok(Self { platform, value })
    }

    pub fn platform(&self) -> Platform {
        self.platform
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

fn parse_facebook(raw: &str) -> Result<String, FieldError> {
    let digits = raw.strip_prefix("act_").unwrap_or("");
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new(
            "account_id",
            "a Facebook ad account id is 'act_' followed by digits, e.g. act_1234567890",
        ));
    }
    Ok(raw.to_owned())
}

/// A Google Ads customer id (also used for `login_customer_id`), without dashes.
pub fn parse_google_customer_id(raw: &str, field: &str) -> Result<String, FieldError> {
    let shaped = raw.len() == 12 && raw.as_bytes()[3] == b'-' && raw.as_bytes()[7] == b'-';
    let digits: String = if shaped {
        raw.replace('-', "")
    } else {
        raw.to_owned()
    };
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new(
            field,
            "a Google Ads customer id is 10 digits, with or without dashes (123-456-7890)",
        ));
    }
    Ok(digits)
}

fn parse_channel_id(raw: &str) -> Result<String, FieldError> {
    let rest = raw.strip_prefix("UC").unwrap_or("");
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if rest.len() != 22 || !rest.bytes().all(ok) {
        return Err(FieldError::new(
            "account_id",
            "a YouTube channel id is 'UC' followed by 22 characters of A-Z, a-z, 0-9, '_' and '-'",
        ));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_platform_accepts_its_own_account_format() {
        let fb = AccountId::parse(Platform::Facebook, "act_1234567890").unwrap();
        assert_eq!(fb.as_str(), "act_1234567890");
        let g = AccountId::parse(Platform::GoogleAds, "123-456-7890").unwrap();
        assert_eq!(g.as_str(), "1234567890");
        let g = AccountId::parse(Platform::GoogleAds, "1234567890").unwrap();
        assert_eq!(g.as_str(), "1234567890");
        let y = AccountId::parse(Platform::Youtube, "UC_x5XG1OV2P6uZZ5FSM9Ttw").unwrap();
        assert_eq!(y.platform(), Platform::Youtube);
    }

    #[test]
    fn malformed_account_ids_are_refused_with_the_field_named() {
        let cases = [
            (Platform::Facebook, "1234567890"),
            (Platform::Facebook, "act_"),
            (Platform::Facebook, "act_12a"),
            (Platform::GoogleAds, "123456789"),
            (Platform::GoogleAds, "12-3456-7890"),
            (Platform::GoogleAds, "123-456-789O"),
            (Platform::GoogleAds, "act_1234567890"),
            (Platform::Youtube, "UC123"),
            (Platform::Youtube, "XX_x5XG1OV2P6uZZ5FSM9Ttw"),
            (Platform::Youtube, "UC_x5XG1OV2P6uZZ5FSM9Tt!"),
        ];
        for (platform, raw) in cases {
            let err = AccountId::parse(platform, raw).unwrap_err();
            assert_eq!(err.field, "account_id", "{platform} {raw}");
        }
    }

    #[test]
    fn each_platform_names_its_one_credential() {
        assert_eq!(
            Platform::ALL.map(Platform::credential_name),
            ["access_token", "refresh_token", "refresh_token"]
        );
    }

    #[test]
    fn platform_names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>().unwrap(), p);
        }
        assert!("tiktok".parse::<Platform>().is_err());
    }
}
