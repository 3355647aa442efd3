//! E-mail that reaches people (SPEC 16.1), through a real SMTP server started by the test
//! (aiosmtpd, writing a Maildir), on both backends: the cancellation story delivers exactly
//! the e-mails its steps call for, to the right addresses, each once, in order; a reminder
//! goes out before an unanswered request is approved, and none once it is answered; a mail
//! server that is down loses nothing; a refused recipient ends dead and can be sent again.

use orderly_app::mail::{EmailSender, EmailSettings};
use orderly_testkit::SmtpServer;
use serde_json::json;

use crate::support::*;

fn sender(smtp: &SmtpServer) -> EmailSender {
    EmailSender::new(
        &EmailSettings {
            smtp_url: smtp.url(),
            from: "Cactus Market <orders@market.test>".into(),
        },
        Default::default(),
    )
    .expect("a sender")
}

/// Delivery rounds at the test clock's time until nothing is left to do now.
async fn drain(sender: &EmailSender, market: &Market) -> orderly_app::delivery::Delivered {
    let inner = &market.app.inner;
    let mut total = orderly_app::delivery::Delivered::default();
    for _ in 0..100 {
        let round = sender
            .deliver_once(inner.store.as_ref(), inner.now())
            .await
            .expect("round");
        total.delivered += round.delivered;
        total.failed += round.failed;
        total.dead += round.dead;
        if round.delivered + round.failed + round.dead == 0 {
            break;
        }
    }
    total
}

