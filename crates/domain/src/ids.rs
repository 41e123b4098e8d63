//! Identifiers. Each parses once at the edge and is valid everywhere after: ids end up in
//! DynamoDB keys, EventBridge rule names (64 characters at most), Secrets Manager names and
//! S3 paths, so their alphabets are kept to what all four accept.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::FieldError;

/// The tenant: one SaaS client of the adpipe operator, named by a verified JWT claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub const MAX_LEN: usize = 64;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if s.is_empty() || s.len() > Self::MAX_LEN || !s.chars().all(ok_char) {
            return Err(FieldError::new(
                "tenant_id",
                "tenant ids are 1-64 characters of A-Z, a-z, 0-9, '-' and '_'",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// Generates the three kinds of generated id: a type prefix and a UUIDv7 in hex, so ids
/// sort by creation time and a stray id names its kind.
macro_rules! generated_id {
    ($name:ident, $prefix:literal, $field:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id, ordered after every id generated earlier by this clock.
            pub fn generate() -> Self {
                Self::from_uuid(Uuid::now_v7())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(format!("{}{}", $prefix, uuid.simple()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = FieldError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let hex = s.strip_prefix($prefix).unwrap_or("");
                let valid = hex.len() == 32
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if valid {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(FieldError::new(
                        $field,
                        concat!("not a valid id: expected '", $prefix, "' and 32 hex digits"),
                    ))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

generated_id!(
    ConnectionId,
    "con_",
    "connection_id",
    "A connection: one ad account of a tenant."
);
generated_id!(
    ScheduleId,
    "sch_",
    "schedule_id",
    "A schedule: one recurring extraction."
);
generated_id!(
    RunId,
    "run_",
    "run_id",
    "One run of the extractor for one schedule."
);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

impl RunId {
    /// The run id of a scheduled event: the same EventBridge event (retried by Lambda's
    /// async invoke) always names the same run, so a redelivery cannot start a second run.
    /// Time-ordered by the scheduled time like generated ids.
    pub fn for_scheduled_event(scheduled_millis: u64, event_id: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(event_id.as_bytes());
        let mut random = [0u8; 10];
        random.copy_from_slice(&digest[..10]);
        Self::from_uuid(
            uuid::Builder::from_unix_timestamp_millis(scheduled_millis, &random).into_uuid(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_sort_by_creation() {
        let a = ScheduleId::generate();
        let b = ScheduleId::generate();
        assert_eq!(a.as_str().parse::<ScheduleId>().unwrap(), a);
        assert!(a < b);
    }

    #[test]
    fn an_id_of_another_kind_is_refused() {
        let c = ConnectionId::generate();
        let err = c.as_str().parse::<ScheduleId>().unwrap_err();
        assert_eq!(err.field, "schedule_id");
    }

    #[test]
    fn tenant_ids_keep_to_a_path_safe_alphabet() {
        assert!("acme-01_x".parse::<TenantId>().is_ok());
        for bad in ["", "a/b", "a b", "ü", "../x", &"x".repeat(65)] {
            assert!(bad.parse::<TenantId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_redelivered_scheduled_event_names_the_same_run() {
        let a = RunId::for_scheduled_event(1_790_000_000_000, "ev-1");
        assert_eq!(a, RunId::for_scheduled_event(1_790_000_000_000, "ev-1"));
        assert_ne!(a, RunId::for_scheduled_event(1_790_000_000_000, "ev-2"));
        assert!(a.as_str().parse::<RunId>().is_ok());
    }
}
