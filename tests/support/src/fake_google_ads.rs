//! The Google Ads API and Google's OAuth token endpoint on loopback, serving one demo
//! customer in Google's documented wire format:
//!
//! - `POST /token` (`grant_type=refresh_token`) → an access token for an hour;
//!   [`REVOKED_REFRESH_TOKEN`] is refused with `invalid_grant`.
//! - `POST /v26/customers/{id}/googleAds:searchStream` with `{"query": GAQL}` → a JSON array
//!   of batches (`results`, `fieldMask`, `requestId`), pretty-printed as Google's REST front
//!   end writes it, int64s as strings, zero metrics left out. The query's `FROM` clause picks
//!   the resource (`customer`, `campaign`, `ad_group`, `ad_group_ad`) and its
//!   `segments.date BETWEEN` the days; numbers are a pure function of (ad, day), and an ad
//!   group's and a campaign's are the sums of their ads', so every fetch of a day answers the
//!   same at every level.
//! - Errors as Google writes them: `google.rpc.Status` with a `GoogleAdsFailure`, for an
//!   unknown access token (401 `UNAUTHENTICATED`), another customer (403
//!   `USER_PERMISSION_DENIED`) and a query it cannot answer (400 `INVALID_ARGUMENT`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{Datelike, NaiveDate};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::server::{Body, Server, respond};

/// The demo customer id (what a connection's `account_id` holds).
pub const DEMO_CUSTOMER: &str = "1234567890";
/// `customer.time_zone` of the demo customer.
pub const DEMO_TIME_ZONE: &str = "America/New_York";
pub const DEMO_CURRENCY: &str = "USD";
/// A refresh token the token endpoint refuses with `invalid_grant`.
pub const REVOKED_REFRESH_TOKEN: &str = "1//revoked";
/// Rows per streamed batch: small, so that a few days already stream several batches.
pub const ROWS_PER_BATCH: usize = 5;
const VERSION: &str = "v26";
const SCOPES: &str =
    "https://www.googleapis.com/auth/adwords https://www.googleapis.com/auth/yt-analytics.readonly";

/// Campaigns: id, name, and whether it is a video campaign (the others have no video views).
const CAMPAIGNS: [(u64, &str, bool); 2] = [
    (21_000_000_001, "Search — Brand", false),
    (21_000_000_002, "YouTube — Launch \"Q4\"", true),
];
/// Ad groups per campaign, ads per ad group.
const AD_GROUPS: u64 = 2;
const ADS: u64 = 2;

/// The fake; [`ads_url`](Self::ads_url) is what `GOOGLE_ADS_API_URL` takes and
/// [`token_url`](Self::token_url) what `GOOGLE_OAUTH_TOKEN_URL` takes.
pub struct FakeGoogleAds {
    server: Server,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    issued: Mutex<HashSet<String>>,
    tokens: AtomicU64,
    requests: AtomicU64,
}

impl FakeGoogleAds {
    pub async fn start() -> FakeGoogleAds {
        let state = Arc::new(State::default());
        let handler_state = state.clone();
        let server = Server::start(move |req| {
            let state = handler_state.clone();
            async move { state.answer(req).await }
        })
        .await;
        FakeGoogleAds { server, state }
    }

    /// `http://127.0.0.1:PORT/v26`
    pub fn ads_url(&self) -> String {
        format!("http://{}/{VERSION}", self.server.addr())
    }

    /// `http://127.0.0.1:PORT/token`
    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.server.addr())
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens.load(Ordering::Relaxed)
    }
}

