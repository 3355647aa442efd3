//! The OpenAPI contract beyond what each handler declares: the code lists the server
//! enforces (as schema enums built from the domain's own catalogues, so they cannot
//! drift), and one pass over the whole document that makes every operation tell the same
//! truth — each response described, every refusal `application/problem+json` with the
//! `Problem` schema, the 429 and 503 every operation can answer, the `Idempotency-Key`
//! header of every POST, and links from a created order, product or account to the
//! operations on it (which is what lets a schema-driven client or fuzzer follow them).

use orderly_domain::{CancelReason, DisputeReason, PaymentMethod, ReturnReason, Status, Template};
use utoipa::Modify;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::{
    Content, OpenApi, PathItem, Ref, RefOr, Required, Response, ResponseBuilder,
};

/// A string schema that takes exactly `codes`.
fn codes<'a>(codes: impl IntoIterator<Item = &'a str>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(codes.into_iter().collect::<Vec<_>>()))
        .description(Some(description))
        .build()
}

pub fn role_schema() -> Object {
    codes(["buyer", "seller", "admin"], "The account's role.")
}

pub fn payment_method_schema() -> Object {
    codes(
        PaymentMethod::ALL.iter().map(|method| method.code()),
        "How the buyer pays; refunds go back where it came from.",
    )
}

pub fn buyer_cancel_reason_schema() -> Object {
    codes(
        CancelReason::ALL
            .iter()
            .filter(|reason| reason.is_buyer_choice())
            .map(|reason| reason.code()),
        "A buyer's cancellation reason; its fault side decides whether the seller is penalised.",
    )
}

pub fn seller_cancel_reason_schema() -> Object {
    codes(
        CancelReason::ALL
            .iter()
            .filter(|reason| reason.is_seller_choice())
            .map(|reason| reason.code()),
        "A seller-fault reason: a seller cancels only for its own reasons.",
    )
}

pub fn any_cancel_reason_schema() -> Object {
    codes(
        CancelReason::ALL
            .iter()
            .filter(|reason| reason.is_buyer_choice() || reason.is_seller_choice())
            .map(|reason| reason.code()),
        "A cancellation reason; its fault side decides whether the seller is penalised.",
    )
}

pub fn fault_schema() -> Object {
    codes(["buyer", "seller"], "Who pays the return shipping.")
}

pub fn integration_kind_schema() -> Object {
    codes(["carrier", "payment"], "What the integration reports.")
}

pub fn scan_status_schema() -> Object {
    codes(
        orderly_domain::ScanStatus::ALL
            .iter()
            .map(|status| status.code()),
        "What the carrier's scan says.",
    )
}

pub fn payment_event_schema() -> Object {
    codes(
        ["payment_verified", "payment_declined", "refund_settled"],
        "What the payment provider reports.",
    )
}

pub fn outbox_status_schema() -> Object {
    codes(
        ["pending", "dead", "delivered", "skipped"],
        "A message's delivery state.",
    )
}

pub fn outbox_topic_schema() -> Object {
    codes(["webhook", "email"], "Webhooks or e-mails.")
}

pub fn queue_kind_schema() -> Object {
    codes(
        orderly_app::queue::KINDS.iter().copied(),
        "A kind of queue item.",
    )
}

pub fn queue_status_schema() -> Object {
    codes(["open", "done"], "Open or done items.")
}

pub fn dispute_reason_schema() -> Object {
    codes(
        DisputeReason::ALL.iter().map(|reason| reason.code()),
        "Why the buyer disputes the order.",
    )
}

pub fn return_reason_schema() -> Object {
    codes(
        ReturnReason::ALL.iter().map(|reason| reason.code()),
        "Why the buyer returns or asks for a refund.",
    )
}

pub fn return_kind_schema() -> Object {
    codes(
        ["return_and_refund", "refund_only"],
        "Send the item back, or not.",
    )
}

pub fn outcome_schema() -> Object {
    codes(["approved", "declined"], "The verdict on the payment.")
}

pub fn decision_schema() -> Object {
    codes(
        ["accept", "reject", "counter"],
        "The seller's answer to the claim.",
    )
}

