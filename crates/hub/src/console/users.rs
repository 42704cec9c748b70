//! Accounts from the console: administrators manage every account; a sede's supervisor
//! manages the back-office and counter accounts of that sede. New accounts and password resets
//! get a temporary password the hub makes and shows once, so nobody types one into a form
//! someone else can read over their shoulder.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::session::code;
use super::session::{Me, checked, forbidden, html_refused, me, role_label};
use crate::accounts::{self, Role};
use crate::{HubError, HubState};

pub(super) fn router() -> Router<HubState> {
    Router::new()
        .route("/console/account", get(page).post(create))
        .route("/console/account/{username}/password", post(reset))
        .route("/console/account/{username}/stato", post(set_state))
}

struct AccountRow {
    username: String,
    role: &'static str,
    sede: String,
    disabled: bool,
    manageable: bool,
}

/// A password the page shows once.
struct Handover {
    username: String,
    password: String,
    created: bool,
}

#[derive(Template)]
#[template(path = "hub_accounts.html")]
struct AccountsPage {
    me: Me,
    accounts: Vec<AccountRow>,
    roles: Vec<(&'static str, &'static str)>,
    handover: Option<Handover>,
    error: Option<String>,
}

impl Me {
    /// Whether the user may create, reset or disable an account of `role` at `branch`.
    fn manages(&self, role: Role, branch: Option<i32>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Supervisor => {
                matches!(role, Role::Backoffice | Role::Counter)
                    && branch.is_some()
                    && branch == self.branch
            }
            Role::Backoffice | Role::Counter => false,
        }
    }

    /// The roles the user may give.
    fn grantable(&self) -> Vec<Role> {
        match self.role {
            Role::Admin => vec![
                Role::Counter,
                Role::Backoffice,
                Role::Supervisor,
                Role::Admin,
            ],
            Role::Supervisor => vec![Role::Counter, Role::Backoffice],
            Role::Backoffice | Role::Counter => Vec::new(),
        }
    }
}

async fn page(State(state): State<HubState>, headers: HeaderMap) -> Response {
    match me(&state, &headers).await {
        Ok(me) => render(&state, me, None, None).await,
        Err(r) => r,
    }
}

async fn render(
    state: &HubState,
    me: Me,
    handover: Option<Handover>,
    error: Option<String>,
) -> Response {
    let rows = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.query(
                "SELECT username, role, branch_id, disabled FROM hub_user
                 WHERE $1::integer IS NULL OR branch_id = $1
                 ORDER BY branch_id NULLS FIRST, role, username",
                &[&if me.is_admin() { None } else { me.branch }],
            )
            .await?,
        )
    }
    .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let accounts = rows
        .iter()
        .filter_map(|r| {
            let role = Role::parse(r.get(1))?;
            let branch: Option<i32> = r.get(2);
            let username: String = r.get(0);
            Some(AccountRow {
                manageable: me.manages(role, branch) && username != me.username,
                username,
                role: role_label(role),
                sede: branch.map(|b| format!("{b:04}")).unwrap_or_default(),
                disabled: r.get(3),
            })
        })
        .collect();
    let roles = me
        .grantable()
        .into_iter()
        .map(|r| (r.name(), role_label(r)))
        .collect();
    let refused = error.is_some();
    html_refused(
        AccountsPage {
            me,
            accounts,
            roles,
            handover,
            error,
        },
        refused,
    )
}

#[derive(Deserialize)]
struct CreateForm {
    csrf: String,
    username: String,
    role: String,
    #[serde(default)]
    branch: String,
}

async fn create(
    State(state): State<HubState>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Response {
    let me = match checked(&state, &headers, &form.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(role) = Role::parse(&form.role) else {
        return render(&state, me, None, Some("Scelga un ruolo.".into())).await;
    };
    let branch = match (role, me.role) {
        (Role::Admin, _) => None,
        (_, Role::Admin) => match code(&form.branch) {
            Some(b) => Some(b),
            None => {
                return render(
                    &state,
                    me,
                    None,
                    Some("Il codice sede è di 4 cifre.".into()),
                )
                .await;
            }
        },
        _ => me.branch.and_then(|b| u16::try_from(b).ok()),
    };
    if !me.manages(role, branch.map(i32::from)) {
        return forbidden();
    }
    let username = form.username.trim().to_owned();
    if web::auth::check_username(&username).is_err() {
        return render(
            &state,
            me,
            None,
            Some("Il nome utente va da 2 a 64 caratteri: lettere, cifre, punti, trattini.".into()),
        )
        .await;
    }
    let password = accounts::temporary_password();
    let done = async {
        let mut c = state.pool.get().await?;
        accounts::add_user(&mut c, &me.username, &username, &password, role, branch).await
    }
    .await;
    match done {
        Ok(()) => {
            render(
                &state,
                me,
                Some(Handover {
                    username,
                    password,
                    created: true,
                }),
                None,
            )
            .await
        }
        Err(HubError::BadRequest(m)) => render(&state, me, None, Some(m)).await,
        Err(e) => e.into_response(),
    }
}

/// The account a form acts on, if the user may act on it.
async fn target(state: &HubState, me: &Me, username: &str) -> Result<(), Response> {
    let row = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.query_opt(
                "SELECT role, branch_id FROM hub_user WHERE username = $1",
                &[&username],
            )
            .await?,
        )
    }
    .await
    .map_err(|e| e.into_response())?;
    let Some(row) = row else {
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    let role = Role::parse(row.get(0)).unwrap_or(Role::Admin);
    if username == me.username || !me.manages(role, row.get(1)) {
        return Err(forbidden());
    }
    Ok(())
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn reset(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path(username): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let me = match checked(&state, &headers, &form.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = target(&state, &me, &username).await {
        return r;
    }
    let password = accounts::temporary_password();
    let done = async {
        let mut c = state.pool.get().await?;
        accounts::reset_password(&mut c, &me.username, &username, &password).await
    }
    .await;
    match done {
        Ok(()) => {
            render(
                &state,
                me,
                Some(Handover {
                    username,
                    password,
                    created: false,
                }),
                None,
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct StateForm {
    csrf: String,
    disabled: String,
}

async fn set_state(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path(username): Path<String>,
    Form(form): Form<StateForm>,
) -> Response {
    let me = match checked(&state, &headers, &form.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = target(&state, &me, &username).await {
        return r;
    }
    let disabled = form.disabled == "1";
    let done = async {
        let mut c = state.pool.get().await?;
        accounts::set_disabled(&mut c, &me.username, &username, disabled).await
    }
    .await;
    match done {
        Ok(()) => Redirect::to("/console/account").into_response(),
        Err(e) => e.into_response(),
    }
}
