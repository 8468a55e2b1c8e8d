//! Human sign-in, sign-out and first-run setup.

use andibase_identity::{User, Workspace};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::{cookie, Body, Human, SESSION_COOKIE};
use crate::ops::{limit_per_address, ClientIp};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInInput {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetupInput {
    /// The token from the one-time setup link printed at first start.
    pub token: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
    pub workspace_name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyWorkspace {
    pub handle: String,
    pub name: String,
    pub role: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user: User,
    pub workspaces: Vec<MyWorkspace>,
}

pub fn session_cookie(state: &AppState, token: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub async fn me_for(state: &AppState, user: User) -> ApiResult<Me> {
    let workspaces = state
        .identity
        .memberships(&user.id)
        .await?
        .into_iter()
        .map(|m| MyWorkspace {
            handle: m.workspace.handle,
            name: m.workspace.name,
            role: m.role.as_str().to_string(),
        })
        .collect();
    Ok(Me { user, workspaces })
}

/// Starts a browser session for `user` and answers with the cookie set.
pub async fn signed_in(state: &AppState, user: User, status: StatusCode) -> ApiResult<Response> {
    let (token, _) = state.identity.start_browser_session(&user.id).await?;
    let me = me_for(state, user).await?;
    let mut resp = (status, Json(me)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(state, &token, 30 * 86_400),
    );
    Ok(resp)
}

/// Sign in with email and password; sets the HttpOnly session cookie.
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = "Auth", operation_id = "auth.signIn",
    request_body = SignInInput,
    responses((status = 200, description = "Signed in", body = Me), (status = 429, description = "Too many attempts", body = crate::error::ApiErrorBody)))]
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(input): Body<SignInInput>,
) -> ApiResult<Response> {
    // Failures count per address and per account; past either limit every attempt takes
    // the slow path instead of being refused, so one address cannot lock out others
    // behind it, nor anyone an account.
    let keys = [
        format!("sign-in-failed:{ip}"),
        format!(
            "sign-in-failed:account:{}",
            input.email.trim().to_lowercase()
        ),
    ];
    let limit = state.config.sign_in_per_minute as usize;
    let mut slow = false;
    for k in &keys {
        slow |= state.limiter.is_full(k, limit, 60_000).await;
    }
    let delay = state.config.sign_in_slow_path;
    let _turn = match slow {
        true => {
            let turn = state.slow_sign_ins.enter(&keys, delay.as_secs().max(1))?;
            tokio::time::sleep(delay).await;
            Some(turn)
        }
        false => None,
    };
    match state
        .identity
        .verify_credentials(&input.email, &input.password)
        .await
    {
        Ok(user) => signed_in(&state, user, StatusCode::OK).await,
        Err(e) => {
            for k in &keys {
                // Recorded whatever the count: only the window's length bounds it.
                let _ = state.limiter.hit(k, usize::MAX, 60_000).await;
            }
            Err(e.into())
        }
    }
}

/// Ends the browser session and clears the cookie. Always succeeds.
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = "Auth", operation_id = "auth.signOut",
    responses((status = 204, description = "Signed out")))]
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.identity.end_browser_session(token).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    Ok(resp)
}

/// The signed-in human and their workspaces.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "Auth", operation_id = "auth.me",
    responses((status = 200, description = "The signed-in human", body = Me)))]
pub async fn me(State(state): State<AppState>, Human(session): Human) -> ApiResult<Json<Me>> {
    Ok(Json(me_for(&state, session.user).await?))
}

/// Completes first-run setup: creates the first admin and their workspace.
#[utoipa::path(post, path = "/api/v1/auth/setup", tag = "Auth", operation_id = "auth.completeSetup",
    request_body = SetupInput,
    responses((status = 201, description = "Admin created and signed in", body = Me)))]
pub async fn complete_setup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(input): Body<SetupInput>,
) -> ApiResult<Response> {
    limit_per_address(&state, "sign-in", ip, state.config.sign_in_per_minute).await?;
    let (user, _ws): (User, Workspace) = state
        .identity
        .complete_setup(
            &input.token,
            &input.email,
            input.name.as_deref(),
            &input.password,
            &input.workspace_name,
        )
        .await
        .map_err(ApiError::from)?;
    signed_in(&state, user, StatusCode::CREATED).await
}
