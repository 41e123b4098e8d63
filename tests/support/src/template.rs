//! `template.yaml`, and DynamoDB tables created in moto exactly as it declares them.
//!
//! serde_yaml reads CloudFormation's short forms (`!Ref`, `!Sub`, …) as tagged values, so
//! the template parses as is; the table properties used here must be plain values.

use std::sync::OnceLock;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use serde_yaml::Value;

use crate::{BoxError, workspace_root};

/// The parsed `template.yaml` at the workspace root.
///
/// # Panics
/// If the file is missing or is not YAML.
pub fn template() -> &'static Value {
    try_template().unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn try_template() -> Result<&'static Value, String> {
    static TEMPLATE: OnceLock<Result<Value, String>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let path = workspace_root().join("template.yaml");
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_yaml::from_str(&text).map_err(|e| format!("{} is not YAML: {e}", path.display()))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Creates table `name` in moto as the template's resource `logical_id` declares it
/// (keys, indexes, billing, stream), then turns on its TTL if declared.
pub(crate) async fn create_table(
    client: &Client,
    template: &Value,
    logical_id: &str,
    name: &str,
) -> Result<(), BoxError> {
    let props = template
        .get("Resources")
        .and_then(|r| r.get(logical_id))
        .and_then(|r| r.get("Properties"))
        .ok_or_else(|| format!("template.yaml has no Resources.{logical_id}.Properties"))?;
    let at = |key: &str| format!("{logical_id}.Properties.{key}");

    let mut request = client
        .create_table()
        .table_name(name)
        .set_key_schema(Some(key_schema(req(props, "KeySchema", &at)?, &at)?))
        .set_attribute_definitions(Some(attribute_definitions(props, &at)?))
        .set_provisioned_throughput(opt_throughput(props.get("ProvisionedThroughput"), &at)?);
    let billing = match props.get("BillingMode") {
        Some(mode) => BillingMode::from(string(mode, &at("BillingMode"))?),
        None if props.get("ProvisionedThroughput").is_some() => BillingMode::Provisioned,
        None => BillingMode::PayPerRequest,
    };
    request = request.billing_mode(billing);
    if let Some(indexes) = props.get("GlobalSecondaryIndexes") {
        request = request.set_global_secondary_indexes(Some(global_indexes(indexes, &at)?));
    }
    if let Some(indexes) = props.get("LocalSecondaryIndexes") {
        request = request.set_local_secondary_indexes(Some(local_indexes(indexes, &at)?));
    }
    if let Some(stream) = props.get("StreamSpecification") {
        let view = string(req(stream, "StreamViewType", &at)?, &at("StreamViewType"))?;
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view))
                .build()?,
        );
    }
    request
        .send()
        .await
        .map_err(|e| format!("creating {logical_id} as {name}: {e:?}"))?;

    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        enable_ttl(client, name, ttl, &at).await?;
    }
    Ok(())
}

async fn enable_ttl(
    client: &Client,
    table: &str,
    ttl: &Value,
    at: &impl Fn(&str) -> String,
) -> Result<(), BoxError> {
    let enabled = match ttl.get("Enabled") {
        Some(Value::Bool(enabled)) => *enabled,
        Some(other) => string(other, &at("TimeToLiveSpecification.Enabled"))? == "true",
        None => false,
    };
    if !enabled {
        return Ok(());
    }
    let attribute = string(req(ttl, "AttributeName", at)?, &at("AttributeName"))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attribute)
                .enabled(true)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| format!("enabling TTL on {table}: {e:?}"))?;
    Ok(())
}

fn key_schema(
    keys: &Value,
    at: &impl Fn(&str) -> String,
) -> Result<Vec<KeySchemaElement>, BoxError> {
    list(keys, &at("KeySchema"))?
        .iter()
        .map(|key| {
            Ok(KeySchemaElement::builder()
                .attribute_name(string(
                    req(key, "AttributeName", at)?,
                    &at("AttributeName"),
                )?)
                .key_type(KeyType::from(string(
                    req(key, "KeyType", at)?,
                    &at("KeyType"),
                )?))
                .build()?)
        })
        .collect()
}

