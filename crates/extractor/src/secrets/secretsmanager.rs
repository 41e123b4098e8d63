//! [`SecretSource`] on Secrets Manager. The app credentials are read once per process
//! (a warm Lambda reuses them); a connection's token is read per run, so a client who
//! reconnects an account is picked up at once.

use adpipe_domain::{Connection, Platform};
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tokio::sync::OnceCell;

use crate::ports::{AppCredentials, SecretError, SecretSource};

pub struct SecretsManagerSource {
    client: Client,
    app_secret: String,
    app: OnceCell<AppCredentials>,
}

impl SecretsManagerSource {
    pub fn new(client: Client, app_secret: impl Into<String>) -> Self {
        Self {
            client,
            app_secret: app_secret.into(),
            app: OnceCell::new(),
        }
    }

    async fn json(&self, id: &str) -> Result<serde_json::Value, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable(DisplayErrorContext(e).to_string()))?;
        let text = out
            .secret_string()
            .ok_or_else(|| malformed(id, "no SecretString"))?;
        serde_json::from_str(text).map_err(|_| malformed(id, "not a JSON object"))
    }
}

fn malformed(name: &str, reason: &str) -> SecretError {
    SecretError::Malformed {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn connection_token(&self, connection: &Connection) -> Result<String, SecretError> {
        let field = match connection.platform {
            Platform::Facebook => "access_token",
            Platform::GoogleAds | Platform::Youtube => "refresh_token",
        };
        let secret = self.json(&connection.secret_id).await?;
        secret[field]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| malformed(&connection.secret_id, &format!("no {field}")))
    }

    async fn app_credentials(&self) -> Result<AppCredentials, SecretError> {
        self.app
            .get_or_try_init(|| async {
                let value = self.json(&self.app_secret).await?;
                serde_json::from_value(value)
                    .map_err(|e| malformed(&self.app_secret, &e.to_string()))
            })
            .await
            .cloned()
    }
}
