//! The endpoints of SPEC 14. Handlers are thin: extract, parse into domain types, call the
//! app, map to a document. Every handler carries its OpenAPI description.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use orderly_domain::order::message::MessageBody;
use orderly_domain::{
    AccountId, CancelReason, ClaimDecision, Command, Currency, DisputeReason, Money, Order,
    OrderId, PaymentMethod, ProductId, Rejection, ReturnKind, ReturnReason, Role, ShippingAddress,
    Status, Template,
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::AppState;
use crate::dto::*;
use crate::error::{ApiError, Problem};
use crate::extract::{Body, Caller};
use crate::respond::{self, RequestKey, json_response, order_render};

// ---- Parsing helpers -------------------------------------------------------------------

/// A malformed id is an order nobody can see: 404, like a missing one.
fn order_id(text: &str) -> Result<OrderId, ApiError> {
    text.parse::<Uuid>()
        .map(OrderId::from_uuid)
        .map_err(|_| ApiError::Rejected(Rejection::NotFound))
}

/// 403 unless the caller is an admin.
pub(crate) fn require_admin(caller: &Caller, action: &'static str) -> Result<(), ApiError> {
    require_role(caller, Role::Admin, action)
}

/// 403 unless the caller has `role`: for the endpoints outside an order, whose role rules
/// are not the domain's.
fn require_role(caller: &Caller, role: Role, action: &'static str) -> Result<(), ApiError> {
    if caller.role() == role {
        return Ok(());
    }
    Err(ApiError::Rejected(Rejection::Forbidden {
        action,
        role: caller.role(),
        allowed: match role {
            Role::Buyer => "buyers",
            Role::Seller => "sellers",
            Role::Admin | Role::System | Role::Provider => "platform admins",
        },
    }))
}

fn invalid(field: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::Rejected(Rejection::Validation {
        field,
        detail: detail.into(),
    })
}

fn one_of<T: Copy>(
    field: &'static str,
    code: &str,
    all: &[T],
    parse: fn(&str) -> Option<T>,
    show: fn(T) -> &'static str,
) -> Result<T, ApiError> {
    // Codes are snake_case; `Changed-My-Mind` and `changed my mind` mean the same.
    let normal = code.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    parse(&normal).ok_or_else(|| {
        let known: Vec<&str> = all.iter().map(|value| show(*value)).collect();
        invalid(
            field,
            format!("`{code}` is not known; use one of {}", known.join(", ")),
        )
    })
}

fn payment_method(field: &'static str, code: &str) -> Result<PaymentMethod, ApiError> {
    one_of(
        field,
        code,
        PaymentMethod::ALL,
        PaymentMethod::parse,
        PaymentMethod::code,
    )
}

fn cancel_reason(code: &str) -> Result<CancelReason, ApiError> {
    let reasons: Vec<CancelReason> = CancelReason::ALL
        .iter()
        .copied()
        .filter(|reason| reason.is_buyer_choice())
        .collect();
    one_of(
        "reason",
        code,
        &reasons,
        CancelReason::parse,
        CancelReason::code,
    )
}

/// A template code, or the words of [001]'s headings ("changed my mind", "wrong item").
fn template_code(code: &str) -> Option<Template> {
    Template::parse(code).or(match code {
        "changed_mind" => Some(Template::ChangedMyMind),
        "wrong_item" => Some(Template::WrongItemOrdered),
        "wrong_shipping_address" => Some(Template::WrongAddress),
        "duplicate" => Some(Template::DuplicateOrder),
        "delay" => Some(Template::SellerDelay),
        _ => None,
    })
}

/// A return reason, or one of the words buyers use for the same thing.
fn return_reason(code: &str) -> Option<ReturnReason> {
    ReturnReason::parse(code).or(match code {
        "changed_my_mind" | "changed_mind" | "not_needed" => Some(ReturnReason::NoLongerNeeded),
        "wrong_item" => Some(ReturnReason::WrongItemSent),
        "broken" => Some(ReturnReason::Damaged),
        "faulty" => Some(ReturnReason::Defective),
        _ => None,
    })
}

fn money(field: &'static str, money: &MoneyDto) -> Result<Money, ApiError> {
    let currency =
        Currency::parse(&money.currency).map_err(|error| invalid(field, error.to_string()))?;
    Money::parse(money.amount, currency).map_err(|error| invalid(field, error.to_string()))
}

/// The address object as text fields: strings as given, numbers and booleans as text,
/// nulls left out; nested objects and arrays are refused.
fn address(
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<ShippingAddress, ApiError> {
    let mut fields = Vec::with_capacity(object.len());
    for (key, value) in object {
        let text = match value {
            serde_json::Value::String(text) if text.trim().is_empty() => {
                return Err(invalid(
                    "shipping_address",
                    format!("`{key}` is empty; fill it in or leave the field out"),
                ));
            }
            serde_json::Value::String(text) => text,
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::Bool(flag) => flag.to_string(),
            _ => return Err(invalid("shipping_address", format!("`{key}` must be text"))),
        };
        fields.push((key, text));
    }
    Ok(ShippingAddress::parse(fields)?)
}

fn document(state: &AppState, caller: &Caller, order: &Order) -> String {
    serde_json::to_string(&OrderDocument::new(
        order,
        caller.actor(),
        state.app.now(),
        &state.app.policy,
    ))
    .expect("an order document always serialises")
}

fn ok(_: &Order) -> u16 {
    200
}

fn created(_: &Order) -> u16 {
    201
}

/// SPEC 15.1: 200 when cancelled or closed at once, 202 when a request awaits the seller.
fn cancel_status(order: &Order) -> u16 {
    if order.status.is_final() { 200 } else { 202 }
}

// ---- Accounts, catalogue, sellers ------------------------------------------------------

#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts",
    summary = "Create an account (admin); the token is shown once",
    request_body = CreateAccount,
    responses((status = 201, body = AccountCreated), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_account(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let request = RequestKey::post(&uri, &body);
    let (state, caller, body) = (&state, &caller, &body);
    let work = |keyed: Option<orderly_app::KeyedRequest>| async move {
        require_role(caller, Role::Admin, "create_account")?;
        let input: CreateAccount = body.parse()?;
        let role = match input.role.as_str() {
            "buyer" => Role::Buyer,
            "seller" => Role::Seller,
            "admin" => Role::Admin,
            other => {
                return Err(invalid(
                    "role",
                    format!("`{other}` is not a role; use buyer, seller or admin"),
                ));
            }
        };
        // The token is shown once: a replay of this request answers the same account with
        // `token: null`, because no token is ever stored in plain text.
        let (account, token) = state
            .app
            .create_account(role, &input.name, input.email.as_deref(), |account| {
                keyed.map(|keyed| keyed.answer(201, account_created(account, None)))
            })
            .await?;
        Ok((201, account_created(&account, Some(token))))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

#[utoipa::path(get, path = "/api/v1/accounts/me", tag = "accounts",
    summary = "The caller's own account",
    responses((status = 200, description = "The account", body = AccountDocument), (status = "4XX", description = "Refused", body = Problem)),
    security(("bearer" = [])))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    // The bootstrap admin has no row; everyone else is read fresh, e-mail included.
    let account = match state.app.account(caller.id()).await? {
        Some(account) => account,
        None => caller.0.clone(),
    };
    Ok(json_response(
        200,
        serde_json::to_string(&AccountDocument::new(&account)).expect("serialisable"),
    ))
}

#[utoipa::path(post, path = "/api/v1/accounts/{id}/email", tag = "accounts",
    summary = "Change an account's e-mail address (admin); null stops its e-mails",
    params(("id" = Uuid, Path)),
    request_body = EmailRequest,
    responses((status = 200, description = "The account after", body = AccountDocument), (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(("bearer" = [])))]
pub async fn set_email(
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
        require_role(caller, Role::Admin, "change_email")?;
        let input: EmailRequest = body.parse()?;
        let id = id.parse::<Uuid>().map_err(|_| account_not_found())?;
        let render = |account: &orderly_store::Account| {
            serde_json::to_string(&AccountDocument::new(account)).expect("serialisable")
        };
        let account = state
            .app
            .set_email(
                AccountId::from_uuid(id),
                input.email.as_deref(),
                |account| keyed.map(|keyed| keyed.answer(200, render(account))),
            )
            .await?;
        Ok((200, render(&account)))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

fn account_not_found() -> ApiError {
    ApiError::NoSuch("account")
}

fn account_created(account: &orderly_store::Account, token: Option<String>) -> String {
    let created = AccountCreated {
        id: account.id.as_uuid(),
        role: account.role.code().to_owned(),
        name: account.name.clone(),
        email: account.email.clone(),
        token,
    };
    serde_json::to_string(&created).expect("serialisable")
}

#[utoipa::path(post, path = "/api/v1/accounts/{id}/revoke", tag = "accounts",
    summary = "Revoke an account's API token (admin); the token stops working at once",
    params(("id" = Uuid, Path)),
    request_body = Empty,
    responses((status = 200, body = AccountRevoked), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_account(
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
        require_role(caller, Role::Admin, "revoke_account")?;
        let _: Empty = body.parse()?;
        let id = id.parse::<Uuid>().map_err(|_| account_not_found())?;
        let account_id = AccountId::from_uuid(id);
        if state.app.account(account_id).await?.is_none() {
            return Err(account_not_found());
        }
        let revoked =
            serde_json::to_string(&AccountRevoked { id, revoked: true }).expect("serialisable");
        state
            .app
            .revoke_token(
                account_id,
                keyed.map(|keyed| keyed.answer(200, revoked.clone())),
            )
            .await?;
        Ok((200, revoked))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

#[utoipa::path(post, path = "/api/v1/products", tag = "catalogue",
    summary = "Add a product to the seller's catalogue",
    request_body = CreateProduct,
    responses((status = 201, body = ProductDocument), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let request = RequestKey::post(&uri, &body);
    let (state, caller, body) = (&state, &caller, &body);
    let work = |keyed: Option<orderly_app::KeyedRequest>| async move {
        require_role(caller, Role::Seller, "create_product")?;
        let input: CreateProduct = body.parse()?;
        let render = |product: &orderly_store::Product| {
            serde_json::to_string(&product_document(product)).expect("serialisable")
        };
        let product = state
            .app
            .create_product(
                caller.id(),
                orderly_app::NewProduct {
                    title: input.title,
                    price: money("price", &input.price.into())?,
                    shipping_fee: money("shipping_fee", &input.shipping_fee)?,
                    stock: input.stock,
                    processing_days: input.processing_days,
                },
                |product| keyed.map(|keyed| keyed.answer(201, render(product))),
            )
            .await?;
        Ok((201, render(&product)))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

#[utoipa::path(post, path = "/api/v1/accounts/{id}/signin-link", tag = "accounts",
    summary = "A one-time link that signs a browser in as the account (admin): one use, 15 minutes",
    params(("id" = Uuid, Path)),
    request_body = SigninLinkRequest,
    responses((status = 201, body = SigninLinkCreated), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_signin_link(
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
        require_role(caller, Role::Admin, "create_signin_link")?;
        let input: SigninLinkRequest = body.parse()?;
        let id = id.parse::<Uuid>().map_err(|_| account_not_found())?;
        let render = |link: &orderly_app::sessions::NewSigninLink, shown: bool| {
            let created = SigninLinkCreated {
                url: shown.then(|| signin_url(state, &link.token)),
                expires_at: link.expires_at,
            };
            serde_json::to_string(&created).expect("serialisable")
        };
        let link = state
            .app
            .create_signin_link(
                AccountId::from_uuid(id),
                input.return_to.as_deref(),
                |link| keyed.map(|keyed| keyed.answer(201, render(link, false))),
            )
            .await
            .map_err(|error| match error {
                orderly_app::AppError::NoSuch(_) => account_not_found(),
                other => other.into(),
            })?;
        Ok((201, render(&link, true)))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

/// Where a sign-in link's token is used: a page that asks to continue, so that a mail
/// scanner opening the link does not use it up.
pub fn signin_url(state: &AppState, token: &str) -> String {
    format!("{}/signin/link/{token}", state.app.public_url())
}

/// `GET /api/v1/products`'s query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Only this seller's products.
    pub seller_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// 1 to 100; 20 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/products", tag = "catalogue",
    summary = "The catalogue, newest first: every seller's products, or one seller's",
    params(ProductQuery),
    responses((status = 200, body = ProductList), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_products(
    State(state): State<AppState>,
    _caller: Caller,
    query: Result<Query<ProductQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::InvalidQuery(rejection.body_text()))?;
    let limit = page_limit(query.limit, 20)?;
    // One more than asked, to know whether there is a next page.
    let mut products = state
        .app
        .products(orderly_store::ProductFilter {
            seller_id: query.seller_id.map(AccountId::from_uuid),
            after: query.after.map(ProductId::from_uuid),
            limit: limit + 1,
        })
        .await?;
    let more = products.len() > limit as usize;
    products.truncate(limit as usize);
    let list = ProductList {
        next_cursor: if more {
            products.last().map(|product| product.id.as_uuid())
        } else {
            None
        },
        products: products.iter().map(product_document).collect(),
    };
    Ok(json_response(
        200,
        serde_json::to_string(&list).expect("serialisable"),
    ))
}

#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "catalogue",
    summary = "Change a product of the seller's (title, price, shipping fee, stock, processing time); orders placed before keep their prices",
    params(("id" = Uuid, Path)),
    request_body = UpdateProduct,
    responses((status = 200, body = ProductDocument), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    require_role(&caller, Role::Seller, "update_product")?;
    let input: UpdateProduct = body.parse()?;
    let id = id
        .parse::<Uuid>()
        .map_err(|_| ApiError::NoSuch("product"))?;
    let product = update_product_from(&state, &caller, ProductId::from_uuid(id), input).await?;
    Ok(json_response(
        200,
        serde_json::to_string(&product_document(&product)).expect("serialisable"),
    ))
}

/// A seller's product change from the API's fields (the pages use it too).
pub async fn update_product_from(
    state: &AppState,
    caller: &Caller,
    id: ProductId,
    input: UpdateProduct,
) -> Result<orderly_store::Product, ApiError> {
    let existing = state
        .app
        .product(id)
        .await?
        .filter(|product| product.seller_id == caller.id())
        .ok_or(ApiError::NoSuch("product"))?;
    let in_currency =
        |field: &'static str, amount: &Option<MoneyDto>| -> Result<Option<i64>, ApiError> {
            match amount {
                None => Ok(None),
                Some(given) => {
                    let parsed = money(field, given)?;
                    if parsed.currency().code() != existing.currency {
                        return Err(invalid(
                            field,
                            format!(
                                "the product is priced in {}; give the amount in it",
                                existing.currency
                            ),
                        ));
                    }
                    Ok(Some(parsed.amount_minor()))
                }
            }
        };
    let change = orderly_store::ProductChange {
        title: input.title,
        price_minor: in_currency("price", &input.price.map(MoneyDto::from))?,
        shipping_fee_minor: in_currency("shipping_fee", &input.shipping_fee)?,
        stock: input.stock,
        processing_days: input.processing_days,
    };
    Ok(state
        .app
        .update_product(caller.id(), id, change, |_| None)
        .await?)
}

fn product_document(product: &orderly_store::Product) -> ProductDocument {
    ProductDocument {
        id: product.id.as_uuid(),
        seller_id: product.seller_id.as_uuid(),
        title: product.title.clone(),
        price: MoneyDto {
            amount: product.price_minor,
            currency: product.currency.clone(),
        },
        shipping_fee: MoneyDto {
            amount: product.shipping_fee_minor,
            currency: product.currency.clone(),
        },
        stock: product.stock,
        processing_days: product.processing_days,
    }
}

#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalogue",
    summary = "A product, with its stock",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ProductDocument), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn get_product(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = id
        .parse::<Uuid>()
        .map_err(|_| ApiError::NoSuch("product"))?;
    let product = state
        .app
        .product(ProductId::from_uuid(id))
        .await?
        .ok_or(ApiError::NoSuch("product"))?;
    Ok(json_response(
        200,
        serde_json::to_string(&product_document(&product)).expect("serialisable"),
    ))
}

#[utoipa::path(get, path = "/api/v1/sellers/{id}", tag = "catalogue",
    summary = "A seller and their rating",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SellerDocument), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn get_seller(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = id.parse::<Uuid>().map_err(|_| ApiError::NoSuch("seller"))?;
    let (account, metrics) = state
        .app
        .seller(AccountId::from_uuid(id))
        .await
        .map_err(|error| match error {
            orderly_app::AppError::Rejected(Rejection::NotFound) => ApiError::NoSuch("seller"),
            other => other.into(),
        })?;
    let document = SellerDocument {
        id: account.id.as_uuid(),
        name: account.name,
        rating: RatingDto::new(&metrics, orderly_app::service::SELLER_WINDOW_DAYS),
    };
    Ok(json_response(
        200,
        serde_json::to_string(&document).expect("serialisable"),
    ))
}

// ---- Orders: place, read, list, history ------------------------------------------------

#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    summary = "Place an order (buyer); prices come from the catalogue, stock is reserved",
    request_body = PlaceOrderRequest,
    responses((status = 201, body = OrderDocument), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn place_order(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let input = (|| {
        require_role(&caller, Role::Buyer, "place_order")?;
        let input: PlaceOrderRequest = body.parse()?;
        for (index, line) in input.lines.iter().enumerate() {
            if line.quantity == 0 || line.quantity > orderly_domain::order::decide::QUANTITY_MAX {
                return Err(invalid(
                    "quantity",
                    format!(
                        "lines[{index}].quantity must be between 1 and {}",
                        orderly_domain::order::decide::QUANTITY_MAX
                    ),
                ));
            }
        }
        Ok(orderly_app::NewOrder {
            lines: input
                .lines
                .iter()
                .map(|line| (ProductId::from_uuid(line.product_id), line.quantity))
                .collect(),
            shipping_address: address(input.shipping_address)?,
            payment_method: payment_method("payment_method", &input.payment_method)?,
        })
    })();
    let input = match input {
        Ok(input) => input,
        Err(error) => return error.into_response(),
    };
    let request = RequestKey::post(&uri, &body);
    let render = order_render(&state, &caller, created);
    respond::place(&state, &caller, &headers, request, input, render).await
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/order-again", tag = "orders",
    summary = "Order again (buyer): a new order with the same lines, address and payment method, at today's prices",
    params(("id" = Uuid, Path, description = "The finished order to repeat")),
    request_body = Empty,
    responses((status = 201, body = OrderDocument), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn order_again(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let action = orderly_domain::Action::OrderAgain;
    let order_id = match authorize_order(&state, &caller, &id, action.roles(), action.code()).await
    {
        Ok(order_id) => order_id,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = body.parse::<Empty>() {
        return error.into_response();
    }
    let request = RequestKey::post(&uri, &body);
    let render = order_render(&state, &caller, created);
    respond::order_again(&state, &caller, &headers, request, order_id, render).await
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    summary = "The order, with the caller's allowed actions and guidance",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderDocument), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let order = state.app.order_for(caller.actor(), order_id(&id)?).await?;
    Ok(json_response(200, document(&state, &caller, &order)))
}

/// Query of `GET /api/v1/orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only orders in this status.
    #[param(schema_with = crate::contract::status_schema)]
    pub status: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^([0-9]{1,17}\.[0-9a-f]{32})?$")]
    pub after: Option<String>,
    /// 1 to 100; 20 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/orders", tag = "orders",
    summary = "The caller's orders (admins: all), newest first, paginated",
    params(ListQuery),
    responses((status = 200, body = OrderList), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::InvalidQuery(rejection.body_text()))?;
    let status = match &query.status {
        Some(code) => Some(one_of(
            "status",
            code,
            Status::ALL,
            Status::parse,
            Status::code,
        )?),
        None => None,
    };
    let after = match query.after.as_deref().filter(|text| !text.is_empty()) {
        Some(text) => Some(
            orderly_store::Cursor::decode(text)
                .ok_or_else(|| invalid("after", "use the next_cursor of the previous page"))?,
        ),
        None => None,
    };
    let limit = page_limit(query.limit, 20)?;
    let page = state
        .app
        .list_orders(caller.actor(), status, after, limit)
        .await?;
    let now = state.app.now();
    let list = OrderList {
        orders: page
            .orders
            .iter()
            .map(|order| OrderDocument::new(order, caller.actor(), now, &state.app.policy))
            .collect(),
        next_cursor: page.next.map(|cursor| cursor.encode()),
    };
    Ok(json_response(
        200,
        serde_json::to_string(&list).expect("serialisable"),
    ))
}

/// Query of the history and the message thread: a page after a cursor.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{0,17}$")]
    pub after: Option<String>,
    /// 1 to 100; 100 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

impl PageQuery {
    /// The seq to start after and the page size, checked.
    fn bounds(&self) -> Result<(u64, u32), ApiError> {
        let after = match self.after.as_deref().filter(|text| !text.is_empty()) {
            None => 0,
            Some(text) => text
                .parse::<u64>()
                .map_err(|_| invalid("after", "use the next_cursor of the previous page"))?,
        };
        Ok((
            after,
            page_limit(self.limit, orderly_store::PAGE_LIMIT_MAX)?,
        ))
    }
}

/// A page size: 1 to 100, `default` when not given.
pub(crate) fn page_limit(limit: Option<u32>, default: u32) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=orderly_store::PAGE_LIMIT_MAX).contains(&limit) {
        return Err(invalid(
            "limit",
            format!(
                "limit must be between 1 and {}",
                orderly_store::PAGE_LIMIT_MAX
            ),
        ));
    }
    Ok(limit)
}

pub(crate) fn page_query(
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(u64, u32), ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::InvalidQuery(rejection.body_text()))?;
    query.bounds()
}

#[utoipa::path(get, path = "/api/v1/orders/{id}/events", tag = "orders",
    summary = "The order's history, oldest first, paginated; buyers and sellers see no admin notes, admin ids or others' complaints",
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, description = "A page of events", body = EventList), (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn order_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let order_id = order_id(&id)?;
    let (after, limit) = page_query(query)?;
    let page = state
        .app
        .events_page(caller.actor(), order_id, after, limit, None)
        .await?;
    let list = EventList {
        events: page
            .events
            .iter()
            .map(|(seq, view)| EventDocument::new(*seq, view, page.currency))
            .collect(),
        next_cursor: page.next.map(|seq| seq.to_string()),
    };
    Ok(json_response(
        200,
        serde_json::to_string(&list).expect("serialisable"),
    ))
}

// ---- Messages --------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/orders/{id}/messages", tag = "messages",
    summary = "The order's message thread, oldest first, paginated",
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, description = "A page of messages", body = MessageList), (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let order_id = order_id(&id)?;
    state.app.order_for(caller.actor(), order_id).await?;
    if caller.role() == Role::Admin {
        // The thread is the parties'; admins read it in the history (`/events`).
        return Err(ApiError::Rejected(Rejection::Forbidden {
            action: "read_messages",
            role: Role::Admin,
            allowed: "the buyer or the seller",
        }));
    }
    let (after, limit) = page_query(query)?;
    let page = state
        .app
        .events_page(caller.actor(), order_id, after, limit, Some("message_sent"))
        .await?;
    let list = MessageList {
        messages: page
            .events
            .iter()
            .filter_map(|(_, view)| match &view.kind {
                orderly_domain::EventKind::MessageSent { author, text } => Some(MessageDocument {
                    author: author.code().to_owned(),
                    text: text.clone(),
                    sent_at: view.at,
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

fn message_document(message: &orderly_domain::order::Message) -> MessageDocument {
    MessageDocument {
        author: message.author.code().to_owned(),
        text: message.text.clone(),
        sent_at: message.sent_at,
    }
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/messages", tag = "messages",
    summary = "Send a message (free text or a template) on the order's thread",
    params(("id" = Uuid, Path)),
    request_body = SendMessageRequest,
    responses((status = 201, body = MessageDocument), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn send_message(
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
        orderly_domain::Action::Message,
        || {
            let input: SendMessageRequest = body.parse()?;
            let body = match (input.text, input.template) {
                (Some(text), None) => MessageBody::Text(text),
                (None, Some(template)) => MessageBody::Template(one_of(
                    "template",
                    &template,
                    Template::ALL,
                    template_code,
                    Template::code,
                )?),
                _ => {
                    return Err(invalid(
                        "text",
                        "send either `text` or `template`, not both or neither",
                    ));
                }
            };
            let render: orderly_app::Render =
                std::sync::Arc::new(|order: &Order, _: &[orderly_domain::Event]| {
                    let message = order
                        .last_message
                        .as_ref()
                        .expect("a message was just sent");
                    (
                        201,
                        serde_json::to_string(&message_document(message)).expect("serialisable"),
                    )
                });
            Ok((Command::SendMessage { body }, render))
        },
    )
    .await
}

// ---- Order actions ---------------------------------------------------------------------

/// Checks, in this order, that the caller may see the order (404 for a stranger or a
/// missing order, SPEC 1) and that their role ever takes `action` (403); only then is the
/// body read (400/422) and the command run (409 if the state refuses it).
pub(crate) async fn authorize_order(
    state: &AppState,
    caller: &Caller,
    id: &str,
    roles: &[Role],
    action: &'static str,
) -> Result<OrderId, ApiError> {
    let order_id = order_id(id)?;
    state.app.order_for(caller.actor(), order_id).await?;
    if !roles.contains(&caller.role()) {
        return Err(ApiError::Rejected(Rejection::Forbidden {
            action,
            role: caller.role(),
            allowed: orderly_domain::order::command::roles_text(roles),
        }));
    }
    Ok(order_id)
}

/// Runs one order action, its checks answered in one order whatever the request: who may
/// see the order (404), whether the role ever takes `action` (403), what the request says
/// (400/422), then the order's state (409). `parse` reads the request into its command and
/// how to answer it. A request it refuses is answered after the first two checks, on a
/// read of the order here; a well-formed one is checked inside its command, on the order
/// it decides on, so the order is read once.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_order_action(
    state: &AppState,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    uri: &OriginalUri,
    body: &Body,
    action: orderly_domain::Action,
    parse: impl FnOnce() -> Result<(Command, orderly_app::Render), ApiError>,
) -> Response {
    let parsed = (|| {
        let order_id = order_id(id)?;
        let (command, render) = parse()?;
        crate::extract::idempotency_key(headers)?;
        Ok::<_, ApiError>((order_id, command, render))
    })();
    let (order_id, command, render) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            return match authorize_order(state, caller, id, action.roles(), action.code()).await {
                Err(refused) => refused.into_response(),
                Ok(_) => error.into_response(),
            };
        }
    };
    let request = RequestKey::post(uri, body);
    respond::action(
        state, caller, headers, request, order_id, action, command, render,
    )
    .await
}

/// One `POST /api/v1/orders/{id}/...` action: authorize, parse the body into a command,
/// run it, answer with the order document.
macro_rules! order_action {
    ($name:ident, $path:literal, $action:expr, $summary:literal, $body:ty, $status:expr, |$input:ident| $command:expr) => {
        #[utoipa::path(post, path = $path, tag = "orders", summary = $summary,
            params(("id" = Uuid, Path, description = "The order's id")),
            request_body = $body,
            responses(
                (status = 200, description = "The order after the action", body = OrderDocument),
                (status = "4XX", description = "Refused; nothing changed", body = Problem)),
            security(("bearer" = [])))]
        pub async fn $name(
            State(state): State<AppState>,
            caller: Caller,
            Path(id): Path<String>,
            headers: HeaderMap,
            uri: OriginalUri,
            body: Body,
        ) -> Response {
            run_order_action(&state, &caller, &id, &headers, &uri, &body, $action, || {
                let $input: $body = body.parse()?;
                Ok(($command, order_render(&state, &caller, $status)))
            })
            .await
        }
    };
}

order_action!(
    pay,
    "/api/v1/orders/{id}/pay",
    orderly_domain::Action::Pay,
    "Pay (buyer): the money goes into escrow pending verification",
    PayRequest,
    ok,
    |input| {
        Command::Pay {
            method: match &input.method {
                Some(code) => Some(payment_method("method", code)?),
                None => None,
            },
        }
    }
);

order_action!(
    verify_payment,
    "/api/v1/orders/{id}/verify-payment",
    orderly_domain::Action::VerifyPayment,
    "Verify or decline a payment (admin)",
    VerifyPaymentRequest,
    ok,
    |input| {
        Command::VerifyPayment {
            approved: match input.outcome.as_str() {
                "approved" => true,
                "declined" => false,
                other => {
                    return Err(invalid(
                        "outcome",
                        format!("`{other}` is not an outcome; use approved or declined"),
                    ));
                }
            },
        }
    }
);

order_action!(
    cancel,
    "/api/v1/orders/{id}/cancel",
    orderly_domain::Action::Cancel,
    "Cancel (buyer): at once before verification ends (200), else a request to the seller (202)",
    CancelRequest,
    cancel_status,
    |input| {
        Command::Cancel {
            reason: cancel_reason(&input.reason)?,
            message: input.message,
            complaint: input.complaint,
        }
    }
);

order_action!(
    withdraw_cancellation,
    "/api/v1/orders/{id}/cancellation/withdraw",
    orderly_domain::Action::WithdrawCancellation,
    "Withdraw the cancellation request (buyer): \"Resume order\"",
    Empty,
    ok,
    |_input| Command::WithdrawCancellation
);

order_action!(
    approve_cancellation,
    "/api/v1/orders/{id}/cancellation/approve",
    orderly_domain::Action::ApproveCancellation,
    "Approve the buyer's cancellation request (seller)",
    Empty,
    ok,
    |_input| Command::ApproveCancellation
);

order_action!(
    reject_cancellation,
    "/api/v1/orders/{id}/cancellation/reject",
    orderly_domain::Action::RejectCancellation,
    "Reject the buyer's cancellation request with a reason (seller)",
    ReasonRequest,
    ok,
    |input| {
        Command::RejectCancellation {
            reason: input.reason,
        }
    }
);

order_action!(
    escalate_cancellation,
    "/api/v1/orders/{id}/cancellation/escalate",
    orderly_domain::Action::EscalateCancellation,
    "Escalate a rejected cancellation request to the platform (buyer)",
    MessageRequest,
    ok,
    |input| {
        Command::EscalateCancellation {
            message: input.message,
        }
    }
);

order_action!(
    decide_cancellation,
    "/api/v1/orders/{id}/cancellation/decide",
    orderly_domain::Action::DecideCancellation,
    "Decide an escalated cancellation request (admin)",
    DecideRequest,
    ok,
    |input| {
        Command::DecideCancellation {
            approve: input.approve,
            note: input.note,
        }
    }
);

order_action!(
    seller_cancel,
    "/api/v1/orders/{id}/seller-cancel",
    orderly_domain::Action::SellerCancel,
    "Cancel the order as the seller, with a seller-fault reason",
    SellerCancelRequest,
    ok,
    |input| {
        let reasons: Vec<CancelReason> = CancelReason::ALL
            .iter()
            .copied()
            .filter(|reason| reason.is_seller_choice())
            .collect();
        Command::SellerCancel {
            reason: one_of(
                "reason",
                &input.reason,
                &reasons,
                CancelReason::parse,
                CancelReason::code,
            )?,
        }
    }
);

order_action!(
    ship,
    "/api/v1/orders/{id}/ship",
    orderly_domain::Action::Ship,
    "Ship with carrier and tracking number (seller)",
    ShipRequest,
    ok,
    |input| {
        Command::Ship {
            carrier: input.carrier,
            tracking_number: input.tracking_number,
        }
    }
);

order_action!(
    update_tracking,
    "/api/v1/orders/{id}/tracking",
    orderly_domain::Action::UpdateTracking,
    "Update the tracking information (seller)",
    ShipRequest,
    ok,
    |input| {
        Command::UpdateTracking {
            carrier: input.carrier,
            tracking_number: input.tracking_number,
        }
    }
);

order_action!(
    deliver,
    "/api/v1/orders/{id}/deliver",
    orderly_domain::Action::MarkDelivered,
    "Mark delivered (admin or carrier callback)",
    Empty,
    ok,
    |_input| Command::MarkDelivered
);

order_action!(
    refuse_delivery,
    "/api/v1/orders/{id}/refuse-delivery",
    orderly_domain::Action::RefuseDelivery,
    "Refuse the delivery (buyer)",
    Empty,
    ok,
    |_input| Command::RefuseDelivery
);

order_action!(
    confirm_receipt,
    "/api/v1/orders/{id}/confirm-receipt",
    orderly_domain::Action::ConfirmReceipt,
    "Confirm receipt (buyer): escrow goes to the seller",
    Empty,
    ok,
    |_input| Command::ConfirmReceipt
);

order_action!(
    open_return,
    "/api/v1/orders/{id}/returns",
    orderly_domain::Action::RequestReturn,
    "Request a return and refund, or a refund only (buyer, after delivery)",
    ReturnRequest,
    ok,
    |input| {
        Command::RequestReturn {
            kind: match input.kind.as_str() {
                "return_and_refund" => ReturnKind::ReturnAndRefund,
                "refund_only" => ReturnKind::RefundOnly,
                other => {
                    return Err(invalid(
                        "kind",
                        format!("`{other}` is not a kind; use return_and_refund or refund_only"),
                    ));
                }
            },
            reason: one_of(
                "reason",
                &input.reason,
                ReturnReason::ALL,
                return_reason,
                ReturnReason::code,
            )?,
            amount_minor: input.amount,
            explanation: input.explanation,
        }
    }
);

order_action!(
    open_dispute,
    "/api/v1/orders/{id}/disputes",
    orderly_domain::Action::OpenDispute,
    "Open a dispute (buyer, after shipment)",
    DisputeRequest,
    ok,
    |input| {
        Command::OpenDispute {
            reason: one_of(
                "reason",
                &input.reason,
                DisputeReason::ALL,
                DisputeReason::parse,
                DisputeReason::code,
            )?,
            amount_minor: input.amount,
            return_item: input.return_item,
            explanation: input.explanation,
        }
    }
);

order_action!(
    respond_claim,
    "/api/v1/orders/{id}/claim/respond",
    orderly_domain::Action::RespondClaim,
    "Answer the open return or dispute: accept, reject or counter (seller)",
    RespondRequest,
    ok,
    |input| {
        Command::RespondClaim {
            decision: match input.decision.as_str() {
                "accept" => ClaimDecision::Accept,
                "reject" => ClaimDecision::Reject,
                "counter" => ClaimDecision::Counter,
                other => {
                    return Err(invalid(
                        "decision",
                        format!("`{other}` is not a decision; use accept, reject or counter"),
                    ));
                }
            },
            amount_minor: input.amount,
            explanation: input.explanation,
        }
    }
);

order_action!(
    accept_offer,
    "/api/v1/orders/{id}/claim/accept",
    orderly_domain::Action::AcceptOffer,
    "Accept the seller's counter offer (buyer)",
    Empty,
    ok,
    |_input| Command::AcceptOffer
);

order_action!(
    escalate_claim,
    "/api/v1/orders/{id}/claim/escalate",
    orderly_domain::Action::EscalateClaim,
    "Escalate the claim to the platform (buyer or seller)",
    ExplanationRequest,
    ok,
    |input| {
        Command::EscalateClaim {
            explanation: input.explanation,
        }
    }
);

order_action!(
    resolve_claim,
    "/api/v1/orders/{id}/claim/resolve",
    orderly_domain::Action::ResolveClaim,
    "Decide an escalated claim (admin)",
    ResolveRequest,
    ok,
    |input| {
        Command::ResolveClaim {
            refund_amount_minor: input.refund_amount,
            return_required: input.return_required,
            return_shipping_paid_by: match input.return_shipping_paid_by.as_deref() {
                None => None,
                Some("buyer") => Some(orderly_domain::Fault::Buyer),
                Some("seller") => Some(orderly_domain::Fault::Seller),
                Some(other) => {
                    return Err(invalid(
                        "return_shipping_paid_by",
                        format!("`{other}` is not a side; use buyer or seller"),
                    ));
                }
            },
        }
    }
);

order_action!(
    return_shipped,
    "/api/v1/orders/{id}/return/shipped",
    orderly_domain::Action::ReturnShipped,
    "The buyer shipped the item back",
    TrackingRequest,
    ok,
    |input| {
        Command::ReturnShipped {
            tracking_number: input.tracking_number,
        }
    }
);

order_action!(
    return_received,
    "/api/v1/orders/{id}/return/received",
    orderly_domain::Action::ReturnReceived,
    "The returned item or refused parcel is back (seller or admin)",
    Empty,
    ok,
    |_input| Command::ReturnReceived
);

order_action!(
    request_extension,
    "/api/v1/orders/{id}/protection-extension",
    orderly_domain::Action::RequestExtension,
    "Ask for a buyer-protection extension (buyer)",
    ExtensionRequest,
    ok,
    |input| {
        Command::RequestExtension {
            days: input.days,
            reason: input.reason,
        }
    }
);

order_action!(
    approve_extension,
    "/api/v1/orders/{id}/protection-extension/approve",
    orderly_domain::Action::ApproveExtension,
    "Approve the protection extension (seller)",
    Empty,
    ok,
    |_input| Command::ApproveExtension
);

order_action!(
    decline_extension,
    "/api/v1/orders/{id}/protection-extension/decline",
    orderly_domain::Action::DeclineExtension,
    "Decline the protection extension (seller)",
    Empty,
    ok,
    |_input| Command::DeclineExtension
);

order_action!(
    freeze,
    "/api/v1/orders/{id}/freeze",
    orderly_domain::Action::Freeze,
    "Freeze on suspicion of fraud (admin): every deadline pauses",
    NoteRequest,
    ok,
    |input| Command::Freeze { note: input.note }
);

order_action!(
    unfreeze,
    "/api/v1/orders/{id}/unfreeze",
    orderly_domain::Action::Unfreeze,
    "Unfreeze (admin): deadlines resume with the time they had left",
    NoteRequest,
    ok,
    |input| Command::Unfreeze { note: input.note }
);

order_action!(
    admin_cancel,
    "/api/v1/orders/{id}/admin-cancel",
    orderly_domain::Action::AdminCancel,
    "Cancel with a full refund, seller at fault (admin)",
    NoteRequest,
    ok,
    |input| Command::AdminCancel { note: input.note }
);

order_action!(
    propose_cancellation,
    "/api/v1/orders/{id}/cancellation/propose",
    orderly_domain::Action::ProposeCancellation,
    "Ask the buyer to cancel (seller): the buyer accepts (full refund) or declines",
    ProposeRequest,
    ok,
    |input| {
        let reasons: Vec<CancelReason> = CancelReason::ALL
            .iter()
            .copied()
            .filter(|reason| reason.is_buyer_choice() || reason.is_seller_choice())
            .collect();
        Command::ProposeCancellation {
            reason: one_of(
                "reason",
                &input.reason,
                &reasons,
                CancelReason::parse,
                CancelReason::code,
            )?,
        }
    }
);

order_action!(
    accept_cancellation_proposal,
    "/api/v1/orders/{id}/cancellation/accept-proposal",
    orderly_domain::Action::AcceptCancellationProposal,
    "Accept the seller's proposal to cancel (buyer): cancelled with a full refund",
    Empty,
    ok,
    |_input| Command::AcceptCancellationProposal
);

order_action!(
    decline_cancellation_proposal,
    "/api/v1/orders/{id}/cancellation/decline-proposal",
    orderly_domain::Action::DeclineCancellationProposal,
    "Decline the seller's proposal to cancel (buyer): the order goes on",
    Empty,
    ok,
    |_input| Command::DeclineCancellationProposal
);

order_action!(
    offer_partial_refund,
    "/api/v1/orders/{id}/partial-refund",
    orderly_domain::Action::OfferPartialRefund,
    "Offer a partial refund by agreement (seller): the buyer keeps the order",
    PartialRefundRequest,
    ok,
    |input| {
        Command::OfferPartialRefund {
            amount_minor: input.amount,
            reason: input.reason,
        }
    }
);

order_action!(
    accept_partial_refund,
    "/api/v1/orders/{id}/partial-refund/accept",
    orderly_domain::Action::AcceptPartialRefund,
    "Accept the seller's partial refund (buyer): it is sent at once",
    Empty,
    ok,
    |_input| Command::AcceptPartialRefund
);

order_action!(
    decline_partial_refund,
    "/api/v1/orders/{id}/partial-refund/decline",
    orderly_domain::Action::DeclinePartialRefund,
    "Decline the seller's partial refund (buyer)",
    Empty,
    ok,
    |_input| Command::DeclinePartialRefund
);

order_action!(
    contact_support,
    "/api/v1/orders/{id}/support",
    orderly_domain::Action::ContactSupport,
    "Ask support for help on this order (buyer or seller), in any status; files a support_request queue item",
    SupportRequest,
    ok,
    |input| {
        Command::ContactSupport {
            message: input.message,
        }
    }
);

#[utoipa::path(post, path = "/api/v1/orders/{id}/refunds/{refund_id}/arrived", tag = "orders",
    summary = "Report that a refund arrived (buyer or admin): its overdue watch stops",
    params(("id" = Uuid, Path, description = "The order's id"), ("refund_id" = u32, Path, description = "The refund's `id` in the order document")),
    request_body = Empty,
    responses(
        (status = 200, description = "The order after the report", body = OrderDocument),
        (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(("bearer" = [])))]
pub async fn refund_arrived(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, refund_id)): Path<(String, String)>,
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
        orderly_domain::Action::RefundArrived,
        || {
            let _: Empty = body.parse()?;
            let number = refund_id
                .parse::<u32>()
                .map_err(|_| ApiError::NoSuch("refund"))?;
            Ok((
                Command::ConfirmRefundArrived { number },
                order_render(&state, &caller, ok),
            ))
        },
    )
    .await
}

/// The most a multipart evidence upload may be on the wire: the file's limit plus room for
/// the form's boundaries, headers and note.
pub const EVIDENCE_UPLOAD_BYTES_MAX: usize =
    orderly_domain::order::decide::EVIDENCE_BYTES_MAX as usize + 64 * 1024;

#[utoipa::path(post, path = "/api/v1/orders/{id}/claim/evidence", tag = "orders",
    summary = "Add an evidence file to the open claim (buyer or seller): JPEG, PNG, WebP or PDF judged by content, at most 5 MiB, 10 per claim",
    params(("id" = Uuid, Path, description = "The order's id")),
    request_body(content = EvidenceUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The file as recorded on the claim", body = EvidenceDocument),
        (status = 413, description = "The file is larger than 5 MiB", body = Problem),
        (status = 415, description = "Not a JPEG, PNG, WebP or PDF, or its name says otherwise", body = Problem),
        (status = "4XX", description = "Refused; nothing changed (422: the claim already has 10 files)", body = Problem)),
    security(("bearer" = [])))]
pub async fn add_evidence(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    request: axum::extract::Request,
) -> Response {
    let action = orderly_domain::Action::AddEvidence;
    let order_id = match authorize_order(&state, &caller, &id, action.roles(), action.code()).await
    {
        Ok(order_id) => order_id,
        Err(error) => return error.into_response(),
    };
    let form = match read_evidence_form(request).await {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    // The idempotency fingerprint covers the file and note, as the body would.
    let mut print_body = form.bytes.clone();
    print_body.extend_from_slice(form.filename.as_bytes());
    print_body.extend_from_slice(form.note.as_deref().unwrap_or("").as_bytes());
    let print_body = Body(axum::body::Bytes::from(print_body));
    let key = RequestKey::post(&uri, &print_body);
    let render: orderly_app::Render =
        std::sync::Arc::new(|order: &Order, _: &[orderly_domain::Event]| {
            let file = order
                .claim
                .as_ref()
                .and_then(|claim| claim.evidence.last())
                .expect("evidence was just added");
            let document = EvidenceDocument {
                id: file.id.as_uuid(),
                filename: file.filename.clone(),
                content_type: file.content_type.clone(),
                size: file.size,
                uploaded_by: file.uploaded_by.code().to_owned(),
                uploaded_at: file.uploaded_at,
                note: file.note.clone(),
            };
            (201, serde_json::to_string(&document).expect("serialisable"))
        });
    let actor = caller.actor();
    let app = state.app.clone();
    respond::committed_with(
        &state,
        &caller,
        &headers,
        key,
        render,
        |idempotency| async move {
            app.add_evidence(
                actor,
                order_id,
                &form.filename,
                form.bytes,
                form.note,
                idempotency,
            )
            .await
        },
    )
    .await
}

/// What an evidence upload carried.
struct EvidenceForm {
    filename: String,
    bytes: Vec<u8>,
    note: Option<String>,
}

/// Reads the multipart form field by field, stopping as soon as the file passes 5 MiB:
/// the limit holds before the body is buffered whole.
async fn read_evidence_form(request: axum::extract::Request) -> Result<EvidenceForm, ApiError> {
    use axum::extract::FromRequest as _;
    let limit = orderly_domain::order::decide::EVIDENCE_BYTES_MAX as usize;
    let mut multipart = axum::extract::Multipart::from_request(request, &())
        .await
        .map_err(|rejection| {
            ApiError::UnsupportedMedia(format!(
                "send the file as multipart/form-data with a `file` field ({})",
                rejection.body_text()
            ))
        })?;
    let too_large = || {
        ApiError::TooLarge(format!(
            "an evidence file is at most {} MiB",
            limit / 1024 / 1024
        ))
    };
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut note = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(too_large());
            }
            Err(error) => {
                return Err(ApiError::InvalidField {
                    field: "file".into(),
                    detail: format!("the form could not be read: {}", error.body_text()),
                });
            }
        };
        match field.name() {
            Some("file") => {
                let filename = field.file_name().unwrap_or("evidence").to_owned();
                let mut bytes = Vec::new();
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if bytes.len() + chunk.len() > limit {
                                return Err(too_large());
                            }
                            bytes.extend_from_slice(&chunk);
                        }
                        Ok(None) => break,
                        Err(error)
                            if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
                        {
                            return Err(too_large());
                        }
                        Err(error) => {
                            return Err(ApiError::InvalidField {
                                field: "file".into(),
                                detail: format!(
                                    "the file could not be read: {}",
                                    error.body_text()
                                ),
                            });
                        }
                    }
                }
                file = Some((filename, bytes));
            }
            Some("note") => {
                let text = field.text().await.map_err(|error| ApiError::InvalidField {
                    field: "note".into(),
                    detail: error.body_text(),
                })?;
                note = Some(text).filter(|text| !text.trim().is_empty());
            }
            _ => {
                return Err(ApiError::InvalidField {
                    field: field.name().unwrap_or("form").to_owned(),
                    detail: "the form takes a `file` and an optional `note`".into(),
                });
            }
        }
    }
    let (filename, bytes) = file.ok_or_else(|| ApiError::InvalidField {
        field: "file".into(),
        detail: "add the file in a `file` field".into(),
    })?;
    if bytes.is_empty() {
        return Err(ApiError::InvalidField {
            field: "file".into(),
            detail: "the file is empty".into(),
        });
    }
    Ok(EvidenceForm {
        filename,
        bytes,
        note,
    })
}

