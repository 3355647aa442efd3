//! The seller's pages: the desk (`/seller`) with what needs an answer first, and the
//! catalogue of their products with prices and stock to change.

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use orderly_domain::order::{ClaimStatus, RequestStatus};
use orderly_domain::{Currency, DeadlineKind, Money, Order, ProductId, Role, Status};
use orderly_server::AppState;
use orderly_server::error::ApiError;

use crate::format::{duration, money, money_input, parse_money, short_time, time, words};
use crate::html::{Page, see_other};
use crate::pages::{Layout, failure, message_page};
use crate::session::{self, Form, Params, Signed, new_key, read_form};

/// One order on the desk, with the deadline that orders it.
pub struct DeskRow {
    pub id: String,
    pub number: String,
    pub what: String,
    pub due: String,
    pub left: String,
    pub urgent: bool,
    due_at: Timestamp,
}

/// The seller's rating and penalties, as the desk and the support desk show them.
pub struct RatingView {
    pub score: u32,
    pub level: &'static str,
    pub facts: Vec<(String, String)>,
    pub penalties: Vec<PenaltyRow>,
}

pub struct PenaltyRow {
    pub id: i64,
    pub points: u32,
    pub reason: String,
    pub source: String,
    pub at: String,
    pub revoked: String,
    pub order: String,
}

/// One part of the desk.
pub struct DeskSection {
    pub id: &'static str,
    pub title: &'static str,
    pub empty: &'static str,
    /// What happens when this part's deadlines run out.
    pub consequence: &'static str,
    pub rows: Vec<DeskRow>,
}

#[derive(Template)]
#[template(path = "seller_desk.html")]
struct DeskPage {
    layout: Layout,
    sections: Vec<DeskSection>,
    rating: RatingView,
}

fn row(order: &Order, what: String, kind: Option<DeadlineKind>, now: Timestamp) -> DeskRow {
    let deadline = kind.and_then(|kind| order.deadline(kind));
    let due_at = deadline.map_or(Timestamp::MAX, |deadline| deadline.due_at);
    let (due, left, urgent) = match deadline {
        Some(deadline) if deadline.is_paused() => ("paused".into(), "paused".into(), false),
        Some(deadline) if deadline.due_at <= now => (time(deadline.due_at), "due now".into(), true),
        Some(deadline) => {
            let left = deadline.due_at.duration_since(now);
            (
                time(deadline.due_at),
                format!("{} left", duration(left)),
                left.as_hours() < 24,
            )
        }
        None => (String::new(), String::new(), false),
    };
    DeskRow {
        id: order.id.as_uuid().to_string(),
        number: order.number(),
        what,
        due,
        left,
        urgent,
        due_at,
    }
}

