//! [`ExtractorInvoker`] on Lambda's asynchronous invoke.

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use crate::error::DependencyError;
use crate::ports::ExtractorInvoker;

pub struct LambdaInvoker {
    client: Client,
}

impl LambdaInvoker {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl ExtractorInvoker for LambdaInvoker {
    async fn invoke_async(
        &self,
        function_arn: &str,
        payload: Vec<u8>,
    ) -> Result<(), DependencyError> {
        let out = self
            .client
            .invoke()
            .function_name(function_arn)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| DependencyError::new("Lambda", DisplayErrorContext(e).to_string()))?;
        // An Event invoke is queued with 202; anything else means it was not.
        if out.status_code != 202 {
            return Err(DependencyError::new(
                "Lambda",
                format!("Invoke answered {} instead of 202", out.status_code),
            ));
        }
        Ok(())
    }
}
