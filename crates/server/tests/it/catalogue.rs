//! The catalogue and sign-in links over HTTP on both backends: products listed page by
//! page, changed only by their own seller and only with valid values; a sign-in link made
//! by an admin, shown once.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_catalogue_comes_in_pages_newest_first_and_by_seller() {
    on_each_backend(async |market: &Market| {
        let second = market.app.product(&market.seller, 900, 300, 5, 2).await;
        let foreign = market
            .app
            .product(&market.other_seller, 700, 300, 5, 2)
            .await;
        let reply = market
            .app
            .get(&market.buyer, "/api/v1/products?limit=2")
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let ids: Vec<&str> = reply.body["products"]
            .as_array()
            .expect("products")
            .iter()
            .map(|product| product["id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids, [foreign.as_str(), second.as_str()], "newest first");
        let cursor = reply.body["next_cursor"].as_str().expect("a next page");
        let rest = market
            .app
            .get(
                &market.buyer,
                &format!("/api/v1/products?limit=2&after={cursor}"),
            )
            .await;
        assert_eq!(rest.body["products"][0]["id"], market.product.as_str());
        assert!(rest.body["next_cursor"].is_null(), "{rest:?}");

        let mine = market
            .app
            .get(
                &market.buyer,
                &format!("/api/v1/products?seller_id={}", market.seller_id),
            )
            .await;
        assert_eq!(mine.body["products"].as_array().expect("products").len(), 2);
        for bad in ["limit=0", "limit=101", "after=nope", "colour=red"] {
            let reply = market
                .app
                .get(&market.buyer, &format!("/api/v1/products?{bad}"))
                .await;
            assert_eq!(reply.status, 422, "{bad}: {reply:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_seller_changes_its_own_products_only_and_only_to_valid_values() {
    on_each_backend(async |market: &Market| {
        let path = format!("/api/v1/products/{}", market.product);
        let patch = async |token: &str, body: serde_json::Value| {
            market
                .app
                .request("PATCH", &path, Some(token), Some(&body), None)
                .await
        };
        let changed = patch(
            &market.seller,
            json!({"price": {"amount": 1_800, "currency": "EUR"}, "stock": 7, "title": "Cactus seeds, large"}),
        )
        .await;
        assert_eq!(changed.status, 200, "{changed:?}");
        assert_eq!(changed.body["price"]["amount"], 1_800);
        assert_eq!(changed.body["stock"], 7);
        assert_eq!(changed.body["title"], "Cactus seeds, large");
        assert_eq!(changed.body["processing_days"], 3, "what was not given stays");

        // Another seller: no such product. A buyer: not a seller's operation.
        let foreign = patch(&market.other_seller, json!({"stock": 0})).await;
        assert_eq!((foreign.status, foreign.code()), (404, "not_found"), "{foreign:?}");
        let buyer = patch(&market.buyer, json!({"stock": 0})).await;
        assert_eq!((buyer.status, buyer.code()), (403, "forbidden"), "{buyer:?}");

        for (body, field) in [
            (json!({"stock": -1}), "stock"),
            (json!({"processing_days": 0}), "processing_days"),
            (json!({"title": "  "}), "title"),
            // Blank as the document's pattern spells it: Unicode White_Space, NEL included.
            (json!({"title": "\u{85}\u{3000}"}), "title"),
            (json!({"price": {"amount": 100, "currency": "USD"}}), "price"),
            (json!({"price": {"amount": 0, "currency": "EUR"}}), "price"),
            (json!({"price": {"amount": -5, "currency": "EUR"}}), "price"),
            (json!({"colour": "red"}), "colour"),
        ] {
            let refused = patch(&market.seller, body.clone()).await;
            assert_eq!(refused.status, 422, "{body}: {refused:?}");
            assert_eq!(refused.body["field"], field, "{body}: {refused:?}");
        }
        let free = market
            .app
            .post(
                &market.seller,
                "/api/v1/products",
                json!({"title": "Free lunch", "price": {"amount": 0, "currency": "EUR"},
                       "shipping_fee": {"amount": 0, "currency": "EUR"}, "stock": 1, "processing_days": 1}),
            )
            .await;
        assert_eq!((free.status, &free.body["field"]), (422, &json!("price")), "{free:?}");
        let product = market.app.get(&market.buyer, &path).await;
        assert_eq!(product.body["stock"], 7, "the refusals changed nothing");
        assert_eq!(product.body["price"]["amount"], 1_800);
    })
    .await;
}

#[tokio::test]
async fn an_admin_makes_a_sign_in_link_shown_once() {
    on_each_backend(async |market: &Market| {
        let path = format!("/api/v1/accounts/{}/signin-link", market.buyer_id);
        let body = json!({"return_to": "/orders"});
        let created = market
            .app
            .request(
                "POST",
                &path,
                Some(ADMIN_TOKEN),
                Some(&body),
                Some("link-1"),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        let url = created.body["url"].as_str().expect("the link");
        assert!(
            url.starts_with(&format!("{}/signin/link/", market.app.url)),
            "{url}"
        );
        assert!(created.body["expires_at"].is_string());
        // A replay of the same request does not show the link again.
        let replay = market
            .app
            .request(
                "POST",
                &path,
                Some(ADMIN_TOKEN),
                Some(&body),
                Some("link-1"),
            )
            .await;
        assert_eq!(replay.status, 201);
        assert!(replay.body["url"].is_null(), "{replay:?}");
        assert_eq!(replay.body["expires_at"], created.body["expires_at"]);

        let refused = market.app.post(&market.seller, &path, json!({})).await;
        assert_eq!((refused.status, refused.code()), (403, "forbidden"));
        let missing = market
            .app
            .post(
                ADMIN_TOKEN,
                "/api/v1/accounts/01900000-0000-7000-8000-000000000000/signin-link",
                json!({}),
            )
            .await;
        assert_eq!(missing.status, 404, "{missing:?}");
        assert!(
            missing.body["detail"]
                .as_str()
                .expect("detail")
                .contains("account")
        );
        // Another site, and paths the schema refuses (an empty one, padded with spaces).
        for return_to in ["https://evil.example/", "", " /orders"] {
            let refused = market
                .app
                .post(ADMIN_TOKEN, &path, json!({"return_to": return_to}))
                .await;
            assert_eq!(refused.status, 422, "{return_to:?}: {refused:?}");
            assert_eq!(refused.body["field"], "return_to");
        }
    })
    .await;
}
