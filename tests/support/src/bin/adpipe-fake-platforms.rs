//! `adpipe-fake-platforms`: the ad platforms' APIs on loopback for `make demo`, serving a
//! demo account in each platform's documented wire format — a Facebook ad account (Graph
//! API), a Google Ads customer (with Google's OAuth token endpoint) and a YouTube channel
//! (YouTube Analytics). Prints the base URLs as `NAME=url` lines (the extractor's
//! variables), then serves until killed.

use adpipe_testkit::FakeGraphApi;
use adpipe_testkit::fake_google_ads::FakeGoogleAds;
use adpipe_testkit::fake_youtube::FakeYouTube;

#[tokio::main]
async fn main() {
    let graph = FakeGraphApi::start().await;
    let google = FakeGoogleAds::start().await;
    let youtube = FakeYouTube::start().await;
    println!("FACEBOOK_GRAPH_URL={}", graph.url());
    println!("GOOGLE_ADS_API_URL={}", google.ads_url());
    println!("GOOGLE_OAUTH_TOKEN_URL={}", google.token_url());
    println!("YOUTUBE_ANALYTICS_URL={}", youtube.url());
    // Keep serving: the demo stops this process when it is done.
    std::future::pending::<()>().await;
}
