//! The process-wide local AWS (moto) and SDK clients pointed at it.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::thread;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};

use crate::template::{create_table, try_template};
use crate::{BoxError, moto, random_suffix};

/// Set to an endpoint (`http://127.0.0.1:5000`) to use a moto you run yourself.
const ENDPOINT_VAR: &str = "ADPIPE_TEST_AWS_ENDPOINT";
const REGION: &str = "us-east-1";
const LAMBDA_ROLE: &str = "arn:aws:iam::123456789012:role/x";
const APP_CREDENTIALS: &str = r#"{"google":{"client_id":"test-client","client_secret":"test-secret","developer_token":"test-dev-token"},"facebook":{"app_id":"test-app","app_secret":"test-app-secret"}}"#;
/// The smallest valid zip (an empty archive): moto stores the code, never runs it.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Local AWS shared by all tests of a process. Names carry a per-process suffix, so
/// processes sharing one moto (`ADPIPE_TEST_AWS_ENDPOINT`) do not collide.
#[derive(Debug)]
pub struct TestAws {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// Created from `template.yaml`'s `ControlTable`.
    pub control_table: String,
    /// Created from `template.yaml`'s `StagingTable` (with its stream).
    pub staging_table: String,
    /// ARN of a secret holding test platform app credentials (what `!Ref` gives in the stack).
    pub app_credentials_secret: String,
    /// A function moto stores but never runs.
    pub extractor_function_arn: String,
    /// The data lake bucket (what `template.yaml`'s `DataBucket` is in the stack).
    pub data_bucket: String,
    /// URL of the stream's failure queue (what `!Ref StreamFailureQueue` gives).
    pub stream_failure_queue_url: String,
    /// URL of the insights queue (what `!Ref InsightsQueue` gives).
    pub insights_queue_url: String,
}

/// The local AWS of this process: the first call starts moto (unless
/// `ADPIPE_TEST_AWS_ENDPOINT` is set) and creates the resources; later calls return it.
///
/// Safe to call from inside a test's runtime: the setup runs on its own thread.
///
/// # Panics
/// If moto cannot be found or started, or a resource cannot be created; every later call
/// panics with the same message.
pub fn aws() -> &'static TestAws {
    static AWS: OnceLock<Result<TestAws, String>> = OnceLock::new();
    AWS.get_or_init(|| set_up().map_err(|e| format!("adpipe-testkit: local AWS: {e}")))
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"))
}

impl TestAws {
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        dynamodb_at(&self.endpoint).await
    }

    /// `StagingTable` again, without its stream, made on first use: for tests that stage
    /// tens of thousands of rows, which on the shared stream would slow every test that
    /// reads it.
    pub async fn bulk_staging_table(&self) -> &'static str {
        static BULK: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        BULK.get_or_init(|| async {
            let name = format!("{}-bulk", self.staging_table);
            self.create_staging_table(&name, false).await;
            name
        })
        .await
    }

    /// A new table as template.yaml declares `StagingTable`, with its stream or without:
    /// a test that reads a whole stream gets one holding only its own records.
    pub async fn new_staging_table(&self, stream: bool) -> String {
        let name = format!("{}-{}", self.staging_table, random_suffix(8));
        self.create_staging_table(&name, stream).await;
        name
    }

    async fn create_staging_table(&self, name: &str, stream: bool) {
        let mut template = try_template().expect("template.yaml").clone();
        if !stream {
            if let Some(props) =
                template["Resources"]["StagingTable"]["Properties"].as_mapping_mut()
            {
                props.remove("StreamSpecification");
            }
        }
        create_table(&self.dynamodb().await, &template, "StagingTable", name)
            .await
            .expect("a staging table");
    }

    /// Every item of the staging table under partition key `pk`, page after page.
    pub async fn staging_items(
        &self,
        pk: &str,
    ) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.items_under(&self.staging_table, pk).await
    }

    /// Every item of `table` under partition key `pk`, page after page.
    pub async fn items_under(
        &self,
        table: &str,
        pk: &str,
    ) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let client = self.dynamodb().await;
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = client
                .query()
                .table_name(table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("Query");
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    pub async fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        eventbridge_at(&self.endpoint).await
    }

    pub async fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        secretsmanager_at(&self.endpoint).await
    }

    pub async fn lambda(&self) -> aws_sdk_lambda::Client {
        lambda_at(&self.endpoint).await
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        s3_at(&self.endpoint).await
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&sdk_config(&self.endpoint).await)
    }

    /// Keys under `prefix` in the data bucket, page after page, sorted.
    pub async fn lake_keys(&self, prefix: &str) -> Vec<String> {
        let s3 = self.s3().await;
        let mut pages = s3
            .list_objects_v2()
            .bucket(&self.data_bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.expect("ListObjectsV2");
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys.sort();
        keys
    }

    /// The body of the data bucket's object under `key`.
    pub async fn lake_object(&self, key: &str) -> bytes::Bytes {
        self.s3()
            .await
            .get_object()
            .bucket(&self.data_bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetObject {key}: {e:?}"))
            .body
            .collect()
            .await
            .expect("the object's body")
            .into_bytes()
    }

    /// Writes `body` under `key` in the data bucket.
    pub async fn put_lake_object(&self, key: &str, body: Vec<u8>) {
        self.s3()
            .await
            .put_object()
            .bucket(&self.data_bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
    }
}

/// SDK configuration for a local endpoint: us-east-1, static test credentials, nothing
/// read from the host's environment or profile (so no IMDS), and the SDK's standard
/// retries as in production (3 attempts) with a short backoff: moto answers 500 now and
/// then under concurrent DynamoDB transactions, which a deployed SDK client retries too.
/// An injected fault is therefore seen up to 3 times at the [`crate::FaultProxy`].
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .empty_test_environment()
        .region(Region::new(REGION))
        .test_credentials()
        .endpoint_url(endpoint)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(20)),
        )
        .load()
        .await
}