#[utoipa::path(get, path = "/api/v1/orders/{id}/claim/evidence/{evidence_id}", tag = "orders",
    summary = "Download an evidence file (the parties and admins), as an attachment",
    params(("id" = Uuid, Path, description = "The order's id"), ("evidence_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = "4XX", description = "Refused", body = Problem)),
    security(("bearer" = [])))]
pub async fn download_evidence(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, evidence_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let order_id = order_id(&id)?;
    let evidence_id = evidence_id
        .parse::<Uuid>()
        .map(orderly_domain::EvidenceId::from_uuid)
        .map_err(|_| ApiError::NoSuch("evidence file"))?;
    let file = state
        .app
        .evidence_file(caller.actor(), order_id, evidence_id)
        .await?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file.filename.replace(['"', '\\'], "_")
    );
    let mut response = (axum::http::StatusCode::OK, file.bytes).into_response();
    let headers = response.headers_mut();
    let value = |text: &str| {
        axum::http::HeaderValue::from_str(text)
            .unwrap_or_else(|_| axum::http::HeaderValue::from_static("application/octet-stream"))
    };
    headers.insert(axum::http::header::CONTENT_TYPE, value(&file.content_type));
    headers.insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_str(&disposition)
            .unwrap_or_else(|_| axum::http::HeaderValue::from_static("attachment")),
    );
    headers.insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

