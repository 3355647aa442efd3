//! The support desk (`/admin`): the work queue with what is due, by when, and what happens
//! if nobody acts; order search; sellers' ratings and penalties; accounts and sign-in
//! links; integrations; the outbox; and, under the test clock, a clock to move.

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orderly_domain::{AccountId, Role, Status};
use orderly_server::AppState;
use orderly_server::error::ApiError;
use orderly_store::Viewer;
use serde::Deserialize;

use crate::format::{capitalised, duration, short_time, time, words};
use crate::html::{Page, see_other};
use crate::pages::orders::OrderRow;
use crate::pages::seller::{RatingView, rating};
use crate::pages::{Layout, failure, message_page};
use crate::session::{self, Form, Params, Signed, read_form};

/// The role a form or query names.
fn role_of(code: &str) -> Option<Role> {
    [Role::Buyer, Role::Seller, Role::Admin]
        .into_iter()
        .find(|role| role.code() == code)
}

/// The signed-in admin, or a page saying this is support's.
async fn admin(state: &AppState, headers: &HeaderMap, path: &str) -> Result<Signed, Response> {
    let signed = session::require(state, headers, path).await?;
    if signed.role() != Role::Admin {
        return Err(message_page(
            StatusCode::FORBIDDEN,
            "For support staff",
            "These pages are the platform's support desk.",
        ));
    }
    Ok(signed)
}

/// The signed-in admin and their form, CSRF checked.
async fn admin_form(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    request: Request,
) -> Result<(Signed, Form), Response> {
    let signed = admin(state, headers, path).await?;
    let form = read_form(request.into_body()).await?;
    form.check_csrf(&signed)?;
    Ok((signed, form))
}

fn flash(layout: &mut Layout, done: Option<&str>) {
    layout.flash = done.map(|done| match done {
        "assigned" => "Assigned.".to_owned(),
        "unassigned" => "Unassigned.".to_owned(),
        "resolved" => "Resolved: the item leaves the open queue.".to_owned(),
        "penalty" => "Penalty applied; the seller's rating already counts it.".to_owned(),
        "revoked" => "Revoked.".to_owned(),
        "retried" => "Sent again: the outbox retries it now.".to_owned(),
        "skipped" => "Skipped for good: the order's later messages can go.".to_owned(),
        other => format!("Done: {}.", words(other)),
    });
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

// ---- The queue -----------------------------------------------------------------------------

/// One item of the work queue.
pub struct QueueRow {
    pub id: String,
    pub kind: String,
    pub summary: String,
    pub order_id: String,
    pub order_number: String,
    pub status: String,
    pub due: String,
    pub left: String,
    pub overdue: bool,
    pub if_nobody_acts: String,
    pub assignee: String,
    pub mine: bool,
    pub resolution: String,
}

/// What happens to an item of `kind` if support does nothing.
fn if_nobody_acts(kind: &str) -> &'static str {
    match kind {
        "cancellation_escalated" => {
            "Nothing moves: the order stays as it is, its request escalated, until support decides."
        }
        "claim_escalated" => {
            "Nothing moves: the claim waits for support's decision and buyer protection stays paused."
        }
        "complaint" => {
            "The complaint stays unread; it weighs on nothing until support looks at it."
        }
        "refund_overdue" => {
            "The buyer keeps waiting for money that is late; chase the payment provider."
        }
        "support_request" => "The person who asked gets no answer.",
        "payment_verification" => {
            "The order waits in payment verification: the seller cannot ship."
        }
        "delivery_dead" => {
            "The order's later e-mails or webhooks of that kind stay held until it is retried or skipped."
        }
        _ => "It stays open.",
    }
}

