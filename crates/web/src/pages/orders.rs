//! `/orders` and `/orders/{id}`: the order list, and the order page with exactly the
//! caller's allowed actions, each a form run through the API's own handler.

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderly_domain::{Action, Actor, OrderId, Role, Status};
use orderly_server::AppState;
use serde::Deserialize;

use crate::actions::{self, ActionForm};
use crate::format::{money, short_time, words};
use crate::html::{Page, see_other};
use crate::pages::{Layout, Refusal, failure, outcome};
use crate::session::{self, Form, Params, Signed, new_key, read_form};
use crate::view::{Names, OrderView, status_label};

// ---- The list ------------------------------------------------------------------------------

/// One row of the order list.
pub struct OrderRow {
    pub id: String,
    pub number: String,
    pub status: &'static str,
    pub status_label: String,
    pub title: String,
    pub total: String,
    pub placed: String,
    pub next: String,
    pub flags: Vec<&'static str>,
}

impl OrderRow {
    pub fn new(order: &orderly_domain::Order, now: jiff::Timestamp) -> Self {
        let mut flags = Vec::new();
        if order.frozen {
            flags.push("frozen");
        }
        if order.open_cancellation().is_some() {
            flags.push("cancellation requested");
        }
        if order.open_claim().is_some() {
            flags.push("claim open");
        }
        let next = order
            .next_due()
            .filter(|(kind, _)| !kind.is_reminder())
            .map(|(kind, at)| {
                let left = if at > now {
                    format!("in {}", crate::format::duration(at.duration_since(now)))
                } else {
                    "due now".into()
                };
                format!("{} {left}", words(kind.code()))
            })
            .unwrap_or_default();
        let title = match order.lines.as_slice() {
            [] => String::new(),
            [line] => format!("{} × {}", line.quantity, line.title),
            [line, rest @ ..] => {
                format!("{} × {} and {} more", line.quantity, line.title, rest.len())
            }
        };
        Self {
            id: order.id.as_uuid().to_string(),
            number: order.number(),
            status: order.status.code(),
            status_label: status_label(order.status),
            title,
            total: money(order.total_minor(), order.currency),
            placed: short_time(order.placed_at),
            next,
            flags,
        }
    }
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    layout: Layout,
    heading: String,
    rows: Vec<OrderRow>,
    statuses: Vec<(&'static str, String)>,
    status: String,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    after: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<ListQuery>,
) -> Response {
    let signed = match session::require(&state, &headers, "/orders").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let status = query.status.as_deref().and_then(Status::parse);
    let after = query
        .after
        .as_deref()
        .and_then(orderly_store::Cursor::decode);
    let page = match state
        .app
        .list_orders(signed.actor(), status, after, 25)
        .await
    {
        Ok(page) => page,
        Err(error) => return failure(error.into()),
    };
    let now = state.app.now();
    let next = page.next.map(|cursor| {
        let status = status
            .map(|status| format!("&status={}", status.code()))
            .unwrap_or_default();
        format!("/orders?after={}{status}", cursor.encode())
    });
    Page::ok(OrdersPage {
        layout: Layout::new(
            if signed.role() == Role::Buyer {
                "My orders"
            } else {
                "Orders"
            },
            Some(&signed),
            "/orders",
        ),
        heading: if signed.role() == Role::Buyer {
            "My orders".into()
        } else {
            "Orders".into()
        },
        rows: page
            .orders
            .iter()
            .map(|order| OrderRow::new(order, now))
            .collect(),
        statuses: Status::ALL
            .iter()
            .map(|status| (status.code(), status_label(*status)))
            .collect(),
        status: status
            .map(|status| status.code().to_owned())
            .unwrap_or_default(),
        next,
    })
    .into_response()
}

// ---- The order page ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    layout: Layout,
    order: OrderView,
    csrf: String,
    admin: Option<AdminExtras>,
}

/// What only support sees on the order page.
pub struct AdminExtras {
    pub queue: Vec<(String, String, String, String)>,
    pub seller_url: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    done: Option<String>,
}

