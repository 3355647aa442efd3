//! Every page: accessible (axe-core, no serious or critical violation) at 375 px and
//! 1280 px, with the screenshots of the main ones in `docs/screenshots/` when
//! `UPDATE_SCREENSHOTS=1`; and on every demo order, for every role, the buttons are
//! exactly the order's `allowed_actions`.

use std::collections::BTreeSet;

use orderly_app::demo::SITUATIONS;
use serde_json::Value;

use crate::support::*;

/// The pages a role sees, with the names of those kept as screenshots.
fn pages_of(site: &Site, role: &str) -> Vec<(String, Option<&'static str>)> {
    let order = |situation: &str| format!("/orders/{}", site.order(situation));
    match role {
        "buyer" => vec![
            ("/catalogue".into(), Some("catalogue")),
            ("/orders".into(), Some("buyer-orders")),
            (
                order("cancellation_requested"),
                Some("buyer-order-cancellation-requested"),
            ),
            (order("dispute"), Some("buyer-order-dispute")),
            (order("cancelled_with_refund"), Some("buyer-order-refunded")),
            (order("unpaid"), None),
            (order("delivered"), None),
            (order("frozen"), None),
        ],
        "seller" => vec![
            ("/seller".into(), Some("seller-desk")),
            ("/seller/products".into(), None),
            (
                order("cancellation_requested"),
                Some("seller-order-cancellation-requested"),
            ),
            (order("shipped"), None),
        ],
        _ => vec![
            ("/admin".into(), Some("admin-queue")),
            (order("dispute"), Some("admin-order-dispute")),
            ("/admin/orders".into(), None),
            (
                format!("/admin/sellers/{}", site.demo.seller.as_uuid()),
                None,
            ),
            ("/admin/accounts".into(), None),
            ("/admin/integrations".into(), None),
            ("/admin/outbox".into(), None),
            ("/admin/clock".into(), None),
        ],
    }
}

#[tokio::test]
async fn every_page_passes_axe_at_phone_and_desktop_widths() {
    let site = Site::start().await;
    let screenshots = std::env::var_os("UPDATE_SCREENSHOTS").is_some();
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    if screenshots {
        std::fs::create_dir_all(&directory).expect("docs/screenshots");
    }
    let browser = Browser::start().await;
    let mut violations = Vec::new();
    let mut checked = 0;
    // Signed out first: the sign-in page.
    for width in [375, 1280] {
        browser
            .client
            .set_window_size(width, 900)
            .await
            .expect("resize");
        browser.goto(&format!("{}/signin", site.url)).await;
        for violation in browser.axe().await {
            violations.push(format!("/signin at {width}px: {violation}"));
        }
        checked += 1;
    }
    for (role, account) in [
        ("buyer", site.demo.buyer),
        ("seller", site.demo.seller),
        ("admin", site.demo.admin),
    ] {
        browser.client.delete_all_cookies().await.expect("sign out");
        browser.sign_in(&site.signin_link(account, "/").await).await;
        for (path, shot) in pages_of(&site, role) {
            for width in [375, 1280] {
                browser
                    .client
                    .set_window_size(width, if shot.is_some() { 1500 } else { 900 })
                    .await
                    .expect("resize");
                browser.goto(&format!("{}{path}", site.url)).await;
                browser.find("main h1").await;
                for violation in browser.axe().await {
                    violations.push(format!("{path} as {role} at {width}px: {violation}"));
                }
                // Nothing sticks out sideways on a phone.
                let overflow = browser
                    .client
                    .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth", vec![])
                    .await
                    .expect("script");
                if overflow.as_i64().unwrap_or(0) > 0 {
                    violations.push(format!(
                        "{path} as {role} at {width}px scrolls sideways by {overflow}px"
                    ));
                }
                checked += 1;
                if screenshots
                    && width == 1280
                    && let Some(name) = shot
                {
                    browser
                        .screenshot(&directory.join(format!("{name}.png")))
                        .await;
                }
            }
        }
    }
    assert!(checked >= 40, "{checked} pages checked");
    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations.join("\n")
    );
    browser.close().await;
    site.stop().await;
}

/// The `data-action` codes on a page's HTML.
fn buttons(html: &str) -> BTreeSet<String> {
    html.split("data-action=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_buttons_are_the_allowed_actions_for_every_role_on_every_demo_order() {
    let site = Site::start().await;
    let tokens = [
        ("buyer", site.tokens.buyer.clone()),
        ("seller", site.tokens.seller.clone()),
        ("admin", site.tokens.admin.clone()),
    ];
    let mut checked = 0;
    for (role, token) in &tokens {
        // Signed in the way a browser is: a session cookie from the sign-in form.
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("client");
        let signed = client
            .post(format!("{}/signin", site.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}&return_to=%2Forders"))
            .send()
            .await
            .expect("sign in");
        assert_eq!(signed.status(), 200, "{role} signs in");
        for situation in SITUATIONS {
            let id = site.order(situation);
            let html = client
                .get(format!("{}/orders/{id}", site.url))
                .send()
                .await
                .expect("the page")
                .text()
                .await
                .expect("html");
            let document = site.order_document(token, &id).await;
            let allowed: BTreeSet<String> = document["allowed_actions"]
                .as_array()
                .expect("codes")
                .iter()
                .filter_map(Value::as_str)
                .filter(|code| *code != "record_scan")
                .map(str::to_owned)
                .collect();
            assert_eq!(buttons(&html), allowed, "{role} on the {situation} order");
            assert!(
                html.contains(&format!(
                    "data-status=\"{}\"",
                    document["status"].as_str().expect("status")
                )),
                "{role} on the {situation} order: the status element"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * SITUATIONS.len());
    site.stop().await;
}