#[derive(Template)]
#[template(path = "admin_queue.html")]
struct QueuePage {
    layout: Layout,
    csrf: String,
    rows: Vec<QueueRow>,
    kinds: Vec<(&'static str, String)>,
    kind: String,
    status: String,
    next: Option<String>,
}

const KINDS: [&str; 7] = [
    "cancellation_escalated",
    "claim_escalated",
    "complaint",
    "refund_overdue",
    "support_request",
    "payment_verification",
    "delivery_dead",
];

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    kind: Option<String>,
    status: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

pub async fn queue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<QueueQuery>,
) -> Response {
    let signed = match admin(&state, &headers, "/admin").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let kind = query.kind.filter(|kind| KINDS.contains(&kind.as_str()));
    let status = match query.status.as_deref() {
        Some("done") => Some("done".to_owned()),
        Some("all") => None,
        _ => Some("open".to_owned()),
    };
    let page = match state
        .app
        .queue(orderly_store::QueueFilter {
            kind: kind.clone(),
            status: status.clone(),
            order_id: None,
            after: query
                .after
                .as_deref()
                .and_then(orderly_store::QueueCursor::decode),
            limit: 50,
        })
        .await
    {
        Ok(page) => page,
        Err(error) => return failure(error.into()),
    };
    let now = state.app.now();
    let me = signed.session.account.id;
    let mut rows = Vec::with_capacity(page.items.len());
    for item in &page.items {
        let assignee = match item.assignee_id {
            Some(id) if id == me => "you".to_owned(),
            Some(id) => state
                .app
                .account(id)
                .await
                .ok()
                .flatten()
                .map_or_else(|| "someone".to_owned(), |account| account.name),
            None => String::new(),
        };
        let (left, overdue) = match item.due_at {
            Some(due) if due <= now => (
                format!("overdue by {}", duration(now.duration_since(due))),
                true,
            ),
            Some(due) => (format!("{} left", duration(due.duration_since(now))), false),
            None => (String::new(), false),
        };
        let order_number = item.order_id.as_uuid().simple().to_string().to_uppercase();
        rows.push(QueueRow {
            id: item.id.to_string(),
            kind: capitalised(&words(&item.kind)),
            summary: item.summary.clone(),
            order_id: item.order_id.as_uuid().to_string(),
            order_number: order_number[order_number.len() - 10..].to_owned(),
            status: item.status.clone(),
            due: item
                .due_at
                .map(time)
                .unwrap_or_else(|| "no deadline".into()),
            left,
            overdue,
            if_nobody_acts: if_nobody_acts(&item.kind).into(),
            mine: item.assignee_id == Some(me),
            assignee,
            resolution: item
                .resolution_note
                .clone()
                .map(|note| {
                    format!(
                        "Resolved {}: {note}",
                        item.resolved_at.map(short_time).unwrap_or_default()
                    )
                })
                .or_else(|| {
                    item.resolved_at
                        .map(|at| format!("Settled by the order itself, {}", short_time(at)))
                })
                .unwrap_or_default(),
        });
    }
    let next = page.next.map(|cursor| {
        let mut link = format!("/admin?after={}", cursor.encode());
        if let Some(kind) = &kind {
            link.push_str(&format!("&kind={kind}"));
        }
        link.push_str(&format!(
            "&status={}",
            status.clone().unwrap_or("all".into())
        ));
        link
    });
    let mut layout = Layout::new("Work queue", Some(&signed), "/admin");
    flash(&mut layout, query.done.as_deref());
    Page::ok(QueuePage {
        layout,
        csrf: signed.csrf().to_owned(),
        rows,
        kinds: KINDS
            .iter()
            .map(|kind| (*kind, capitalised(&words(kind))))
            .collect(),
        kind: kind.unwrap_or_default(),
        status: status.unwrap_or("all".into()),
        next,
    })
    .into_response()
}

fn queue_id(id: &str) -> Option<uuid::Uuid> {
    id.parse().ok()
}

pub async fn assign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (signed, form) = match admin_form(&state, &headers, "/admin", request).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let Some(id) = queue_id(&id) else {
        return crate::pages::not_found();
    };
    let assignee = (form.get("assignee") != Some("nobody")).then_some(signed.session.account.id);
    match state.app.assign_queue_item(id, assignee, |_| None).await {
        Ok(_) => see_other(if assignee.is_some() {
            "/admin?done=assigned"
        } else {
            "/admin?done=unassigned"
        }),
        Err(error) => failure(error.into()),
    }
}

pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (signed, form) = match admin_form(&state, &headers, "/admin", request).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let Some(id) = queue_id(&id) else {
        return crate::pages::not_found();
    };
    match state
        .app
        .resolve_queue_item(id, signed.session.account.id, &form.text("note"), |_| None)
        .await
    {
        Ok(_) => see_other("/admin?done=resolved"),
        Err(error) => failure(error.into()),
    }
}

// ---- Orders --------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_orders.html")]
struct OrdersPage {
    layout: Layout,
    q: String,
    status: String,
    statuses: Vec<(&'static str, String)>,
    rows: Vec<OrderRow>,
    said: String,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    status: Option<String>,
    after: Option<String>,
}

pub async fn orders(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<SearchQuery>,
) -> Response {
    let signed = match admin(&state, &headers, "/admin/orders").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let q = query.q.unwrap_or_default().trim().to_owned();
    let status = query.status.as_deref().and_then(Status::parse);
    let now = state.app.now();
    let mut said = String::new();
    let mut viewer = Viewer::Everyone;
    let mut rows = Vec::new();
    let mut next = None;
    if let Ok(id) = q.parse::<uuid::Uuid>() {
        // An order id opens the order; an account id lists that account's orders.
        if let Ok(order) = state
            .app
            .order_for(signed.actor(), orderly_domain::OrderId::from_uuid(id))
            .await
        {
            return see_other(&format!("/orders/{}", order.id.as_uuid()));
        }
        match state.app.account(AccountId::from_uuid(id)).await {
            Ok(Some(account)) if account.role == Role::Buyer => {
                said = format!("Orders of the buyer {}", account.name);
                viewer = Viewer::Buyer(account.id);
            }
            Ok(Some(account)) if account.role == Role::Seller => {
                said = format!("Orders of the seller {}", account.name);
                viewer = Viewer::Seller(account.id);
            }
            _ => said = "No order and no buyer or seller has that id.".into(),
        }
    } else if !q.is_empty() {
        match state.app.orders_by_number(&q).await {
            Ok(ids) if ids.len() == 1 => {
                return see_other(&format!("/orders/{}", ids[0].as_uuid()));
            }
            Ok(ids) => {
                said = if ids.is_empty() {
                    format!(
                        "No order has the number {q}. Search by an order number (#DDC603E088), an order id, or a buyer's or seller's id."
                    )
                } else {
                    format!("{} orders share the number {q}.", ids.len())
                };
                for id in ids {
                    if let Ok(order) = state.app.order_for(signed.actor(), id).await {
                        rows.push(OrderRow::new(&order, now));
                    }
                }
            }
            Err(error) => return failure(error.into()),
        }
    }
    if rows.is_empty() && !said.starts_with("No ") {
        let after = query
            .after
            .as_deref()
            .and_then(orderly_store::Cursor::decode);
        match state.app.search_orders(viewer, status, after, 50).await {
            Ok(page) => {
                rows = page
                    .orders
                    .iter()
                    .map(|order| OrderRow::new(order, now))
                    .collect();
                next = page.next.map(|cursor| {
                    format!(
                        "/admin/orders?after={}&q={q}&status={}",
                        cursor.encode(),
                        status.map(|status| status.code()).unwrap_or("")
                    )
                });
            }
            Err(error) => return failure(error.into()),
        }
    }
    Page::ok(OrdersPage {
        layout: Layout::new("Orders", Some(&signed), "/admin/orders"),
        q,
        status: status
            .map(|status| status.code().to_owned())
            .unwrap_or_default(),
        statuses: Status::ALL
            .iter()
            .map(|status| (status.code(), crate::view::status_label(*status)))
            .collect(),
        rows,
        said,
        next,
    })
    .into_response()
}

// ---- Sellers -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_seller.html")]
struct SellerPage {
    layout: Layout,
    csrf: String,
    id: String,
    name: String,
    rating: RatingView,
    error: Option<String>,
}

async fn seller_page(
    state: &AppState,
    signed: &Signed,
    id: &str,
    done: Option<&str>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let Some(seller_id) = id.parse::<uuid::Uuid>().ok().map(AccountId::from_uuid) else {
        return crate::pages::not_found();
    };
    let name = match state.app.seller(seller_id).await {
        Ok((account, _)) => account.name,
        Err(error) => return failure(error.into()),
    };
    let rating = match rating(state, seller_id).await {
        Ok(rating) => rating,
        Err(error) => return failure(error),
    };
    let mut layout = Layout::new(format!("Seller {name}"), Some(signed), "/admin/orders");
    flash(&mut layout, done);
    let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
    Page::with_status(
        status,
        SellerPage {
            layout,
            csrf: signed.csrf().to_owned(),
            id: id.to_owned(),
            name,
            rating,
            error: error.map(|(_, sentence)| sentence),
        },
    )
    .into_response()
}

pub async fn seller(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<DoneQuery>,
) -> Response {
    let signed = match admin(&state, &headers, &format!("/admin/sellers/{id}")).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let done = query.done;
    seller_page(&state, &signed, &id, done.as_deref(), None).await
}

fn refused(error: orderly_app::AppError) -> (StatusCode, String) {
    let problem = ApiError::from(error).problem();
    (
        StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
        problem.detail,
    )
}

pub async fn apply_penalty(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (signed, form) =
        match admin_form(&state, &headers, &format!("/admin/sellers/{id}"), request).await {
            Ok(signed) => signed,
            Err(response) => return response,
        };
    let Some(seller_id) = id.parse::<uuid::Uuid>().ok().map(AccountId::from_uuid) else {
        return crate::pages::not_found();
    };
    let Ok(points) = form.text("points").parse::<u32>() else {
        let error = (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Give the points as a whole number from 1 to 10.".to_owned(),
        );
        return seller_page(&state, &signed, &id, None, Some(error)).await;
    };
    match state
        .app
        .apply_penalty(seller_id, points, &form.text("reason"), None)
        .await
    {
        Ok(_) => see_other(&format!("/admin/sellers/{id}?done=penalty")),
        Err(error) => seller_page(&state, &signed, &id, None, Some(refused(error))).await,
    }
}

pub async fn revoke_penalty(
    State(state): State<AppState>,
    Path((id, penalty_id)): Path<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (signed, form) =
        match admin_form(&state, &headers, &format!("/admin/sellers/{id}"), request).await {
            Ok(signed) => signed,
            Err(response) => return response,
        };
    let (Some(seller_id), Ok(penalty_id)) = (
        id.parse::<uuid::Uuid>().ok().map(AccountId::from_uuid),
        penalty_id.parse::<i64>(),
    ) else {
        return crate::pages::not_found();
    };
    match state
        .app
        .revoke_penalty(seller_id, penalty_id, &form.text("note"), None)
        .await
    {
        Ok(_) => see_other(&format!("/admin/sellers/{id}?done=revoked")),
        Err(error) => seller_page(&state, &signed, &id, None, Some(refused(error))).await,
    }
}

// ---- Accounts ------------------------------------------------------------------------------

pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub role: &'static str,
    pub email: String,
    pub created: String,
    pub revoked: bool,
    pub seller: bool,
}