/// Every order of `signed` in `status` (at most a few pages: a desk is for what is open).
async fn orders_in(
    state: &AppState,
    signed: &Signed,
    status: Status,
) -> Result<Vec<Order>, Response> {
    let mut orders = Vec::new();
    let mut after = None;
    for _ in 0..5 {
        let page = state
            .app
            .list_orders(signed.actor(), Some(status), after, 100)
            .await
            .map_err(|error| failure(error.into()))?;
        orders.extend(page.orders);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(orders)
}

/// The rating, its measures and the penalty list of a seller.
pub async fn rating(
    state: &AppState,
    seller_id: orderly_domain::AccountId,
) -> Result<RatingView, ApiError> {
    let (_, metrics) = state.app.seller(seller_id).await?;
    let penalties = state.app.penalties(seller_id).await?;
    let rating = metrics.rating();
    let mut facts = vec![
        (
            "Paid orders (90 days)".to_owned(),
            metrics.paid_orders.to_string(),
        ),
        (
            "Cancelled at the seller's fault".to_owned(),
            metrics.seller_fault_cancellations.to_string(),
        ),
        (
            "Disputes lost".to_owned(),
            metrics.disputes_lost.to_string(),
        ),
        (
            "Penalty points".to_owned(),
            metrics.penalty_points.to_string(),
        ),
    ];
    if let Some(hours) = rating.average_response_hours {
        facts.push((
            "Average answer to a cancellation".into(),
            format!("{hours} hours"),
        ));
    }
    if let Some(percent) = rating.on_time_shipment_percent {
        facts.push(("Shipped on time".into(), format!("{percent}%")));
    }
    Ok(RatingView {
        score: rating.score,
        level: rating.level,
        facts,
        penalties: penalties
            .iter()
            .map(|penalty| PenaltyRow {
                id: penalty.id,
                points: penalty.points,
                reason: penalty.reason.clone(),
                source: penalty.source.clone(),
                at: short_time(penalty.created_at),
                revoked: penalty
                    .revoked_at
                    .map(|at| {
                        format!(
                            "revoked {}{}",
                            short_time(at),
                            penalty
                                .revoke_note
                                .as_deref()
                                .map(|note| format!(": {note}"))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default(),
                order: penalty
                    .order_id
                    .map(|id| id.as_uuid().to_string())
                    .unwrap_or_default(),
            })
            .collect(),
    })
}

pub async fn desk(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let signed = match session::require(&state, &headers, "/seller").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    if signed.role() != Role::Seller {
        return message_page(
            StatusCode::FORBIDDEN,
            "For sellers",
            "The desk is a seller's page.",
        );
    }
    let now = state.app.now();
    let (mut requests, mut to_ship, mut claims, mut waiting) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for status in [Status::AwaitingShipment, Status::Shipped, Status::Delivered] {
        let orders = match orders_in(&state, &signed, status).await {
            Ok(orders) => orders,
            Err(response) => return response,
        };
        for order in &orders {
            if let Some(request) = order.open_cancellation() {
                if request.status == RequestStatus::Pending {
                    requests.push(row(
                        order,
                        format!("Cancellation requested: {}", request.reason.text()),
                        Some(DeadlineKind::SellerResponse),
                        now,
                    ));
                } else {
                    waiting.push(row(
                        order,
                        "Cancellation escalated to the platform".into(),
                        None,
                        now,
                    ));
                }
                continue;
            }
            if let Some(claim) = order.open_claim() {
                let asked = money(claim.amount_asked_minor, order.currency);
                match claim.status {
                    ClaimStatus::AwaitingSeller => claims.push(row(
                        order,
                        format!(
                            "{} asking for {asked}",
                            crate::format::capitalised(&words(claim.kind.code()))
                        ),
                        Some(DeadlineKind::ClaimResponse),
                        now,
                    )),
                    ClaimStatus::ReturnInTransit => claims.push(row(
                        order,
                        "The item is on its way back: confirm when it arrives".into(),
                        Some(DeadlineKind::ReturnConfirmation),
                        now,
                    )),
                    status => waiting.push(row(
                        order,
                        format!(
                            "{}: {}",
                            crate::format::capitalised(&words(claim.kind.code())),
                            words(status.code())
                        ),
                        Some(DeadlineKind::Negotiation),
                        now,
                    )),
                }
                continue;
            }
            if order.pending_proposal().is_some() || order.pending_partial_refund().is_some() {
                waiting.push(row(
                    order,
                    "Your proposal awaits the buyer".into(),
                    Some(DeadlineKind::ProposalResponse),
                    now,
                ));
                continue;
            }
            if order.status == Status::AwaitingShipment && !order.frozen {
                let items: u32 = order.lines.iter().map(|line| line.quantity).sum();
                to_ship.push(row(
                    order,
                    format!(
                        "{items} item(s), {}",
                        money(order.total_minor(), order.currency)
                    ),
                    Some(DeadlineKind::HandlingTime),
                    now,
                ));
            }
        }
    }
    for list in [&mut requests, &mut to_ship, &mut claims, &mut waiting] {
        list.sort_by_key(|row| row.due_at);
    }
    let rating = match rating(&state, signed.session.account.id).await {
        Ok(rating) => rating,
        Err(error) => return failure(error),
    };
    let sections = vec![
        DeskSection {
            id: "requests",
            title: "Cancellation requests to answer",
            empty: "No cancellation requests.",
            consequence: "A request you do not answer in time is approved automatically and the buyer refunded.",
            rows: requests,
        },
        DeskSection {
            id: "to-ship",
            title: "Orders to ship",
            empty: "Nothing to ship.",
            consequence: "An order not shipped by its deadline is cancelled at your fault.",
            rows: to_ship,
        },
        DeskSection {
            id: "claims",
            title: "Claims to answer",
            empty: "No claims to answer.",
            consequence: "A claim you do not answer in time is accepted and refunded.",
            rows: claims,
        },
        DeskSection {
            id: "waiting",
            title: "Waiting for others",
            empty: "Nothing waiting.",
            consequence: "",
            rows: waiting,
        },
    ];
    Page::ok(DeskPage {
        layout: Layout::new("Your desk", Some(&signed), "/seller"),
        sections,
        rating,
    })
    .into_response()
}

// ---- Products ------------------------------------------------------------------------------

pub struct ProductRow {
    pub id: String,
    pub title: String,
    pub currency: &'static str,
    pub price: String,
    pub shipping_fee: String,
    pub stock: String,
    pub processing_days: String,
    pub key: String,
    pub error: Option<(String, String)>,
}

impl ProductRow {
    /// A field's label with the product's currency: `Price (EUR)`.
    pub fn in_currency(&self, label: &str) -> String {
        format!("{label} ({})", self.currency)
    }

    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(at, _)| at == field)
            .map(|(_, sentence)| sentence.as_str())
    }
}

#[derive(Template)]
#[template(path = "seller_products.html")]
struct ProductsPage {
    layout: Layout,
    csrf: String,
    products: Vec<ProductRow>,
    new: ProductRow,
}

fn blank() -> ProductRow {
    ProductRow {
        id: String::new(),
        title: String::new(),
        currency: "EUR",
        price: String::new(),
        shipping_fee: String::new(),
        stock: "10".into(),
        processing_days: "3".into(),
        key: new_key(),
        error: None,
    }
}

async fn products_page(
    state: &AppState,
    signed: &Signed,
    refused: Option<(Option<String>, &Form, String, String)>,
    flash: Option<String>,
    status: StatusCode,
) -> Response {
    let products = match state
        .app
        .products(orderly_store::ProductFilter {
            seller_id: Some(signed.session.account.id),
            after: None,
            limit: 100,
        })
        .await
    {
        Ok(products) => products,
        Err(error) => return failure(error.into()),
    };
    let mut rows: Vec<ProductRow> = products
        .iter()
        .map(|product| {
            let currency = Currency::parse(&product.currency).unwrap_or_else(|_| eur());
            ProductRow {
                id: product.id.as_uuid().to_string(),
                title: product.title.clone(),
                currency: currency.code(),
                price: money_input(product.price_minor, currency),
                shipping_fee: money_input(product.shipping_fee_minor, currency),
                stock: product.stock.to_string(),
                processing_days: product.processing_days.to_string(),
                key: new_key(),
                error: None,
            }
        })
        .collect();
    let mut new = blank();
    if let Some((id, form, field, sentence)) = refused {
        let target = match &id {
            Some(id) => rows.iter_mut().find(|row| &row.id == id),
            None => Some(&mut new),
        };
        if let Some(row) = target {
            row.title = form.text("title");
            row.price = form.text("price");
            row.shipping_fee = form.text("shipping_fee");
            row.stock = form.text("stock");
            row.processing_days = form.text("processing_days");
            if id.is_none() {
                row.currency = Currency::parse(&form.text("currency"))
                    .map_or("EUR", |currency| currency.code());
            }
            row.error = Some((field, sentence));
        }
    }
    let mut layout = Layout::new("Your products", Some(signed), "/seller/products");
    layout.flash = flash;
    Page::with_status(
        status,
        ProductsPage {
            layout,
            csrf: signed.csrf().to_owned(),
            products: rows,
            new,
        },
    )
    .into_response()
}

fn eur() -> Currency {
    Currency::parse("EUR").expect("EUR is a currency")
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn products(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<DoneQuery>,
) -> Response {
    let signed = match seller(&state, &headers, "/seller/products").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let flash = match query.done.as_deref() {
        Some("created") => Some("The product is in the catalogue.".to_owned()),
        Some("saved") => {
            Some("Saved. Orders placed before keep the price they were placed at.".to_owned())
        }
        _ => None,
    };
    products_page(&state, &signed, None, flash, StatusCode::OK).await
}

async fn seller(state: &AppState, headers: &HeaderMap, path: &str) -> Result<Signed, Response> {
    let signed = session::require(state, headers, path).await?;
    if signed.role() != Role::Seller {
        return Err(message_page(
            StatusCode::FORBIDDEN,
            "For sellers",
            "Only a seller has products to manage.",
        ));
    }
    Ok(signed)
}

/// The form's amount field in minor units of `currency`.
fn amount(form: &Form, field: &'static str, currency: Currency) -> Result<Money, (String, String)> {
    let text = form.text(field);
    parse_money(&text, currency)
        .and_then(|minor| Money::parse(minor, currency).ok())
        .ok_or_else(|| {
            (
                field.to_owned(),
                format!("Give an amount in {} such as 12.50.", currency.code()),
            )
        })
}

fn whole<T: std::str::FromStr>(form: &Form, field: &'static str) -> Result<T, (String, String)> {
    form.text(field)
        .parse()
        .map_err(|_| (field.to_owned(), "Give a whole number.".to_owned()))
}

pub async fn create_product(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let signed = match seller(&state, &headers, "/seller/products").await {
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
    // The form in the API's fields, amounts in minor units; then the API's own handler,
    // with the form's one-time key, so a double click adds one product.
    let parsed = (|| {
        let currency = Currency::parse(&form.text("currency")).map_err(|_| {
            (
                "currency".to_owned(),
                "Choose a currency by its ISO code, such as EUR.".to_owned(),
            )
        })?;
        let price = amount(&form, "price", currency)?;
        let shipping_fee = amount(&form, "shipping_fee", currency)?;
        Ok::<_, (String, String)>(serde_json::json!({
            "title": form.text("title"),
            "price": {"amount": price.amount_minor(), "currency": currency.code()},
            "shipping_fee": {"amount": shipping_fee.amount_minor(), "currency": currency.code()},
            "stock": whole::<i64>(&form, "stock")?,
            "processing_days": whole::<u32>(&form, "processing_days")?,
        }))
    })();
    let body = match parsed {
        Ok(body) => body,
        Err((field, sentence)) => {
            return products_page(
                &state,
                &signed,
                Some((None, &form, field, sentence)),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let response = orderly_server::dispatch::create_product(
        state.clone(),
        signed.caller(),
        body,
        &form.key(),
        "/seller/products",
    )
    .await;
    match crate::pages::outcome(response).await {
        Ok(_) => see_other("/seller/products?done=created"),
        Err(refusal) => {
            // `price.amount` and the like name the form's own field.
            let field = refusal
                .field
                .map(|field| field.split('.').next().unwrap_or_default().to_owned())
                .unwrap_or_default();
            products_page(
                &state,
                &signed,
                Some((None, &form, field, refusal.detail)),
                None,
                refusal.status,
            )
            .await
        }
    }
}

pub async fn update_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let signed = match seller(&state, &headers, "/seller/products").await {
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
    let Some(product_id) = id.parse::<uuid::Uuid>().ok().map(ProductId::from_uuid) else {
        return crate::pages::not_found();
    };
    let product = match state.app.product(product_id).await {
        Ok(Some(product)) if product.seller_id == signed.session.account.id => product,
        Ok(_) => return crate::pages::not_found(),
        Err(error) => return failure(error.into()),
    };
    // Amounts are read in the product's own currency; one that cannot be read is a fault,
    // not a reason to change prices in another.
    let currency = match Currency::parse(&product.currency) {
        Ok(currency) => currency,
        Err(error) => {
            return failure(ApiError::Unexpected(anyhow::anyhow!(
                "stored currency of product {}: {error}",
                product.id.as_uuid()
            )));
        }
    };
    let parsed = (|| {
        Ok::<_, (String, String)>(orderly_store::ProductChange {
            title: Some(form.text("title")),
            price_minor: Some(amount(&form, "price", currency)?.amount_minor()),
            shipping_fee_minor: Some(amount(&form, "shipping_fee", currency)?.amount_minor()),
            stock: Some(whole(&form, "stock")?),
            processing_days: Some(whole(&form, "processing_days")?),
        })
    })();
    let change = match parsed {
        Ok(change) => change,
        Err((field, sentence)) => {
            return products_page(
                &state,
                &signed,
                Some((Some(id), &form, field, sentence)),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    match state
        .app
        .update_product(signed.session.account.id, product_id, change, |_| None)
        .await
    {
        Ok(_) => see_other("/seller/products?done=saved"),
        Err(error) => {
            let problem = ApiError::from(error).problem();
            let status =
                StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            products_page(
                &state,
                &signed,
                Some((
                    Some(id),
                    &form,
                    problem.field.unwrap_or_default(),
                    problem.detail,
                )),
                None,
                status,
            )
            .await
        }
    }
}
