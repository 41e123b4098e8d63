//! The YouTube Analytics API's JSON as the connector reads it: the `reports.query` result
//! table and Google's error body.

use serde::Deserialize;
use serde_json::Value;

/// `youtubeAnalytics#resultTable`. `rows` is absent when there is no data for the query
/// (and for the most recent days of a `day` report); each row holds one cell per column
/// header, in the headers' order.
#[derive(Debug, Deserialize)]
pub struct ResultTable {
    #[serde(default, rename = "columnHeaders")]
    pub column_headers: Option<Vec<ColumnHeader>>,
    #[serde(default)]
    pub rows: Option<Vec<Vec<Value>>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ColumnHeader {
    pub name: String,
    /// `DIMENSION` or `METRIC`.
    #[serde(rename = "columnType")]
    pub column_type: String,
    /// `STRING`, `INTEGER`, `FLOAT`, …
    #[serde(default, rename = "dataType")]
    pub data_type: String,
}

/// `{"error": {"code", "message", "errors": [{"message", "domain", "reason"}], "status"}}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub error: GoogleError,
}

#[derive(Debug, Default, Deserialize)]
pub struct GoogleError {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub reason: String,
}

impl GoogleError {
    /// Whether any of the error's details carries `reason`.
    pub fn has_reason(&self, reason: &str) -> bool {
        self.errors.iter().any(|e| e.reason == reason)
    }

    /// The first detail's reason, if any.
    pub fn reason(&self) -> Option<&str> {
        self.errors
            .iter()
            .map(|e| e.reason.as_str())
            .find(|r| !r.is_empty())
    }
}
