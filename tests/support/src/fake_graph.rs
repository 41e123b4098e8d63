//! A Graph API (Marketing API insights) on loopback serving one demo ad account, in
//! Meta's documented wire format: the account's `timezone_name`/`currency`, synchronous
//! insights with cursor paging, and asynchronous report runs. Numbers are a pure function
//! of (entity, day), so every fetch of a day answers the same — as Meta does once a day
//! has settled — until a restatement is posted: `POST /v26.0/_fake/restate` with form
//! fields `campaign_id`, `date` and `purchases` adds that many late-attributed purchases
//! to the campaign's day (at every level, on its first entity), as Meta's attribution
//! windows do for up to 28 days. `POST /v26.0/_fake/outage` with `date` makes that day
//! report no purchases at all, on every campaign — a pixel that stopped firing. Neither
//! needs an access token; they are the fake's own controls.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::server::{Body, Server};

pub const DEMO_ACCOUNT: &str = "act_1234567890";
pub const DEMO_TIME_ZONE: &str = "America/Los_Angeles";
/// A large account for memory measurements: [`LARGE_ADS`] ads, each with a row every day.
pub const LARGE_ACCOUNT: &str = "act_100000";
pub const LARGE_ADS: usize = 14_286;
const VERSION: &str = "v26.0";
const CAMPAIGNS: [(&str, &str); 3] = [
    ("120210000000000001", "Spring Sale"),
    ("120210000000000002", "Brand Awareness"),
    ("120210000000000003", "Retargeting"),
];

/// The fake Graph API; its [`url`](Self::url) is what `FACEBOOK_GRAPH_URL` takes.
pub struct FakeGraphApi {
    server: Server,
}

impl FakeGraphApi {
    pub async fn start() -> FakeGraphApi {
        let state = Arc::new(State::default());
        let handler_state = state.clone();
        let server = Server::start(move |req| {
            let state = handler_state.clone();
            async move { state.answer(req).await }
        })
        .await;
        let api = FakeGraphApi { server };
        let _ = state.base.set(api.url());
        api
    }

    /// `http://127.0.0.1:PORT/v26.0`
    pub fn url(&self) -> String {
        format!("http://{}/{VERSION}", self.server.addr())
    }
}

#[derive(Default)]
struct State {
    /// This server's own URL: `paging.next` links point back at it.
    base: OnceLock<String>,
    next_report: AtomicU64,
    reports: std::sync::Mutex<HashMap<String, HashMap<String, String>>>,
    /// Late purchases per (campaign id, day), from `_fake/restate`.
    restated: std::sync::Mutex<HashMap<(String, NaiveDate), u64>>,
    /// Days without purchases, from `_fake/outage`.
    outages: std::sync::Mutex<std::collections::HashSet<NaiveDate>>,
}

