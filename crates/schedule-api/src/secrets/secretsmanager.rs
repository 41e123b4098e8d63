//! [`SecretStore`] on Secrets Manager. Errors carry the SDK's context, which names the
//! operation and the secret, never its value.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use adpipe_domain::TenantId;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_secretsmanager::types::Tag;

use crate::error::DependencyError;
use crate::ports::{AppCredentials, AppSecretError, SecretStore, SecretValue};

const DEPENDENCY: &str = "Secrets Manager";
/// How long the app credentials are reused: sign-ins are rare, and an operator who puts
/// new credentials sees them used within this.
pub const APP_CREDENTIALS_TTL: Duration = Duration::from_secs(300);

pub struct SecretsManagerStore {
    client: Client,
    /// The app credentials secret last read: its id, when, and what it held.
    app: Mutex<Option<(String, Instant, AppCredentials)>>,
}

impl SecretsManagerStore {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            app: Mutex::new(None),
        }
    }

    fn cached_app(&self, id: &str) -> Option<AppCredentials> {
        let cache = self.app.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .as_ref()
            .filter(|(cached, at, _)| cached == id && at.elapsed() < APP_CREDENTIALS_TTL)
            .map(|(_, _, app)| app.clone())
    }

    async fn read_app(&self, id: &str) -> Result<AppCredentials, AppSecretError> {
        let out = match self.client.get_secret_value().secret_id(id).send().await {
            Ok(out) => out,
            Err(e)
                if e.as_service_error().and_then(|s| s.code())
                    == Some("ResourceNotFoundException") =>
            {
                return Err(AppSecretError::Unusable("the secret does not exist".into()));
            }
            Err(e) => {
                return Err(
                    DependencyError::new(DEPENDENCY, DisplayErrorContext(e).to_string()).into(),
                );
            }
        };
        let text = out
            .secret_string()
            .ok_or_else(|| AppSecretError::Unusable("the secret holds no SecretString".into()))?;
        parse_app_credentials(text).map_err(AppSecretError::Unusable)
    }
}

/// The app credentials JSON. serde's messages quote the value they could not read (a
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

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn create_secret(
        &self,
        name: &str,
        value: &SecretValue,
        tenant: &TenantId,
    ) -> Result<(), DependencyError> {
        self.client
            .create_secret()
            .name(name)
            .secret_string(&value.0)
            .description("adpipe connection credentials")
            .tags(
                Tag::builder()
                    .key("adpipe:tenant")
                    .value(tenant.as_str())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| DependencyError::new(DEPENDENCY, DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    async fn delete_secret(&self, name: &str) -> Result<(), DependencyError> {
        let result = self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().and_then(|s| s.code())
                    == Some("ResourceNotFoundException") =>
            {
                Ok(())
            }
            Err(e) => Err(DependencyError::new(
                DEPENDENCY,
                DisplayErrorContext(e).to_string(),
            )),
        }
    }

    async fn app_credentials(&self, id: &str) -> Result<AppCredentials, AppSecretError> {
        if let Some(app) = self.cached_app(id) {
            return Ok(app);
        }
        let app = self.read_app(id).await?;
        *self.app.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((id.to_owned(), Instant::now(), app.clone()));
        Ok(app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-pasted-secret-8c1f";

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
}
