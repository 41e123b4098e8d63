//! The API's routes: one table, read by the router and by the test that holds
//! `openapi.yaml` to the code.

use http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateConnection,
    ListConnections,
    GetConnection,
    DeleteConnection,
    OAuthAuthorizeUrl,
    OAuthToken,
    CreateSchedule,
    ListSchedules,
    GetSchedule,
    UpdateSchedule,
    DeleteSchedule,
    RunSchedule,
    ListRuns,
    PutBudget,
    GetBudget,
    DeleteBudget,
    GetPacing,
    ListAlerts,
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// OpenAPI path template: `{id}` (or `{platform}`) matches one non-empty segment.
    pub path: &'static str,
    pub operation: Operation,
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/v1/connections",
        operation: Operation::CreateConnection,
    },
    Route {
        method: "GET",
        path: "/v1/connections",
        operation: Operation::ListConnections,
    },
    Route {
        method: "GET",
        path: "/v1/connections/{id}",
        operation: Operation::GetConnection,
    },
    Route {
        method: "DELETE",
        path: "/v1/connections/{id}",
        operation: Operation::DeleteConnection,
    },
    Route {
        method: "PUT",
        path: "/v1/connections/{id}/budget",
        operation: Operation::PutBudget,
    },
    Route {
        method: "GET",
        path: "/v1/connections/{id}/budget",
        operation: Operation::GetBudget,
    },
    Route {
        method: "DELETE",
        path: "/v1/connections/{id}/budget",
        operation: Operation::DeleteBudget,
    },
    Route {
        method: "GET",
        path: "/v1/connections/{id}/insights/pacing",
        operation: Operation::GetPacing,
    },
    Route {
        method: "GET",
        path: "/v1/connections/oauth/{platform}/authorize-url",
        operation: Operation::OAuthAuthorizeUrl,
    },
    Route {
        method: "POST",
        path: "/v1/connections/oauth/{platform}/token",
        operation: Operation::OAuthToken,
    },
    Route {
        method: "POST",
        path: "/v1/schedules",
        operation: Operation::CreateSchedule,
    },
    Route {
        method: "GET",
        path: "/v1/schedules",
        operation: Operation::ListSchedules,
    },
    Route {
        method: "GET",
        path: "/v1/schedules/{id}",
        operation: Operation::GetSchedule,
    },
    Route {
        method: "PATCH",
        path: "/v1/schedules/{id}",
        operation: Operation::UpdateSchedule,
    },
    Route {
        method: "DELETE",
        path: "/v1/schedules/{id}",
        operation: Operation::DeleteSchedule,
    },
    Route {
        method: "POST",
        path: "/v1/schedules/{id}/runs",
        operation: Operation::RunSchedule,
    },
    Route {
        method: "GET",
        path: "/v1/schedules/{id}/runs",
        operation: Operation::ListRuns,
    },
    Route {
        method: "GET",
        path: "/v1/insights/alerts",
        operation: Operation::ListAlerts,
    },
];

/// What the router made of a method and path.
#[derive(Debug, PartialEq, Eq)]
pub enum Matched<'a> {
    Found {
        operation: Operation,
        id: Option<&'a str>,
    },
    /// The path exists, not with this method; the methods it has.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

pub fn match_route<'a>(method: &Method, path: &'a str) -> Matched<'a> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(id) = match_path(route.path, path) {
            if route.method == method.as_str() {
                return Matched::Found {
                    operation: route.operation,
                    id,
                };
            }
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        Matched::NotFound
    } else {
        Matched::MethodNotAllowed(allowed)
    }
}

