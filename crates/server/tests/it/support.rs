//! `TestApp`: the real server on 127.0.0.1:0 with a fresh database and a test clock, and one
//! helper per common call.

use std::sync::Arc;

use jiff::Timestamp;
use orderly_app::{App, AppConfig, TestClock};
use orderly_server::AppState;
use orderly_testkit::TestDb;
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Monday 2 November 2026, 09:00 UTC.
pub fn start_time() -> Timestamp {
    "2026-11-02T09:00:00Z".parse().expect("valid")
}

/// What a test server runs with, beyond its database and clock.
#[derive(Default)]
pub struct Setup {
    pub policy: orderly_domain::Policy,
    pub server: orderly_server::ServerOptions,
}

/// A running server.
pub struct TestApp {
    pub url: String,
    /// The application behind the server, for arranging what HTTP cannot.
    pub inner: Arc<App>,
    client: reqwest::Client,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// An answer: status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The problem's `code`, for refusals.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// A server on `db_url`, with its test clock at `start`.
    pub async fn start(db_url: &str, start: Timestamp) -> Self {
        Self::start_with_rate_limit(db_url, start, 0).await
    }

    /// A server whose accounts may each make `per_minute` requests a minute (0: no limit).
    pub async fn start_with_rate_limit(db_url: &str, start: Timestamp, per_minute: u32) -> Self {
        let setup = Setup {
            server: orderly_server::ServerOptions {
                rate_limit_per_minute: per_minute,
                ..Default::default()
            },
            ..Setup::default()
        };
        Self::start_with(db_url, start, setup).await
    }