/// A DynamoDB client for `endpoint` (moto, or a [`crate::FaultProxy`] in front of it).
pub async fn dynamodb_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(endpoint).await)
}

/// An EventBridge client for `endpoint`.
pub async fn eventbridge_at(endpoint: &str) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&sdk_config(endpoint).await)
}

/// A Secrets Manager client for `endpoint`.
pub async fn secretsmanager_at(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config(endpoint).await)
}

/// A Lambda client for `endpoint`.
pub async fn lambda_at(endpoint: &str) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&sdk_config(endpoint).await)
}

/// An S3 client for `endpoint`, path-style: a local S3 knows no `<bucket>.host` names.
pub async fn s3_at(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config(endpoint).await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn set_up() -> Result<TestAws, BoxError> {
    let template = try_template()?;
    let endpoint = match std::env::var(ENDPOINT_VAR) {
        Ok(endpoint) => endpoint.trim_end_matches('/').to_owned(),
        Err(_) => moto::start()?,
    };
    // A private runtime on its own thread: the caller may be inside a test's runtime.
    let outcome = thread::Builder::new()
        .name("adpipe-testkit-setup".into())
        .spawn(move || -> Result<TestAws, String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(create_resources(endpoint, template))
                .map_err(|e| e.to_string())
        })?
        .join()
        .map_err(|_| "the setup thread panicked")?;
    Ok(outcome?)
}

async fn create_resources(
    endpoint: String,
    template: &serde_yaml::Value,
) -> Result<TestAws, BoxError> {
    let suffix = random_suffix(8);
    let control_table = format!("adpipe-control-{suffix}");
    let staging_table = format!("adpipe-staging-{suffix}");
    let dynamodb = dynamodb_at(&endpoint).await;
    create_table(&dynamodb, template, "ControlTable", &control_table).await?;
    create_table(&dynamodb, template, "StagingTable", &staging_table).await?;

    // No "/" in the name, like the stack's: no connection-secret prefix covers it.
    let app_credentials_secret = secretsmanager_at(&endpoint)
        .await
        .create_secret()
        .name(format!("adpipe-{suffix}-app-credentials"))
        .secret_string(APP_CREDENTIALS)
        .send()
        .await
        .map_err(|e| format!("creating the app-credentials secret: {e:?}"))?
        .arn
        .ok_or("CreateSecret answered without an ARN")?;

    let extractor_function_arn = create_function(&endpoint, &suffix).await?;
    let data_bucket = format!("adpipe-data-{suffix}");
    s3_at(&endpoint)
        .await
        .create_bucket()
        .bucket(&data_bucket)
        .send()
        .await
        .map_err(|e| format!("creating the data bucket: {e:?}"))?;
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&endpoint).await);
    let create_queue = |name: String| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(&name)
                .send()
                .await
                .map_err(|e| format!("creating the queue {name}: {e:?}"))?
                .queue_url
                .ok_or_else(|| format!("CreateQueue of {name} answered without a URL"))
        }
    };
    let stream_failure_queue_url = create_queue(format!("adpipe-stream-failures-{suffix}")).await?;
    let insights_queue_url = create_queue(format!("adpipe-insights-{suffix}")).await?;
    Ok(TestAws {
        endpoint,
        control_table,
        staging_table,
        app_credentials_secret,
        extractor_function_arn,
        data_bucket,
        stream_failure_queue_url,
        insights_queue_url,
    })
}

