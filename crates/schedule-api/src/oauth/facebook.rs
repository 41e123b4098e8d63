//! Facebook Login's code exchange on the Graph API (Manually Build a Login Flow; Long-Lived
//! Access Tokens):
//!
//! 1. `GET oauth/access_token?client_id&redirect_uri&client_secret&code` → a short-lived
//!    user token `{"access_token", "token_type", "expires_in"}`;
//! 2. `GET oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token`
//!    → the long-lived one (about 60 days);
//! 3. `GET me/permissions` with it → `{"data": [{"permission", "status"}]}`: what the person
//!    granted (the Login dialog lets them decline `ads_read`).
//!
//! A refusal is `{"error": {"message", "type", "code", "error_subcode"?, "fbtrace_id"}}`:
//! code 100 for a bad code (subcode 36007 expired, 36009 used, 36008 another
//! `redirect_uri`), 191 for a redirect URI outside the app's domains, 101 for an unknown
//! app, and "Error validating client secret" (code 1) for a wrong app secret.

use adpipe_domain::app::appsecret_proof;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{Call, unavailable_status};
use crate::error::DependencyError;
use crate::ports::{FacebookApp, Grant, OAuthError};

pub const DEPENDENCY: &str = "Facebook Graph API";

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    message: Option<String>,
    code: Option<i64>,
    error_subcode: Option<i64>,
}

#[derive(Deserialize)]
struct Permissions {
    data: Vec<Permission>,
}

#[derive(Deserialize)]
struct Permission {
    permission: String,
    status: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Code,
    LongLived,
}

pub(super) async fn exchange(
    call: &Call<'_>,
    graph_url: &str,
    app: &FacebookApp,
    code: &str,
    redirect_uri: &str,
) -> Result<Grant, OAuthError> {
    let url = format!("{graph_url}/oauth/access_token");
    let short = token(
        call,
        Step::Code,
        call.client.get(&url).query(&[
            ("client_id", app.app_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("client_secret", app.app_secret.as_str()),
            ("code", code),
        ]),
    )
    .await?;
    let long = token(
        call,
        Step::LongLived,
        call.client.get(&url).query(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", app.app_id.as_str()),
            ("client_secret", app.app_secret.as_str()),
            ("fb_exchange_token", short.as_str()),
        ]),
    )
    .await?;
    let granted = permissions(call, graph_url, app, &long).await;
    Ok(Grant {
        token: Some(long),
        granted,
    })
}

async fn token(
    call: &Call<'_>,
    step: Step,
    request: reqwest::RequestBuilder,
) -> Result<String, OAuthError> {
    let what = match step {
        Step::Code => "code exchange",
        Step::LongLived => "long-lived token exchange",
    };
    let (status, body) = call.send(what, request).await?;
    if !status.is_success() {
        return Err(refusal(step, what, status, &body));
    }
    serde_json::from_slice::<TokenAnswer>(&body)
        .ok()
        .and_then(|a| a.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| call.unavailable(format!("{what}: the answer has no access_token")))
}

/// The permissions the token carries, or `None` if Graph would not say: the token is
/// good, so a failed check is logged rather than failing the sign-in.
async fn permissions(
    call: &Call<'_>,
    graph_url: &str,
    app: &FacebookApp,
    token: &str,
) -> Option<Vec<String>> {
    let proof = appsecret_proof(token, &app.app_secret);
    let request = call
        .client
        .get(format!("{graph_url}/me/permissions"))
        .query(&[("access_token", token), ("appsecret_proof", proof.as_str())]);
    let outcome = match call.send("permissions", request).await {
        Ok((status, body)) if status.is_success() => serde_json::from_slice::<Permissions>(&body)
            .map_err(|_| "the answer is not the permissions JSON".to_owned()),
        Ok((status, _)) => Err(format!("HTTP {}", status.as_u16())),
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(found) => Some(
            found
                .data
                .into_iter()
                .filter(|p| p.status == "granted")
                .map(|p| p.permission)
                .collect(),
        ),
        Err(detail) => {
            tracing::warn!(%detail, "facebook: granted permissions unknown; not checked");
            None
        }
    }
}