impl State {
    async fn answer(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_owned();
        if req.method() != Method::POST {
            return not_found();
        }
        if path == "/token" {
            return match req.into_body().collect().await {
                Ok(body) => self.token(&body.to_bytes()),
                Err(_) => oauth_error(400, "invalid_request", "unreadable body"),
            };
        }
        let customer = path
            .strip_prefix(&format!("/{VERSION}/customers/"))
            .and_then(|rest| rest.strip_suffix("/googleAds:searchStream"));
        let Some(customer) = customer.map(str::to_owned) else {
            return not_found();
        };
        let bearer = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let known = bearer.is_some_and(|t| {
            self.issued
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&t)
        });
        let request_id = format!("fake-{}", self.requests.fetch_add(1, Ordering::Relaxed) + 1);
        if !known {
            return failure(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                ("authenticationError", "OAUTH_TOKEN_INVALID"),
                "Oauth token in the header is not valid.",
                &request_id,
            );
        }
        if customer != DEMO_CUSTOMER {
            return failure(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                ("authorizationError", "USER_PERMISSION_DENIED"),
                "User doesn't have permission to access customer. Note: If you're accessing a client customer, the manager's customer id must be set in the 'login-customer-id' header.",
                &request_id,
            );
        }
        let query = match req.into_body().collect().await {
            Ok(body) => serde_json::from_slice::<Value>(&body.to_bytes())
                .ok()
                .and_then(|v| v.get("query")?.as_str().map(str::to_owned)),
            Err(_) => None,
        };
        let Some(query) = query else {
            return invalid_query("QUERY_ERROR", "The request has no query.", &request_id);
        };
        match parse_query(&query) {
            Ok(Query::Customer) => stream(vec![customer_row()], &request_id),
            Ok(Query::Metrics { from, since, until }) => {
                stream(rows(from, since, until), &request_id)
            }
            Err((code, message)) => invalid_query(code, message, &request_id),
        }
    }

    fn token(&self, form: &[u8]) -> Response<Body> {
        let form: std::collections::HashMap<String, String> =
            form_urlencoded::parse(form).into_owned().collect();
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        if field("grant_type") != "refresh_token" || field("refresh_token").is_empty() {
            return oauth_error(
                400,
                "invalid_request",
                "Missing required parameter: refresh_token",
            );
        }
        if field("client_id").is_empty() || field("client_secret").is_empty() {
            return oauth_error(401, "invalid_client", "The OAuth client was not found.");
        }
        if field("refresh_token") == REVOKED_REFRESH_TOKEN {
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.");
        }
        let n = self.tokens.fetch_add(1, Ordering::Relaxed) + 1;
        let token = format!("ya29.fake-access-{n}");
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone());
        json_response(
            200,
            &json!({"access_token": token, "expires_in": 3599, "scope": SCOPES, "token_type": "Bearer"}),
        )
    }
}

enum From {
    Campaign,
    AdGroup,
    Ad,
}

enum Query {
    Customer,
    Metrics {
        from: From,
        since: NaiveDate,
        until: NaiveDate,
    },
}

type Refusal = (&'static str, &'static str);