/// `Some(id)` when `path` fits `template`; the id is the `{…}` segment, if any.
fn match_path<'a>(template: &str, path: &'a str) -> Option<Option<&'a str>> {
    let mut id = None;
    let mut segments = path.split('/');
    for expected in template.split('/') {
        let actual = segments.next()?;
        if expected.starts_with('{') {
            if actual.is_empty() {
                return None;
            }
            id = Some(actual);
        } else if expected != actual {
            return None;
        }
    }
    segments.next().is_none().then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_an_id_match_and_capture_it() {
        assert_eq!(
            match_route(&Method::POST, "/v1/schedules/sch_1/runs"),
            Matched::Found {
                operation: Operation::RunSchedule,
                id: Some("sch_1")
            }
        );
        assert_eq!(
            match_route(&Method::GET, "/v1/connections/"),
            Matched::Found {
                operation: Operation::ListConnections,
                id: None
            }
        );
    }

    #[test]
    fn oauth_paths_capture_the_platform_and_do_not_shadow_connection_ids() {
        assert_eq!(
            match_route(
                &Method::GET,
                "/v1/connections/oauth/google_ads/authorize-url"
            ),
            Matched::Found {
                operation: Operation::OAuthAuthorizeUrl,
                id: Some("google_ads")
            }
        );
        assert_eq!(
            match_route(&Method::POST, "/v1/connections/oauth/facebook/token"),
            Matched::Found {
                operation: Operation::OAuthToken,
                id: Some("facebook")
            }
        );
        assert_eq!(
            match_route(&Method::GET, "/v1/connections/oauth"),
            Matched::Found {
                operation: Operation::GetConnection,
                id: Some("oauth")
            }
        );
        assert_eq!(
            match_route(
                &Method::POST,
                "/v1/connections/oauth/facebook/authorize-url"
            ),
            Matched::MethodNotAllowed(vec!["GET"])
        );
    }

    #[test]
    fn budget_and_pacing_paths_sit_under_a_connection_without_shadowing_it() {
        let found = |method: &Method, path| match match_route(method, path) {
            Matched::Found { operation, id } => Some((operation, id)),
            _ => None,
        };
        let id = Some("con_1");
        assert_eq!(
            found(&Method::PUT, "/v1/connections/con_1/budget"),
            Some((Operation::PutBudget, id))
        );
        assert_eq!(
            found(&Method::GET, "/v1/connections/con_1/budget/"),
            Some((Operation::GetBudget, id))
        );
        assert_eq!(
            found(&Method::DELETE, "/v1/connections/con_1/budget"),
            Some((Operation::DeleteBudget, id))
        );
        assert_eq!(
            found(&Method::GET, "/v1/connections/con_1/insights/pacing"),
            Some((Operation::GetPacing, id))
        );
        assert_eq!(
            found(&Method::GET, "/v1/connections/con_1"),
            Some((Operation::GetConnection, id))
        );
        assert_eq!(
            found(&Method::DELETE, "/v1/connections/con_1"),
            Some((Operation::DeleteConnection, id))
        );
        assert_eq!(
            found(&Method::GET, "/v1/insights/alerts"),
            Some((Operation::ListAlerts, None))
        );
        // An id of "oauth" is a connection id like any other (and not found).
        assert_eq!(
            found(&Method::GET, "/v1/connections/oauth/insights/pacing"),
            Some((Operation::GetPacing, Some("oauth")))
        );
        assert_eq!(
            match_route(&Method::POST, "/v1/connections/con_1/budget"),
            Matched::MethodNotAllowed(vec!["PUT", "GET", "DELETE"])
        );
        assert_eq!(
            match_route(&Method::POST, "/v1/insights/alerts"),
            Matched::MethodNotAllowed(vec!["GET"])
        );
        for path in [
            "/v1/connections//budget",
            "/v1/connections/con_1/insights",
            "/v1/connections/con_1/insights/alerts",
            "/v1/connections/con_1/budget/x",
            "/v1/insights",
            "/v1/insights/alerts/x",
        ] {
            assert_eq!(match_route(&Method::GET, path), Matched::NotFound, "{path}");
        }
    }

    #[test]
    fn a_known_path_with_another_method_lists_the_allowed_ones() {
        assert_eq!(
            match_route(&Method::PUT, "/v1/schedules/x"),
            Matched::MethodNotAllowed(vec!["GET", "PATCH", "DELETE"])
        );
    }

    #[test]
    fn unknown_and_empty_segment_paths_are_not_found() {
        for path in [
            "/v1/schedulez",
            "/v1/schedules//runs",
            "/v2/schedules",
            "/v1/schedules/a/b",
            "/",
        ] {
            assert_eq!(match_route(&Method::GET, path), Matched::NotFound, "{path}");
        }
    }
}
