//! [`SecretStore`] on Secrets Manager. Errors carry the SDK's context, which names the
//! operation and the secret, never its value.

use adpipe_domain::TenantId;
use adpipe_domain::app::AppCredentialsCache;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_secretsmanager::types::Tag;

use crate::error::DependencyError;
use crate::ports::{AppCredentials, AppSecretError, SecretStore, SecretValue};

const DEPENDENCY: &str = "Secrets Manager";

pub struct SecretsManagerStore {
    client: Client,
    /// The app credentials secret last read.
    app: AppCredentialsCache,
}

impl SecretsManagerStore {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            app: AppCredentialsCache::default(),
        }
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
        adpipe_domain::app::parse_app_credentials(text).map_err(AppSecretError::Unusable)
    }
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
        if let Some(app) = self.app.get(id) {
            return Ok(app);
        }
        let app = self.read_app(id).await?;
        self.app.put(id, &app);
        Ok(app)
    }
}
