//! The Lambda runtime API, enough to run a built `bootstrap` binary on this machine.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::random_suffix;
use crate::server::{Body, Server, respond};

const FUNCTION_NAME: &str = "adpipe-under-test";
const REGION: &str = "us-east-1";
const DEADLINE: Duration = Duration::from_secs(30);
const PREFIX: &str = "/2018-06-01/runtime";

/// What the function reported, in the order it reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response { request_id: String, body: Value },
    Error { request_id: String, body: Value },
    InitError(Value),
}

/// One invocation to hand out: the event, and the request id and time to deadline Lambda
/// gives it (an asynchronous retry of an invocation carries the same request id).
#[derive(Debug, Clone)]
pub struct Invocation {
    pub event: Value,
    /// `None`: a fresh UUID, as for every new invocation.
    pub request_id: Option<String>,
    pub deadline_in: Duration,
}

impl Invocation {
    /// A new invocation of `event` with the default 30 s to its deadline.
    pub fn of(event: Value) -> Invocation {
        Invocation {
            event,
            request_id: None,
            deadline_in: DEADLINE,
        }
    }
}

/// Hands out `events` one per `GET …/invocation/next`, then holds the next request open
/// forever (as Lambda does between invocations); records what the function posts back.
/// Stops serving when dropped.
pub struct FakeRuntimeApi {
    server: Server,
    state: Arc<State>,
    outcomes: tokio::sync::Mutex<mpsc::UnboundedReceiver<Outcome>>,
}

struct State {
    events: Mutex<VecDeque<Invocation>>,
    first_next_at: Mutex<Option<Instant>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

/// Init times of a Lambda binary: `spawns` times, from spawning it (Lambda's environment
/// plus `env`) to its first `GET /runtime/invocation/next`, sorted. Panics if an init takes
/// over 10 s.
pub async fn init_times(binary: &str, env: &[(&str, &str)], spawns: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(spawns);
    for _ in 0..spawns {
        let runtime = FakeRuntimeApi::start(vec![]).await;
        let started = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .envs(runtime.lambda_env())
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {binary}: {e}"));
        let deadline = started + Duration::from_secs(10);
        let first = loop {
            if let Some(at) = runtime.first_next_at() {
                break at;
            }
            assert!(Instant::now() < deadline, "{binary}: no /next within 10 s");
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        times.push(first.duration_since(started));
        let _ = child.kill().await;
    }
    times.sort();
    times
}

/// `median M ms, min m ms, max x ms` of sorted init times.
pub fn init_summary(times: &[Duration]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    match (times.first(), times.get(times.len() / 2), times.last()) {
        (Some(min), Some(median), Some(max)) => format!(
            "median {:.1} ms, min {:.1} ms, max {:.1} ms",
            ms(*median),
            ms(*min),
            ms(*max)
        ),
        _ => "no spawns".to_owned(),
    }
}

impl FakeRuntimeApi {
    /// Starts serving on a loopback port of the current runtime.
    pub async fn start(events: Vec<Value>) -> FakeRuntimeApi {
        Self::start_invocations(events.into_iter().map(Invocation::of).collect()).await
    }

    /// Starts serving `invocations`, each with its own request id and deadline.
    pub async fn start_invocations(invocations: Vec<Invocation>) -> FakeRuntimeApi {
        let (sender, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            events: Mutex::new(invocations.into()),
            first_next_at: Mutex::new(None),
            outcomes: sender,
        });
        let handler_state = Arc::clone(&state);
        let server = Server::start(move |request| {
            let state = Arc::clone(&handler_state);
            async move { state.handle(request).await }
        })
        .await;
        FakeRuntimeApi {
            server,
            state,
            outcomes: tokio::sync::Mutex::new(receiver),
        }
    }

    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.server.addr().to_string()
    }

    /// When the function first asked for an event (its init was over).
    pub fn first_next_at(&self) -> Option<Instant> {
        *lock(&self.state.first_next_at)
    }

    /// The next outcome the function reported, or `None` if none came within `timeout`.
    pub async fn wait_outcome(&self, timeout: Duration) -> Option<Outcome> {
        let mut outcomes = self.outcomes.lock().await;
        tokio::time::timeout(timeout, outcomes.recv())
            .await
            .ok()
            .flatten()
    }

    /// The environment Lambda gives a function process, pointed at this runtime API.
    pub fn lambda_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{FUNCTION_NAME}"),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("2025/01/01/[$LATEST]{}", random_suffix(12)),
            ),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }
}

