//! The pages over plain HTTP, no browser: what a forged form, another person's order, a
//! used sign-in link or an ended session gets. Each test also does the allowed thing once,
//! so a refusal is known to come from the rule it tests and not from a malformed request.

use orderly_domain::AccountId;
use reqwest::StatusCode;
use reqwest::redirect::Policy;

use crate::support::*;

/// A client that keeps cookies and does not follow redirects.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("a client")
}

/// A client signed in as `account` through a one-time link.
async fn signed_in(site: &Site, account: AccountId) -> reqwest::Client {
    let client = client();
    let link = site.signin_link(account, "/").await;
    let response = client.post(&link).send().await.expect("the server answers");
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the link signs in"
    );
    client
}

async fn page(client: &reqwest::Client, site: &Site, path: &str) -> (StatusCode, String) {
    let response = client
        .get(format!("{}{path}", site.url))
        .send()
        .await
        .expect("the server answers");
    (response.status(), response.text().await.expect("a body"))
}

/// The CSRF token of the first form on the page.
fn csrf(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("the page has a form") + marker.len();
    html[start..].split('"').next().expect("a value").to_owned()
}

/// `builder` with `fields` as an `application/x-www-form-urlencoded` body.
fn form(builder: reqwest::RequestBuilder, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    builder
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

async fn post(
    client: &reqwest::Client,
    site: &Site,
    path: &str,
    fields: &[(&str, &str)],
) -> StatusCode {
    form(client.post(format!("{}{path}", site.url)), fields)
        .send()
        .await
        .expect("the server answers")
        .status()
}

async fn version(site: &Site, id: &str) -> serde_json::Value {
    site.order_document(&site.tokens.admin, id).await["version"].clone()
}

#[tokio::test]
async fn a_form_without_the_sessions_own_csrf_token_is_refused_and_changes_nothing() {
    let site = Site::start().await;
    let id = site.order("cancellation_requested");
    let seller = signed_in(&site, site.demo.seller).await;
    let buyer = signed_in(&site, site.demo.buyer).await;
    let (_, seller_page) = page(&seller, &site, &format!("/orders/{id}")).await;
    let (_, buyer_page) = page(&buyer, &site, &format!("/orders/{id}")).await;
    let path = format!("/orders/{id}/actions/approve_cancellation");
    let before = version(&site, &id).await;
    let buyers_token = csrf(&buyer_page);
    for forged in [None, Some("not-the-token"), Some(buyers_token.as_str())] {
        let mut fields = vec![("confirmed", "yes"), ("idempotency_key", "form-forged")];
        if let Some(token) = forged {
            fields.push(("csrf", token));
        }
        assert_eq!(
            post(&seller, &site, &path, &fields).await,
            StatusCode::FORBIDDEN,
            "csrf {forged:?}"
        );
    }
    assert_eq!(version(&site, &id).await, before, "nothing changed");
    // The seller's own token does it.
    let token = csrf(&seller_page);
    let fields = [
        ("csrf", token.as_str()),
        ("confirmed", "yes"),
        ("idempotency_key", "form-real"),
    ];
    assert_eq!(
        post(&seller, &site, &path, &fields).await,
        StatusCode::SEE_OTHER
    );
    let order = site.order_document(&site.tokens.seller, &id).await;
    assert_eq!(order["status"], "cancelled", "{order}");
    site.stop().await;
}

#[tokio::test]
async fn nobody_sees_or_acts_on_an_order_or_a_file_that_is_not_theirs() {
    let site = Site::start().await;
    let id = site.order("dispute");
    let order = site.order_document(&site.tokens.admin, &id).await;
    let evidence = order["claim"]["evidence"][0]["id"]
        .as_str()
        .expect("the demo dispute has a photo")
        .to_owned();
    let file = format!("/orders/{id}/evidence/{evidence}");
    // Alice, whose order it is, sees it and its photo.
    let alice = signed_in(&site, site.demo.buyer).await;
    let (status, html) = page(&alice, &site, &format!("/orders/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("12 Linden Street"),
        "her address is on her page"
    );
    assert_eq!(page(&alice, &site, &file).await.0, StatusCode::OK);

    // Bob, another buyer, gets "no such order" for the page, the photo and the action.
    let bob = signed_in(&site, site.demo.second_buyer).await;
    let (status, html) = page(&bob, &site, &format!("/orders/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        !html.contains("12 Linden Street") && !html.contains("Alice"),
        "{html}"
    );
    assert_eq!(page(&bob, &site, &file).await.0, StatusCode::NOT_FOUND);
    let (_, bobs_orders) = page(&bob, &site, "/orders").await;
    assert!(
        !bobs_orders.contains(&id),
        "Alice's order is not in Bob's list"
    );
    let token = csrf(&bobs_orders);
    let before = version(&site, &id).await;
    let fields = [
        ("csrf", token.as_str()),
        ("message", "Mine now"),
        ("idempotency_key", "form-bob"),
    ];
    assert_eq!(
        post(
            &bob,
            &site,
            &format!("/orders/{id}/actions/message"),
            &fields
        )
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(version(&site, &id).await, before, "nothing changed");

    // Neither party reaches the support desk.
    for (who, client) in [
        ("buyer", &alice),
        ("seller", &signed_in(&site, site.demo.seller).await),
    ] {
        for path in [
            "/admin",
            "/admin/orders",
            "/admin/accounts",
            "/admin/outbox",
            "/admin/integrations",
        ] {
            let (status, html) = page(client, &site, path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who} {path}");
            assert!(!html.contains("data-queue-item"), "{who} {path}");
        }
    }
    site.stop().await;
}

#[tokio::test]
async fn a_sign_in_link_works_once_and_a_signed_out_session_is_gone() {
    let site = Site::start().await;
    let link = site.signin_link(site.demo.buyer, "/orders").await;
    let browser = client();
    let response = browser.post(&link).send().await.expect("answer");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/orders",
        "to the page the link was made for"
    );
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    // Used once, the link is spent, for this browser and any other.
    assert_eq!(
        client().post(&link).send().await.expect("answer").status(),
        StatusCode::GONE
    );

    let (status, html) = page(&browser, &site, "/orders").await;
    assert_eq!(status, StatusCode::OK);
    let token = csrf(&html);
    assert_eq!(
        post(&browser, &site, "/signout", &[("csrf", &token)]).await,
        StatusCode::SEE_OTHER
    );
    // The old cookie, sent again by hand, is nobody's.
    let session = cookie.split(';').next().expect("name=value").to_owned();
    let replayed = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("a client")
        .get(format!("{}/orders", site.url))
        .header("cookie", session)
        .send()
        .await
        .expect("answer");
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert!(
        replayed.headers()["location"]
            .to_str()
            .expect("ascii")
            .starts_with("/signin")
    );
    site.stop().await;
}

#[tokio::test]
async fn sign_in_goes_back_only_to_a_page_of_this_site() {
    let site = Site::start().await;
    for (return_to, expected) in [
        ("/orders", "/orders"),
        ("//evil.example/orders", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let fields = [
            ("token", site.tokens.buyer.as_str()),
            ("return_to", return_to),
        ];
        let response = form(client().post(format!("{}/signin", site.url)), &fields)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{return_to}");
        assert_eq!(response.headers()["location"], expected, "{return_to}");
    }
    // A wrong token is refused on the page, and signs nobody in.
    let fields = [("token", "ord_not_a_token"), ("return_to", "/orders")];
    let response = form(client().post(format!("{}/signin", site.url)), &fields)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("set-cookie").is_none());
    assert!(response.text().await.expect("body").contains("not valid"));
    site.stop().await;
}

#[tokio::test]
async fn a_sign_in_link_by_e_mail_reaches_the_address_and_tells_a_stranger_nothing() {
    let site = Site::start().await;
    let smtp = orderly_testkit::SmtpServer::start();
    let (_, before) = page(&client(), &site, "/signin").await;
    assert!(
        !before.contains("/signin/email"),
        "no e-mail form without e-mail"
    );
    site.app.use_mailer(std::sync::Arc::new(
        orderly_app::mail::EmailSender::new(
            &orderly_app::mail::EmailSettings {
                smtp_url: smtp.url(),
                from: "Linden Market <orders@market.test>".into(),
            },
            Default::default(),
        )
        .expect("a sender"),
    ));
    let (_, signin) = page(&client(), &site, "/signin").await;
    assert!(signin.contains("action=\"/signin/email\""), "{signin}");

    let ask = async |address: &str| {
        let fields = [("email", address), ("return_to", "/orders")];
        let response = form(client().post(format!("{}/signin/email", site.url)), &fields)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("body")
    };
    let known = ask("ALICE@demo.test").await;
    let unknown = ask("nobody@demo.test").await;
    let sentence = |html: &str, address: &str| {
        html.contains(&format!(
            "If an account has the address {address}, a sign-in link is on its way"
        ))
    };
    assert!(
        sentence(&known, "ALICE@demo.test") && sentence(&unknown, "nobody@demo.test"),
        "the same answer either way"
    );

    let mails = smtp.messages();
    assert_eq!(
        mails.len(),
        1,
        "one e-mail, to the address that has an account"
    );
    assert_eq!(mails[0].to, "alice@demo.test");
    let text = mails[0].text();
    let start = text
        .find(&format!("{}/signin/link/", site.url))
        .expect("the link is in the e-mail");
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    // The link signs Alice in, once.
    let browser = client();
    let response = browser.post(&link).send().await.expect("answer");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/orders");
    let (status, orders) = page(&browser, &site, "/orders").await;
    assert_eq!(status, StatusCode::OK);
    assert!(orders.contains("Alice Martin"), "signed in as Alice");
    assert_eq!(
        client().post(&link).send().await.expect("answer").status(),
        StatusCode::GONE
    );
    site.stop().await;
}