// ---- Test clock ----------------------------------------------------------------------------

#[utoipa::path(post, path = "/api/v1/test-clock/advance", tag = "test clock",
    summary = "Move the test clock forward (admin, only with --test-clock); answers once every deadline due by then has fired",
    request_body = AdvanceRequest,
    responses((status = 200, body = ClockDocument), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn advance_clock(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let request = RequestKey::post(&uri, &body);
    let work = || async {
        require_role(&caller, Role::Admin, "advance_test_clock")?;
        let input: AdvanceRequest = body.parse()?;
        let (now, fired) = state.app.advance_clock(input.seconds).await?;
        Ok((
            200,
            serde_json::to_string(&ClockDocument { now, fired }).expect("serialisable"),
        ))
    };
    respond::simple(&state, &caller, &headers, request, work).await
}

// ---- Operations ----------------------------------------------------------------------------

#[utoipa::path(get, path = "/healthz", tag = "operations", summary = "The process is up",
    responses((status = 200, body = Health)))]
pub async fn healthz() -> Response {
    json_response(200, r#"{"status":"ok"}"#.to_owned())
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    summary = "Ready for traffic: the database answers (and has disk space) and no worker is failing",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: `unavailable` (database), `storage_full` (disk) or `worker_failing`", body = Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if let Err(error) = state.app.store.ping().await {
        tracing::warn!(%error, "not ready");
        let error = match error {
            orderly_store::StoreError::StorageFull => ApiError::StorageFull,
            other => ApiError::Unavailable(other.to_string()),
        };
        return error.into_response();
    }
    let workers: Vec<WorkerDto> = state
        .app
        .health
        .snapshot()
        .into_iter()
        .map(|(name, health)| WorkerDto {
            name: name.to_owned(),
            status: if health.failing.is_some() {
                "failing"
            } else {
                "ok"
            }
            .to_owned(),
            last_ok_at: health.last_ok_at,
            failing: health.failing,
            panics: health.panics,
            failures: health.failures,
        })
        .collect();
    if let Some(worker) = workers.iter().find(|worker| worker.failing.is_some()) {
        return ApiError::WorkerFailing(format!(
            "the {} worker's last step failed: {}",
            worker.name,
            worker.failing.as_deref().unwrap_or("")
        ))
        .into_response();
    }
    let readiness = Readiness {
        status: "ready".into(),
        database: "ok".into(),
        workers,
    };
    json_response(
        200,
        serde_json::to_string(&readiness).expect("serialisable"),
    )
}