pub fn template_schema() -> Object {
    codes(
        Template::ALL.iter().map(|template| template.code()),
        "A message template; the order number is filled in. Send either this or `text`.",
    )
}

pub fn status_schema() -> Object {
    codes(
        Status::ALL.iter().map(|status| status.code()),
        "An order status.",
    )
}

/// The whole-document pass described in the module's comment.
pub struct Contract;

impl Modify for Contract {
    fn modify(&self, openapi: &mut OpenApi) {
        let order_operations = order_operations(openapi);
        let optional_bodies = schemas_without_required_fields(openapi);
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                complete_responses(operation);
                optional_body(operation, &optional_bodies);
                if method == "post" {
                    add_idempotency_key(operation);
                }
                if path == "/api/v1/orders/{id}/cancel" {
                    add_accepted(operation);
                }
                if method == "post" && path == "/api/v1/orders" {
                    link_created(operation, "201", &order_operations);
                }
                if path == "/api/v1/orders/{id}/order-again" {
                    link_created(operation, "201", &order_operations);
                }
                if method == "post" && path == "/api/v1/products" {
                    link_created(operation, "201", &[("get_product".into(), "id".into())]);
                }
                if method == "post" && path == "/api/v1/accounts" {
                    link_created(
                        operation,
                        "201",
                        &[
                            ("get_seller".into(), "id".into()),
                            ("revoke_account".into(), "id".into()),
                        ],
                    );
                }
            }
        }
        spell_out_not_blank(openapi);
    }
}

/// What "not blank" means to the server: some character that is not Unicode White_Space
/// (Rust's `trim`). The DTOs say it as `\S`, but ECMA-262's `\s`, which JSON Schema uses,
/// differs from White_Space (it leaves out U+0085 and takes in U+FEFF), so a schema-driven
/// client would send a lone U+0085 as text and expect it kept. The document spells the
/// class out instead.
pub const NOT_BLANK: &str = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

fn spell_out_not_blank(openapi: &mut OpenApi) {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(members) => {
                for (key, member) in members.iter_mut() {
                    if key == "pattern" && member.as_str() == Some("\\S") {
                        *member = NOT_BLANK.into();
                    } else {
                        walk(member);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut document = serde_json::to_value(&*openapi).expect("the document serialises");
    walk(&mut document);
    *openapi = serde_json::from_value(document).expect("the document reads back");
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("post", item.post.as_mut()),
        ("put", item.put.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
    .collect()
}

/// Every operation on one order (`/api/v1/orders/{id}...`), by operation id, with the
/// parameter that takes the order's id.
fn order_operations(openapi: &OpenApi) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, item) in &openapi.paths.paths {
        if !path.starts_with("/api/v1/orders/{id}") {
            continue;
        }
        for operation in [&item.get, &item.post].into_iter().flatten() {
            if let Some(id) = &operation.operation_id {
                found.push((id.clone(), "id".to_owned()));
            }
        }
    }
    found.sort();
    found
}

/// The request schemas with no required field: their body may be left out entirely (the
/// server reads an empty body as `{}`).
fn schemas_without_required_fields(openapi: &OpenApi) -> Vec<String> {
    let Some(components) = &openapi.components else {
        return Vec::new();
    };
    components
        .schemas
        .iter()
        .filter_map(|(name, schema)| match schema {
            RefOr::T(utoipa::openapi::schema::Schema::Object(object))
                if object.required.is_empty() && object.min_properties.unwrap_or(0) == 0 =>
            {
                Some(format!("#/components/schemas/{name}"))
            }
            _ => None,
        })
        .collect()
}

fn optional_body(operation: &mut Operation, optional: &[String]) {
    let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
        return;
    };
    let refers_to_optional = body.content.values().any(|content| {
        matches!(content, RefOr::T(content) if matches!(&content.schema,
            Some(RefOr::Ref(reference)) if optional.contains(&reference.ref_location)))
    });
    if refers_to_optional {
        body.required = Some(Required::False);
    }
}

fn problem() -> Content {
    Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
}

/// Descriptions on every response; refusals as problem+json; the 429 and 503 that any
/// request may get.
fn complete_responses(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let is_error = status.starts_with('4') || status.starts_with('5');
        if response.description.is_empty() {
            response.description = match status.as_str() {
                "200" => "Done".into(),
                "201" => "Created".into(),
                "202" => "Accepted".into(),
                _ if is_error => {
                    "Refused; nothing changed. The body says why, with a stable `code`.".into()
                }
                _ => "Answer".into(),
            };
        }
        if is_error {
            let content = std::mem::take(&mut response.content);
            let schema_content = content
                .into_values()
                .next()
                .unwrap_or_else(|| RefOr::T(problem()));
            response
                .content
                .insert("application/problem+json".to_owned(), schema_content);
        }
    }
    let extra: [(&str, &str); 2] = [
        (
            "429",
            "Too many requests from this account, or too many failed sign-ins from this address; see Retry-After.",
        ),
        (
            "503",
            "The database is unavailable or its disk is full (`unavailable`, `storage_full`); nothing changed. Retry after the Retry-After header's seconds, with the same Idempotency-Key.",
        ),
    ];
    for (status, description) in extra {
        responses.entry(status.to_owned()).or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content("application/problem+json", problem())
                    .build(),
            )
        });
    }
}

