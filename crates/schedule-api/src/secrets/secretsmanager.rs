//! [`SecretStore`] on Secrets Manager. Errors carry the SDK's context, which names the
//! operation and the secret, never its value.

use adpipe_domain::TenantId;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_secretsmanager::types::Tag;

use crate::error::DependencyError;
use crate::ports::{SecretStore, SecretValue};

const DEPENDENCY: &str = "Secrets Manager";

pub struct SecretsManagerStore {
    client: Client,
}

impl SecretsManagerStore {
    pub fn new(client: Client) -> Self {
        Self { client }
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
}