impl State {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_owned();
        let Some(route) = path.strip_prefix(PREFIX) else {
            return not_found();
        };
        match (request.method(), route) {
            (&Method::GET, "/invocation/next") => self.next_invocation().await,
            (&Method::POST, "/init/error") => {
                let body = json_body(request).await;
                self.record(Outcome::InitError(body))
            }
            (&Method::POST, route) => match route
                .strip_prefix("/invocation/")
                .and_then(|rest| rest.rsplit_once('/'))
            {
                Some((id, "response")) => {
                    let request_id = id.to_owned();
                    let body = json_body(request).await;
                    self.record(Outcome::Response { request_id, body })
                }
                Some((id, "error")) => {
                    let request_id = id.to_owned();
                    let body = json_body(request).await;
                    self.record(Outcome::Error { request_id, body })
                }
                _ => not_found(),
            },
            _ => not_found(),
        }
    }

    async fn next_invocation(&self) -> Response<Body> {
        lock(&self.first_next_at).get_or_insert_with(Instant::now);
        let Some(invocation) = lock(&self.events).pop_front() else {
            return std::future::pending().await;
        };
        let Invocation {
            event,
            request_id,
            deadline_in,
        } = invocation;
        let request_id = request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let deadline_ms = (now + deadline_in).as_millis();
        let trace_id = format!(
            "Root=1-{:08x}-{}{};Parent={}{};Sampled=0",
            now.as_secs(),
            random_suffix(12),
            random_suffix(12),
            random_suffix(8),
            random_suffix(8),
        );
        let mut response = respond(200, "application/json", event.to_string());
        let headers = response.headers_mut();
        for (name, value) in [
            ("lambda-runtime-aws-request-id", request_id),
            ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                format!("arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION_NAME}"),
            ),
            ("lambda-runtime-trace-id", trace_id),
        ] {
            let value = value.parse().expect("an ASCII header value");
            headers.insert(name, value);
        }
        response
    }

    fn record(&self, outcome: Outcome) -> Response<Body> {
        // The receiver lives as long as the server; a send can only fail during drop.
        let _ = self.outcomes.send(outcome);
        respond(202, "application/json", r#"{"status":"OK"}"#)
    }
}

/// The posted body as JSON, or as a JSON string if it is not JSON.
async fn json_body(request: Request<Incoming>) -> Value {
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
}

fn not_found() -> Response<Body> {
    respond(
        404,
        "text/plain",
        Bytes::from_static(b"not a runtime API route"),
    )
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client")
    }

    fn url(api: &FakeRuntimeApi, route: &str) -> String {
        format!("http://{}{PREFIX}{route}", api.address())
    }

    #[tokio::test]
    async fn hands_out_an_event_and_records_the_response() {
        let api = FakeRuntimeApi::start(vec![json!({"hello": "world"})]).await;
        assert_eq!(api.first_next_at(), None);

        let next = client()
            .get(url(&api, "/invocation/next"))
            .send()
            .await
            .expect("an invocation");
        assert!(api.first_next_at().is_some());
        let header = |name: &str| next.headers()[name].to_str().expect("ASCII").to_owned();
        let request_id = header("lambda-runtime-aws-request-id");
        let deadline_ms: u128 = header("lambda-runtime-deadline-ms").parse().expect("ms");
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(deadline_ms > now_ms + 20_000);
        assert!(header("lambda-runtime-invoked-function-arn").ends_with(FUNCTION_NAME));
        assert!(header("lambda-runtime-trace-id").starts_with("Root=1-"));
        assert_eq!(
            next.json::<Value>().await.expect("JSON"),
            json!({"hello": "world"})
        );

        client()
            .post(url(&api, &format!("/invocation/{request_id}/response")))
            .body(r#"{"ok":true}"#)
            .send()
            .await
            .expect("accepted");
        assert_eq!(
            api.wait_outcome(Duration::from_secs(5)).await,
            Some(Outcome::Response {
                request_id,
                body: json!({"ok": true})
            })
        );
    }

    #[tokio::test]
    async fn records_errors_in_order() {
        let api = FakeRuntimeApi::start(vec![]).await;
        let error = json!({"errorType": "Boom", "errorMessage": "it broke"});
        for route in ["/init/error", "/invocation/abc/error"] {
            client()
                .post(url(&api, route))
                .json(&error)
                .send()
                .await
                .expect("accepted");
        }
        let wait = || api.wait_outcome(Duration::from_secs(5));
        assert_eq!(wait().await, Some(Outcome::InitError(error.clone())));
        assert_eq!(
            wait().await,
            Some(Outcome::Error {
                request_id: "abc".into(),
                body: error
            })
        );
    }

    #[tokio::test]
    async fn holds_next_open_when_events_run_out() {
        let api = FakeRuntimeApi::start(vec![]).await;
        let next = client().get(url(&api, "/invocation/next")).send();
        let waited = tokio::time::timeout(Duration::from_millis(300), next).await;
        assert!(waited.is_err(), "no invocation must be handed out");
        assert!(api.first_next_at().is_some());
        assert_eq!(api.wait_outcome(Duration::from_millis(50)).await, None);
    }

    #[tokio::test]
    async fn lambda_env_points_at_the_api() {
        let api = FakeRuntimeApi::start(vec![]).await;
        let env = api.lambda_env();
        let var = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        assert_eq!(var("AWS_LAMBDA_RUNTIME_API"), Some(api.address()));
        assert_eq!(
            var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").as_deref(),
            Some("128")
        );
        assert_eq!(
            var("AWS_LAMBDA_FUNCTION_VERSION").as_deref(),
            Some("$LATEST")
        );
        assert_eq!(var("AWS_REGION").as_deref(), Some("us-east-1"));
    }
}
