//! [`RuleScheduler`] on EventBridge: one rule per schedule on the default bus, one target
//! (the extractor) whose input transformer renders the contract's scheduled event. The
//! extractor's single resource policy (template.yaml) already admits every rule under the
//! prefix, so no per-rule `AddPermission` is needed — nor wanted: its 20 KB cap would stop
//! the SaaS near 60 schedules.

use adpipe_domain::TenantId;
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::types::{InputTransformer, RuleState, Tag, Target};

use crate::error::DependencyError;
use crate::ports::{RuleScheduler, RuleSpec};

pub const EXTRACTOR_TARGET_ID: &str = "extractor";
const DEPENDENCY: &str = "EventBridge";

pub struct EventBridgeScheduler {
    client: Client,
}

impl EventBridgeScheduler {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// The input transformer of every schedule rule: EventBridge inserts the event's `time` and
/// `id` as JSON strings where the template names them.
pub fn input_transformer(tenant: &TenantId, schedule_id: &str) -> InputTransformer {
    // Both ids are validated to [A-Za-z0-9_-], so they need no JSON escaping.
    let template = format!(
        r#"{{"kind": "scheduled", "tenant_id": "{tenant}", "schedule_id": "{schedule_id}", "scheduled_time": <time>, "event_id": <id>}}"#
    );
    InputTransformer::builder()
        .input_paths_map("time", "$.time")
        .input_paths_map("id", "$.id")
        .input_template(template)
        .build()
        .expect("input_template is set")
}

fn failed<E, R>(err: SdkError<E, R>) -> DependencyError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    DependencyError::new(DEPENDENCY, DisplayErrorContext(err).to_string())
}

fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ResourceNotFoundException")
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}

#[async_trait]
impl RuleScheduler for EventBridgeScheduler {
    async fn put_rule(&self, rule: &RuleSpec) -> Result<String, DependencyError> {
        let state = if rule.enabled {
            RuleState::Enabled
        } else {
            RuleState::Disabled
        };
        let out = self
            .client
            .put_rule()
            .name(&rule.name)
            .schedule_expression(rule.expression.as_str())
            .state(state)
            .description(&rule.description)
            .tags(tag("adpipe:tenant", rule.tenant_id.as_str()))
            .tags(tag("adpipe:schedule", rule.schedule_id.as_str()))
            .send()
            .await
            .map_err(failed)?;
        out.rule_arn
            .ok_or_else(|| DependencyError::new(DEPENDENCY, "PutRule returned no RuleArn"))
    }

    async fn put_extractor_target(
        &self,
        rule: &RuleSpec,
        extractor_arn: &str,
    ) -> Result<(), DependencyError> {
        let target = Target::builder()
            .id(EXTRACTOR_TARGET_ID)
            .arn(extractor_arn)
            .input_transformer(input_transformer(
                &rule.tenant_id,
                rule.schedule_id.as_str(),
            ))
            .build()
            .map_err(|e| DependencyError::new(DEPENDENCY, e.to_string()))?;
        let out = self
            .client
            .put_targets()
            .rule(&rule.name)
            .targets(target)
            .send()
            .await
            .map_err(failed)?;
        // PutTargets answers 200 even when a target was refused: the count tells.
        if out.failed_entry_count > 0 {
            let reason = out
                .failed_entries
                .unwrap_or_default()
                .into_iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.error_code.unwrap_or_default(),
                        e.error_message.unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(DependencyError::new(
                DEPENDENCY,
                format!("PutTargets refused the target: {reason}"),
            ));
        }
        Ok(())
    }

    async fn delete_rule(&self, rule_name: &str) -> Result<(), DependencyError> {
        match self
            .client
            .remove_targets()
            .rule(rule_name)
            .ids(EXTRACTOR_TARGET_ID)
            .send()
            .await
        {
            Ok(out) if out.failed_entry_count > 0 => {
                return Err(DependencyError::new(
                    DEPENDENCY,
                    format!("RemoveTargets failed on {rule_name}"),
                ));
            }
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(failed(e)),
        }
        match self.client.delete_rule().name(rule_name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(failed(e)),
        }
    }
}
