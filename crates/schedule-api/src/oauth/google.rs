//! Google's OAuth 2.0 token endpoint: an authorization code for a refresh token
//! (`grant_type=authorization_code`, a form POST). The answer is
//! `{"access_token", "expires_in", "refresh_token"?, "scope", "token_type"}`; a refusal is
//! `{"error", "error_description"?}` (RFC 6749 §5.2).

use reqwest::StatusCode;
use serde::Deserialize;

use super::{Call, unavailable_status};
use crate::ports::{GoogleApp, Grant, OAuthError};

pub const DEPENDENCY: &str = "Google OAuth token endpoint";

#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct Refusal {
    error: Option<String>,
    error_description: Option<String>,
}

/// What one code exchange sends besides the app.
pub(super) struct Exchange<'a> {
    pub code: &'a str,
    pub redirect_uri: &'a str,
    /// PKCE (RFC 7636): the verifier of the consent URL's `code_challenge`.
    pub code_verifier: Option<&'a str>,
}

pub(super) async fn exchange(
    call: &Call<'_>,
    token_url: &str,
    app: &GoogleApp,
    request: &Exchange<'_>,
) -> Result<Grant, OAuthError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", request.code),
        ("client_id", app.client_id.as_str()),
        ("client_secret", app.client_secret.as_str()),
        ("redirect_uri", request.redirect_uri),
    ];
    if let Some(verifier) = request.code_verifier {
        form.push(("code_verifier", verifier));
    }
    let request = call.client.post(token_url).form(&form);
    let (status, body) = call.send("code exchange", request).await?;
    if !status.is_success() {
        return Err(refusal(status, &body));
    }
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|_| call.unavailable("code exchange: the answer is not the token JSON"))?;
    if answer.access_token.is_none_or(|t| t.is_empty()) {
        return Err(call.unavailable("code exchange: the answer has no access_token"));
    }
    Ok(Grant {
        token: answer.refresh_token.filter(|t| !t.is_empty()),
        granted: answer
            .scope
            .map(|s| s.split_whitespace().map(str::to_owned).collect()),
    })
}

fn refusal(status: StatusCode, body: &[u8]) -> OAuthError {
    let refusal: Option<Refusal> = serde_json::from_slice(body).ok();
    let error = refusal
        .as_ref()
        .and_then(|r| r.error.as_deref())
        .unwrap_or("");
    // Google's own words ("Bad Request", "Malformed auth code."): no value of ours.
    let description = refusal
        .as_ref()
        .and_then(|r| r.error_description.as_deref())
        .unwrap_or("");
    let detail = format!("HTTP {}, error `{error}`: {description}", status.as_u16());
    match error {
        "invalid_grant" => OAuthError::InvalidCode(detail),
        "redirect_uri_mismatch" => OAuthError::RedirectUriMismatch(detail),
        "invalid_client" | "unauthorized_client" => OAuthError::AppRefused(detail),
        _ if unavailable_status(status) || error == "temporarily_unavailable" => {
            crate::error::DependencyError::new(DEPENDENCY, detail).into()
        }
        _ => crate::error::DependencyError::new(DEPENDENCY, format!("refused: {detail}")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, body: &str) -> OAuthError {
        refusal(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn refusals_are_told_apart_by_their_error() {
        let bad = |e: &str| format!(r#"{{"error": "{e}", "error_description": "Bad Request"}}"#);
        assert!(matches!(
            refused(400, &bad("invalid_grant")),
            OAuthError::InvalidCode(_)
        ));
        assert!(matches!(
            refused(400, &bad("redirect_uri_mismatch")),
            OAuthError::RedirectUriMismatch(_)
        ));
        assert!(matches!(
            refused(401, &bad("invalid_client")),
            OAuthError::AppRefused(_)
        ));
        for (status, body) in [(500, "oops"), (503, ""), (429, "{}"), (400, "{}")] {
            assert!(
                matches!(refused(status, body), OAuthError::Unavailable(_)),
                "{status} {body}"
            );
        }
    }
}