    /// A server with its own policy and server options.
    pub async fn start_with(db_url: &str, start: Timestamp, setup: Setup) -> Self {
        orderly_app::delivery::install_crypto_provider();
        let store = orderly_store::connect(db_url, &Default::default())
            .await
            .unwrap_or_else(|error| panic!("open {db_url}: {error}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = App::with_test_clock(
            store,
            setup.policy,
            Arc::new(TestClock::new(start)),
            AppConfig {
                admin_token: Some(ADMIN_TOKEN.into()),
                public_url: url.clone(),
                ..Default::default()
            },
        );
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let inner = Arc::new(app);
        let state = AppState::new(inner.clone(), setup.server);
        let server = tokio::spawn(async move {
            orderly_server::serve(listener, state, async move {
                let _ = stopped.changed().await;
            })
            .await
            .expect("the server runs");
        });
        Self {
            url,
            inner,
            client: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(server) = self.server.take() {
            server.await.expect("the server stopped cleanly");
        }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            body,
            content_type,
            headers,
        }
    }

    pub async fn get(&self, token: &str, path: &str) -> Reply {
        self.request("GET", path, Some(token), None, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.request("POST", path, Some(token), Some(&body), None)
            .await
    }

    /// An account of `role`; returns its id and token.
    pub async fn account(&self, role: &str, name: &str) -> (String, String) {
        let reply = self
            .post(
                ADMIN_TOKEN,
                "/api/v1/accounts",
                json!({"role": role, "name": name}),
            )
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        (
            reply.body["id"].as_str().expect("id").to_owned(),
            reply.body["token"].as_str().expect("token").to_owned(),
        )
    }

    pub async fn product(
        &self,
        seller_token: &str,
        price: i64,
        fee: i64,
        stock: i64,
        days: u32,
    ) -> String {
        let reply = self
            .post(
                seller_token,
                "/api/v1/products",
                json!({
                    "title": "Cactus seeds",
                    "price": {"amount": price, "currency": "EUR"},
                    "shipping_fee": {"amount": fee, "currency": "EUR"},
                    "stock": stock,
                    "processing_days": days,
                }),
            )
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.body["id"].as_str().expect("id").to_owned()
    }

    /// Moves the test clock; returns once every deadline due by then has fired.
    pub async fn advance(&self, seconds: i64) -> Reply {
        let reply = self
            .post(
                ADMIN_TOKEN,
                "/api/v1/test-clock/advance",
                json!({"seconds": seconds}),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply
    }
}

/// A marketplace on a running server: a seller with a product (2 × 1500 + 500 shipping per
/// order, 3 days' processing), a buyer, a stranger buyer and seller, and the admin.
pub struct Market {
    pub app: TestApp,
    pub seller: String,
    pub seller_id: String,
    pub buyer: String,
    pub buyer_id: String,
    pub other_buyer: String,
    pub other_seller: String,
    pub product: String,
}

pub const ITEMS: i64 = 3_000;
pub const SHIPPING: i64 = 500;
pub const TOTAL: i64 = ITEMS + SHIPPING;

impl Market {
    pub async fn open(app: TestApp) -> Self {
        let (seller_id, seller) = app.account("seller", "Cactus Store").await;
        let (buyer_id, buyer) = app.account("buyer", "Ada").await;
        let (_, other_buyer) = app.account("buyer", "Eve").await;
        let (_, other_seller) = app.account("seller", "Other Store").await;
        let product = app.product(&seller, 1_500, 500, 100, 3).await;
        Self {
            app,
            seller,
            seller_id,
            buyer,
            buyer_id,
            other_buyer,
            other_seller,
            product,
        }
    }

    pub fn order_body(&self, quantity: u32) -> Value {
        json!({
            "lines": [{"product_id": self.product, "quantity": quantity}],
            "shipping_address": {"name": "Ada", "street": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"},
            "payment_method": "card",
        })
    }

    /// A placed order's id.
    pub async fn placed(&self) -> String {
        let reply = self
            .app
            .post(&self.buyer, "/api/v1/orders", self.order_body(2))
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.body["id"].as_str().expect("id").to_owned()
    }

    /// Placed, paid and verified.
    pub async fn verified(&self) -> String {
        let id = self.placed().await;
        self.ok(&self.buyer, &id, "pay", json!({"method": "card"}))
            .await;
        self.ok(
            ADMIN_TOKEN,
            &id,
            "verify-payment",
            json!({"outcome": "approved"}),
        )
        .await;
        id
    }

    pub async fn shipped(&self) -> String {
        let id = self.verified().await;
        self.ok(
            &self.seller,
            &id,
            "ship",
            json!({"carrier": "DHL", "tracking_number": "JD014600"}),
        )
        .await;
        id
    }

    pub async fn delivered(&self) -> String {
        let id = self.shipped().await;
        self.ok(ADMIN_TOKEN, &id, "deliver", json!({})).await;
        id
    }

    /// `POST /api/v1/orders/{id}/{action}`.
    pub async fn act(&self, token: &str, id: &str, action: &str, body: Value) -> Reply {
        self.app
            .post(token, &format!("/api/v1/orders/{id}/{action}"), body)
            .await
    }

    /// The action must answer 2xx; returns the order document.
    pub async fn ok(&self, token: &str, id: &str, action: &str, body: Value) -> Value {
        let reply = self.act(token, id, action, body).await;
        assert!((200..300).contains(&reply.status), "{action}: {reply:?}");
        reply.body
    }

    pub async fn order(&self, token: &str, id: &str) -> Value {
        let reply = self.app.get(token, &format!("/api/v1/orders/{id}")).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body
    }

    pub async fn product_stock(&self) -> i64 {
        let reply = self
            .app
            .get(&self.seller, &format!("/api/v1/products/{}", self.product))
            .await;
        reply.body["stock"].as_i64().expect("stock")
    }
}

/// Runs `story` on a fresh market on every backend.
pub async fn on_each_backend(story: impl AsyncFn(&Market)) {
    for database in orderly_testkit::databases().await {
        let app = TestApp::start(&database.url, start_time()).await;
        let market = Market::open(app).await;
        story(&market).await;
        market.app.stop().await;
        database.drop_database().await;
    }
}

/// A fresh SQLite-backed market, for tests of the HTTP layer that do not depend on the
/// backend.
pub async fn sqlite_market() -> (Market, TestDb) {
    let database = TestDb::sqlite();
    let app = TestApp::start(&database.url, start_time()).await;
    (Market::open(app).await, database)
}

pub async fn close(market: Market, database: TestDb) {
    market.app.stop().await;
    database.drop_database().await;
}

pub fn actions(order: &Value) -> Vec<String> {
    order["allowed_actions"]
        .as_array()
        .expect("allowed_actions")
        .iter()
        .map(|action| action.as_str().expect("a code").to_owned())
        .collect()
}
