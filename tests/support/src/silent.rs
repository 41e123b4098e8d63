//! A platform that takes every request and never answers: a run against it is mid-call
//! for as long as a test needs, to be killed there.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::server::Server;

/// Counts the requests it receives and holds each open until dropped.
pub struct SilentApi {
    server: Server,
    received: Arc<AtomicUsize>,
}

impl SilentApi {
    pub async fn start() -> SilentApi {
        let received = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&received);
        let server = Server::start(move |_request| {
            count.fetch_add(1, Ordering::SeqCst);
            std::future::pending()
        })
        .await;
        SilentApi { server, received }
    }

    /// `http://127.0.0.1:PORT/<version>`: a base URL of any platform.
    pub fn url(&self, version: &str) -> String {
        format!("http://{}/{version}", self.server.addr())
    }

    /// Requests received so far.
    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}
