//! A proxy in front of moto that fails chosen operations on cue, answers chosen REST
//! requests with a status of its choosing, and holds a request until told to let it go.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, Semaphore};

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
    /// DynamoDB request units per table, as on-demand bills them (reads from answers).
    units: Mutex<Vec<Consumed>>,
}

/// Request units one item (or one request, for a Query or a missing key) consumed.
struct Consumed {
    table: String,
    units: RequestUnits,
    /// The item's top-level attribute names (empty when no item was seen).
    attributes: Vec<String>,
}

/// DynamoDB on-demand request units: a read request unit is 4 KB strongly consistent (half
/// of one eventually consistent), a write request unit 1 KB, each item rounded up.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RequestUnits {
    pub read: f64,
    pub write: f64,
}

#[derive(Default)]
struct Faults {
    operations: HashSet<String>,
    path_prefixes: HashSet<String>,
    /// (method, path prefix) → the status answered, in S3's XML error shape.
    answers: Vec<(http::Method, String, u16)>,
    holds: Vec<Hold>,
}

/// A request to hold: the first one with `method` and a path under `prefix`.
struct Hold {
    method: http::Method,
    prefix: String,
    gate: Arc<Gate>,
}

struct Seen {
    operation: Option<String>,
    method: http::Method,
    path: String,
    /// DynamoDB requests: the items the request names, per table.
    items: Vec<(String, usize)>,
}

/// Which side of DynamoDB's item count [`FaultProxy::item_reads`] and
/// [`FaultProxy::item_writes`] add up.
const READS: [&str; 2] = [
    "DynamoDB_20120810.GetItem",
    "DynamoDB_20120810.BatchGetItem",
];
const WRITES: [&str; 4] = [
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.UpdateItem",
    "DynamoDB_20120810.DeleteItem",
    "DynamoDB_20120810.BatchWriteItem",
];

/// A request held at the proxy: [`Held::arrived`] waits until one is, [`Held::release`]
/// sends it on to the upstream.
pub struct Held(Arc<Gate>);

struct Gate {
    arrived: Notify,
    release: Semaphore,
}

impl Held {
    /// Waits until the request to hold has arrived (it then waits at the proxy).
    pub async fn arrived(&self) {
        self.0.arrived.notified().await;
    }

    /// Lets the held request go on to the upstream.
    pub fn release(&self) {
        self.0.release.add_permits(1);
    }
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
            units: Mutex::default(),
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

    /// Answers every `method` request under path `prefix` (e.g. `"/bucket/ad_metrics/"`)
    /// with `status` and an S3 error body (`PreconditionFailed` for 412, `InternalError`
    /// for 5xx, …) until [`Self::heal_requests`]; it never reaches the upstream.
    pub fn answer(&self, method: http::Method, prefix: &str, status: u16) {
        lock(&self.state.faults)
            .answers
            .push((method, prefix.to_owned(), status));
    }

    /// Stops every [`Self::answer`] rule.
    pub fn heal_requests(&self) {
        lock(&self.state.faults).answers.clear();
    }

    /// Holds the next `method` request under path `prefix` at the proxy until released.
    pub fn hold_next(&self, method: http::Method, prefix: &str) -> Held {
        let gate = Arc::new(Gate {
            arrived: Notify::new(),
            release: Semaphore::new(0),
        });
        lock(&self.state.faults).holds.push(Hold {
            method,
            prefix: prefix.to_owned(),
            gate: Arc::clone(&gate),
        });
        Held(gate)
    }

    /// How many `method` requests under path `prefix` arrived, answered or forwarded.
    pub fn request_hits(&self, method: &http::Method, prefix: &str) -> usize {
        lock(&self.state.seen)
            .iter()
            .filter(|seen| seen.method == method && seen.path.starts_with(prefix))
            .count()
    }

    /// Forgets the requests seen so far: the counts start again from zero.
    pub fn forget_requests(&self) {
        lock(&self.state.seen).clear();
        lock(&self.state.units).clear();
    }

    /// The request units `table` consumed so far: writes from the items of each request
    /// (PutItem, BatchWriteItem puts; a delete or update counts its request's item), reads
    /// from the items each successful GetItem, BatchGetItem or Query answered (a key found
    /// missing costs the minimum, as DynamoDB bills it).
    pub fn request_units(&self, table: &str) -> RequestUnits {
        self.units_where(table, |_| true)
    }

