//! `/catalogue`: every seller's products with the seller's rating beside each, and for a
//! buyer an order form under each product (address and payment method), placed through
//! the API's own placement.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orderly_domain::{AccountId, PaymentMethod, ProductId, Role};
use orderly_server::AppState;
use serde::Deserialize;
use serde_json::json;

use crate::format::{capitalised, money, words};
use crate::html::{Page, see_other};
use crate::pages::{Layout, failure, outcome};
use crate::session::{self, Form, Params, Signed, new_key, read_form};

/// One product on the page.
pub struct ProductCard {
    pub id: String,
    pub title: String,
    pub price: String,
    pub shipping: String,
    pub stock: i64,
    pub processing_days: u32,
    pub seller: String,
    pub rating: String,
    pub key: String,
    /// What the buyer typed, after a refusal.
    pub values: HashMap<&'static str, String>,
    pub error: Option<(String, String)>,
}

impl ProductCard {
    pub fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// The problem's sentence when it is about `field`.
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(at, _)| at == field)
            .map(|(_, sentence)| sentence.as_str())
    }

    /// The problem's sentence when it is about no field of the form.
    pub fn general_error(&self) -> Option<&str> {
        const FIELDS: [&str; 7] = [
            "quantity",
            "name",
            "street",
            "city",
            "postal_code",
            "country",
            "payment_method",
        ];
        self.error
            .as_ref()
            .filter(|(at, _)| !FIELDS.contains(&at.as_str()))
            .map(|(_, sentence)| sentence.as_str())
    }
}

#[derive(Template)]
#[template(path = "catalogue.html")]
struct CataloguePage {
    layout: Layout,
    products: Vec<ProductCard>,
    buyer: bool,
    csrf: String,
    methods: Vec<(String, String)>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CatalogueQuery {
    after: Option<String>,
}

const PAGE_SIZE: u32 = 24;

async fn cards(
    state: &AppState,
    signed: &Signed,
    after: Option<ProductId>,
) -> Result<(Vec<ProductCard>, Option<String>), Response> {
    let mut products = state
        .app
        .products(orderly_store::ProductFilter {
            seller_id: None,
            after,
            limit: PAGE_SIZE + 1,
        })
        .await
        .map_err(|error| failure(error.into()))?;
    let more = products.len() > PAGE_SIZE as usize;
    products.truncate(PAGE_SIZE as usize);
    let mut sellers: HashMap<AccountId, (String, String)> = HashMap::new();
    let mut cards = Vec::with_capacity(products.len());
    for product in &products {
        if let std::collections::hash_map::Entry::Vacant(entry) = sellers.entry(product.seller_id) {
            let seller = match state.app.seller(product.seller_id).await {
                Ok((account, metrics)) => {
                    let rating = metrics.rating();
                    (
                        account.name,
                        format!("Seller rating {} of 100 ({})", rating.score, rating.level),
                    )
                }
                Err(_) => ("A seller".into(), String::new()),
            };
            entry.insert(seller);
        }
        let (seller, rating) = sellers[&product.seller_id].clone();
        let currency = orderly_domain::Currency::parse(&product.currency).map_err(|error| {
            failure(orderly_server::error::ApiError::Unexpected(
                anyhow::anyhow!(
                    "stored currency of product {}: {error}",
                    product.id.as_uuid()
                ),
            ))
        })?;
        let mut values = HashMap::new();
        values.insert("quantity", "1".to_owned());
        values.insert("name", signed.session.account.name.clone());
        cards.push(ProductCard {
            id: product.id.as_uuid().to_string(),
            title: product.title.clone(),
            price: money(product.price_minor, currency),
            shipping: money(product.shipping_fee_minor, currency),
            stock: product.stock,
            processing_days: product.processing_days,
            seller,
            rating,
            key: new_key(),
            values,
            error: None,
        });
    }
    let next = if more {
        products
            .last()
            .map(|product| product.id.as_uuid().to_string())
    } else {
        None
    };
    Ok((cards, next))
}

fn page(
    signed: &Signed,
    products: Vec<ProductCard>,
    next: Option<String>,
    status: StatusCode,
) -> Response {
    Page::with_status(
        status,
        CataloguePage {
            layout: Layout::new("Catalogue", Some(signed), "/catalogue"),
            products,
            buyer: signed.role() == Role::Buyer,
            csrf: signed.csrf().to_owned(),
            methods: PaymentMethod::ALL
                .iter()
                .map(|method| (method.code().to_owned(), capitalised(&words(method.code()))))
                .collect(),
            next,
        },
    )
    .into_response()
}

pub async fn catalogue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<CatalogueQuery>,
) -> Response {
    let signed = match session::require(&state, &headers, "/catalogue").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let after = query
        .after
        .and_then(|text| text.parse::<uuid::Uuid>().ok())
        .map(ProductId::from_uuid);
    match cards(&state, &signed, after).await {
        Ok((products, next)) => page(&signed, products, next, StatusCode::OK),
        Err(response) => response,
    }
}