/// Gives the market's buyer and seller addresses.
async fn with_addresses(market: &Market, buyer: &str, seller: &str) {
    for (id, email) in [(&market.buyer_id, buyer), (&market.seller_id, seller)] {
        let reply = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!("/api/v1/accounts/{id}/email"),
                json!({"email": email}),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
}

fn summary(smtp: &SmtpServer) -> Vec<(String, String)> {
    smtp.messages()
        .into_iter()
        .map(|mail| (mail.to, mail.subject))
        .collect()
}

#[tokio::test]
async fn the_cancellation_story_sends_exactly_its_e_mails_to_the_right_people_in_order() {
    let smtp = SmtpServer::start();
    on_each_backend(async |market: &Market| {
        // Arrange
        with_addresses(market, "ada@buyer.test", "shop@seller.test").await;
        let sender = sender(&smtp);
        let before = smtp.messages().len();
        // Act: placed, paid, verified, a request, approved.
        let id = market.verified().await;
        market
            .ok(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        market
            .ok(&market.seller, &id, "cancellation/approve", json!({}))
            .await;
        drain(&sender, market).await;
        // Assert: four e-mails, each once, in the story's order.
        let number = market.order(&market.buyer, &id).await["number"]
            .as_str()
            .expect("number")
            .to_owned();
        let mails: Vec<(String, String)> = summary(&smtp)[before..].to_vec();
        assert_eq!(
            mails,
            vec![
                (
                    "ada@buyer.test".to_owned(),
                    format!("Order #{number}: your order is placed")
                ),
                (
                    "shop@seller.test".to_owned(),
                    format!("Order #{number}: a paid order is ready to ship")
                ),
                (
                    "shop@seller.test".to_owned(),
                    format!("Order #{number}: the buyer asks to cancel")
                ),
                (
                    "ada@buyer.test".to_owned(),
                    format!("Order #{number}: your cancellation is approved")
                ),
            ]
        );
        // The approval says where the refund goes, what to do now, and links the order.
        let approval = smtp.messages().last().expect("a mail").text();
        assert!(
            approval.contains("Refund of 35.00 EUR sent to the card"),
            "{approval}"
        );
        assert!(approval.contains("What you can do now:"), "{approval}");
        assert!(
            approval.contains(&format!("{}/orders/{id}", market.app.url)),
            "{approval}"
        );
        assert!(approval.contains("text/html"), "an HTML part too");
        // Nothing is sent twice.
        drain(&sender, market).await;
        assert_eq!(smtp.messages().len(), before + 4);
    })
    .await;
}

#[tokio::test]
async fn the_seller_is_reminded_a_day_before_silence_approves_and_not_once_it_answered() {
    let smtp = SmtpServer::start();
    on_each_backend(async |market: &Market| {
        with_addresses(market, "ada@buyer.test", "shop@seller.test").await;
        let sender = sender(&smtp);
        // A request nobody answers: reminded at 48 h, approved at 72 h.
        let silent = market.verified().await;
        market
            .ok(
                &market.buyer,
                &silent,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        // One answered at once.
        let answered = market.verified().await;
        market
            .ok(
                &market.buyer,
                &answered,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        market
            .ok(
                &market.seller,
                &answered,
                "cancellation/reject",
                json!({"reason": "already packed"}),
            )
            .await;
        drain(&sender, market).await;
        let before = smtp.messages().len();
        market.app.advance(47 * 3_600).await;
        drain(&sender, market).await;
        assert_eq!(smtp.messages().len(), before, "nothing before 48 hours");
        market.app.advance(3_600).await;
        drain(&sender, market).await;
        let number = |id: &str| {
            let id = id.to_owned();
            async move {
                market.order(&market.buyer, &id).await["number"]
                    .as_str()
                    .expect("number")
                    .to_owned()
            }
        };
        let silent_number = number(&silent).await;
        let answered_number = number(&answered).await;
        let reminders: Vec<_> = summary(&smtp)[before..]
            .iter()
            .filter(|(_, subject)| subject.contains("reminder"))
            .cloned()
            .collect();
        assert!(
            reminders.contains(&(
                "shop@seller.test".to_owned(),
                format!("Order #{silent_number}: reminder: answer the cancellation request")
            )),
            "{reminders:?}"
        );
        assert!(
            !reminders
                .iter()
                .any(|(_, subject)| subject.contains(&answered_number)
                    && subject.contains("cancellation request")),
            "no reminder for an answered request: {reminders:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_mail_server_that_is_down_for_a_while_loses_nothing() {
    let smtp = SmtpServer::start();
    on_each_backend(async |market: &Market| {
        with_addresses(market, "ada@buyer.test", "shop@seller.test").await;
        let sender = sender(&smtp);
        let before = smtp.messages().len();
        smtp.stop();
        let id = market.verified().await;
        let down = drain(&sender, market).await;
        assert_eq!(down.delivered, 0);
        assert!(down.failed >= 1, "{down:?}");
        // Commands go on while mail is down.
        market
            .ok(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        market.app.advance(1_800).await;
        drain(&sender, market).await;
        smtp.restart();
        market.app.advance(3_600).await;
        drain(&sender, market).await;
        let subjects: Vec<String> = summary(&smtp)[before..]
            .iter()
            .map(|(_, subject)| subject.clone())
            .collect();
        assert_eq!(
            subjects.len(),
            3,
            "placed, ready to ship, request: {subjects:?}"
        );
        assert!(subjects[0].ends_with("your order is placed"));
        assert!(subjects[2].ends_with("the buyer asks to cancel"));
    })
    .await;
}

#[tokio::test]
async fn a_refused_recipient_ends_dead_with_the_servers_answer_and_can_be_sent_again() {
    let smtp = SmtpServer::start();
    on_each_backend(async |market: &Market| {
        with_addresses(market, "ada@refused.test", "shop@seller.test").await;
        let sender = sender(&smtp);
        market.placed().await;
        let round = drain(&sender, market).await;
        assert_eq!(round.dead, 1, "{round:?}");
        let dead = market
            .app
            .get(ADMIN_TOKEN, "/api/v1/admin/outbox?status=dead&topic=email")
            .await;
        let dead = dead.body["messages"].as_array().expect("list").clone();
        assert_eq!(dead.len(), 1);
        assert!(
            dead[0]["last_error"]
                .as_str()
                .expect("error")
                .contains("550"),
            "{dead:?}"
        );
        // The buyer's address is corrected and support sends it again.
        let reply = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!("/api/v1/accounts/{}/email", market.buyer_id),
                json!({"email": "ada@buyer.test"}),
            )
            .await;
        assert_eq!(reply.status, 200);
        let before = smtp.messages().len();
        let id = dead[0]["id"].as_i64().expect("id");
        let retried = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!("/api/v1/admin/outbox/{id}/retry"),
                json!({}),
            )
            .await;
        assert_eq!(retried.status, 200, "{retried:?}");
        drain(&sender, market).await;
        let mails = summary(&smtp);
        assert_eq!(mails.len(), before + 1);
        assert_eq!(mails[before].0, "ada@buyer.test");
    })
    .await;
}

#[tokio::test]
async fn accounts_have_validated_addresses_and_read_their_own() {
    let (market, database) = sqlite_market().await;
    let created = market
        .app
        .post(
            ADMIN_TOKEN,
            "/api/v1/accounts",
            json!({"role": "buyer", "name": "Bea", "email": "bea@example.test"}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["email"], "bea@example.test");
    let token = created.body["token"].as_str().expect("token").to_owned();
    let me = market.app.get(&token, "/api/v1/accounts/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["email"], "bea@example.test");
    assert_eq!(me.body["role"], "buyer");
    let bad = market
        .app
        .post(
            ADMIN_TOKEN,
            "/api/v1/accounts",
            json!({"role": "buyer", "name": "X", "email": "not an address"}),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (422, "validation_failed"));
    assert_eq!(bad.body["field"], "email");
    let by_buyer = market
        .app
        .post(
            &token,
            &format!("/api/v1/accounts/{}/email", market.buyer_id),
            json!({"email": "x@y.test"}),
        )
        .await;
    assert_eq!(by_buyer.status, 403);
    close(market, database).await;
}