fn refusal(step: Step, what: &str, status: StatusCode, body: &[u8]) -> OAuthError {
    let error = serde_json::from_slice::<ErrorAnswer>(body)
        .ok()
        .map(|a| a.error);
    let code = error.as_ref().and_then(|e| e.code);
    let subcode = error.as_ref().and_then(|e| e.error_subcode);
    // Graph's own words ("This authorization code has expired."): no value of ours.
    let message = error
        .as_ref()
        .and_then(|e| e.message.as_deref())
        .unwrap_or("");
    let detail = format!(
        "{what}: HTTP {}, code {}, subcode {}: {message}",
        status.as_u16(),
        code.map_or("-".into(), |c| c.to_string()),
        subcode.map_or("-".into(), |c| c.to_string()),
    );
    let app_refused = code == Some(101)
        || (code == Some(1) && message.to_ascii_lowercase().contains("client secret"));
    match (step, code, subcode) {
        _ if unavailable_status(status) => DependencyError::new(DEPENDENCY, detail).into(),
        _ if app_refused => OAuthError::AppRefused(detail),
        (Step::Code, Some(100), Some(36008)) | (Step::Code, Some(191), _) => {
            OAuthError::RedirectUriMismatch(detail)
        }
        (Step::Code, Some(100), _) => OAuthError::InvalidCode(detail),
        _ => DependencyError::new(DEPENDENCY, format!("refused: {detail}")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(
        step: Step,
        status: u16,
        code: i64,
        subcode: Option<i64>,
        message: &str,
    ) -> OAuthError {
        let body = serde_json::json!({"error": {"message": message, "type": "OAuthException", "code": code, "error_subcode": subcode, "fbtrace_id": "A1"}});
        refusal(
            step,
            "step",
            StatusCode::from_u16(status).unwrap(),
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn a_spent_or_expired_code_is_told_from_a_wrong_redirect_uri_and_a_wrong_app() {
        let code = Step::Code;
        let expired = refused(
            code,
            400,
            100,
            Some(36007),
            "This authorization code has expired.",
        );
        assert!(matches!(expired, OAuthError::InvalidCode(d) if d.contains("36007")));
        let used = refused(
            code,
            400,
            100,
            Some(36009),
            "This authorization code has been used.",
        );
        assert!(matches!(used, OAuthError::InvalidCode(_)));
        let format = refused(code, 400, 100, None, "Invalid verification code format.");
        assert!(matches!(format, OAuthError::InvalidCode(_)));
        let other_uri = refused(
            code,
            400,
            100,
            Some(36008),
            "Error validating verification code.",
        );
        assert!(matches!(other_uri, OAuthError::RedirectUriMismatch(_)));
        let domain = refused(code, 400, 191, None, "Can't load URL");
        assert!(matches!(domain, OAuthError::RedirectUriMismatch(_)));
        let secret = refused(code, 400, 1, None, "Error validating client secret.");
        assert!(matches!(secret, OAuthError::AppRefused(_)));
        let app = refused(code, 400, 101, None, "Error validating application.");
        assert!(matches!(app, OAuthError::AppRefused(_)));
    }

    #[test]
    fn throttling_server_errors_and_later_steps_are_unavailable() {
        let throttled = refused(Step::Code, 500, 2, None, "Service temporarily unavailable");
        assert!(matches!(throttled, OAuthError::Unavailable(_)));
        let later = refused(Step::LongLived, 400, 100, None, "Invalid parameter");
        assert!(matches!(later, OAuthError::Unavailable(_)));
        let garbage = refusal(Step::Code, "step", StatusCode::BAD_GATEWAY, b"<html>");
        assert!(matches!(garbage, OAuthError::Unavailable(_)));
    }
}
