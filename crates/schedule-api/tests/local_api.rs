//! The real `adpipe-local-api` binary on loopback: it answers requests to a loopback host
//! from its own origin, and refuses DNS-rebinding hosts and cross-origin browser requests.

use std::process::Stdio;
use std::time::Duration;

use adpipe_testkit::aws;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Starts the local API on a free port and waits until it listens.
async fn start() -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_adpipe-local-api"))
        .env_clear()
        .env("ADPIPE_LOCAL_PORT", port.to_string())
        .env("CONTROL_TABLE", &aws().control_table)
        .env("EXTRACTOR_FUNCTION_ARN", &aws().extractor_function_arn)
        .env("AWS_ENDPOINT_URL", &aws().endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the local API starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("it says it listens")
        .unwrap()
        .unwrap_or_default();
    assert!(line.contains("listening"), "{line}");
    (child, port)
}

/// One raw HTTP/1.1 GET with exactly these headers; the status code it answers.
async fn status(port: u16, headers: &[(&str, String)]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = String::from("GET /v1/connections HTTP/1.1\r\nconnection: close\r\n");
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

#[tokio::test]
async fn only_loopback_hosts_and_same_origin_requests_reach_the_handler() {
    let (_child, port) = start().await;
    let local = format!("127.0.0.1:{port}");
    assert_eq!(status(port, &[("host", local.clone())]).await, 200);
    let same_origin = [
        ("host", format!("localhost:{port}")),
        ("origin", format!("http://localhost:{port}")),
    ];
    assert_eq!(status(port, &same_origin).await, 200);

    // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1.
    let rebinding = [("host", format!("evil.example:{port}"))];
    assert_eq!(status(port, &rebinding).await, 403);
    // CSRF: a page of another origin posting to the local API.
    for (name, value) in [
        ("origin", "https://evil.example".to_owned()),
        ("origin", "http://localhost:3000".to_owned()),
        ("sec-fetch-site", "cross-site".to_owned()),
    ] {
        let headers = [("host", local.clone()), (name, value.clone())];
        assert_eq!(status(port, &headers).await, 403, "{name}: {value}");
    }
}