#[derive(Template)]
#[template(path = "admin_accounts.html")]
struct AccountsPage {
    layout: Layout,
    csrf: String,
    rows: Vec<AccountRow>,
    role: String,
    /// Shown once: a new account's token, or a sign-in link.
    secret: Option<(String, String)>,
    error: Option<(String, String)>,
    typed: (String, String, String),
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AccountsQuery {
    role: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

struct Shown {
    secret: Option<(String, String)>,
    error: Option<(String, String)>,
    typed: (String, String, String),
    status: StatusCode,
}

async fn accounts_page(
    state: &AppState,
    signed: &Signed,
    role: Option<Role>,
    after: Option<AccountId>,
    done: Option<&str>,
    shown: Shown,
) -> Response {
    let accounts = match state.app.accounts(role, after, 51).await {
        Ok(accounts) => accounts,
        Err(error) => return failure(error.into()),
    };
    let next = (accounts.len() > 50).then(|| {
        format!(
            "/admin/accounts?after={}&role={}",
            accounts[49].id.as_uuid(),
            role.map(|role| role.code()).unwrap_or("")
        )
    });
    let rows = accounts
        .iter()
        .take(50)
        .map(|account| AccountRow {
            id: account.id.as_uuid().to_string(),
            name: account.name.clone(),
            role: account.role.code(),
            email: account.email.clone().unwrap_or_default(),
            created: short_time(account.created_at),
            revoked: account.revoked_at.is_some(),
            seller: account.role == Role::Seller,
        })
        .collect();
    let mut layout = Layout::new("Accounts", Some(signed), "/admin/accounts");
    flash(&mut layout, done);
    Page::with_status(
        shown.status,
        AccountsPage {
            layout,
            csrf: signed.csrf().to_owned(),
            rows,
            role: role.map(|role| role.code().to_owned()).unwrap_or_default(),
            secret: shown.secret,
            error: shown.error,
            typed: shown.typed,
            next,
        },
    )
    .into_response()
}

fn nothing_shown() -> Shown {
    Shown {
        secret: None,
        error: None,
        typed: ("buyer".into(), String::new(), String::new()),
        status: StatusCode::OK,
    }
}

pub async fn accounts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<AccountsQuery>,
) -> Response {
    let signed = match admin(&state, &headers, "/admin/accounts").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let role = query
        .role
        .as_deref()
        .and_then(role_of)
        .filter(|role| matches!(role, Role::Buyer | Role::Seller | Role::Admin));
    let after = query
        .after
        .as_deref()
        .and_then(|id| id.parse::<uuid::Uuid>().ok())
        .map(AccountId::from_uuid);
    accounts_page(
        &state,
        &signed,
        role,
        after,
        query.done.as_deref(),
        nothing_shown(),
    )
    .await
}

pub async fn create_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (signed, form) = match admin_form(&state, &headers, "/admin/accounts", request).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let typed = (form.text("role"), form.text("name"), form.text("email"));
    let Some(role) =
        role_of(&typed.0).filter(|role| matches!(role, Role::Buyer | Role::Seller | Role::Admin))
    else {
        let shown = Shown {
            error: Some(("role".into(), "Choose buyer, seller or admin.".into())),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            typed,
            secret: None,
        };
        return accounts_page(&state, &signed, None, None, None, shown).await;
    };
    let email = Some(typed.2.as_str()).filter(|email| !email.is_empty());
    match state
        .app
        .create_account(role, &typed.1, email, |_| None)
        .await
    {
        // The token is shown on this page once; it is never stored.
        Ok((account, token)) => {
            let shown = Shown {
                secret: Some((
                    format!(
                        "API token for {} (shown once; it signs in and calls the API)",
                        account.name
                    ),
                    token,
                )),
                ..nothing_shown()
            };
            accounts_page(&state, &signed, None, None, None, shown).await
        }
        Err(error) => {
            let problem = ApiError::from(error).problem();
            let shown = Shown {
                error: Some((problem.field.unwrap_or_default(), problem.detail)),
                status: StatusCode::from_u16(problem.status)
                    .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                typed,
                secret: None,
            };
            accounts_page(&state, &signed, None, None, None, shown).await
        }
    }
}

