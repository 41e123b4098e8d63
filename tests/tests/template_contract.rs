//! template.yaml and the code agree: every variable a function reads is in its
//! Environment, and the tables' keys are the ones the code uses.

use adpipe_testkit::template;
use serde_yaml::Value;
use std::collections::BTreeSet;

fn resource(name: &str) -> &'static Value {
    let r = &template()["Resources"][name];
    assert!(!r.is_null(), "template.yaml has no {name}");
    r
}

fn environment(function: &str) -> Vec<String> {
    let vars = &resource(function)["Properties"]["Environment"]["Variables"];
    vars.as_mapping()
        .unwrap_or_else(|| panic!("{function} has no Environment"))
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_schedule_api_function_sets_every_variable_the_code_reads() {
    let env = environment("ScheduleApiFunction");
    for var in schedule_api::Config::VARIABLES {
        assert!(
            env.iter().any(|v| v == var),
            "ScheduleApiFunction lacks {var}"
        );
    }
}

#[test]
fn the_extractor_function_sets_every_variable_the_code_reads() {
    let env = environment("ExtractorFunction");
    for var in extractor::Config::VARIABLES {
        assert!(
            env.iter().any(|v| v == var),
            "ExtractorFunction lacks {var}"
        );
    }
}

#[test]
fn both_tables_are_keyed_by_pk_and_sk_with_the_ttl_attribute_the_code_writes() {
    use adpipe_domain::keys::{EXPIRES_AT, PK, SK};
    for table in ["ControlTable", "StagingTable"] {
        let props = &resource(table)["Properties"];
        let keys: Vec<(&str, &str)> = props["KeySchema"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap(),
                    k["KeyType"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(keys, [(PK, "HASH"), (SK, "RANGE")], "{table}");
        assert_eq!(
            props["TimeToLiveSpecification"]["AttributeName"].as_str(),
            Some(EXPIRES_AT),
            "{table}"
        );
    }
    let staging = &resource("StagingTable")["Properties"];
    assert_eq!(
        staging["StreamSpecification"]["StreamViewType"].as_str(),
        Some("NEW_IMAGE")
    );
}

#[test]
fn functions_build_the_binaries_the_workspace_defines() {
    for (function, binary) in [
        ("ScheduleApiFunction", "schedule-api"),
        ("ExtractorFunction", "extractor"),
        ("StreamToS3Function", "stream-to-s3"),
        ("InsightsFunction", "insights"),
    ] {
        let metadata = &resource(function)["Metadata"];
        assert_eq!(
            metadata["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{function}"
        );
        assert_eq!(
            metadata["BuildProperties"]["Binary"].as_str(),
            Some(binary),
            "{function}"
        );
    }
}

#[test]
fn exactly_one_permission_lets_eventbridge_invoke_the_extractor() {
    let resources = template()["Resources"].as_mapping().unwrap();
    let permissions: Vec<&Value> = resources
        .values()
        .filter(|r| {
            r["Type"].as_str() == Some("AWS::Lambda::Permission")
                && r["Properties"]["Principal"].as_str() == Some("events.amazonaws.com")
        })
        .collect();
    assert_eq!(
        permissions.len(),
        1,
        "one prefix-wide permission, never one per schedule"
    );
    let source = serde_yaml::to_string(&permissions[0]["Properties"]["SourceArn"]).unwrap();
    assert!(source.contains("rule/${Prefix}*"), "{source}");
    assert!(
        source.contains("${AWS::StackName}."),
        "an empty RulePrefix derives the stack's own: {source}"
    );
}

#[test]
fn the_stream_to_s3_function_sets_every_variable_the_code_reads() {
    let env = environment("StreamToS3Function");
    for var in stream_to_s3::Config::VARIABLES {
        assert!(
            env.iter().any(|v| v == var),
            "StreamToS3Function lacks {var}"
        );
    }
    let metadata = &resource("StreamToS3Function")["Metadata"];
    assert_eq!(
        metadata["BuildProperties"]["Binary"].as_str(),
        Some("stream-to-s3")
    );
}

/// Both Glue tables, their S3 folder (the handler's prefixes) and their resource name.
const LAKE_TABLES: [(&str, &str, &str); 2] = [
    ("AdMetricsTable", "ad_metrics", stream_to_s3::CURRENT_PREFIX),
    (
        "AdMetricsHistoryTable",
        "ad_metrics_history",
        stream_to_s3::HISTORY_PREFIX,
    ),
];

/// A Parquet schema's columns as Glue names their types.
fn hive_columns(schema: &arrow_schema::Schema) -> Vec<(String, String)> {
    use arrow_schema::{DataType, TimeUnit};
    let hive = |t: &DataType| match t {
        DataType::Utf8 => "string",
        DataType::Int64 => "bigint",
        DataType::Float64 => "double",
        DataType::Date32 => "date",
        DataType::Timestamp(TimeUnit::Millisecond, _) => "timestamp",
        other => panic!("no Glue type for {other:?}"),
    };
    schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), hive(f.data_type()).to_owned()))
        .collect()
}

/// A Glue table's columns (name, type), in order.
fn glue_columns(table: &Value) -> Vec<(String, String)> {
    table["StorageDescriptor"]["Columns"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["Name"].as_str().unwrap().to_owned(),
                c["Type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn both_glue_tables_declare_exactly_the_columns_the_parquet_files_hold() {
    let parquet = hive_columns(&stream_to_s3::encode::schema());
    for (resource_name, name, prefix) in LAKE_TABLES {
        let table = &resource(resource_name)["Properties"]["TableInput"];
        assert_eq!(table["Name"].as_str(), Some(name));
        let glue = glue_columns(table);
        assert_eq!(glue, parquet, "{name}");
        let partitions: Vec<&str> = table["PartitionKeys"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p["Name"].as_str().unwrap())
            .collect();
        assert_eq!(partitions, ["tenant_id", "platform", "dt"], "{name}");
        let template =
            serde_yaml::to_string(&table["Parameters"]["storage.location.template"]).unwrap();
        assert!(
            template.contains(&format!(
                "/{prefix}/tenant_id=${{!tenant_id}}/platform=${{!platform}}/dt=${{!dt}}"
            )),
            "{name}: {template}"
        );
        let location = serde_yaml::to_string(&table["StorageDescriptor"]["Location"]).unwrap();
        assert!(
            location.contains(&format!("/{prefix}/")),
            "{name}: {location}"
        );
    }
}

#[test]
fn the_stream_function_reads_the_current_table_and_writes_both() {
    assert_eq!(
        actions_granted("StreamToS3Function", &["s3"]),
        ["s3:GetObject", "s3:ListBucket", "s3:PutObject"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    let policies =
        serde_yaml::to_string(&resource("StreamToS3Function")["Properties"]["Policies"]).unwrap();
    for (_, _, prefix) in LAKE_TABLES {
        assert!(
            policies.contains(&format!("${{DataBucket.Arn}}/{prefix}/*")),
            "{prefix}: {policies}"
        );
    }
}

/// The SDK operations a crate calls, as IAM actions: every `.operation()` builder call in
/// its sources (and in `crates/dynamodb`, whose `get` both control-plane crates use), the
/// parts of a `TransactWriteItems` (authorised item by item), and the tagging a create
/// with tags needs.
fn actions_called(krate: &str) -> BTreeSet<String> {
    const OPERATIONS: &[(&str, &str)] = &[
        ("get_item", "dynamodb:GetItem"),
        ("put_item", "dynamodb:PutItem"),
        ("update_item", "dynamodb:UpdateItem"),
        ("delete_item", "dynamodb:DeleteItem"),
        ("query", "dynamodb:Query"),
        ("scan", "dynamodb:Scan"),
        ("batch_get_item", "dynamodb:BatchGetItem"),
        ("batch_write_item", "dynamodb:BatchWriteItem"),
        ("put_rule", "events:PutRule"),
        ("delete_rule", "events:DeleteRule"),
        ("describe_rule", "events:DescribeRule"),
        ("enable_rule", "events:EnableRule"),
        ("disable_rule", "events:DisableRule"),
        ("put_targets", "events:PutTargets"),
        ("remove_targets", "events:RemoveTargets"),
        ("list_targets_by_rule", "events:ListTargetsByRule"),
        ("create_secret", "secretsmanager:CreateSecret"),
        ("delete_secret", "secretsmanager:DeleteSecret"),
        ("describe_secret", "secretsmanager:DescribeSecret"),
        ("put_secret_value", "secretsmanager:PutSecretValue"),
        ("update_secret", "secretsmanager:UpdateSecret"),
        ("get_secret_value", "secretsmanager:GetSecretValue"),
        ("invoke", "lambda:InvokeFunction"),
    ];
    const TRANSACTION_PARTS: &[(&str, &str)] = &[
        ("Put::builder()", "dynamodb:PutItem"),
        ("Update::builder()", "dynamodb:UpdateItem"),
        ("Delete::builder()", "dynamodb:DeleteItem"),
        ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = String::new();
    let mut stack = vec![root.join("crates").join(krate).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut actions = BTreeSet::new();
    for (op, action) in OPERATIONS {
        if sources.contains(&format!(".{op}()")) {
            actions.insert((*action).to_owned());
        }
    }
    if sources.contains("adpipe_dynamodb::get(") {
        actions.insert("dynamodb:GetItem".to_owned());
    }
    if sources.contains(".transact_write_items()") {
        for (part, action) in TRANSACTION_PARTS {
            if sources.contains(part) {
                actions.insert((*action).to_owned());
            }
        }
    }
    for (create, tag) in [
        ("events:PutRule", "events:TagResource"),
        ("secretsmanager:CreateSecret", "secretsmanager:TagResource"),
    ] {
        if actions.contains(create) && sources.contains(".tags(") {
            actions.insert(tag.to_owned());
        }
    }
    actions
}

/// The actions of `services` a function's inline policy statements grant.
fn actions_granted(function: &str, services: &[&str]) -> BTreeSet<String> {
    let mut granted = BTreeSet::new();
    let mut visit = vec![&resource(function)["Properties"]["Policies"]];
    while let Some(node) = visit.pop() {
        match node {
            Value::Mapping(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        (Some("Action"), Value::String(a)) => {
                            granted.insert(a.clone());
                        }
                        (Some("Action"), Value::Sequence(list)) => {
                            granted
                                .extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)));
                        }
                        _ => visit.push(v),
                    }
                }
            }
            Value::Sequence(list) => visit.extend(list),
            Value::Tagged(t) => visit.push(&t.value),
            _ => {}
        }
    }
    granted.retain(|a| services.iter().any(|s| a.starts_with(&format!("{s}:"))));
    granted
}

#[test]
fn each_function_may_call_exactly_the_control_plane_operations_its_code_calls() {
    let services = ["dynamodb", "events", "secretsmanager", "lambda"];
    for (function, krate) in [
        ("ScheduleApiFunction", "schedule-api"),
        ("ExtractorFunction", "extractor"),
        ("InsightsFunction", "insights"),
    ] {
        let policies =
            serde_yaml::to_string(&resource(function)["Properties"]["Policies"]).unwrap();
        assert!(
            !policies.contains("DynamoDBCrudPolicy"),
            "{function}: a CRUD policy template grants Scan and more than the code calls"
        );
        assert_eq!(
            actions_granted(function, &services),
            actions_called(krate),
            "{function}: the granted actions (left) differ from the ones crates/{krate} calls (right)"
        );
    }
}

#[test]
fn the_insights_function_sets_every_variable_the_code_reads_and_reads_its_queue() {
    let env = environment("InsightsFunction");
    for var in insights::Config::VARIABLES {
        assert!(
            env.contains(&var.to_string()),
            "InsightsFunction lacks {var}"
        );
    }
    let source = &resource("InsightsFunction")["Properties"]["Events"]["RefreshRequests"];
    assert_eq!(source["Type"].as_str(), Some("SQS"));
    let types = serde_yaml::to_string(&source["Properties"]["FunctionResponseTypes"]).unwrap();
    assert!(types.contains("ReportBatchItemFailures"), "{types}");
    let queue = &resource("InsightsQueue")["Properties"];
    let redrive = serde_yaml::to_string(&queue["RedrivePolicy"]).unwrap();
    assert!(redrive.contains("InsightsDeadLetterQueue"), "{redrive}");
    // AWS: the queue's visibility timeout at least six times the function's timeout.
    let timeout = resource("InsightsFunction")["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    assert!(queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout);
    let stream_env = environment("StreamToS3Function");
    assert!(stream_env.contains(&"INSIGHTS_QUEUE_URL".to_owned()));
}

#[test]
fn the_insights_function_reads_the_current_table_and_writes_only_its_own() {
    assert_eq!(
        actions_granted("InsightsFunction", &["s3"]),
        [
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:PutObject"
        ]
        .map(str::to_owned)
        .into_iter()
        .collect()
    );
    let policies =
        serde_yaml::to_string(&resource("InsightsFunction")["Properties"]["Policies"]).unwrap();
    for prefix in [
        stream_to_s3::CURRENT_PREFIX,
        insights::lake::alerts_table::ALERTS_PREFIX,
    ] {
        assert!(
            policies.contains(&format!("${{DataBucket.Arn}}/{prefix}/*")),
            "{prefix}: {policies}"
        );
    }
}

#[test]
fn the_insights_alerts_glue_table_declares_exactly_the_columns_its_files_hold() {
    let parquet = hive_columns(&insights::lake::alerts_table::schema());
    let table = &resource("InsightsAlertsTable")["Properties"]["TableInput"];
    assert_eq!(table["Name"].as_str(), Some("insights_alerts"));
    let glue = glue_columns(table);
    assert_eq!(glue, parquet);
    let template =
        serde_yaml::to_string(&table["Parameters"]["storage.location.template"]).unwrap();
    assert!(
        template.contains("/insights_alerts/tenant_id=${!tenant_id}/dt=${!dt}"),
        "{template}"
    );
}
