//! A proxy in front of moto that fails chosen operations on cue.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::server::{Body, Server, respond};

const TARGET: &str = "x-amz-target";
const FAULT_BODY: &str = r#"{"__type":"InternalFailure","message":"injected fault"}"#;

/// Forwards every request to an upstream (moto) unless told to fail it: a failing request
/// gets HTTP 500 `InternalFailure` and never reaches the upstream.
///
/// JSON-protocol operations (DynamoDB, EventBridge, Secrets Manager) are named by their
/// `X-Amz-Target` header, e.g. `"DynamoDB_20120810.PutItem"`; REST ones (Lambda `Invoke`)
/// by a path prefix. Stops serving when dropped.
pub struct FaultProxy {
    server: Server,
    state: Arc<State>,
}

struct State {
    upstream: String,
    client: reqwest::Client,
    faults: Mutex<Faults>,
    seen: Mutex<Vec<Seen>>,
}

#[derive(Default)]
struct Faults {
    operations: HashSet<String>,
    path_prefixes: HashSet<String>,
}

struct Seen {
    operation: Option<String>,
    path: String,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) on the current runtime.
    pub async fn start(upstream: &str) -> FaultProxy {
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("an HTTP client"),
            faults: Mutex::default(),
            seen: Mutex::default(),
        });
        let handler_state = Arc::clone(&state);
        let server = Server::start(move |request| {
            let state = Arc::clone(&handler_state);
            async move { state.handle(request).await }
        })
        .await;
        FaultProxy { server, state }
    }

    /// `http://127.0.0.1:PORT`: give it to [`crate::sdk_config`] or a `*_at` constructor.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Fails every request whose `X-Amz-Target` is `operation` until [`Self::heal`].
    pub fn fail(&self, operation: &str) {
        lock(&self.state.faults)
            .operations
            .insert(operation.to_owned());
    }

    pub fn heal(&self, operation: &str) {
        lock(&self.state.faults).operations.remove(operation);
    }

    /// Fails every request whose path starts with `prefix`, e.g. `"/2015-03-31/functions/"`.
    pub fn fail_path_prefix(&self, prefix: &str) {
        lock(&self.state.faults)
            .path_prefixes
            .insert(prefix.to_owned());
    }

    pub fn heal_path_prefix(&self, prefix: &str) {
        lock(&self.state.faults).path_prefixes.remove(prefix);
    }

    /// How many requests with `X-Amz-Target: operation` arrived, failed or forwarded.
    pub fn hits(&self, operation: &str) -> usize {
        lock(&self.state.seen)
            .iter()
            .filter(|seen| seen.operation.as_deref() == Some(operation))
            .count()
    }

    /// How many requests with a path starting with `prefix` arrived, failed or forwarded.
    pub fn path_hits(&self, prefix: &str) -> usize {
        lock(&self.state.seen)
            .iter()
            .filter(|seen| seen.path.starts_with(prefix))
            .count()
    }
}

impl State {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let operation = request
            .headers()
            .get(TARGET)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let path = request.uri().path().to_owned();
        let fail = {
            let faults = lock(&self.faults);
            operation
                .as_ref()
                .is_some_and(|op| faults.operations.contains(op))
                || faults.path_prefixes.iter().any(|p| path.starts_with(p))
        };
        lock(&self.seen).push(Seen { operation, path });
        if fail {
            return respond(500, "application/x-amz-json-1.1", FAULT_BODY);
        }
        self.forward(request).await.unwrap_or_else(|e| {
            let message = format!("fault proxy: upstream {} failed: {e}", self.upstream);
            respond(502, "text/plain", message)
        })
    }

    async fn forward(&self, request: Request<Incoming>) -> Result<Response<Body>, reqwest::Error> {
        let (parts, body) = request.into_parts();
        // A body that cannot be read arrives empty upstream, which then fails the request.
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let upstream = self
            .client
            .request(parts.method, format!("{}{path_and_query}", self.upstream))
            .headers(end_to_end(parts.headers))
            .body(body)
            .send()
            .await?;
        let status = upstream.status();
        let headers = end_to_end(upstream.headers().clone());
        let body: Bytes = upstream.bytes().await?;
        let mut response = Response::new(Body::new(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// Drops the headers that belong to one hop (or that the client recomputes).
fn end_to_end(mut headers: HeaderMap) -> HeaderMap {
    const HOP: [HeaderName; 8] = [
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::EXPECT,
        header::HOST,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
    ];
    for name in HOP {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;

    use super::*;
    use crate::{aws, dynamodb_at, lambda_at};

    const LIST_TABLES: &str = "DynamoDB_20120810.ListTables";

    #[tokio::test]
    async fn forwards_requests_to_the_upstream() {
        let proxy = FaultProxy::start(&aws().endpoint).await;
        let tables = dynamodb_at(&proxy.endpoint())
            .await
            .list_tables()
            .send()
            .await
            .expect("ListTables through the proxy");
        assert!(tables.table_names().contains(&aws().control_table));
        assert_eq!(proxy.hits(LIST_TABLES), 1);
    }

    #[tokio::test]
    async fn fails_an_operation_on_cue_then_heals() {
        let proxy = FaultProxy::start(&aws().endpoint).await;
        let dynamodb = dynamodb_at(&proxy.endpoint()).await;
        proxy.fail(LIST_TABLES);

        let error = dynamodb.list_tables().send().await.expect_err("a fault");
        assert_eq!(error.code(), Some("InternalFailure"));
        assert_eq!(error.message(), Some("injected fault"));
        assert_eq!(
            proxy.hits(LIST_TABLES),
            3,
            "the SDK's three attempts all fail"
        );

        proxy.heal(LIST_TABLES);
        dynamodb.list_tables().send().await.expect("healed");
        assert_eq!(proxy.hits(LIST_TABLES), 4);
    }

    #[tokio::test]
    async fn fails_rest_calls_by_path_prefix() {
        let proxy = FaultProxy::start(&aws().endpoint).await;
        let lambda = lambda_at(&proxy.endpoint()).await;
        let get_function = || {
            lambda
                .get_function()
                .function_name(&aws().extractor_function_arn)
                .send()
        };
        proxy.fail_path_prefix("/2015-03-31/functions/");
        get_function().await.expect_err("a fault");

        proxy.heal_path_prefix("/2015-03-31/functions/");
        get_function().await.expect("healed");
        assert_eq!(
            proxy.path_hits("/2015-03-31/functions/"),
            4,
            "three failed attempts, one success"
        );
    }
}