fn add_idempotency_key(operation: &mut Operation) {
    let parameter: Parameter = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "1 to 255 visible ASCII characters. A retry with the same key and body replays the first answer; the same key with another request is 422; while the first is still running, 409.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[\\x21-\\x7e]+$")),
        ))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(parameter));
}

/// `POST /cancel` answers 202 when the request now awaits the seller.
fn add_accepted(operation: &mut Operation) {
    let done = operation.responses.responses.get("200").cloned();
    if let Some(RefOr::T(done)) = done {
        let mut accepted: Response = done;
        accepted.description =
            "The order is paid and verified: a cancellation request now awaits the seller's answer"
                .into();
        operation
            .responses
            .responses
            .insert("202".to_owned(), RefOr::T(accepted));
    }
}

/// Links from the created resource (`$response.body#/id`) to the operations on it.
fn link_created(operation: &mut Operation, status: &str, targets: &[(String, String)]) {
    let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) else {
        return;
    };
    for (operation_id, parameter) in targets {
        let link = LinkBuilder::new()
            .operation_id(operation_id.clone())
            .parameter(parameter.clone(), "$response.body#/id")
            .description(format!(
                "The `{operation_id}` operation on what was just created"
            ))
            .build();
        response.links.insert(operation_id.clone(), RefOr::T(link));
    }
}

/// Every ISO 4217 code the server accepts, found once by asking the domain.
pub fn currency_schema() -> Object {
    static CODES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let codes_list = CODES.get_or_init(|| {
        let mut found = Vec::new();
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                for c in b'A'..=b'Z' {
                    let code = String::from_utf8(vec![a, b, c]).expect("ASCII");
                    if orderly_domain::Currency::parse(&code).is_ok() {
                        found.push(code);
                    }
                }
            }
        }
        found
    });
    codes(
        codes_list.iter().map(String::as_str),
        "An ISO 4217 currency code, e.g. `EUR`.",
    )
}

/// A shipping address: text fields of the marketplace's choosing (numbers and booleans
/// are kept as text).
pub fn address_schema() -> Object {
    let value = ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Number,
            Type::Boolean,
        ]))
        .min_length(Some(1))
        .max_length(Some(orderly_domain::order::ADDRESS_VALUE_LEN_MAX))
        .pattern(Some("\\S"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "The address as text fields, e.g. `{\"name\": \"Ada\", \"street\": \"1 Main St\", \"city\": \"Berlin\", \"postal_code\": \"10115\", \"country\": \"DE\"}`; at least one field with text, at most 20 fields.",
        ))
        .additional_properties(Some(value))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(orderly_domain::order::ADDRESS_KEY_LEN_MAX))
                .pattern(Some("\\S")),
        ))
        .min_properties(Some(1))
        .max_properties(Some(orderly_domain::order::ADDRESS_FIELDS_MAX))
        .build()
}
