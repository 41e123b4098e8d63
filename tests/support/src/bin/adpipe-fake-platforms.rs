//! `adpipe-fake-platforms`: the ad platforms' APIs on loopback for `make demo`, serving a
//! demo account in each platform's documented wire format. Prints the base URLs as
//! `NAME=url` lines (the extractor's variables), then serves until killed.

use adpipe_testkit::FakeGraphApi;

#[tokio::main]
async fn main() {
    let graph = FakeGraphApi::start().await;
    println!("FACEBOOK_GRAPH_URL={}", graph.url());
    // Keep serving: the demo stops this process when it is done.
    std::future::pending::<()>().await;
}