fn attribute_definitions(
    props: &Value,
    at: &impl Fn(&str) -> String,
) -> Result<Vec<AttributeDefinition>, BoxError> {
    list(
        req(props, "AttributeDefinitions", at)?,
        &at("AttributeDefinitions"),
    )?
    .iter()
    .map(|attribute| {
        let name = req(attribute, "AttributeName", at)?;
        let kind = req(attribute, "AttributeType", at)?;
        Ok(AttributeDefinition::builder()
            .attribute_name(string(name, &at("AttributeName"))?)
            .attribute_type(ScalarAttributeType::from(string(
                kind,
                &at("AttributeType"),
            )?))
            .build()?)
    })
    .collect()
}

fn global_indexes(
    indexes: &Value,
    at: &impl Fn(&str) -> String,
) -> Result<Vec<GlobalSecondaryIndex>, BoxError> {
    list(indexes, &at("GlobalSecondaryIndexes"))?
        .iter()
        .map(|index| {
            Ok(GlobalSecondaryIndex::builder()
                .index_name(string(req(index, "IndexName", at)?, &at("IndexName"))?)
                .set_key_schema(Some(key_schema(req(index, "KeySchema", at)?, at)?))
                .projection(projection(req(index, "Projection", at)?, at)?)
                .set_provisioned_throughput(opt_throughput(index.get("ProvisionedThroughput"), at)?)
                .build()?)
        })
        .collect()
}

fn local_indexes(
    indexes: &Value,
    at: &impl Fn(&str) -> String,
) -> Result<Vec<LocalSecondaryIndex>, BoxError> {
    list(indexes, &at("LocalSecondaryIndexes"))?
        .iter()
        .map(|index| {
            Ok(LocalSecondaryIndex::builder()
                .index_name(string(req(index, "IndexName", at)?, &at("IndexName"))?)
                .set_key_schema(Some(key_schema(req(index, "KeySchema", at)?, at)?))
                .projection(projection(req(index, "Projection", at)?, at)?)
                .build()?)
        })
        .collect()
}

fn projection(value: &Value, at: &impl Fn(&str) -> String) -> Result<Projection, BoxError> {
    let non_key = match value.get("NonKeyAttributes") {
        Some(names) => Some(
            list(names, &at("NonKeyAttributes"))?
                .iter()
                .map(|name| string(name, &at("NonKeyAttributes")).map(str::to_owned))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let kind = match value.get("ProjectionType") {
        Some(kind) => ProjectionType::from(string(kind, &at("ProjectionType"))?),
        None => ProjectionType::KeysOnly,
    };
    Ok(Projection::builder()
        .projection_type(kind)
        .set_non_key_attributes(non_key)
        .build())
}

fn opt_throughput(
    value: Option<&Value>,
    at: &impl Fn(&str) -> String,
) -> Result<Option<ProvisionedThroughput>, BoxError> {
    let Some(value) = value else { return Ok(None) };
    let units = |key: &str| -> Result<i64, BoxError> {
        match req(value, key, at)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("{} is not a whole number", at(key)).into())
    };
    Ok(Some(
        ProvisionedThroughput::builder()
            .read_capacity_units(units("ReadCapacityUnits")?)
            .write_capacity_units(units("WriteCapacityUnits")?)
            .build()?,
    ))
}

fn req<'a>(value: &'a Value, key: &str, at: &impl Fn(&str) -> String) -> Result<&'a Value, String> {
    value
        .get(key)
        .ok_or_else(|| format!("{} is missing", at(key)))
}

fn string<'a>(value: &'a Value, what: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{what} must be a plain string, found {value:?}"))
}

fn list<'a>(value: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    value
        .as_sequence()
        .ok_or_else(|| format!("{what} must be a list, found {value:?}"))
}