async fn create_function(endpoint: &str, suffix: &str) -> Result<String, BoxError> {
    create_lambda_role(endpoint).await?;
    let function = lambda_at(endpoint)
        .await
        .create_function()
        .function_name(format!("adpipe-extractor-{suffix}"))
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(LAMBDA_ROLE)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(EMPTY_ZIP))
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("creating the extractor function: {e:?}"))?;
    Ok(function
        .function_arn
        .ok_or("CreateFunction answered without an ARN")?)
}

/// moto's CreateFunction insists the role exists in its IAM. There is no IAM SDK crate
/// here, so speak IAM's query protocol directly; moto routes it by the credential scope
/// and checks no signature. A role left by an earlier process is fine.
async fn create_lambda_role(endpoint: &str) -> Result<(), BoxError> {
    let role_name = LAMBDA_ROLE.rsplit('/').next().unwrap_or("x");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(format!("{endpoint}/"))
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=test/20250101/{REGION}/iam/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .form(&[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", role_name),
            ("AssumeRolePolicyDocument", trust),
        ])
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    if status.is_success() || body.contains("EntityAlreadyExists") {
        Ok(())
    } else {
        Err(format!("creating IAM role {role_name}: {status}: {body}").into())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::{KeyType, StreamViewType, TimeToLiveStatus};

    use super::*;
    use crate::template;

    fn declared_keys(logical_id: &str) -> Vec<(String, String)> {
        let keys = &template()["Resources"][logical_id]["Properties"]["KeySchema"];
        keys.as_sequence()
            .expect("KeySchema is a list")
            .iter()
            .map(|k| {
                let field = |f: &str| k[f].as_str().expect("plain string").to_owned();
                (field("AttributeName"), field("KeyType"))
            })
            .collect()
    }

    async fn described_keys(table: &str) -> Vec<(String, String)> {
        let table = aws()
            .dynamodb()
            .await
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("the table exists")
            .table
            .expect("a description");
        table
            .key_schema()
            .iter()
            .map(|k| {
                let kind: &KeyType = k.key_type();
                (k.attribute_name().to_owned(), kind.as_str().to_owned())
            })
            .collect()
    }

    #[tokio::test]
    async fn tables_have_the_templates_key_schema() {
        let aws = aws();
        assert!(aws.endpoint.starts_with("http://127.0.0.1:"));
        assert_eq!(
            described_keys(&aws.control_table).await,
            declared_keys("ControlTable")
        );
        assert_eq!(
            described_keys(&aws.staging_table).await,
            declared_keys("StagingTable")
        );
    }

    #[tokio::test]
    async fn staging_table_streams_new_images() {
        let table = aws()
            .dynamodb()
            .await
            .describe_table()
            .table_name(&aws().staging_table)
            .send()
            .await
            .expect("the table exists")
            .table
            .expect("a description");
        let stream = table.stream_specification().expect("a stream");
        assert!(stream.stream_enabled());
        assert_eq!(stream.stream_view_type(), Some(&StreamViewType::NewImage));
        assert!(table.latest_stream_arn().is_some());
    }

    #[tokio::test]
    async fn ttl_is_enabled_on_expires_at() {
        let dynamodb = aws().dynamodb().await;
        for table in [&aws().control_table, &aws().staging_table] {
            let ttl = dynamodb
                .describe_time_to_live()
                .table_name(table)
                .send()
                .await
                .expect("TTL described")
                .time_to_live_description
                .expect("a TTL description");
            assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
            assert_eq!(ttl.attribute_name(), Some("expires_at"));
        }
    }

    #[tokio::test]
    async fn app_credentials_secret_holds_test_credentials() {
        let secret = aws()
            .secretsmanager()
            .await
            .get_secret_value()
            .secret_id(&aws().app_credentials_secret)
            .send()
            .await
            .expect("the secret exists");
        let value: serde_json::Value =
            serde_json::from_str(secret.secret_string().expect("a string")).expect("JSON");
        assert_eq!(value["google"]["developer_token"], "test-dev-token");
        assert_eq!(value["facebook"]["app_secret"], "test-app-secret");
    }

    #[tokio::test]
    async fn the_stream_failure_queue_exists() {
        let url = aws()
            .sqs()
            .await
            .get_queue_url()
            .queue_name(aws().stream_failure_queue_url.rsplit('/').next().unwrap())
            .send()
            .await
            .expect("the queue exists")
            .queue_url;
        assert_eq!(
            url.as_deref(),
            Some(aws().stream_failure_queue_url.as_str())
        );
    }

    #[tokio::test]
    async fn extractor_function_exists() {
        let function = aws()
            .lambda()
            .await
            .get_function()
            .function_name(&aws().extractor_function_arn)
            .send()
            .await
            .expect("the function exists");
        let arn = function.configuration().and_then(|c| c.function_arn());
        assert_eq!(arn, Some(aws().extractor_function_arn.as_str()));
    }
}