/// The refusal of the last try and what was typed, to show on the form it came from.
struct Retry {
    action: Action,
    refusal: Refusal,
    form: Form,
}

fn order_id(text: &str) -> Option<OrderId> {
    text.parse::<uuid::Uuid>().ok().map(OrderId::from_uuid)
}

/// Every event the caller may see, oldest first (a long history is read in pages).
async fn history(
    state: &AppState,
    actor: Actor,
    id: OrderId,
) -> Result<Vec<orderly_domain::EventView>, Response> {
    let mut events = Vec::new();
    let mut after = 0;
    for _ in 0..50 {
        let page = state
            .app
            .events_page(actor, id, after, 100, None)
            .await
            .map_err(|error| failure(error.into()))?;
        events.extend(page.events.into_iter().map(|(_, view)| view));
        match page.next {
            Some(next) => after = next,
            None => break,
        }
    }
    Ok(events)
}

async fn name_of(state: &AppState, id: orderly_domain::AccountId, fallback: &str) -> String {
    match state.app.account(id).await {
        Ok(Some(account)) => account.name,
        _ => fallback.to_owned(),
    }
}

async fn render(
    state: &AppState,
    signed: &Signed,
    id: OrderId,
    flash: Option<String>,
    retry: Option<Retry>,
) -> Response {
    let actor = signed.actor();
    let order = match state.app.order_for(actor, id).await {
        Ok(order) => order,
        Err(error) => return failure(error.into()),
    };
    let now = state.app.now();
    let policy = &state.app.policy;
    let allowed = orderly_domain::allowed_actions(&order, actor, now, policy);
    let mut forms: Vec<ActionForm> = allowed
        .iter()
        .filter(|action| !matches!(action, Action::AddEvidence | Action::RecordScan))
        .map(|action| actions::form(*action, &order, signed.role(), policy, new_key()))
        .collect();
    let mut status = StatusCode::OK;
    let mut evidence_error = None;
    if let Some(retry) = retry {
        status = retry.refusal.status;
        match forms.iter_mut().find(|form| form.action == retry.action) {
            Some(form) => {
                form.refill(&retry.form);
                form.mark_error(retry.refusal.field.as_deref(), &retry.refusal.detail);
            }
            None if retry.action == Action::AddEvidence => {
                evidence_error = Some(retry.refusal.detail)
            }
            // The action is no longer offered (someone else acted first): say why at the top.
            None => {
                return page(
                    state,
                    signed,
                    &order,
                    allowed,
                    forms,
                    Some(retry.refusal.detail),
                    None,
                    flash,
                    status,
                )
                .await;
            }
        }
    }
    page(
        state,
        signed,
        &order,
        allowed,
        forms,
        None,
        evidence_error,
        flash,
        status,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    signed: &Signed,
    order: &orderly_domain::Order,
    allowed: Vec<Action>,
    forms: Vec<ActionForm>,
    problem: Option<String>,
    evidence_error: Option<String>,
    flash: Option<String>,
    status: StatusCode,
) -> Response {
    let actor = signed.actor();
    let now = state.app.now();
    let events = match history(state, actor, order.id).await {
        Ok(events) => events,
        Err(response) => return response,
    };
    let names = Names {
        buyer: name_of(state, order.buyer_id, "The buyer").await,
        seller: name_of(state, order.seller_id, "The seller").await,
    };
    let guidance = orderly_domain::guidance(order, actor, now, &state.app.policy);
    let evidence_key = allowed.contains(&Action::AddEvidence).then(new_key);
    let mut view = OrderView::new(order, signed.role(), now, guidance, &events, names);
    view.actions = forms;
    view.evidence_key = evidence_key;
    // The buttons are exactly the allowed actions, in their order.
    view.action_codes = allowed
        .iter()
        .filter(|action| **action != Action::RecordScan)
        .map(|action| action.code())
        .collect();
    let admin = if signed.role() == Role::Admin {
        let queue = state
            .app
            .queue(orderly_store::QueueFilter {
                kind: None,
                status: None,
                order_id: Some(order.id),
                after: None,
                limit: 50,
            })
            .await
            .map(|page| page.items)
            .unwrap_or_default();
        Some(AdminExtras {
            queue: queue
                .iter()
                .map(|item| {
                    (
                        words(&item.kind),
                        item.summary.clone(),
                        item.status.clone(),
                        item.due_at.map(short_time).unwrap_or_default(),
                    )
                })
                .collect(),
            seller_url: format!("/admin/sellers/{}", order.seller_id.as_uuid()),
        })
    } else {
        None
    };
    let mut layout = Layout::new(
        format!("Order #{}", order.number()),
        Some(signed),
        "/orders",
    );
    layout.flash = flash;
    let mut template = OrderPage {
        layout,
        order: view,
        csrf: signed.csrf().to_owned(),
        admin,
    };
    if let Some(problem) = problem {
        template.order.overlays.insert(
            0,
            crate::view::Overlay {
                tone: "warning",
                title: "That did not go through".into(),
                text: problem,
            },
        );
    }
    if let Some(error) = evidence_error {
        template.order.overlays.insert(
            0,
            crate::view::Overlay {
                tone: "warning",
                title: "The file was not added".into(),
                text: error,
            },
        );
    }
    Page::with_status(status, template).into_response()
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<ShowQuery>,
) -> Response {
    let signed = match session::require(&state, &headers, &format!("/orders/{id}")).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let Some(order_id) = order_id(&id) else {
        return crate::pages::not_found();
    };
    let flash = query.done.map(|done| done_sentence(&done));
    render(&state, &signed, order_id, flash, None).await
}

/// What the page says after an action went through.
fn done_sentence(code: &str) -> String {
    match code {
        "placed" => "Your order is placed. Pay it to send it to the seller.".into(),
        "evidence" => "The file is added to the claim.".into(),
        "note" => "The note is added; only support can read it.".into(),
        code => match Action::parse(code) {
            Some(Action::Message) => "Message sent.".into(),
            Some(action) => format!("Done: {}.", words(action.code())),
            None => "Done.".into(),
        },
    }
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    layout: Layout,
    order_id: String,
    number: String,
    code: &'static str,
    label: String,
    sentence: String,
    fields: Vec<(String, String)>,
    summary: Vec<(String, String)>,
}

pub async fn act(
    State(state): State<AppState>,
    Path((id, code)): Path<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let signed = match session::require(&state, &headers, &format!("/orders/{id}")).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let form = match read_form(request.into_body()).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    if let Err(response) = form.check_csrf(&signed) {
        return response;
    }
    let (Some(order_id), Some(action)) = (order_id(&id), Action::parse(&code)) else {
        return crate::pages::not_found();
    };
    let order = match state.app.order_for(signed.actor(), order_id).await {
        Ok(order) => order,
        Err(error) => return failure(error.into()),
    };
    let spec = actions::form(action, &order, signed.role(), &state.app.policy, form.key());
    let body = match spec.body(&form, &order) {
        Ok(body) => body,
        Err((field, sentence)) => {
            let refusal = Refusal {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: sentence,
                field: field.map(str::to_owned),
            };
            return render(
                &state,
                &signed,
                order_id,
                None,
                Some(Retry {
                    action,
                    refusal,
                    form,
                }),
            )
            .await;
        }
    };
    // A money action first says what will happen, with the amounts; the confirmation
    // carries the same fields and the same one-time key.
    if let Some(sentence) = spec.confirm.clone()
        && form.get("confirmed") != Some("yes")
    {
        let summary = spec
            .fields
            .iter()
            .filter_map(|field| {
                let value = form.text(field.name);
                let shown = match field.input {
                    actions::Input::Checkbox => {
                        if form.checked(field.name) {
                            "yes".to_owned()
                        } else {
                            "no".to_owned()
                        }
                    }
                    actions::Input::Choice | actions::Input::YesNo => field
                        .choices
                        .iter()
                        .find(|choice| choice.value == value)
                        .map(|choice| choice.label.clone())
                        .unwrap_or(value.clone()),
                    actions::Input::Money if !value.is_empty() => {
                        crate::format::parse_money(&value, order.currency)
                            .map(|minor| money(minor, order.currency))
                            .unwrap_or(value.clone())
                    }
                    _ => value.clone(),
                };
                (!shown.is_empty()).then(|| (field.label.clone(), shown))
            })
            .collect();
        return Page::ok(ConfirmPage {
            layout: Layout::new(format!("Confirm: {}", spec.label), Some(&signed), "/orders"),
            order_id: id.clone(),
            number: order.number(),
            code: action.code(),
            label: spec.label.clone(),
            sentence,
            fields: form
                .0
                .iter()
                .filter(|(name, _)| name != "confirmed")
                .cloned()
                .collect(),
            summary,
        })
        .into_response();
    }
    let path = format!("/orders/{id}/actions/{code}");
    let Some(response) = orderly_server::dispatch::order_action(
        state.clone(),
        signed.caller(),
        id.clone(),
        action,
        body,
        &form.key(),
        &path,
    )
    .await
    else {
        return crate::pages::not_found();
    };
    match outcome(response).await {
        Ok(answer) => {
            let target = match action {
                // Ordering again makes a new order: go there.
                Action::OrderAgain => answer["id"].as_str().unwrap_or(&id).to_owned(),
                _ => id.clone(),
            };
            see_other(&format!("/orders/{target}?done={code}"))
        }
        Err(refusal) => {
            render(
                &state,
                &signed,
                order_id,
                None,
                Some(Retry {
                    action,
                    refusal,
                    form,
                }),
            )
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct UploadQuery {
    csrf: Option<String>,
    key: Option<String>,
}

/// The evidence upload: a multipart form, whose CSRF token and key ride in the query so
/// the file is streamed to the API's handler untouched.
pub async fn upload_evidence(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<UploadQuery>,
    request: Request,
) -> Response {
    let signed = match session::require(&state, &headers, &format!("/orders/{id}")).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let form = Form(vec![
        ("csrf".into(), query.csrf.unwrap_or_default()),
        ("idempotency_key".into(), query.key.unwrap_or_default()),
    ]);
    if let Err(response) = form.check_csrf(&signed) {
        return response;
    }
    let Some(order_id) = order_id(&id) else {
        return crate::pages::not_found();
    };
    let path = format!("/orders/{id}/evidence");
    let response = orderly_server::dispatch::add_evidence(
        state.clone(),
        signed.caller(),
        id.clone(),
        &form.key(),
        &path,
        request,
    )
    .await;
    match outcome(response).await {
        Ok(_) => see_other(&format!("/orders/{id}?done=evidence")),
        Err(refusal) => {
            let retry = Retry {
                action: Action::AddEvidence,
                refusal,
                form,
            };
            render(&state, &signed, order_id, None, Some(retry)).await
        }
    }
}

/// An evidence file, for the parties and support: images inline (for the thumbnails),
/// PDFs as downloads; never sniffed, never able to run script.
pub async fn evidence_file(
    State(state): State<AppState>,
    Path((id, evidence_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let signed = match session::require(&state, &headers, &format!("/orders/{id}")).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let (Some(order_id), Ok(evidence_id)) = (order_id(&id), evidence_id.parse::<uuid::Uuid>())
    else {
        return crate::pages::not_found();
    };
    let file = match state
        .app
        .evidence_file(
            signed.actor(),
            order_id,
            orderly_domain::EvidenceId::from_uuid(evidence_id),
        )
        .await
    {
        Ok(file) => file,
        Err(error) => return failure(error.into()),
    };
    let inline = file.content_type.starts_with("image/");
    let disposition = format!(
        "{}; filename=\"{}\"",
        if inline { "inline" } else { "attachment" },
        file.filename.replace(
            |c: char| !c.is_ascii_graphic() && c != ' ' || c == '"' || c == '\\',
            "_"
        )
    );
    let mut response = (StatusCode::OK, file.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&file.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}
