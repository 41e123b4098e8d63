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

#[cfg(test)]
mod tests {
    use adpipe_domain::ScheduleId;
    use aws_sdk_eventbridge::operation::delete_rule::DeleteRuleOutput;
    use aws_sdk_eventbridge::operation::put_rule::PutRuleOutput;
    use aws_sdk_eventbridge::operation::put_targets::PutTargetsOutput;
    use aws_sdk_eventbridge::operation::remove_targets::RemoveTargetsOutput;
    use aws_sdk_eventbridge::types::PutTargetsResultEntry;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::views::CreateSchedule;
    use crate::{Api, Config};

    /// PutTargets answers 200 with `FailedEntryCount` when it refuses a target (moto never
    /// does): the adapter must not take that for success.
    fn refused_target() -> aws_smithy_mocks::Rule {
        mock!(Client::put_targets).then_output(|| {
            PutTargetsOutput::builder()
                .failed_entry_count(1)
                .failed_entries(
                    PutTargetsResultEntry::builder()
                        .target_id(EXTRACTOR_TARGET_ID)
                        .error_code("ConcurrentModificationException")
                        .error_message("rule is being modified")
                        .build(),
                )
                .build()
        })
    }

    #[tokio::test]
    async fn a_failed_entry_in_put_targets_is_an_error_naming_its_cause() {
        let client = mock_client!(aws_sdk_eventbridge, [&refused_target()]);
        let rule = RuleSpec {
            name: "adpipe-x".into(),
            expression: "rate(1 day)".parse().unwrap(),
            enabled: true,
            description: "d".into(),
            tenant_id: "t".parse().unwrap(),
            schedule_id: ScheduleId::generate(),
        };
        let err = EventBridgeScheduler::new(client)
            .put_extractor_target(&rule, "arn:aws:lambda:us-east-1:1:function:x")
            .await
            .unwrap_err();
        assert_eq!(err.dependency, "EventBridge");
        assert!(
            err.detail
                .contains("ConcurrentModificationException: rule is being modified"),
            "{}",
            err.detail
        );
    }

    #[tokio::test]
    async fn a_refused_target_deletes_the_rule_and_creates_no_schedule() {
        let put_rule = mock!(Client::put_rule).then_output(|| {
            PutRuleOutput::builder()
                .rule_arn("arn:aws:events:us-east-1:1:rule/r")
                .build()
        });
        let remove = mock!(Client::remove_targets)
            .then_output(|| RemoveTargetsOutput::builder().failed_entry_count(0).build());
        let delete = mock!(Client::delete_rule).then_output(|| DeleteRuleOutput::builder().build());
        let refused = refused_target();
        let client = mock_client!(
            aws_sdk_eventbridge,
            RuleMode::MatchAny,
            [&put_rule, &refused, &remove, &delete]
        );
        let config = Config::from_lookup(|k| match k {
            "CONTROL_TABLE" => Some("c".into()),
            "EXTRACTOR_FUNCTION_ARN" => Some("arn:aws:lambda:us-east-1:1:function:x".into()),
            _ => None,
        })
        .unwrap();
        let api = Api {
            rules: Box::new(EventBridgeScheduler::new(client)),
            ..crate::memory::memory_api(config)
        };
        let tenant: TenantId = "t".parse().unwrap();
        let body = json!({"platform": "facebook", "account_id": "act_1", "credentials": {"access_token": "x"}});
        let connection = api
            .create_connection(&tenant, serde_json::from_value(body).unwrap())
            .await
            .unwrap();
        let body: CreateSchedule = serde_json::from_value(
            json!({"connection_id": connection.id, "schedule_expression": "rate(1 day)"}),
        )
        .unwrap();
        let err = api.create_schedule(&tenant, body).await.unwrap_err();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            (put_rule.num_calls(), delete.num_calls()),
            (1, 1),
            "the rule is deleted again"
        );
        let page = crate::ports::PageRequest {
            limit: 10,
            after: None,
        };
        assert!(
            api.store
                .schedules(&tenant, &page)
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}