impl State {
    async fn answer(&self, req: Request<Incoming>) -> Response<Body> {
        let method = req.method().clone();
        let path = req
            .uri()
            .path()
            .trim_start_matches(&format!("/{VERSION}/"))
            .to_owned();
        let mut params: HashMap<String, String> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        if method == Method::POST {
            if let Ok(body) = req.into_body().collect().await {
                params.extend(form_urlencoded::parse(&body.to_bytes()).into_owned());
            }
        }
        if method == Method::POST && path == "_fake/restate" {
            return self.restate(&params);
        }
        if method == Method::POST && path == "_fake/outage" {
            return self.outage(&params);
        }
        if !params.contains_key("access_token") {
            return error(
                400,
                190,
                "An active access token must be used to query information about the current user.",
            );
        }
        let segments: Vec<&str> = path.split('/').collect();
        match (method, segments.as_slice()) {
            (Method::GET, [account]) if known(account) => ok(json!({
                "id": account, "timezone_name": DEMO_TIME_ZONE, "currency": "USD", "account_id": &account[4..]
            })),
            (Method::GET, [account, "insights"]) if known(account) => {
                params.insert("account".into(), (*account).to_owned());
                self.insights_page(&params, &format!("{account}/insights"))
            }
            (Method::POST, [account, "insights"]) if known(account) => {
                params.insert("account".into(), (*account).to_owned());
                let id = format!(
                    "{}",
                    6_000_000_000_000_000 + self.next_report.fetch_add(1, Ordering::Relaxed)
                );
                self.reports
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone(), params);
                ok(json!({"report_run_id": id}))
            }
            (Method::GET, [report]) => match self.report(report) {
                Some(_) => ok(
                    json!({"id": report, "async_status": "Job Completed", "async_percent_completion": 100}),
                ),
                None => error(400, 100, "Unsupported get request."),
            },
            (Method::GET, [report, "insights"]) => match self.report(report) {
                Some(mut original) => {
                    original.extend(
                        params
                            .into_iter()
                            .filter(|(k, _)| k == "after" || k == "limit"),
                    );
                    self.insights_page(&original, &format!("{report}/insights"))
                }
                None => error(400, 100, "Unsupported get request."),
            },
            _ => error(400, 100, "Unsupported get request."),
        }
    }

    /// Records late purchases for a campaign's day; answers the campaign's new total.
    fn restate(&self, params: &HashMap<String, String>) -> Response<Body> {
        let campaign = params
            .get("campaign_id")
            .filter(|c| CAMPAIGNS.iter().any(|(id, _)| id == c));
        let date = params.get("date").and_then(|d| d.parse::<NaiveDate>().ok());
        let purchases = params.get("purchases").and_then(|p| p.parse::<u64>().ok());
        let (Some(campaign), Some(date), Some(purchases)) = (campaign, date, purchases) else {
            return error(
                400,
                100,
                "restate takes campaign_id (a demo campaign), date (YYYY-MM-DD) and purchases (a count)",
            );
        };
        let mut restated = self.restated.lock().unwrap_or_else(|p| p.into_inner());
        let total = restated.entry((campaign.clone(), date)).or_default();
        *total += purchases;
        ok(json!({"campaign_id": campaign, "date": date.to_string(), "late_purchases": *total}))
    }

    /// Records a day without purchases.
    fn outage(&self, params: &HashMap<String, String>) -> Response<Body> {
        let Some(date) = params.get("date").and_then(|d| d.parse::<NaiveDate>().ok()) else {
            return error(400, 100, "outage takes date (YYYY-MM-DD)");
        };
        self.outages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(date);
        ok(json!({"date": date.to_string(), "purchases": 0}))
    }

    fn report(&self, id: &str) -> Option<HashMap<String, String>> {
        self.reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// One page of rows, `limit` long, continuing after the `after` cursor.
    fn insights_page(&self, params: &HashMap<String, String>, path: &str) -> Response<Body> {
        let Some((since, until)) = time_range(params) else {
            return error(
                400,
                100,
                "(#100) time_range must be a JSON object with since and until",
            );
        };
        let level = params
            .get("level")
            .map(String::as_str)
            .unwrap_or("campaign");
        let large = params.get("account").map(String::as_str) == Some(LARGE_ACCOUNT);
        let rows = if large {
            Vec::new()
        } else {
            let restated = self.restated.lock().unwrap_or_else(|p| p.into_inner());
            let outages = self.outages.lock().unwrap_or_else(|p| p.into_inner());
            rows(level, since, until, &restated, &outages)
        };
        let total = if large {
            LARGE_ADS * ((until - since).num_days() as usize + 1)
        } else {
            rows.len()
        };
        let limit: usize = params
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(25)
            .clamp(1, 5000);
        let start: usize = params
            .get("after")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let end = (start + limit).min(total);
        let mut paging =
            json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
        if end < total {
            let mut next: HashMap<String, String> = params.clone();
            next.remove("account");
            next.insert("after".into(), end.to_string());
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(next.iter())
                .finish();
            let base = self.base.get().map(String::as_str).unwrap_or_default();
            paging["next"] = json!(format!("{base}/{path}?{query}"));
        }
        let data: Vec<Value> = if large {
            (start.min(end)..end).map(|i| large_row(since, i)).collect()
        } else {
            rows[start.min(end)..end].to_vec()
        };
        ok(json!({"data": data, "paging": paging}))
    }
}

fn known(account: &str) -> bool {
    account == DEMO_ACCOUNT || account == LARGE_ACCOUNT
}