pub async fn revoke_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (_, _) = match admin_form(&state, &headers, "/admin/accounts", request).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let Some(account_id) = id.parse::<uuid::Uuid>().ok().map(AccountId::from_uuid) else {
        return crate::pages::not_found();
    };
    match state.app.account(account_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return crate::pages::not_found(),
        Err(error) => return failure(error.into()),
    }
    match state.app.revoke_token(account_id, None).await {
        Ok(_) => see_other("/admin/accounts?done=revoked"),
        Err(error) => failure(error.into()),
    }
}

pub async fn signin_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (signed, form) = match admin_form(&state, &headers, "/admin/accounts", request).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let Some(account_id) = id.parse::<uuid::Uuid>().ok().map(AccountId::from_uuid) else {
        return crate::pages::not_found();
    };
    let return_to = form
        .get("return_to")
        .map(str::trim)
        .filter(|path| !path.is_empty());
    match state
        .app
        .create_signin_link(account_id, return_to, |_| None)
        .await
    {
        Ok(link) => {
            let url = orderly_server::routes::signin_url(&state, &link.token);
            let shown = Shown {
                secret: Some((
                    format!("Sign-in link (one use, until {})", time(link.expires_at)),
                    url,
                )),
                ..nothing_shown()
            };
            accounts_page(&state, &signed, None, None, None, shown).await
        }
        Err(error) => failure(error.into()),
    }
}

