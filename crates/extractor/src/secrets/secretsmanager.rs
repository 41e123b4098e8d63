//! [`SecretSource`] on Secrets Manager. The app credentials are reused for
//! [`adpipe_domain::app::APP_CREDENTIALS_TTL`] (a warm Lambda reads them once per five
//! minutes, and an operator who puts new ones sees them used within that); a connection's
//! token is read per run, so a client who reconnects an account is picked up at once.

use adpipe_domain::Connection;
use adpipe_domain::app::{AppCredentialsCache, parse_app_credentials};
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::ports::{AppCredentials, SecretError, SecretSource};

pub struct SecretsManagerSource {
    client: Client,
    app_secret: String,
    app: AppCredentialsCache,
}

impl SecretsManagerSource {
    pub fn new(client: Client, app_secret: impl Into<String>) -> Self {
        Self {
            client,
            app_secret: app_secret.into(),
            app: AppCredentialsCache::default(),
        }
    }

    async fn text(&self, id: &str) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable(DisplayErrorContext(e).to_string()))?;
        out.secret_string
            .ok_or_else(|| malformed(id, "no SecretString"))
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
        let field = connection.platform.credential_name();
        let text = self.text(&connection.secret_id).await?;
        // Only whether it is JSON, never serde's message: that quotes the text it read.
        let secret: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| malformed(&connection.secret_id, "not a JSON object"))?;
        secret[field]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| malformed(&connection.secret_id, &format!("no {field}")))
    }

    async fn app_credentials(&self) -> Result<AppCredentials, SecretError> {
        if let Some(app) = self.app.get(&self.app_secret) {
            return Ok(app);
        }
        let text = self.text(&self.app_secret).await?;
        let app =
            parse_app_credentials(&text).map_err(|reason| malformed(&self.app_secret, &reason))?;
        self.app.put(&self.app_secret, &app);
        Ok(app)
    }
}
