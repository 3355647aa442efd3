//! The support desk's endpoints: the work queue, internal notes on orders and
//! sellers' penalty points. Admins only, except that a seller reads its own penalties.
//! Handlers are thin: they parse, call the app, and answer with a document.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use orderly_domain::{AccountId, Command, Order, Role};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::AppState;
use crate::dto::*;
use crate::error::{ApiError, Problem};
use crate::extract::{Body, Caller};
use crate::respond::{self, RequestKey, json_response};
use crate::routes::{authorize_order, require_admin, run_order_action};

/// Query of `GET /api/v1/admin/queue`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Only items of this kind.
    #[param(schema_with = crate::contract::queue_kind_schema)]
    pub kind: Option<String>,
    /// `open` or `done`; both when left out.
    #[param(schema_with = crate::contract::queue_status_schema)]
    pub status: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^([01]\.[0-9]{1,19}\.[0-9]{1,17}\.[0-9a-f]{32})?$")]
    pub cursor: Option<String>,
    /// 1 to 100; 50 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/admin/queue", tag = "support desk",
    summary = "The work queue (admin): open items first by due time (none last), then by creation",
    params(QueueQuery),
    responses((status = 200, description = "A page of the queue", body = QueueList), (status = "4XX", description = "Refused", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_queue(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    require_admin(&caller, "read_queue")?;
    let Query(query) = query.map_err(|rejection| ApiError::InvalidQuery(rejection.body_text()))?;
    let kind = match query.kind.as_deref() {
        Some(kind) if orderly_app::queue::KINDS.contains(&kind) => Some(kind.to_owned()),
        Some(kind) => {
            return Err(invalid(
                "kind",
                format!(
                    "`{kind}` is not a kind; use one of {}",
                    orderly_app::queue::KINDS.join(", ")
                ),
            ));
        }
        None => None,
    };
    let status = match query.status.as_deref() {
        Some(status @ ("open" | "done")) => Some(status.to_owned()),
        Some(other) => {
            return Err(invalid(
                "status",
                format!("`{other}` is not a status; use open or done"),
            ));
        }
        None => None,
    };
    let after = match query.cursor.as_deref().filter(|cursor| !cursor.is_empty()) {
        Some(text) => Some(
            orderly_store::QueueCursor::decode(text)
                .ok_or_else(|| invalid("cursor", "use the next_cursor of the previous page"))?,
        ),
        None => None,
    };
    let limit = crate::routes::page_limit(query.limit, 50)?;
    let page = state
        .app
        .queue(orderly_store::QueueFilter {
            kind,
            status,
            order_id: None,
            after,
            limit,
        })
        .await?;
    let list = QueueList {
        items: page.items.iter().map(QueueItemDocument::new).collect(),
        next_cursor: page.next.map(|cursor| cursor.encode()),
    };
    Ok(json_response(
        200,
        serde_json::to_string(&list).expect("serialisable"),
    ))
}

fn invalid(field: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::Rejected(orderly_domain::Rejection::Validation {
        field,
        detail: detail.into(),
    })
}

fn queue_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse::<Uuid>()
        .map_err(|_| ApiError::NoSuch("queue item"))
}

fn item_answer(item: &orderly_store::QueueItem) -> String {
    serde_json::to_string(&QueueItemDocument::new(item)).expect("serialisable")
}

#[utoipa::path(post, path = "/api/v1/admin/queue/{id}/assign", tag = "support desk",
    summary = "Assign a queue item (admin): to `assignee_id`, or to the caller when left out",
    params(("id" = Uuid, Path)),
    request_body = AssignRequest,
    responses((status = 200, description = "The item after", body = QueueItemDocument), (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(("bearer" = [])))]
pub async fn assign_queue_item(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let request = RequestKey::post(&uri, &body);
    let (state, caller, body) = (&state, &caller, &body);
    let work = |keyed: Option<orderly_app::KeyedRequest>| async move {
        require_admin(caller, "assign_queue_item")?;
        let input: AssignRequest = body.parse()?;
        let id = queue_id(&id)?;
        let assignee = input
            .assignee_id
            .map(AccountId::from_uuid)
            .unwrap_or(caller.id());
        let item = state
            .app
            .assign_queue_item(id, Some(assignee), |item| {
                keyed.map(|keyed| keyed.answer(200, item_answer(item)))
            })
            .await?;
        Ok((200, item_answer(&item)))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

#[utoipa::path(post, path = "/api/v1/admin/queue/{id}/resolve", tag = "support desk",
    summary = "Resolve a queue item with a note (admin)",
    params(("id" = Uuid, Path)),
    request_body = ResolveNoteRequest,
    responses((status = 200, description = "The item after", body = QueueItemDocument), (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(("bearer" = [])))]
pub async fn resolve_queue_item(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let request = RequestKey::post(&uri, &body);
    let (state, caller, body) = (&state, &caller, &body);
    let work = |keyed: Option<orderly_app::KeyedRequest>| async move {
        require_admin(caller, "resolve_queue_item")?;
        let input: ResolveNoteRequest = body.parse()?;
        let id = queue_id(&id)?;
        let item = state
            .app
            .resolve_queue_item(id, caller.id(), &input.note, |item| {
                keyed.map(|keyed| keyed.answer(200, item_answer(item)))
            })
            .await?;
        Ok((200, item_answer(&item)))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

// ---- Internal notes ------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/orders/{id}/notes", tag = "support desk",
    summary = "The order's internal notes (admin), oldest first; the parties never see them",
    params(("id" = Uuid, Path), crate::routes::PageQuery),
    responses((status = 200, description = "A page of notes", body = NoteList), (status = "4XX", description = "Refused", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_notes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<crate::routes::PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let order_id = authorize_order(&state, &caller, &id, &[Role::Admin], "read_notes").await?;
    let (after, limit) = crate::routes::page_query(query)?;
    let page = state
        .app
        .events_page(
            caller.actor(),
            order_id,
            after,
            limit,
            Some("internal_note"),
        )
        .await?;
    let list = NoteList {
        notes: page
            .events
            .iter()
            .filter_map(|(seq, view)| match &view.kind {
                orderly_domain::EventKind::InternalNote { text } => Some(NoteDocument {
                    id: *seq,
                    text: text.clone(),
                    author_id: view.actor_id.map(|id| id.as_uuid()),
                    created_at: view.at,
                }),
                _ => None,
            })
            .collect(),
        next_cursor: page.next.map(|seq| seq.to_string()),
    };
    Ok(json_response(
        200,
        serde_json::to_string(&list).expect("serialisable"),
    ))
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/notes", tag = "support desk",
    summary = "Add an internal note to the order (admin)",
    params(("id" = Uuid, Path)),
    request_body = NoteTextRequest,
    responses((status = 201, description = "The note", body = NoteDocument), (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(("bearer" = [])))]
pub async fn add_note(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    run_order_action(
        &state,
        &caller,
        &id,
        &headers,
        &uri,
        &body,
        orderly_domain::Action::AddNote,
        || {
            let input: NoteTextRequest = body.parse()?;
            // The note as recorded: its id is its place in the order's history.
            let author = caller.id().as_uuid();
            let text = input.text.trim().to_owned();
            let now = state.app.now();
            let render: orderly_app::Render =
                std::sync::Arc::new(move |order: &Order, _: &[orderly_domain::Event]| {
                    let note = NoteDocument {
                        id: order.version,
                        text: text.clone(),
                        author_id: Some(author),
                        created_at: now,
                    };
                    (201, serde_json::to_string(&note).expect("serialisable"))
                });
            Ok((Command::AddNote { text: input.text }, render))
        },
    )
    .await
}

// ---- Penalties -----------------------------------------------------------------------------

fn seller_id(text: &str) -> Result<AccountId, ApiError> {
    text.parse::<Uuid>()
        .map(AccountId::from_uuid)
        .map_err(|_| ApiError::NoSuch("seller"))
}

fn penalty_answer(penalty: &orderly_store::Penalty) -> String {
    serde_json::to_string(&PenaltyDocument::new(penalty)).expect("serialisable")
}

/// Admins see every seller's penalties; a seller sees its own; nobody else learns whether
/// a seller has any.
fn may_read_penalties(caller: &Caller, seller: AccountId) -> Result<(), ApiError> {
    match caller.role() {
        Role::Admin => Ok(()),
        Role::Seller if caller.id() == seller => Ok(()),
        Role::Seller => Err(ApiError::NoSuch("seller")),
        role => Err(ApiError::Rejected(orderly_domain::Rejection::Forbidden {
            action: "read_penalties",
            role,
            allowed: "platform admins and the seller itself",
        })),
    }
}

#[utoipa::path(get, path = "/api/v1/sellers/{id}/penalties", tag = "support desk",
    summary = "A seller's penalty points, newest first (admin, or the seller itself): automatic and by hand, revoked ones marked",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "The penalties", body = PenaltyList), (status = "4XX", description = "Refused", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_penalties(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let seller = seller_id(&id)?;
    may_read_penalties(&caller, seller)?;
    let penalties = state.app.penalties(seller).await.map_err(no_such_seller)?;
    let list = PenaltyList {
        penalties: penalties.iter().map(PenaltyDocument::new).collect(),
    };
    Ok(json_response(
        200,
        serde_json::to_string(&list).expect("serialisable"),
    ))
}

fn no_such_seller(error: orderly_app::AppError) -> ApiError {
    match error {
        orderly_app::AppError::Rejected(orderly_domain::Rejection::NotFound) => {
            ApiError::NoSuch("seller")
        }
        other => other.into(),
    }
}

#[utoipa::path(post, path = "/api/v1/sellers/{id}/penalties", tag = "support desk",
    summary = "Apply penalty points to a seller by hand, with a reason (admin)",
    params(("id" = Uuid, Path)),
    request_body = PenaltyRequest,
    responses((status = 201, description = "The penalty", body = PenaltyDocument), (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(("bearer" = [])))]
pub async fn apply_penalty(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let request = RequestKey::post(&uri, &body);
    let (state, caller, body) = (&state, &caller, &body);
    let work = |keyed: Option<orderly_app::KeyedRequest>| async move {
        require_admin(caller, "apply_penalty")?;
        let input: PenaltyRequest = body.parse()?;
        let seller = seller_id(&id)?;
        let answer = keyed.map(|keyed| {
            move |penalty: &orderly_store::Penalty| keyed.answer(201, penalty_answer(penalty))
        });
        let penalty = state
            .app
            .apply_penalty(
                seller,
                input.points,
                &input.reason,
                answer.as_ref().map(|answer| {
                    answer
                        as &(
                             dyn for<'p> Fn(
                            &'p orderly_store::Penalty,
                        )
                            -> orderly_store::IdempotentResponse
                                 + Sync
                         )
                }),
            )
            .await
            .map_err(no_such_seller)?;
        Ok((201, penalty_answer(&penalty)))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

#[utoipa::path(post, path = "/api/v1/sellers/{id}/penalties/{penalty_id}/revoke", tag = "support desk",
    summary = "Revoke a seller's penalty with a note (admin): the rating no longer counts it",
    params(("id" = Uuid, Path), ("penalty_id" = i64, Path)),
    request_body = ResolveNoteRequest,
    responses((status = 200, description = "The penalty after", body = PenaltyDocument), (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_penalty(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, penalty_id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let request = RequestKey::post(&uri, &body);
    let (state, caller, body) = (&state, &caller, &body);
    let work = |keyed: Option<orderly_app::KeyedRequest>| async move {
        require_admin(caller, "revoke_penalty")?;
        let input: ResolveNoteRequest = body.parse()?;
        let seller = seller_id(&id)?;
        let penalty_id = penalty_id
            .parse::<i64>()
            .map_err(|_| ApiError::NoSuch("penalty"))?;
        let answer = keyed.map(|keyed| {
            move |penalty: &orderly_store::Penalty| keyed.answer(200, penalty_answer(penalty))
        });
        let penalty = state
            .app
            .revoke_penalty(
                seller,
                penalty_id,
                &input.note,
                answer.as_ref().map(|answer| {
                    answer
                        as &(
                             dyn for<'p> Fn(
                            &'p orderly_store::Penalty,
                        )
                            -> orderly_store::IdempotentResponse
                                 + Sync
                         )
                }),
            )
            .await
            .map_err(no_such_seller)?;
        Ok((200, penalty_answer(&penalty)))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

// ---- The outbox ----------------------------------------------------------------

/// Query of `GET /api/v1/admin/outbox`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// `pending`, `dead`, `delivered` or `skipped`; all when left out.
    #[param(schema_with = crate::contract::outbox_status_schema)]
    pub status: Option<String>,
    /// `webhook` or `email`; both when left out.
    #[param(schema_with = crate::contract::outbox_topic_schema)]
    pub topic: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{0,18}$")]
    pub cursor: Option<String>,
    /// 1 to 100; 50 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "support desk",
    summary = "The outbox (admin), newest first: pending, dead, delivered or skipped webhooks and e-mails",
    params(OutboxQuery),
    responses((status = 200, description = "A page of messages", body = OutboxList), (status = "4XX", description = "Refused", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_outbox(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<OutboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    require_admin(&caller, "read_outbox")?;
    let Query(query) = query.map_err(|rejection| ApiError::InvalidQuery(rejection.body_text()))?;
    let status = match query.status.as_deref() {
        Some(status @ ("pending" | "dead" | "delivered" | "skipped")) => Some(status),
        Some(other) => {
            return Err(invalid(
                "status",
                format!("`{other}` is not a status; use pending, dead, delivered or skipped"),
            ));
        }
        None => None,
    };
    let topic = match query.topic.as_deref() {
        Some(topic @ ("webhook" | "email")) => Some(topic),
        Some(other) => {
            return Err(invalid(
                "topic",
                format!("`{other}` is not a topic; use webhook or email"),
            ));
        }
        None => None,
    };
    let before = match query.cursor.as_deref().filter(|cursor| !cursor.is_empty()) {
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| invalid("cursor", "use the next_cursor of the previous page"))?,
        ),
        None => None,
    };
    let limit = crate::routes::page_limit(query.limit, 50)?;
    let mut entries = state
        .app
        .store
        .outbox_list(status, topic, before, limit + 1)
        .await
        .map_err(orderly_app::AppError::from)?;
    let next_cursor = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|entry| entry.id.to_string())
    } else {
        None
    };
    let list = OutboxList {
        messages: entries.iter().map(OutboxEntryDocument::new).collect(),
        next_cursor,
    };
    Ok(json_response(
        200,
        serde_json::to_string(&list).expect("serialisable"),
    ))
}

macro_rules! outbox_action {
    ($name:ident, $path:literal, $summary:literal, $method:ident) => {
        #[utoipa::path(post, path = $path, tag = "support desk", summary = $summary,
            params(("id" = i64, Path)),
            request_body = Empty,
            responses((status = 200, description = "The message after", body = OutboxEntryDocument), (status = "4XX", description = "Refused; nothing changed", body = Problem)),
            security(("bearer" = [])))]
        pub async fn $name(
            State(state): State<AppState>,
            caller: Caller,
            Path(id): Path<String>,
            headers: HeaderMap,
            uri: OriginalUri,
            body: Body,
        ) -> Response {
            let request = RequestKey::post(&uri, &body);
            let (state, caller, body) = (&state, &caller, &body);
            let work = || async move {
                require_admin(caller, stringify!($name))?;
                let _: Empty = body.parse()?;
                let id = id.parse::<i64>().map_err(|_| ApiError::NoSuch("outbox message"))?;
                let entry = state.app.$method(id).await?;
                Ok((200, serde_json::to_string(&OutboxEntryDocument::new(&entry)).expect("serialisable")))
            };
            respond::simple(state, caller, &headers, request, work).await
        }
    };
}

outbox_action!(
    retry_outbox,
    "/api/v1/admin/outbox/{id}/retry",
    "Send a dead message again (admin), with a fresh give-up window",
    retry_outbox
);

outbox_action!(
    skip_outbox,
    "/api/v1/admin/outbox/{id}/skip",
    "Give up a message for good (admin), so the order's later messages of its topic go",
    skip_outbox
);
