//! The platform apps' credentials (`APP_CREDENTIALS_SECRET`, docs/architecture.md) that the
//! schedule API (OAuth sign-in) and the extractor (every platform call) both read, and
//! Meta's `appsecret_proof`. Fields left out of the secret read as empty, so each user can
//! name what is missing; `Debug` shows no value.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// How long a process reuses the app credentials it read (the schedule API and the
/// extractor alike): an operator who puts new credentials sees them used within this.
pub const APP_CREDENTIALS_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// The app credentials a process last read, by secret id, for [`APP_CREDENTIALS_TTL`].
#[derive(Default)]
pub struct AppCredentialsCache(
    std::sync::Mutex<Option<(String, std::time::Instant, AppCredentials)>>,
);

impl AppCredentialsCache {
    /// What secret `id` held, if read less than [`APP_CREDENTIALS_TTL`] ago.
    pub fn get(&self, id: &str) -> Option<AppCredentials> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .as_ref()
            .filter(|(cached, at, _)| cached == id && at.elapsed() < APP_CREDENTIALS_TTL)
            .map(|(_, _, app)| app.clone())
    }

    /// Remembers what secret `id` holds, from now.
    pub fn put(&self, id: &str, app: &AppCredentials) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((id.to_owned(), std::time::Instant::now(), app.clone()));
    }
}

#[derive(Clone, Default, Deserialize)]
pub struct AppCredentials {
    #[serde(default)]
    pub google: Option<GoogleApp>,
    #[serde(default)]
    pub facebook: Option<FacebookApp>,
}

/// The Google Cloud OAuth client, and the Google Ads API developer token.
#[derive(Clone, Default, Deserialize)]
pub struct GoogleApp {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub developer_token: String,
    /// The manager account that Google Ads calls go through when a connection names none.
    #[serde(default)]
    pub login_customer_id: Option<String>,
}

/// The Meta app.
#[derive(Clone, Default, Deserialize)]
pub struct FacebookApp {
    #[serde(default)]
    pub app_id: String,
    #[serde(default)]
    pub app_secret: String,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppCredentials(<redacted>)")
    }
}

/// Reads the app credentials JSON. serde's messages quote the value they could not read (a
/// pasted client secret, say), so a failure says only where and of which kind.
pub fn parse_app_credentials(text: &str) -> Result<AppCredentials, String> {
    let mut json = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let kind = match e.inner().classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                return "the secret is not JSON (a syntax error)".to_owned();
            }
            serde_json::error::Category::Io => "could not be read",
            serde_json::error::Category::Data => "has the wrong type or a missing field",
        };
        if path == "." {
            format!("the secret {kind}: it must be a JSON object of `google` and `facebook` apps")
        } else {
            format!("the value at `{path}` {kind} (the field names of each app are in the README)")
        }
    })
}

/// `appsecret_proof`: the hex HMAC-SHA256 of an access token keyed by the app secret,
/// which Meta asks of every call by apps that "require app secret".
pub fn appsecret_proof(access_token: &str, app_secret: &str) -> String {
    // HMAC takes a key of any length, so this cannot fail; an empty proof would only be
    // refused by Meta.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(access_token.as_bytes());
    crate::hex(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-9f3b2a-app-secret";

    #[test]
    fn a_malformed_app_secret_is_described_by_its_path_never_its_values() {
        for (text, path) in [
            (format!(r#"{{"google": "{CANARY}"}}"#), Some("`google`")),
            (
                format!(r#"{{"google": {{"client_id": 5, "client_secret": "{CANARY}"}}}}"#),
                Some("`google.client_id`"),
            ),
            (
                format!(r#"{{"facebook": {{"app_id": ["{CANARY}"]}}}}"#),
                Some("`facebook.app_id`"),
            ),
            (format!(r#""{CANARY}""#), None),
            (format!(r#"{{"google": {{"client_secret": "{CANARY}"#), None),
        ] {
            let err = parse_app_credentials(&text).expect_err(&text);
            assert!(!err.contains(CANARY), "{err}");
            if let Some(path) = path {
                assert!(err.contains(path), "{path} not in {err}");
            }
        }
    }

    #[test]
    fn the_proof_is_the_hex_hmac_sha256_of_the_token() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            appsecret_proof("what do ya want for nothing?", "Jefe"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // HMAC-SHA256(key "key", "The quick brown fox jumps over the lazy dog").
        assert_eq!(
            appsecret_proof("The quick brown fox jumps over the lazy dog", "key"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn missing_fields_read_as_empty_and_debug_shows_nothing() {
        let app: AppCredentials =
            serde_json::from_str(r#"{"google": {"client_id": "id", "client_secret": "s3cr3t"}}"#)
                .expect("parses");
        let google = app.google.as_ref().expect("google");
        assert_eq!(google.developer_token, "");
        assert!(app.facebook.is_none());
        assert!(!format!("{app:?}").contains("s3cr3t"));
    }
}