    /// Of [`Self::request_units`], those of items that have the attribute `attribute`.
    pub fn request_units_of_items_with(&self, table: &str, attribute: &str) -> RequestUnits {
        self.units_where(table, |c| c.attributes.iter().any(|a| a == attribute))
    }

    fn units_where(&self, table: &str, keep: impl Fn(&Consumed) -> bool) -> RequestUnits {
        lock(&self.state.units)
            .iter()
            .filter(|c| c.table == table && keep(c))
            .fold(RequestUnits::default(), |sum, c| RequestUnits {
                read: sum.read + c.units.read,
                write: sum.write + c.units.write,
            })
    }

    /// Items read from `table` so far (GetItem, and each key of BatchGetItem).
    pub fn item_reads(&self, table: &str) -> usize {
        self.items(table, &READS)
    }

    /// Items written to `table` so far (PutItem, UpdateItem, DeleteItem, and each request
    /// of BatchWriteItem).
    pub fn item_writes(&self, table: &str) -> usize {
        self.items(table, &WRITES)
    }

    fn items(&self, table: &str, operations: &[&str]) -> usize {
        lock(&self.state.seen)
            .iter()
            .filter(|seen| {
                seen.operation
                    .as_deref()
                    .is_some_and(|op| operations.contains(&op))
            })
            .flat_map(|seen| &seen.items)
            .filter(|(name, _)| name == table)
            .map(|(_, n)| n)
            .sum()
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
        // Matched decoded: the SDKs percent-encode a key's `=` and the prefixes are plain.
        let path = percent_encoding::percent_decode_str(request.uri().path())
            .decode_utf8_lossy()
            .into_owned();
        let method = request.method().clone();
        let (parts, body) = request.into_parts();
        // A body that cannot be read arrives empty upstream, which then fails the request.
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        // A DynamoDB request's JSON, read once for its item count and its request units.
        let request_json = operation
            .as_deref()
            .filter(|op| op.starts_with("DynamoDB_20120810."))
            .and_then(|_| serde_json::from_slice::<serde_json::Value>(&body).ok());
        let items = operation
            .as_deref()
            .zip(request_json.as_ref())
            .map(|(op, json)| dynamodb_items(op, json))
            .unwrap_or_default();
        let (fail, answer, hold) = {
            let mut faults = lock(&self.faults);
            let fail = operation
                .as_ref()
                .is_some_and(|op| faults.operations.contains(op))
                || faults.path_prefixes.iter().any(|p| path.starts_with(p));
            let answer = faults
                .answers
                .iter()
                .find(|(m, p, _)| *m == method && path.starts_with(p.as_str()))
                .map(|(_, _, status)| *status);
            let hold = faults
                .holds
                .iter()
                .position(|h| h.method == method && path.starts_with(h.prefix.as_str()))
                .map(|i| faults.holds.remove(i).gate);
            (fail, answer, hold)
        };
        // What the request units are counted from once it is answered.
        let dynamodb_request = operation.clone().zip(request_json);
        lock(&self.seen).push(Seen {
            operation,
            method,
            path,
            items,
        });
        if fail {
            return respond(500, "application/x-amz-json-1.1", FAULT_BODY);
        }
        if let Some(status) = answer {
            return respond(status, "application/xml", s3_error(status));
        }
        if let Some(gate) = hold {
            gate.arrived.notify_one();
            // Never closed: a permit comes from `Held::release`.
            let _ = gate.release.acquire().await.map(|p| p.forget());
        }
        let (response, answer_body) = match self.forward(parts, body).await {
            Ok(forwarded) => forwarded,
            Err(e) => {
                let message = format!("fault proxy: upstream {} failed: {e}", self.upstream);
                return respond(502, "text/plain", message);
            }
        };
        if let Some((op, request)) = dynamodb_request {
            let answered = response
                .status()
                .is_success()
                .then(|| serde_json::from_slice::<serde_json::Value>(&answer_body).ok())
                .flatten();
            lock(&self.units).extend(units::of(&op, &request, answered.as_ref()));
        }
        response
    }