/// The resource of `FROM` and the days of `segments.date BETWEEN 'a' AND 'b'`.
fn parse_query(query: &str) -> Result<Query, Refusal> {
    let from = query
        .split_once(" FROM ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .ok_or(("EXPECTED_FROM", "Missing FROM clause."))?;
    let from = match from {
        "customer" => return Ok(Query::Customer),
        "campaign" => From::Campaign,
        "ad_group" => From::AdGroup,
        "ad_group_ad" => From::Ad,
        _ => {
            return Err((
                "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE",
                "Invalid resource type was specified in the FROM clause.",
            ));
        }
    };
    let missing = (
        "EXPECTED_FILTERS_ON_DATE_RANGE",
        "Missing filters on date related fields.",
    );
    let range = query
        .split_once("segments.date BETWEEN ")
        .map(|(_, rest)| rest)
        .ok_or(missing)?;
    let mut dates = range.split('\'').skip(1).step_by(2);
    let mut day = || {
        dates
            .next()
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .ok_or(missing)
    };
    let (since, until) = (day()?, day()?);
    if since > until {
        return Err((
            "DATE_RANGE_TOO_NARROW",
            "Filters on date/week/month/quarter have a start date after end date.",
        ));
    }
    Ok(Query::Metrics { from, since, until })
}

fn customer_row() -> Value {
    json!({"customer": {
        "resourceName": format!("customers/{DEMO_CUSTOMER}"),
        "timeZone": DEMO_TIME_ZONE,
        "currencyCode": DEMO_CURRENCY
    }})
}

/// One ad's day: int64 metrics and doubles, before summing and omitting zeros.
#[derive(Default, Clone, Copy)]
struct Day {
    impressions: u64,
    clicks: u64,
    cost_micros: u64,
    conversions: f64,
    conversions_value: f64,
    video_views: u64,
    interactions: u64,
    engagements: u64,
    all_conversions: f64,
    all_conversions_value: f64,
    view_through_conversions: u64,
}

impl Day {
    fn of(ad: u64, video: bool, day: NaiveDate) -> Day {
        let seed = (ad * 7_919 + u64::from(day.num_days_from_ce().unsigned_abs()) * 1_299_709)
            .wrapping_mul(2_654_435_761)
            % 1_000_003;
        let impressions = 500 + seed % 4_500;
        // Some days without a click: zero metrics, which the wire leaves out.
        let clicks = if seed % 11 == 0 {
            0
        } else {
            impressions * (5 + seed % 40) / 1_000
        };
        let conversions = (clicks / 20) as f64 + if clicks > 0 { 0.5 } else { 0.0 };
        let video_views = if video { impressions / 3 } else { 0 };
        Day {
            impressions,
            clicks,
            cost_micros: clicks * (150_000 + seed % 900_000),
            conversions,
            conversions_value: conversions * 42.5,
            video_views,
            interactions: clicks + video_views,
            engagements: if video { impressions / 50 } else { 0 },
            all_conversions: conversions + if clicks > 0 { 1.0 } else { 0.0 },
            all_conversions_value: conversions * 42.5 + if clicks > 0 { 10.0 } else { 0.0 },
            view_through_conversions: if video { seed % 3 } else { 0 },
        }
    }

    fn add(mut self, o: Day) -> Day {
        self.impressions += o.impressions;
        self.clicks += o.clicks;
        self.cost_micros += o.cost_micros;
        self.conversions += o.conversions;
        self.conversions_value += o.conversions_value;
        self.video_views += o.video_views;
        self.interactions += o.interactions;
        self.engagements += o.engagements;
        self.all_conversions += o.all_conversions;
        self.all_conversions_value += o.all_conversions_value;
        self.view_through_conversions += o.view_through_conversions;
        self
    }

    /// `metrics` as proto3 JSON: int64s as strings, doubles as numbers, zeros left out.
    fn metrics(&self, video: bool) -> Value {
        let mut m = Map::new();
        let mut int = |k: &str, v: u64| {
            if v != 0 {
                m.insert(k.to_owned(), json!(v.to_string()));
            }
        };
        int("impressions", self.impressions);
        int("clicks", self.clicks);
        int("costMicros", self.cost_micros);
        int("interactions", self.interactions);
        int("engagements", self.engagements);
        int("viewThroughConversions", self.view_through_conversions);
        if video {
            int("videoTrueviewViews", self.video_views);
        }
        for (k, v) in [
            ("conversions", self.conversions),
            ("conversionsValue", self.conversions_value),
            ("allConversions", self.all_conversions),
            ("allConversionsValue", self.all_conversions_value),
            (
                "videoQuartileP100Rate",
                if video && self.impressions > 0 {
                    (self.video_views as f64 / self.impressions as f64 * 1e4).round() / 1e4
                } else {
                    0.0
                },
            ),
        ] {
            if v != 0.0 {
                m.insert(k.to_owned(), json!(v));
            }
        }
        Value::Object(m)
    }
}

/// The demo customer's rows of `from` for each day of `since..=until`.
fn rows(from: From, since: NaiveDate, until: NaiveDate) -> Vec<Value> {
    let mut out = Vec::new();
    for day in since.iter_days().take_while(|d| *d <= until) {
        for (c, (campaign_id, campaign_name, video)) in CAMPAIGNS.iter().enumerate() {
            let campaign = json!({
                "resourceName": format!("customers/{DEMO_CUSTOMER}/campaigns/{campaign_id}"),
                "id": campaign_id.to_string(),
                "name": campaign_name
            });
            let mut campaign_day = Day::default();
            for g in 0..AD_GROUPS {
                let ad_group_id = 150_000_000_000 + c as u64 * 10 + g + 1;
                let ad_group = json!({
                    "resourceName": format!("customers/{DEMO_CUSTOMER}/adGroups/{ad_group_id}"),
                    "id": ad_group_id.to_string(),
                    "name": format!("{campaign_name} / group {}", g + 1)
                });
                let mut group_day = Day::default();
                for a in 0..ADS {
                    let ad_id = 700_000_000_000 + (c as u64 * AD_GROUPS + g) * ADS + a + 1;
                    let ad_day = Day::of(ad_id, *video, day);
                    group_day = group_day.add(ad_day);
                    if matches!(from, From::Ad) {
                        let mut ad = json!({
                            "resourceName": format!("customers/{DEMO_CUSTOMER}/ads/{ad_id}"),
                            "id": ad_id.to_string()
                        });
                        // Only some ad types have a name: the others leave it out.
                        if *video {
                            ad["name"] = json!(format!("Launch spot {}", a + 1));
                        }
                        out.push(json!({
                            "customer": customer_row()["customer"],
                            "campaign": campaign,
                            "adGroup": ad_group,
                            "adGroupAd": {
                                "resourceName": format!("customers/{DEMO_CUSTOMER}/adGroupAds/{ad_group_id}~{ad_id}"),
                                "ad": ad
                            },
                            "metrics": ad_day.metrics(*video),
                            "segments": {"date": day.to_string()}
                        }));
                    }
                }
                campaign_day = campaign_day.add(group_day);
                if matches!(from, From::AdGroup) {
                    out.push(json!({
                        "customer": customer_row()["customer"],
                        "campaign": campaign,
                        "adGroup": ad_group,
                        "metrics": group_day.metrics(*video),
                        "segments": {"date": day.to_string()}
                    }));
                }
            }
            if matches!(from, From::Campaign) {
                out.push(json!({
                    "customer": customer_row()["customer"],
                    "campaign": campaign,
                    "metrics": campaign_day.metrics(*video),
                    "segments": {"date": day.to_string()}
                }));
            }
        }
    }
    out
}

/// `rows` as searchStream streams them: batches of [`ROWS_PER_BATCH`], each with the field
/// mask and the request id; an empty answer is `[]`.
fn stream(rows: Vec<Value>, request_id: &str) -> Response<Body> {
    let field_mask = rows
        .first()
        .map(|r| field_mask(r, ""))
        .unwrap_or_default()
        .join(",");
    let batches: Vec<Value> = rows
        .chunks(ROWS_PER_BATCH)
        .map(|chunk| json!({"results": chunk, "fieldMask": field_mask, "requestId": request_id}))
        .collect();
    let body = serde_json::to_string_pretty(&batches).unwrap_or_else(|_| "[]".into());
    respond(200, "application/json; charset=UTF-8", body)
}

/// The dotted paths of a row's leaves, as `fieldMask` lists them.
fn field_mask(v: &Value, prefix: &str) -> Vec<String> {
    match v.as_object() {
        Some(o) => o
            .iter()
            .flat_map(|(k, v)| field_mask(v, &format!("{prefix}{k}.")))
            .collect(),
        None => vec![prefix.trim_end_matches('.').to_owned()],
    }
}

/// A `searchStream` failure, wrapped in the stream's array as Google sends it.
fn failure(
    http: u16,
    status: &str,
    message: &str,
    (kind, code): (&str, &str),
    detail: &str,
    request_id: &str,
) -> Response<Body> {
    let error = json!([{"error": {
        "code": http,
        "message": message,
        "status": status,
        "details": [{
            "@type": format!("type.googleapis.com/google.ads.googleads.{VERSION}.errors.GoogleAdsFailure"),
            "errors": [{"errorCode": {kind: code}, "message": detail}],
            "requestId": request_id
        }]
    }}]);
    json_response(http, &error)
}

fn invalid_query(code: &str, detail: &str, request_id: &str) -> Response<Body> {
    failure(
        400,
        "INVALID_ARGUMENT",
        "Request contains an invalid argument.",
        ("queryError", code),
        detail,
        request_id,
    )
}

fn oauth_error(http: u16, error: &str, description: &str) -> Response<Body> {
    json_response(
        http,
        &json!({"error": error, "error_description": description}),
    )
}

fn not_found() -> Response<Body> {
    respond(
        404,
        "text/html; charset=UTF-8",
        "<!DOCTYPE html><title>Error 404 (Not Found)!!1</title>",
    )
}

fn json_response(http: u16, body: &Value) -> Response<Body> {
    let http = StatusCode::from_u16(http).map_or(500, |s| s.as_u16());
    respond(http, "application/json; charset=UTF-8", body.to_string())
}
