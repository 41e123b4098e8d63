//! A YouTube Analytics API (`GET /v2/reports`) on loopback serving one demo channel, in
//! Google's documented wire format: `youtubeAnalytics#resultTable` with `columnHeaders`
//! and `rows` (omitted when there is no data), Google's JSON errors, the channel
//! time-based report (`dimensions=day`) and the top-videos report (`dimensions=video`,
//! which needs `sort` by a metric descending and `maxResults` ≤ 200, paged by
//! `startIndex`). Like the real API it refuses `dimensions=day,video`.
//!
//! The channel has a few videos, published over the last 30 days; a video's numbers on a
//! day are a pure function of (video, day), so every read of a day answers the same. The
//! last 2 days before today have no data yet, as YouTube reports recent days late. Days
//! are Pacific days; without a time-zone database here, "today" is taken at UTC-8 (PST),
//! an hour off during daylight-saving time, which the demo does not notice.
//!
//! It does not serve the OAuth token endpoint (the Google Ads fake does) and accepts any
//! bearer token.

use std::collections::HashMap;

use chrono::{Datelike, Days, FixedOffset, NaiveDate, Utc};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::server::{Body, Server};

/// The demo channel's id (`UC` + 22 characters).
pub const DEMO_CHANNEL: &str = "UCdemo0adpipe0channel000";
const VERSION: &str = "v2";
/// Days of history the channel has.
const HISTORY_DAYS: u64 = 30;
/// The most recent days without data yet.
const LATE_DAYS: u64 = 2;
/// Video ids (11 characters) and the day, counted back from today, each was published.
const VIDEOS: [(&str, u64); 4] = [
    ("dQw4w9WgXcQ", 30),
    ("adpipeDemo1", 22),
    ("adpipeDemo2", 12),
    ("adpipeDemo3", 5),
];
const INTEGER_METRICS: [&str; 11] = [
    "views",
    "estimatedMinutesWatched",
    "averageViewDuration",
    "likes",
    "comments",
    "shares",
    "subscribersGained",
    "subscribersLost",
    "adImpressions",
    "monetizedPlaybacks",
    "dislikes",
];
const FLOAT_METRICS: [&str; 6] = [
    "averageViewPercentage",
    "estimatedRevenue",
    "estimatedAdRevenue",
    "grossRevenue",
    "cpm",
    "playbackBasedCpm",
];

/// The fake API; its [`url`](Self::url) is what `YOUTUBE_ANALYTICS_URL` takes.
pub struct FakeYouTube {
    server: Server,
}

impl FakeYouTube {
    pub async fn start() -> FakeYouTube {
        let server = Server::start(|req| async move { answer(&req) }).await;
        FakeYouTube { server }
    }

    /// `http://127.0.0.1:PORT/v2`
    pub fn url(&self) -> String {
        format!("http://{}/{VERSION}", self.server.addr())
    }
}

/// Today in the demo channel's (Pacific) calendar.
pub fn today() -> NaiveDate {
    let pst =
        FixedOffset::west_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"));
    Utc::now().with_timezone(&pst).date_naive()
}

/// The last day the fake has data for: today minus [`LATE_DAYS`] minus one.
pub fn last_reported_day() -> NaiveDate {
    today() - Days::new(LATE_DAYS + 1)
}

fn answer(req: &Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET || req.uri().path() != format!("/{VERSION}/reports") {
        return error(404, "notFound", "Not Found", "NOT_FOUND");
    }
    let bearer = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.trim().is_empty());
    if bearer.is_none() {
        return error(
            401,
            "required",
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            "UNAUTHENTICATED",
        );
    }
    let params: HashMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    match Query::parse(&params) {
        Ok(query) => query.table(),
        Err(refusal) => refusal.response(),
    }
}

struct Query {
    since: NaiveDate,
    until: NaiveDate,
    metrics: Vec<String>,
    by_video: bool,
    start_index: usize,
    max_results: usize,
}