/// Row `i` of the large account's ad-level report from `since`: day `i / LARGE_ADS`, ad
/// `i % LARGE_ADS` (100 ads an ad set, 10 ad sets a campaign), made when asked for.
fn large_row(since: NaiveDate, i: usize) -> Value {
    let day = since + chrono::Days::new((i / LARGE_ADS) as u64);
    let ad = i % LARGE_ADS;
    let (adset, campaign) = (ad / 100, ad / 1_000);
    let seed = seed(campaign as u64, ad as u64, day);
    let mut row = metrics(200 + seed % 5_000, seed, day, Some(0));
    if let Some(row) = row.as_object_mut() {
        for (k, v) in [
            ("campaign_id", format!("1202200{campaign:011}")),
            ("campaign_name", format!("Large campaign {campaign}")),
            ("adset_id", format!("1202300{adset:011}")),
            (
                "adset_name",
                format!("Large campaign {campaign} / set {adset}"),
            ),
            ("ad_id", format!("1202400{ad:011}")),
            (
                "ad_name",
                format!("Large campaign {campaign} / set {adset} / ad {ad}"),
            ),
        ] {
            row.insert(k.to_owned(), json!(v));
        }
    }
    row
}

/// The metrics of one entity's day, as Meta writes them: `impressions`, and clicks,
/// spend and purchases derived from `seed`, plus `late_purchases` attributed afterwards
/// (`None` on a day without any purchase tracked).
fn metrics(impressions: u64, seed: u64, day: NaiveDate, late_purchases: Option<u64>) -> Value {
    let clicks = impressions * (10 + seed % 30) / 1_000;
    let spend_cents = clicks * (40 + seed % 80);
    // `None`: a day of a tracking outage, no purchase recorded.
    let purchases = late_purchases.map_or(0, |late| clicks / 25 + late);
    let purchase_cents = purchases * 4_250;
    let purchase_value = format!("{}.{:02}", purchase_cents / 100, purchase_cents % 100);
    json!({
        "account_currency": "USD",
        "impressions": impressions.to_string(),
        "clicks": clicks.to_string(),
        "spend": format!("{}.{:02}", spend_cents / 100, spend_cents % 100),
        "reach": (impressions * 8 / 10).to_string(),
        "frequency": "1.25",
        "actions": [
            {"action_type": "link_click", "value": clicks.to_string()},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": purchases.to_string()},
            {"action_type": "omni_purchase", "value": purchases.to_string()},
            {"action_type": "video_view", "value": (impressions / 7).to_string()}
        ],
        "action_values": [
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": purchase_value},
            {"action_type": "omni_purchase", "value": purchase_value}
        ],
        "video_play_actions": [{"action_type": "video_view", "value": (impressions / 7).to_string()}],
        "date_start": day.to_string(),
        "date_stop": day.to_string(),
    })
}

fn time_range(params: &HashMap<String, String>) -> Option<(NaiveDate, NaiveDate)> {
    let range: Value = serde_json::from_str(params.get("time_range")?).ok()?;
    let day = |k: &str| range.get(k)?.as_str()?.parse::<NaiveDate>().ok();
    Some((day("since")?, day("until")?))
}

