//! The authorization matrix, generated from the route list: every route of the OpenAPI
//! document × no token, each role, and a stranger × own / foreign / missing order. A route
//! added without an entry in `ROLES` fails this test, so no route escapes it.

use serde_json::json;

use crate::support::*;

/// Who may use each route; `any` = every signed-in account, `public` = no token needed.
const ROLES: &[(&str, &str, &[&str])] = &[
    ("POST", "/api/v1/accounts", &["admin"]),
    ("POST", "/api/v1/accounts/{id}/revoke", &["admin"]),
    ("GET", "/api/v1/accounts/me", &["any"]),
    ("POST", "/api/v1/accounts/{id}/email", &["admin"]),
    ("POST", "/api/v1/accounts/{id}/signin-link", &["admin"]),
    ("GET", "/api/v1/admin/outbox", &["admin"]),
    ("POST", "/api/v1/admin/outbox/{id}/retry", &["admin"]),
    ("POST", "/api/v1/admin/outbox/{id}/skip", &["admin"]),
    ("POST", "/api/v1/products", &["seller"]),
    ("GET", "/api/v1/products", &["any"]),
    ("GET", "/api/v1/products/{id}", &["any"]),
    ("PATCH", "/api/v1/products/{id}", &["seller"]),
    ("GET", "/api/v1/sellers/{id}", &["any"]),
    ("POST", "/api/v1/orders", &["buyer"]),
    ("GET", "/api/v1/orders", &["any"]),
    ("GET", "/api/v1/orders/{id}", &["buyer", "seller", "admin"]),
    ("POST", "/api/v1/orders/{id}/order-again", &["buyer"]),
    (
        "GET",
        "/api/v1/orders/{id}/events",
        &["buyer", "seller", "admin"],
    ),
    ("GET", "/api/v1/orders/{id}/messages", &["buyer", "seller"]),
    ("POST", "/api/v1/orders/{id}/messages", &["buyer", "seller"]),
    ("POST", "/api/v1/orders/{id}/pay", &["buyer"]),
    ("POST", "/api/v1/orders/{id}/verify-payment", &["admin"]),
    ("POST", "/api/v1/orders/{id}/cancel", &["buyer"]),
    (
        "POST",
        "/api/v1/orders/{id}/cancellation/withdraw",
        &["buyer"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/cancellation/approve",
        &["seller"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/cancellation/reject",
        &["seller"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/cancellation/escalate",
        &["buyer"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/cancellation/decide",
        &["admin"],
    ),
    ("POST", "/api/v1/orders/{id}/seller-cancel", &["seller"]),
    ("POST", "/api/v1/orders/{id}/ship", &["seller"]),
    ("POST", "/api/v1/orders/{id}/tracking", &["seller"]),
    ("POST", "/api/v1/orders/{id}/deliver", &["admin"]),
    ("POST", "/api/v1/orders/{id}/refuse-delivery", &["buyer"]),
    ("POST", "/api/v1/orders/{id}/confirm-receipt", &["buyer"]),
    ("POST", "/api/v1/orders/{id}/returns", &["buyer"]),
    ("POST", "/api/v1/orders/{id}/disputes", &["buyer"]),
    ("POST", "/api/v1/orders/{id}/claim/respond", &["seller"]),
    ("POST", "/api/v1/orders/{id}/claim/accept", &["buyer"]),
    (
        "POST",
        "/api/v1/orders/{id}/claim/escalate",
        &["buyer", "seller"],
    ),
    ("POST", "/api/v1/orders/{id}/claim/resolve", &["admin"]),
    ("POST", "/api/v1/orders/{id}/return/shipped", &["buyer"]),
    (
        "POST",
        "/api/v1/orders/{id}/return/received",
        &["seller", "admin"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/protection-extension",
        &["buyer"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/protection-extension/approve",
        &["seller"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/protection-extension/decline",
        &["seller"],
    ),
    ("POST", "/api/v1/orders/{id}/freeze", &["admin"]),
    ("POST", "/api/v1/orders/{id}/unfreeze", &["admin"]),
    ("POST", "/api/v1/orders/{id}/admin-cancel", &["admin"]),
    (
        "POST",
        "/api/v1/orders/{id}/cancellation/propose",
        &["seller"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/cancellation/accept-proposal",
        &["buyer"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/cancellation/decline-proposal",
        &["buyer"],
    ),
    ("POST", "/api/v1/orders/{id}/partial-refund", &["seller"]),
    (
        "POST",
        "/api/v1/orders/{id}/partial-refund/accept",
        &["buyer"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/partial-refund/decline",
        &["buyer"],
    ),
    ("POST", "/api/v1/orders/{id}/support", &["buyer", "seller"]),
    (
        "POST",
        "/api/v1/orders/{id}/refunds/{refund_id}/arrived",
        &["buyer", "admin"],
    ),
    (
        "POST",
        "/api/v1/orders/{id}/claim/evidence",
        &["buyer", "seller"],
    ),
    (
        "GET",
        "/api/v1/orders/{id}/claim/evidence/{evidence_id}",
        &["buyer", "seller", "admin"],
    ),
    ("GET", "/api/v1/orders/{id}/notes", &["admin"]),
    ("POST", "/api/v1/orders/{id}/notes", &["admin"]),
    ("GET", "/api/v1/admin/queue", &["admin"]),
    ("POST", "/api/v1/admin/queue/{id}/assign", &["admin"]),
    ("POST", "/api/v1/admin/queue/{id}/resolve", &["admin"]),
    (
        "GET",
        "/api/v1/sellers/{id}/penalties",
        &["seller", "admin"],
    ),
    ("POST", "/api/v1/sellers/{id}/penalties", &["admin"]),
    (
        "POST",
        "/api/v1/sellers/{id}/penalties/{penalty_id}/revoke",
        &["admin"],
    ),
    ("POST", "/api/v1/integrations", &["admin"]),
    ("GET", "/api/v1/integrations", &["admin"]),
    ("POST", "/api/v1/integrations/{id}/rotate", &["admin"]),
    ("POST", "/api/v1/integrations/{id}/revoke", &["admin"]),
    ("POST", "/api/v1/callbacks/carrier", &["signed"]),
    ("POST", "/api/v1/callbacks/payment", &["signed"]),
    ("POST", "/api/v1/test-clock/advance", &["admin"]),
    ("GET", "/healthz", &["public"]),
    ("GET", "/readyz", &["public"]),
];

#[tokio::test]
async fn every_route_times_every_role_times_own_foreign_and_missing_order() {
    on_each_backend(async |market: &Market| {
        let app = &market.app;
        let missing = "01900000-0000-7000-8000-000000000000";
        let routes = orderly_server::openapi(true);
        let mut checked = 0;
        for (path, item) in &routes.paths.paths {
            for (method, operation) in [("GET", &item.get), ("POST", &item.post), ("PATCH", &item.patch)] {
                if operation.is_none() {
                    continue;
                }
                let allowed = ROLES
                    .iter()
                    .find(|(m, p, _)| *m == method && p == path)
                    .map(|(_, _, roles)| *roles)
                    .unwrap_or_else(|| panic!("{method} {path} has no entry in the authorization matrix"));
                let public = allowed == ["public"];
                // Callbacks take a signature, never a token: every caller without one is 401.
                if allowed == ["signed"] {
                    for token in [None, Some(market.buyer.as_str()), Some(market.seller.as_str()), Some(ADMIN_TOKEN)] {
                        let reply = app.request(method, path, token, Some(&json!({})), None).await;
                        assert_eq!((reply.status, reply.code()), (401, "unauthorized"), "{method} {path}: {reply:?}");
                    }
                    checked += 1;
                    continue;
                }

                // No token: 401, unless public.
                let url = path
                    .replace("{id}", missing)
                    .replace("{refund_id}", "1")
                    .replace("{penalty_id}", "1")
                    .replace("{evidence_id}", missing);
                let anonymous = app.request(method, &url, None, Some(&json!({})).filter(|_| method != "GET"), None).await;
                if public {
                    assert_eq!(anonymous.status, 200, "{method} {path} is public");
                    checked += 1;
                    continue;
                }
                assert_eq!(anonymous.status, 401, "{method} {path} without a token: {anonymous:?}");

                let order_scoped = path.starts_with("/api/v1/orders/{id}");
                // A placeholder beyond the order, seller, product or account (a refund, a
                // file, a penalty, a queue item) names nothing here: a permitted caller may
                // get that thing's 404, never a 401 or 403.
                let sub_resource = path.contains("{refund_id}")
                    || path.contains("{evidence_id}")
                    || path.contains("{penalty_id}")
                    || path.starts_with("/api/v1/admin/queue/{id}")
                    || path.starts_with("/api/v1/admin/outbox/{id}")
                    || path.starts_with("/api/v1/integrations/{id}");
                // A fresh order for each route, so earlier calls do not change the outcome.
                let own = if order_scoped { market.verified().await } else { String::new() };
                let id_for = |id: &str| {
                    path.replace("{id}", id)
                        .replace("{refund_id}", "1")
                        .replace("{penalty_id}", "1")
                        .replace("{evidence_id}", missing)
                };
                let callers = [
                    ("buyer", market.buyer.as_str()),
                    ("seller", market.seller.as_str()),
                    ("admin", ADMIN_TOKEN),
                ];
                for (role, token) in callers {
                    let target = if order_scoped {
                        id_for(&own)
                    } else if path.contains("{id}") {
                        if path.starts_with("/api/v1/sellers") {
                            id_for(&market.seller_id)
                        } else if path.starts_with("/api/v1/accounts") {
                            id_for(&app.account("buyer", "to revoke").await.0)
                        } else {
                            id_for(&market.product)
                        }
                    } else {
                        path.clone()
                    };
                    let reply = app.request(method, &target, Some(token), Some(&json!({})).filter(|_| method != "GET"), None).await;
                    let permitted = allowed.contains(&role) || allowed.contains(&"any");
                    if permitted && sub_resource {
                        assert!(
                            ![401, 403].contains(&reply.status),
                            "{method} {path} as {role} must pass authorization: {reply:?}"
                        );
                    } else if permitted {
                        assert!(
                            ![401, 403, 404].contains(&reply.status),
                            "{method} {path} as {role} on its own order must pass authorization: {reply:?}"
                        );
                    } else {
                        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{method} {path} as {role}: {reply:?}");
                    }
                    if order_scoped && role != "admin" {
                        // Missing and foreign orders: the same 404.
                        let missing_reply = app.request(method, &id_for(missing), Some(token), Some(&json!({})).filter(|_| method != "GET"), None).await;
                        assert_eq!((missing_reply.status, missing_reply.code()), (404, "not_found"), "{method} {path} as {role}, missing order");
                    }
                }
                if order_scoped {
                    for stranger in [market.other_buyer.as_str(), market.other_seller.as_str()] {
                        let reply = app.request(method, &id_for(&own), Some(stranger), Some(&json!({})).filter(|_| method != "GET"), None).await;
                        assert_eq!((reply.status, reply.code()), (404, "not_found"), "{method} {path} by a stranger: {reply:?}");
                    }
                    let missing_reply = app.request(method, &id_for(missing), Some(ADMIN_TOKEN), Some(&json!({})).filter(|_| method != "GET"), None).await;
                    assert_eq!(missing_reply.status, 404, "{method} {path} by an admin, missing order");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, ROLES.len(), "every route of the matrix exists");
    })
    .await;
}

/// An action's checks come in one order whether or not the request is well formed: who may
/// see the order (404), then whether the role ever takes the action (403), then the body
/// (422), then the order's state. A well-formed request is authorized inside its command,
/// a malformed one on a read of the order first; both must agree, and a stranger's keyed
/// retry must learn no more than the first try.
#[tokio::test]
async fn an_action_refuses_a_stranger_then_a_role_then_a_body_in_that_order() {
    on_each_backend(async |market: &Market| {
        let app = &market.app;
        let order = market.verified().await;
        let path = format!("/api/v1/orders/{order}/cancel");
        let well_formed = json!({"reason": "no_longer_needed"});
        let malformed = json!({"reason": 7});
        let version = || async {
            app.get(&market.buyer, &format!("/api/v1/orders/{order}"))
                .await
                .body["version"]
                .clone()
        };
        let before = version().await;
        for body in [&well_formed, &malformed] {
            for stranger in [&market.other_buyer, &market.other_seller] {
                let reply = app
                    .request("POST", &path, Some(stranger), Some(body), None)
                    .await;
                assert_eq!(
                    (reply.status, reply.code()),
                    (404, "not_found"),
                    "a stranger, {body}: {reply:?}"
                );
            }
            let reply = app
                .request("POST", &path, Some(&market.seller), Some(body), None)
                .await;
            assert_eq!(
                (reply.status, reply.code()),
                (403, "forbidden"),
                "the seller, {body}: {reply:?}"
            );
        }
        for _ in 0..2 {
            let reply = app
                .request(
                    "POST",
                    &path,
                    Some(&market.other_buyer),
                    Some(&well_formed),
                    Some("stranger-cancel"),
                )
                .await;
            assert_eq!(
                (reply.status, reply.code()),
                (404, "not_found"),
                "a stranger's keyed try: {reply:?}"
            );
        }
        // The hand-written action routes share the same order of checks.
        let notes = format!("/api/v1/orders/{order}/notes");
        let messages = format!("/api/v1/orders/{order}/messages");
        let arrived = format!("/api/v1/orders/{order}/refunds/x/arrived");
        for (route, token, body, expected) in [
            (
                &notes,
                &market.other_buyer,
                json!({"text": 7}),
                (404, "not_found"),
            ),
            (
                &notes,
                &market.buyer,
                json!({"text": 7}),
                (403, "forbidden"),
            ),
            (
                &notes,
                &market.buyer,
                json!({"text": "mine"}),
                (403, "forbidden"),
            ),
            (
                &messages,
                &market.other_seller,
                json!({}),
                (404, "not_found"),
            ),
            (
                &messages,
                &market.other_seller,
                json!({"text": "hi"}),
                (404, "not_found"),
            ),
            (&arrived, &market.other_buyer, json!({}), (404, "not_found")),
            (&arrived, &market.seller, json!({}), (403, "forbidden")),
        ] {
            let reply = app
                .request("POST", route, Some(token), Some(&body), None)
                .await;
            assert_eq!(
                (reply.status, reply.code()),
                expected,
                "POST {route} {body}: {reply:?}"
            );
        }
        let reply = app
            .request(
                "POST",
                &messages,
                Some(&market.seller),
                Some(&json!({})),
                None,
            )
            .await;
        assert_eq!(
            reply.status, 422,
            "the seller's malformed message: {reply:?}"
        );
        assert_eq!(
            version().await,
            before,
            "nothing a stranger or a wrong role sent changed the order"
        );
        let reply = app
            .request("POST", &path, Some(&market.buyer), Some(&malformed), None)
            .await;
        assert_eq!(
            reply.status, 422,
            "the buyer's malformed request: {reply:?}"
        );
        let reply = app
            .request("POST", &path, Some(&market.buyer), Some(&well_formed), None)
            .await;
        assert_eq!(reply.status, 202, "the buyer's request: {reply:?}");
    })
    .await;
}