impl Query {
    fn parse(params: &HashMap<String, String>) -> Result<Query, Refusal> {
        let get = |k: &str| params.get(k).map(String::as_str);
        match get("ids") {
            Some(ids) if ids == format!("channel=={DEMO_CHANNEL}") || ids == "channel==MINE" => {}
            Some(_) => {
                return Err(Refusal {
                    code: 403,
                    reason: "forbidden",
                    message: "Forbidden".into(),
                    status: "PERMISSION_DENIED",
                });
            }
            None => return Err(bad("Required parameter: ids")),
        }
        let date = |k: &str| -> Result<NaiveDate, Refusal> {
            get(k)
                .ok_or_else(|| bad(&format!("Required parameter: {k}")))?
                .parse()
                .map_err(|_| bad(&format!("Invalid value for {k}")))
        };
        let (since, until) = (date("startDate")?, date("endDate")?);
        if since > until {
            return Err(bad("The start date must be before the end date."));
        }
        let metrics: Vec<String> = get("metrics")
            .ok_or_else(|| bad("Required parameter: metrics"))?
            .split(',')
            .map(str::to_owned)
            .collect();
        if let Some(unknown) = metrics.iter().find(|m| {
            !INTEGER_METRICS.contains(&m.as_str()) && !FLOAT_METRICS.contains(&m.as_str())
        }) {
            return Err(bad(&format!(
                "Unknown identifier ({unknown}) given in field parameters.metrics."
            )));
        }
        let number = |k: &str, default: usize| {
            get(k).map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|_| bad(&format!("Invalid value for {k}")))
            })
        };
        let (start_index, max_results) = (number("startIndex", 1)?, number("maxResults", 0)?);
        let by_video = match get("dimensions").unwrap_or("") {
            "day" => false,
            "video" => {
                let sorted = get("sort")
                    .is_some_and(|s| s.starts_with('-') && metrics.iter().any(|m| s[1..] == *m));
                if !sorted
                    || max_results == 0
                    || max_results > 200
                    || start_index == 0
                    || start_index + max_results > 201
                {
                    return Err(unsupported());
                }
                true
            }
            _ => return Err(unsupported()),
        };
        Ok(Query {
            since,
            until,
            metrics,
            by_video,
            start_index: start_index.max(1),
            max_results,
        })
    }

    fn table(&self) -> Response<Body> {
        let key = if self.by_video { "video" } else { "day" };
        let mut headers =
            vec![json!({"name": key, "columnType": "DIMENSION", "dataType": "STRING"})];
        headers.extend(self.metrics.iter().map(|m| {
            let data_type = if FLOAT_METRICS.contains(&m.as_str()) {
                "FLOAT"
            } else {
                "INTEGER"
            };
            json!({"name": m, "columnType": "METRIC", "dataType": data_type})
        }));
        let rows: Vec<Value> = if self.by_video {
            let mut totals: Vec<(&str, Totals)> = VIDEOS
                .iter()
                .map(|(id, _)| (*id, self.days().filter_map(|d| Totals::of(id, d)).sum()))
                .filter(|(_, t): &(&str, Totals)| t.views > 0)
                .collect();
            totals.sort_by(|a, b| b.1.views.cmp(&a.1.views).then(a.0.cmp(b.0)));
            totals
                .into_iter()
                .skip(self.start_index - 1)
                .take(self.max_results)
                .map(|(id, t)| self.row(json!(id), &t))
                .collect()
        } else {
            self.days()
                .filter_map(|d| {
                    let t: Totals = VIDEOS.iter().filter_map(|(id, _)| Totals::of(id, d)).sum();
                    (t.views > 0).then(|| self.row(json!(d.to_string()), &t))
                })
                .collect()
        };
        let mut body = json!({"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers});
        if !rows.is_empty() {
            body["rows"] = json!(rows);
        }
        respond(StatusCode::OK, body)
    }

    fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.since.iter_days().take_while(|d| *d <= self.until)
    }

    fn row(&self, key: Value, t: &Totals) -> Value {
        let mut cells = vec![key];
        cells.extend(self.metrics.iter().map(|m| t.metric(m)));
        json!(cells)
    }
}

/// One video's (or the channel's) numbers over some days.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    views: u64,
    seconds_watched: u64,
    likes: u64,
    comments: u64,
    shares: u64,
    subscribers_gained: u64,
    subscribers_lost: u64,
    revenue_micros: u64,
    ad_impressions: u64,
    monetized_playbacks: u64,
}