// ---- Integrations --------------------------------------------------------------------------

pub struct IntegrationRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub state: String,
    pub live: bool,
}

#[derive(Template)]
#[template(path = "admin_integrations.html")]
struct IntegrationsPage {
    layout: Layout,
    csrf: String,
    rows: Vec<IntegrationRow>,
    secret: Option<(String, String)>,
    error: Option<String>,
    public_url: String,
}

async fn integrations_page(
    state: &AppState,
    signed: &Signed,
    secret: Option<(String, String)>,
    error: Option<(StatusCode, String)>,
    done: Option<&str>,
) -> Response {
    let integrations = match state.app.integrations().await {
        Ok(integrations) => integrations,
        Err(error) => return failure(error.into()),
    };
    let now = state.app.now();
    let rows = integrations
        .iter()
        .map(|integration| IntegrationRow {
            id: integration.id.to_string(),
            kind: capitalised(&integration.kind),
            name: integration.name.clone(),
            state: match (integration.revoked_at, integration.previous_valid_until) {
                (Some(at), _) => format!("Revoked {}", short_time(at)),
                (None, Some(until)) if until > now => {
                    format!(
                        "Live; the previous secret works until {}",
                        short_time(until)
                    )
                }
                _ => "Live".into(),
            },
            live: integration.revoked_at.is_none(),
        })
        .collect();
    let mut layout = Layout::new("Integrations", Some(signed), "/admin/integrations");
    flash(&mut layout, done);
    let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
    Page::with_status(
        status,
        IntegrationsPage {
            layout,
            csrf: signed.csrf().to_owned(),
            rows,
            secret,
            error: error.map(|(_, sentence)| sentence),
            public_url: state.app.public_url().to_owned(),
        },
    )
    .into_response()
}

pub async fn integrations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<DoneQuery>,
) -> Response {
    let signed = match admin(&state, &headers, "/admin/integrations").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let done = query.done;
    integrations_page(&state, &signed, None, None, done.as_deref()).await
}

pub async fn register_integration(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (signed, form) = match admin_form(&state, &headers, "/admin/integrations", request).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    match state
        .app
        .register_integration(&form.text("kind"), &form.text("name"), |_| None)
        .await
    {
        Ok((integration, secret)) => {
            let label = format!(
                "Secret of {} (id {}), shown once",
                integration.name, integration.id
            );
            integrations_page(&state, &signed, Some((label, secret)), None, None).await
        }
        Err(error) => integrations_page(&state, &signed, None, Some(refused(error)), None).await,
    }
}

pub async fn integration_operation(
    State(state): State<AppState>,
    Path((id, operation)): Path<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (signed, _) = match admin_form(&state, &headers, "/admin/integrations", request).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return crate::pages::not_found();
    };
    match operation.as_str() {
        "rotate" => match state.app.rotate_integration(id, |_| None).await {
            Ok((integration, secret)) => {
                let label = format!(
                    "New secret of {}, shown once (the old one works for 24 hours more)",
                    integration.name
                );
                integrations_page(&state, &signed, Some((label, secret)), None, None).await
            }
            Err(error) => {
                integrations_page(&state, &signed, None, Some(refused(error)), None).await
            }
        },
        "revoke" => match state.app.revoke_integration(id, |_| None).await {
            Ok(_) => see_other("/admin/integrations?done=revoked"),
            Err(error) => {
                integrations_page(&state, &signed, None, Some(refused(error)), None).await
            }
        },
        _ => crate::pages::not_found(),
    }
}

// ---- The outbox ----------------------------------------------------------------------------

pub struct OutboxRow {
    pub id: i64,
    pub topic: String,
    pub status: String,
    pub order_id: String,
    pub attempts: u32,
    pub error: String,
    pub next: String,
    pub created: String,
    pub dead: bool,
    pub pending: bool,
}