const ADDRESS: [&str; 5] = ["name", "street", "city", "postal_code", "country"];

fn order_body(product_id: &str, form: &Form) -> Result<serde_json::Value, (&'static str, String)> {
    let quantity: u32 = form
        .text("quantity")
        .parse()
        .ok()
        .filter(|quantity| *quantity >= 1)
        .ok_or(("quantity", "Give how many you want, 1 or more.".to_owned()))?;
    let mut address = serde_json::Map::new();
    for field in ADDRESS {
        let value = form.text(field);
        if !value.is_empty() {
            address.insert(field.to_owned(), value.into());
        }
    }
    for required in ["name", "city", "country"] {
        if !address.contains_key(required) {
            return Err((
                match required {
                    "name" => "name",
                    "city" => "city",
                    _ => "country",
                },
                format!("Fill in the {}.", words(required)),
            ));
        }
    }
    Ok(json!({
        "lines": [{"product_id": product_id, "quantity": quantity}],
        "shipping_address": address,
        "payment_method": form.text("payment_method"),
    }))
}

pub async fn place(
    State(state): State<AppState>,
    Path(product_id): Path<String>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let signed = match session::require(&state, &headers, "/catalogue").await {
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
    let refusal = match order_body(&product_id, &form) {
        Ok(body) => {
            let path = format!("/catalogue/{product_id}/order");
            let response = orderly_server::dispatch::place_order(
                state.clone(),
                signed.caller(),
                body,
                &form.key(),
                &path,
            )
            .await;
            match outcome(response).await {
                Ok(order) => {
                    let id = order["id"].as_str().unwrap_or_default();
                    return see_other(&format!("/orders/{id}?done=placed"));
                }
                Err(refusal) => (
                    refusal.status,
                    refusal.field.map(|field| match field.as_str() {
                        field if field.ends_with("quantity") => "quantity".to_owned(),
                        "shipping_address" => "street".to_owned(),
                        other => other.to_owned(),
                    }),
                    refusal.detail,
                ),
            }
        }
        Err((field, sentence)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(field.to_owned()),
            sentence,
        ),
    };
    // Show the catalogue again with the sentence beside the field, and what was typed.
    let (status, field, sentence) = refusal;
    let (mut products, next) = match cards(&state, &signed, None).await {
        Ok(cards) => cards,
        Err(response) => return response,
    };
    if let Some(card) = products.iter_mut().find(|card| card.id == product_id) {
        for name in [
            "quantity",
            "name",
            "street",
            "city",
            "postal_code",
            "country",
            "payment_method",
        ] {
            card.values.insert(name, form.text(name));
        }
        // A refused request's answer is kept under its key: the corrected form needs a new one.
        card.key = new_key();
        card.error = Some((field.unwrap_or_default(), sentence));
    }
    page(&signed, products, next, status)
}