    async fn forward(
        &self,
        parts: http::request::Parts,
        body: Bytes,
    ) -> Result<(Response<Body>, Bytes), reqwest::Error> {
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
        let mut response = Response::new(Body::new(body.clone()));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok((response, body))
    }
}

/// The items a DynamoDB request names, per table: one for GetItem, PutItem, UpdateItem
/// and DeleteItem, each key of BatchGetItem and each request of BatchWriteItem. What
/// DynamoDB bills (a request unit per item and 4 KB or 1 KB of it) follows from these.
fn dynamodb_items(operation: &str, json: &serde_json::Value) -> Vec<(String, usize)> {
    let table = |name: &serde_json::Value| name.as_str().unwrap_or_default().to_owned();
    let batch = |entries: fn(&serde_json::Value) -> usize| {
        json["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, entry)| (name.clone(), entries(entry)))
            .collect()
    };
    match operation.strip_prefix("DynamoDB_20120810.") {
        Some("GetItem" | "PutItem" | "UpdateItem" | "DeleteItem") => {
            vec![(table(&json["TableName"]), 1)]
        }
        Some("BatchGetItem") => batch(|entry| entry["Keys"].as_array().map_or(0, Vec::len)),
        Some("BatchWriteItem") => batch(|entry| entry.as_array().map_or(0, Vec::len)),
        _ => Vec::new(),
    }
}

/// An S3 REST error document for `status`.
fn s3_error(status: u16) -> String {
    let (code, message) = match status {
        412 => (
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        ),
        409 => (
            "ConditionalRequestConflict",
            "A conflicting conditional operation is currently in progress against this resource.",
        ),
        503 => ("SlowDown", "Please reduce your request rate."),
        _ => (
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>injected</RequestId></Error>"
    )
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

/// DynamoDB's request units of one request and its answer, per table (what on-demand mode
/// bills): item sizes as the Developer Guide's "Item sizes and formats" counts them.
mod units {
    use serde_json::{Map, Value};

    use super::{Consumed, RequestUnits};

    const READ_UNIT: f64 = 4096.0;
    const WRITE_UNIT: f64 = 1024.0;

    pub(super) fn of(operation: &str, request: &Value, answer: Option<&Value>) -> Vec<Consumed> {
        let table = || request["TableName"].as_str().unwrap_or_default().to_owned();
        let consumed =
            |table: String, units: RequestUnits, item: Option<&Map<String, Value>>| Consumed {
                table,
                units,
                attributes: item
                    .map(|i| i.keys().cloned().collect())
                    .unwrap_or_default(),
            };
        let strong = |r: &Value| r["ConsistentRead"].as_bool().unwrap_or(false);
        let reads = |units: f64| RequestUnits {
            read: units,
            write: 0.0,
        };
        let writes = |units: f64| RequestUnits {
            read: 0.0,
            write: units,
        };
        match operation.trim_start_matches("DynamoDB_20120810.") {
            "GetItem" => {
                let size = answer
                    .and_then(|a| a["Item"].as_object())
                    .map_or(0, size_of);
                vec![consumed(
                    table(),
                    reads(read_units(size, strong(request))),
                    None,
                )]
            }
            "Query" | "Scan" => {
                let size: usize = answer
                    .and_then(|a| a["Items"].as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object)
                    .map(size_of)
                    .sum();
                vec![consumed(
                    table(),
                    reads(read_units(size, strong(request))),
                    None,
                )]
            }
            "BatchGetItem" => request["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(name, entry)| {
                    let keys = entry["Keys"].as_array().map_or(0, Vec::len);
                    let found: Vec<&Map<String, Value>> = answer
                        .and_then(|a| a["Responses"][name].as_array())
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_object)
                        .collect();
                    let strong = strong(entry);
                    let missing = keys.saturating_sub(found.len());
                    let mut out: Vec<Consumed> = found
                        .iter()
                        .map(|item| {
                            let units = reads(read_units(size_of(item), strong));
                            consumed(name.clone(), units, Some(item))
                        })
                        .collect();
                    if missing > 0 {
                        let units = reads(missing as f64 * read_units(0, strong));
                        out.push(consumed(name.clone(), units, None));
                    }
                    out
                })
                .collect(),
            "PutItem" => {
                let item = request["Item"].as_object();
                let size = item.map_or(0, size_of);
                vec![consumed(table(), writes(write_units(size)), item)]
            }
            "UpdateItem" | "DeleteItem" => {
                let size = request["Key"].as_object().map_or(0, size_of)
                    + request["ExpressionAttributeValues"]
                        .as_object()
                        .map_or(0, size_of);
                vec![consumed(table(), writes(write_units(size)), None)]
            }
            "BatchWriteItem" => request["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(name, entries)| {
                    entries.as_array().into_iter().flatten().map(|e| {
                        let item = e["PutRequest"]["Item"]
                            .as_object()
                            .or_else(|| e["DeleteRequest"]["Key"].as_object());
                        let units = writes(write_units(item.map_or(0, size_of)));
                        consumed(name.clone(), units, item)
                    })
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn read_units(size: usize, strong: bool) -> f64 {
        let units = (size.max(1) as f64 / READ_UNIT).ceil();
        if strong { units } else { units / 2.0 }
    }

    fn write_units(size: usize) -> f64 {
        (size.max(1) as f64 / WRITE_UNIT).ceil()
    }

    /// An item's size: each attribute's name and value.
    pub(super) fn size_of(item: &Map<String, Value>) -> usize {
        item.iter()
            .map(|(name, value)| name.len() + value_size(value))
            .sum()
    }

    /// A DynamoDB JSON value's size: strings in UTF-8, numbers about one byte per two
    /// significant digits plus one, binary decoded, 1 for BOOL and NULL, 3 bytes of
    /// overhead for a list or map plus 1 per element.
    fn value_size(value: &Value) -> usize {
        let Some((kind, v)) = value.as_object().and_then(|o| o.iter().next()) else {
            return 0;
        };
        let text = || v.as_str().unwrap_or_default();
        let number = |n: &str| {
            let digits = n
                .trim_start_matches('-')
                .replace('.', "")
                .trim_matches('0')
                .len();
            digits.div_ceil(2) + 1
        };
        let binary = |b: &str| b.trim_end_matches('=').len() * 3 / 4;
        let strings = || v.as_array().into_iter().flatten().filter_map(Value::as_str);
        match kind.as_str() {
            "S" => text().len(),
            "N" => number(text()),
            "B" => binary(text()),
            "BOOL" | "NULL" => 1,
            "SS" => strings().map(str::len).sum(),
            "NS" => strings().map(number).sum(),
            "BS" => strings().map(binary).sum(),
            "L" => {
                3 + v
                    .as_array()
                    .map_or(0, |l| l.iter().map(|e| 1 + value_size(e)).sum())
            }
            "M" => {
                3 + v.as_object().map_or(0, |m| {
                    m.iter().map(|(k, e)| 1 + k.len() + value_size(e)).sum()
                })
            }
            _ => 0,
        }
    }

    #[cfg(test)]
    mod tests {
        use serde_json::json;

        use super::*;

        #[test]
        fn sizes_and_units_follow_dynamodbs_rules() {
            let item = json!({"pk": {"S": "abc"}, "n": {"N": "12345"}, "b": {"B": "AAAA"}, "t": {"BOOL": true}});
            // 2+3, 1+(5 digits: 3+1), 1+3, 1+1
            assert_eq!(size_of(item.as_object().unwrap()), 5 + 5 + 4 + 2);
            let big = json!({"pk": {"S": "x".repeat(5000)}});
            let put = json!({"TableName": "t", "Item": big});
            assert_eq!(
                of("DynamoDB_20120810.PutItem", &put, None)[0].units.write,
                5.0
            );
            let get = json!({"RequestItems": {"t": {"Keys": [{}, {}, {}]}}});
            let answer = json!({"Responses": {"t": [big, {"pk": {"S": "y"}}]}});
            // 5,002 bytes: 2 units, half each eventually consistent; 1 small; 1 missing.
            let units = of("DynamoDB_20120810.BatchGetItem", &get, Some(&answer));
            let read: f64 = units.iter().map(|c| c.units.read).sum();
            assert_eq!(read, 1.0 + 0.5 + 0.5);
            assert_eq!(units[0].attributes, vec!["pk".to_owned()]);
        }
    }
}