impl Totals {
    /// A video's day: nothing before it was published, before the channel's history, or
    /// in the days YouTube has not reported yet.
    fn of(video: &str, day: NaiveDate) -> Option<Totals> {
        let today = today();
        let (_, published_ago) = VIDEOS.iter().find(|(id, _)| *id == video)?;
        let published = today - Days::new(*published_ago);
        if day < published || day < today - Days::new(HISTORY_DAYS) || day > last_reported_day() {
            return None;
        }
        let age = (day - published).num_days().max(0) as u64;
        let seed = seed(video, day);
        // Views peak on publication and decay, with some noise.
        let views = (5_000 / (age + 1)) + seed % 300;
        let monetized = views * (30 + seed % 20) / 100;
        Some(Totals {
            views,
            seconds_watched: views * (90 + seed % 120),
            likes: views * (2 + seed % 5) / 100,
            comments: views / (150 + seed % 50),
            shares: views / (300 + seed % 100),
            subscribers_gained: views / (200 + seed % 80),
            subscribers_lost: seed % 3,
            revenue_micros: monetized * (2_000 + seed % 3_000),
            ad_impressions: monetized * 13 / 10,
            monetized_playbacks: monetized,
        })
    }

    fn metric(&self, name: &str) -> Value {
        let views = self.views.max(1);
        let gross = self.revenue_micros * 100 / 55;
        match name {
            "views" => json!(self.views),
            "estimatedMinutesWatched" => json!(self.seconds_watched / 60),
            "averageViewDuration" => json!(self.seconds_watched / views),
            "averageViewPercentage" => json!(round2(
                (self.seconds_watched / views) as f64 * 100.0 / 480.0
            )),
            "likes" => json!(self.likes),
            "comments" => json!(self.comments),
            "shares" => json!(self.shares),
            "subscribersGained" => json!(self.subscribers_gained),
            "subscribersLost" => json!(self.subscribers_lost),
            "estimatedRevenue" | "estimatedAdRevenue" => {
                json!(round2(self.revenue_micros as f64 / 1e6))
            }
            "grossRevenue" => json!(round2(gross as f64 / 1e6)),
            "cpm" => json!(round2(
                gross as f64 / 1e3 / self.ad_impressions.max(1) as f64
            )),
            "playbackBasedCpm" => json!(round2(
                gross as f64 / 1e3 / self.monetized_playbacks.max(1) as f64
            )),
            "adImpressions" => json!(self.ad_impressions),
            "monetizedPlaybacks" => json!(self.monetized_playbacks),
            _ => json!(0),
        }
    }
}

impl std::iter::Sum for Totals {
    fn sum<I: Iterator<Item = Totals>>(iter: I) -> Totals {
        iter.fold(Totals::default(), |a, b| Totals {
            views: a.views + b.views,
            seconds_watched: a.seconds_watched + b.seconds_watched,
            likes: a.likes + b.likes,
            comments: a.comments + b.comments,
            shares: a.shares + b.shares,
            subscribers_gained: a.subscribers_gained + b.subscribers_gained,
            subscribers_lost: a.subscribers_lost + b.subscribers_lost,
            revenue_micros: a.revenue_micros + b.revenue_micros,
            ad_impressions: a.ad_impressions + b.ad_impressions,
            monetized_playbacks: a.monetized_playbacks + b.monetized_playbacks,
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn seed(video: &str, day: NaiveDate) -> u64 {
    let v = video
        .bytes()
        .fold(7_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let d = day.num_days_from_ce() as u64;
    (v.wrapping_mul(104_729) ^ d.wrapping_mul(1_299_709)).wrapping_mul(2_654_435_761) % 1_000_003
}

/// A refused request, as Google words it.
struct Refusal {
    code: u16,
    reason: &'static str,
    message: String,
    status: &'static str,
}

impl Refusal {
    fn response(&self) -> Response<Body> {
        error(self.code, self.reason, &self.message, self.status)
    }
}

fn bad(message: &str) -> Refusal {
    Refusal {
        code: 400,
        reason: "badRequest",
        message: message.to_owned(),
        status: "INVALID_ARGUMENT",
    }
}

fn unsupported() -> Refusal {
    bad(
        "The query is not supported. Check the documentation at https://developers.google.com/youtube/analytics/v2/available_reports for a list of supported queries.",
    )
}

/// Google's JSON error.
fn error(code: u16, reason: &str, message: &str, status: &str) -> Response<Body> {
    let body = json!({"error": {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": status,
    }});
    respond(
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
}

fn respond(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}
