//! `adpipe-local-api`: the schedule API on loopback for `make demo` and local development.
//!
//! It stands in for API Gateway: each HTTP request becomes the HTTP API's payload-v2 event
//! with a JWT authorizer context whose tenant claim is fixed at start
//! (`ADPIPE_LOCAL_TENANT`, default `demo`), and goes to the same handler the Lambda runs.
//! It refuses to start inside Lambda and listens on 127.0.0.1 only, so it can never
//! bypass real authentication. Being local, it also admits OAuth redirect URIs on
//! `http://localhost` / `127.0.0.1`, which the deployed API refuses.
//!
//! A listener on loopback is still reachable from a browser on the same machine: a page
//! on any site can send it requests (CSRF), and a name that resolves to 127.0.0.1 can
//! reach it as its own origin (DNS rebinding). So a request must name a loopback `Host`,
//! and a browser's request must come from the API's own origin (`Origin`,
//! `Sec-Fetch-Site`); anything else is refused with 403 before it reaches the handler.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use schedule_api::error::ErrorCode;
use schedule_api::request::MAX_BODY_BYTES;
use schedule_api::{Api, Config, OAuthConfig, aws_api_with, handle};
use serde_json::{Map, Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
        || std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
    {
        return Err(
            "adpipe-local-api replaces API Gateway's JWT check and must never run inside Lambda"
                .into(),
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let config = Config::from_env()?;
    let oauth_config = OAuthConfig {
        loopback_redirects: true,
        ..OAuthConfig::from_env()?
    };
    let port: u16 = std::env::var("ADPIPE_LOCAL_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8787);
    let tenant = std::env::var("ADPIPE_LOCAL_TENANT").unwrap_or_else(|_| "demo".into());
    let claim = config.tenant_claim.clone();
    let sdk = aws_config::load_from_env().await;
    let api: &'static Api = Box::leak(Box::new(aws_api_with(config, oauth_config, &sdk)));
    let claims: &'static Map<String, Value> = Box::leak(Box::new(Map::from_iter([(
        claim,
        Value::String(tenant.clone()),
    )])));

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!(
        "adpipe-local-api listening on http://{} as tenant {tenant}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(move |req| serve(api, claims, req));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
}

async fn serve(
    api: &Api,
    claims: &Map<String, Value>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, BoxError> {
    let (parts, body) = req.into_parts();
    if let Some((code, message)) = refusal(&parts.headers) {
        let body = json!({"error": {"code": code, "message": message}}).to_string();
        let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = http::StatusCode::FORBIDDEN;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        return Ok(response);
    }
    // Read one byte past the limit, so the handler sees an oversized body and answers 413.
    let bytes = match Limited::new(body, MAX_BODY_BYTES + 1).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::from(vec![b' '; MAX_BODY_BYTES + 1]),
    };
    let event = api_gateway_event(&parts, &bytes, claims);
    let request = lambda_http::request::from_str(&event.to_string())?;
    let response = handle(api, request).await;
    let (parts, body) = response.into_parts();
    Ok(hyper::Response::from_parts(
        parts,
        Full::new(Bytes::copy_from_slice(body.as_ref())),
    ))
}

/// Why a request may not reach the local API: a `Host` that is not loopback (DNS
/// rebinding), or a cross-origin browser request (CSRF). `None`: it may.
fn refusal(headers: &http::HeaderMap) -> Option<(ErrorCode, &'static str)> {
    let text = |name: http::header::HeaderName| {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => v.to_str().ok(),
            _ => None,
        }
    };
    let Some(host) = text(http::header::HOST).filter(|h| loopback_authority(h)) else {
        return Some((
            ErrorCode::ForbiddenHost,
            "the local API answers only requests to localhost, 127.0.0.1 or [::1]",
        ));
    };
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://"))
            .is_some_and(|authority| authority.eq_ignore_ascii_case(host));
        if !same {
            return Some((
                ErrorCode::CrossOrigin,
                "the local API refuses cross-origin requests: call it from a script or a server, not from a web page of another origin",
            ));
        }
    }
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| !matches!(site, "same-origin" | "none"));
    cross_site.then_some((
        ErrorCode::CrossOrigin,
        "the local API refuses cross-origin requests: call it from a script or a server, not from a web page of another origin",
    ))
}

/// `localhost`, `127.0.0.1` or `[::1]`, with an optional port.
fn loopback_authority(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "[::1]"
}

/// The HTTP API (payload format 2.0) event API Gateway would send for this request.
fn api_gateway_event(
    parts: &http::request::Parts,
    body: &[u8],
    claims: &Map<String, Value>,
) -> Value {
    let headers: Map<String, Value> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_owned(),
                Value::String(v.to_str().ok()?.to_owned()),
            ))
        })
        .collect();
    let query = parts.uri.query().unwrap_or("");
    let mut params = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    let path = parts.uri.path();
    let text = std::str::from_utf8(body).ok();
    json!({
        "version": "2.0",
        "routeKey": "ANY /v1/{proxy+}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": params,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "authorizer": {"jwt": {"claims": claims, "scopes": null}},
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": parts.method.as_str(), "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local"},
            "requestId": uuid_like(),
            "routeKey": "ANY /v1/{proxy+}",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "body": text.map(str::to_owned).unwrap_or_else(|| base64_encode(body)),
        "isBase64Encoded": text.is_none()
    })
}

fn uuid_like() -> String {
    format!(
        "local-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    )
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn only_loopback_hosts_and_same_origin_requests_pass() {
        for ok in [
            vec![("host", "localhost:8787")],
            vec![("host", "127.0.0.1:8787")],
            vec![("host", "[::1]:8787")],
            vec![("host", "LOCALHOST")],
            vec![
                ("host", "127.0.0.1:8787"),
                ("origin", "http://127.0.0.1:8787"),
            ],
            vec![
                ("host", "localhost:8787"),
                ("sec-fetch-site", "same-origin"),
            ],
        ] {
            assert_eq!(refusal(&headers(&ok)), None, "{ok:?}");
        }
        for (bad, code) in [
            (vec![], "forbidden_host"),
            (vec![("host", "evil.example")], "forbidden_host"),
            (
                vec![("host", "127.0.0.1.evil.example:8787")],
                "forbidden_host",
            ),
            (
                vec![("host", "localhost:8787"), ("host", "evil.example")],
                "forbidden_host",
            ),
            (vec![("host", "[::1]x")], "forbidden_host"),
            (
                vec![
                    ("host", "localhost:8787"),
                    ("origin", "https://evil.example"),
                ],
                "cross_origin",
            ),
            (
                vec![
                    ("host", "localhost:8787"),
                    ("origin", "http://localhost:3000"),
                ],
                "cross_origin",
            ),
            (
                vec![("host", "localhost:8787"), ("origin", "null")],
                "cross_origin",
            ),
            (
                vec![("host", "localhost:8787"), ("sec-fetch-site", "cross-site")],
                "cross_origin",
            ),
            (
                vec![("host", "localhost:8787"), ("sec-fetch-site", "same-site")],
                "cross_origin",
            ),
        ] {
            assert_eq!(
                refusal(&headers(&bad)).map(|r| r.0.as_str()),
                Some(code),
                "{bad:?}"
            );
        }
    }
}