#[derive(Template)]
#[template(path = "admin_outbox.html")]
struct OutboxPage {
    layout: Layout,
    csrf: String,
    rows: Vec<OutboxRow>,
    status: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct OutboxQuery {
    status: Option<String>,
    done: Option<String>,
}

pub async fn outbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<OutboxQuery>,
) -> Response {
    let signed = match admin(&state, &headers, "/admin/outbox").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let status = match query.status.as_deref() {
        Some(status @ ("pending" | "dead" | "delivered" | "skipped")) => status.to_owned(),
        _ => "dead".to_owned(),
    };
    let entries = match state
        .app
        .store
        .outbox_list(Some(&status), None, None, 100)
        .await
    {
        Ok(entries) => entries,
        Err(error) => return failure(orderly_app::AppError::from(error).into()),
    };
    let rows = entries
        .iter()
        .map(|entry| OutboxRow {
            id: entry.id,
            topic: if entry.topic == "email" {
                "E-mail".into()
            } else {
                capitalised(&entry.topic)
            },
            status: entry.status.clone(),
            order_id: entry.order_id.as_uuid().to_string(),
            attempts: entry.attempts,
            error: entry.last_error.clone().unwrap_or_default(),
            next: short_time(entry.next_attempt_at),
            created: short_time(entry.created_at),
            dead: entry.status == "dead",
            pending: entry.status == "pending",
        })
        .collect();
    let mut layout = Layout::new("Outbox", Some(&signed), "/admin/outbox");
    flash(&mut layout, query.done.as_deref());
    Page::ok(OutboxPage {
        layout,
        csrf: signed.csrf().to_owned(),
        rows,
        status,
    })
    .into_response()
}

pub async fn outbox_operation(
    State(state): State<AppState>,
    Path((id, operation)): Path<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    if let Err(response) = admin_form(&state, &headers, "/admin/outbox", request).await {
        return response;
    }
    let Ok(id) = id.parse::<i64>() else {
        return crate::pages::not_found();
    };
    let outcome = match operation.as_str() {
        "retry" => state.app.retry_outbox(id).await.map(|_| "retried"),
        "skip" => state.app.skip_outbox(id).await.map(|_| "skipped"),
        _ => return crate::pages::not_found(),
    };
    match outcome {
        Ok(done) => see_other(&format!("/admin/outbox?done={done}")),
        Err(error) => failure(error.into()),
    }
}

// ---- The test clock ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_clock.html")]
struct ClockPage {
    layout: Layout,
    csrf: String,
    now: String,
    test_clock: bool,
    fired: Option<String>,
    error: Option<String>,
}

fn clock_page(
    state: &AppState,
    signed: &Signed,
    fired: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    Page::with_status(
        status,
        ClockPage {
            layout: Layout::new("Clock", Some(signed), "/admin/clock"),
            csrf: signed.csrf().to_owned(),
            now: time(state.app.now()),
            test_clock: state.app.has_test_clock(),
            fired,
            error,
        },
    )
    .into_response()
}

pub async fn clock(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match admin(&state, &headers, "/admin/clock").await {
        Ok(signed) => clock_page(&state, &signed, None, None, StatusCode::OK),
        Err(response) => response,
    }
}

pub async fn advance_clock(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (signed, form) = match admin_form(&state, &headers, "/admin/clock", request).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let Ok(hours) = form.text("hours").parse::<f64>() else {
        return clock_page(
            &state,
            &signed,
            None,
            Some("Give the hours as a number, such as 72.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    #[allow(
        clippy::cast_possible_truncation,
        reason = "checked to be a small positive number"
    )]
    let seconds = (hours * 3_600.0).round() as i64;
    match state.app.advance_clock(seconds).await {
        Ok((now, fired)) => {
            let sentence = format!(
                "The clock moved {} to {}; {fired} deadline{} fired on the way.",
                duration(jiff::SignedDuration::from_secs(seconds)),
                time(now),
                if fired == 1 { "" } else { "s" }
            );
            clock_page(&state, &signed, Some(sentence), None, StatusCode::OK)
        }
        Err(error) => {
            let (status, sentence) = refused(error);
            clock_page(&state, &signed, None, Some(sentence), status)
        }
    }
}
