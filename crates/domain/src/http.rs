//! How adpipe describes a failed HTTP exchange with a platform (feature `http`): the kind of
//! failure and its causes, never the request's URL, whose query may hold a token.

/// What kind of transport failure a request met: timed out, could not connect, broke off.
pub fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "request failed"
    }
}

/// A transport failure by its kind and causes: reqwest's own message names the URL, its
/// sources do not.
pub fn transport_error(e: &reqwest::Error) -> String {
    let mut out = transport_kind(e).to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_named_without_its_url() {
        // A loopback port just given back: nothing listens on it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/path?access_token=SECRET");
        let e = reqwest::get(&url).await.unwrap_err();
        let described = transport_error(&e);
        assert!(described.starts_with("could not connect"), "{described}");
        assert!(!described.contains("SECRET"), "{described}");
    }
}