/// The demo account's rows at `level` for each day: 3 campaigns, 2 ad sets each, 2 ads
/// each; a campaign's late purchases of a day go to its first entity.
fn rows(
    level: &str,
    since: NaiveDate,
    until: NaiveDate,
    restated: &HashMap<(String, NaiveDate), u64>,
    outages: &std::collections::HashSet<NaiveDate>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut day = since;
    while day <= until {
        for (c, (campaign_id, campaign_name)) in CAMPAIGNS.iter().enumerate() {
            let entities: Vec<Value> = match level {
                "adset" | "ad" => (1..=2)
                    .flat_map(|a| {
                        let adset = json!({"adset_id": format!("{campaign_id}{a}"), "adset_name": format!("{campaign_name} / set {a}")});
                        let ads: Vec<Value> = if level == "ad" {
                            (1..=2)
                                .map(|n| {
                                    let mut v = adset.clone();
                                    v["ad_id"] = json!(format!("{campaign_id}{a}{n}"));
                                    v["ad_name"] = json!(format!("{campaign_name} / set {a} / ad {n}"));
                                    v
                                })
                                .collect()
                        } else {
                            vec![adset]
                        };
                        ads
                    })
                    .collect(),
                _ => vec![json!({})],
            };
            let share = entities.len() as u64;
            for (e, mut entity) in entities.into_iter().enumerate() {
                let seed = seed(c as u64, e as u64, day);
                let late = match e {
                    0 => restated
                        .get(&((*campaign_id).to_owned(), day))
                        .copied()
                        .unwrap_or(0),
                    _ => 0,
                };
                let late = (!outages.contains(&day)).then_some(late);
                let metrics = metrics((2_000 + seed % 8_000) / share, seed, day, late);
                entity["campaign_id"] = json!(campaign_id);
                entity["campaign_name"] = json!(campaign_name);
                if let (Some(target), Some(source)) = (entity.as_object_mut(), metrics.as_object())
                {
                    target.extend(source.clone());
                }
                out.push(entity);
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

fn seed(campaign: u64, entity: u64, day: NaiveDate) -> u64 {
    let d = day.num_days_from_ce() as u64;
    (campaign * 7_919 + entity * 104_729 + d * 1_299_709).wrapping_mul(2_654_435_761) % 1_000_003
}

fn ok(body: Value) -> Response<Body> {
    respond(StatusCode::OK, body)
}

fn error(status: u16, code: u32, message: &str) -> Response<Body> {
    let body = json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGhIjK"}});
    respond(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
}

fn respond(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo account's insights over `since..=until`, with more `params` (`a=1&b=2`).
    fn insights_url(graph: &FakeGraphApi, since: &str, until: &str, params: &str) -> String {
        let range = format!(r#"{{"since":"{since}","until":"{until}"}}"#);
        let range: String = form_urlencoded::byte_serialize(range.as_bytes()).collect();
        format!(
            "{}/{DEMO_ACCOUNT}/insights?access_token=t&{params}&time_range={range}",
            graph.url()
        )
    }

    async fn get(url: &str) -> Value {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn pages_follow_to_every_row_of_the_range() {
        let graph = FakeGraphApi::start().await;
        let mut url = Some(insights_url(
            &graph,
            "2026-03-01",
            "2026-03-03",
            "level=ad&time_increment=1&limit=5",
        ));
        let mut rows = Vec::new();
        while let Some(next) = url {
            let page = get(&next).await;
            rows.extend(page["data"].as_array().unwrap().clone());
            url = page["paging"]["next"].as_str().map(str::to_owned);
        }
        assert_eq!(
            rows.len(),
            3 * 3 * 2 * 2,
            "3 days x 3 campaigns x 2 ad sets x 2 ads"
        );
        let mut keys: Vec<_> = rows
            .iter()
            .map(|r| (r["ad_id"].to_string(), r["date_start"].to_string()))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), rows.len(), "no row twice");
    }

    #[tokio::test]
    async fn a_day_answers_the_same_numbers_every_time() {
        let graph = FakeGraphApi::start().await;
        let url = insights_url(&graph, "2026-03-01", "2026-03-01", "");
        assert_eq!(get(&url).await["data"], get(&url).await["data"]);
        let no_token = get(&format!(
            "{}/{DEMO_ACCOUNT}?fields=timezone_name",
            graph.url()
        ))
        .await;
        assert_eq!(no_token["error"]["code"], 190);
    }

    #[tokio::test]
    async fn a_restatement_changes_that_campaigns_day_and_nothing_else() {
        let graph = FakeGraphApi::start().await;
        let url = insights_url(&graph, "2026-03-01", "2026-03-02", "time_increment=1");
        let before = get(&url).await["data"].as_array().unwrap().clone();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let restate = |form: &'static [(&'static str, &'static str)]| {
            client
                .post(format!("{}/_fake/restate", graph.url()))
                .form(form)
                .send()
        };
        let refused = restate(&[
            ("campaign_id", "1"),
            ("date", "2026-03-01"),
            ("purchases", "3"),
        ])
        .await
        .unwrap();
        assert_eq!(refused.status(), 400, "not a demo campaign");
        let answer: Value = restate(&[
            ("campaign_id", "120210000000000001"),
            ("date", "2026-03-01"),
            ("purchases", "3"),
        ])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(answer["late_purchases"], 3);
        let after = get(&url).await["data"].as_array().unwrap().clone();
        let purchases = |row: &Value| -> u64 {
            row["actions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["action_type"] == "omni_purchase")
                .unwrap()["value"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        };
        let changed: Vec<usize> = (0..before.len())
            .filter(|&i| before[i] != after[i])
            .collect();
        assert_eq!(changed.len(), 1, "one row restated");
        let row = &after[changed[0]];
        assert_eq!(row["campaign_id"], "120210000000000001");
        assert_eq!(row["date_start"], "2026-03-01");
        assert_eq!(purchases(row), purchases(&before[changed[0]]) + 3);
        assert_eq!(
            row["clicks"], before[changed[0]]["clicks"],
            "only purchases move"
        );
    }
}
