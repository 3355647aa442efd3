//! Faults and hostile input against the real server: a PostgreSQL link cut and restored
//! by a TCP proxy the test controls, a disk that fills up under SQLite, a client that
//! trickles its headers, guessed tokens, `/metrics` behind a token, and the limits that
//! keep one buyer or one thread from growing without bound.
//!
//! The 503s are checked by status and code, never by how long they took: a hang shows as
//! the guard timeout around each request failing the test.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::support::*;

/// A TCP proxy to `target` that can be cut (every link closed, new ones refused at once)
/// and restored.
struct Proxy {
    address: std::net::SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (up, watch_up) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut up = watch_up.clone();
                if !*up.borrow() {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = up.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { address, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// A request that must answer: a hang (or a wait an order of magnitude beyond the bounded
/// ones) fails the test instead of stalling it.
async fn answered(reply: impl std::future::Future<Output = Reply>) -> Reply {
    tokio::time::timeout(Duration::from_secs(5), reply)
        .await
        .expect("the server answered instead of hanging")
}

#[tokio::test]
async fn with_postgresql_cut_off_every_request_is_a_quick_503_and_service_resumes_by_itself() {
    let Some(admin_url) = orderly_testkit::postgres_url() else {
        println!("skipped: ORDERLY_TEST_POSTGRES_URL is not set");
        return;
    };
    // Arrange: the server talks to PostgreSQL only through the proxy.
    let database = orderly_testkit::TestDb::postgres(&admin_url).await;
    orderly_store::connect(&database.url, &Default::default())
        .await
        .expect("migrate directly");
    let (before_host, path) = database.url.rsplit_once('@').expect("url with a host");
    let (_, name) = path.split_once('/').expect("a database name");
    let proxy = Proxy::start("127.0.0.1:5432".into()).await;
    let proxied = format!("{before_host}@{}/{name}", proxy.address);
    let app = TestApp::start(&proxied, start_time()).await;
    let market = Market::open(app).await;
    let kept = market.verified().await;

    // Act: the link goes down.
    proxy.cut();
    let mut down = Vec::new();
    for _ in 0..3 {
        down.push(answered(market.app.get(&market.buyer, "/api/v1/orders")).await);
        down.push(
            answered(
                market
                    .app
                    .get(&market.buyer, &format!("/api/v1/orders/{kept}")),
            )
            .await,
        );
        down.push(
            answered(
                market
                    .app
                    .post(&market.buyer, "/api/v1/orders", market.order_body(1)),
            )
            .await,
        );
        down.push(answered(market.app.request("GET", "/readyz", None, None, None)).await);
    }
    // Assert: each is 503 `unavailable`, problem+json, with Retry-After.
    for reply in &down {
        assert_eq!(
            (reply.status, reply.code()),
            (503, "unavailable"),
            "{reply:?}"
        );
        assert_eq!(reply.content_type, "application/problem+json");
        assert!(reply.headers.contains_key("retry-after"), "{reply:?}");
    }
    // The link comes back: service resumes without a restart, nothing acknowledged lost.
    proxy.restore();
    let mut resumed = None;
    for _ in 0..50 {
        let reply = answered(market.app.request("GET", "/readyz", None, None, None)).await;
        if reply.status == 200 {
            resumed = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        resumed.is_some(),
        "readyz recovers once PostgreSQL is reachable"
    );
    assert_eq!(
        market.order(&market.buyer, &kept).await["status"],
        "awaiting_shipment"
    );
    let placed = answered(
        market
            .app
            .post(&market.buyer, "/api/v1/orders", market.order_body(1)),
    )
    .await;
    assert_eq!(placed.status, 201, "{placed:?}");
    market.app.stop().await;
    database.drop_database().await;
}

/// A tmpfs of `size` mounted at a fresh directory, or the reason it cannot be.
fn small_disk(size: &str) -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("orderly-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(&dir)
        .status()
        .map_err(|error| format!("cannot run mount: {error}"))?;
    if !status.success() {
        let _ = std::fs::remove_dir(&dir);
        return Err(format!(
            "mount -t tmpfs failed ({status}); the machine forbids mounting"
        ));
    }
    Ok(dir)
}

fn unmount(dir: &std::path::Path) {
    let _ = std::process::Command::new("umount").arg(dir).status();
    let _ = std::fs::remove_dir(dir);
}

/// Fills the filesystem of `dir` with one file until it is full.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create the filler");
    let block = vec![0_u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let small = [0_u8; 512];
    while file.write_all(&small).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test]
async fn a_full_disk_answers_503_storage_full_writes_nothing_and_recovers_when_space_is_freed() {
    let dir = match small_disk("8m") {
        Ok(dir) => dir,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    // Arrange
    let url = format!("sqlite://{}", dir.join("orderly.db").display());
    let app = TestApp::start(&url, start_time()).await;
    let market = Market::open(app).await;
    let kept = market.verified().await;
    let filler = fill(&dir);
    // Act: write until the disk refuses (the WAL may have room for a few commands).
    let mut acknowledged = vec![kept.clone()];
    let mut refused = None;
    for _ in 0..200 {
        let reply = answered(market.app.post(
            &market.buyer,
            "/api/v1/orders",
            market.order_body(1),
        ))
        .await;
        match reply.status {
            201 => acknowledged.push(reply.body["id"].as_str().expect("id").to_owned()),
            _ => {
                refused = Some(reply);
                break;
            }
        }
    }
    // Assert: 503 storage_full with Retry-After; readyz says so.
    let refused = refused.expect("the full disk refused a write");
    assert_eq!(
        (refused.status, refused.code()),
        (503, "storage_full"),
        "{refused:?}"
    );
    assert!(refused.headers.contains_key("retry-after"));
    let ready = answered(market.app.request("GET", "/readyz", None, None, None)).await;
    assert_eq!(
        (ready.status, ready.code()),
        (503, "storage_full"),
        "{ready:?}"
    );
    // Space is freed: writes succeed again, without a restart, and nothing is lost or
    // half-written.
    std::fs::remove_file(&filler).expect("free the space");
    let ready = answered(market.app.request("GET", "/readyz", None, None, None)).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    let placed = answered(
        market
            .app
            .post(&market.buyer, "/api/v1/orders", market.order_body(1)),
    )
    .await;
    assert_eq!(placed.status, 201, "{placed:?}");
    for id in &acknowledged {
        market.order(&market.buyer, id).await;
    }
    let integrity = market
        .app
        .inner
        .store
        .check_integrity()
        .await
        .expect("check");
    assert_eq!(integrity.problems, Vec::<String>::new());
    assert_eq!(integrity.orders as usize, acknowledged.len() + 1);
    market.app.stop().await;
    unmount(&dir);
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    // Arrange: a short header-read timeout.
    let database = orderly_testkit::TestDb::sqlite();
    let setup = Setup {
        server: orderly_server::ServerOptions {
            header_read_timeout: Duration::from_millis(300),
            ..Default::default()
        },
        ..Setup::default()
    };
    let app = TestApp::start_with(&database.url, start_time(), setup).await;
    let address = app.url.trim_start_matches("http://").to_owned();
    // Act: half a request line, then nothing.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut rest)).await;
    // Assert: the server closed the connection (with or without a 408) on its own.
    assert!(read.is_ok(), "the server kept a trickling connection open");
    // A well-behaved request still gets its answer.
    let healthy = app.request("GET", "/healthz", None, None, None).await;
    assert_eq!(healthy.status, 200);
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn guessed_tokens_from_one_address_are_limited_while_a_valid_token_still_works() {
    let database = orderly_testkit::TestDb::sqlite();
    let setup = Setup {
        server: orderly_server::ServerOptions {
            failed_sign_ins_per_minute: 5,
            ..Default::default()
        },
        ..Setup::default()
    };
    let app = TestApp::start_with(&database.url, start_time(), setup).await;
    let market = Market::open(app).await;
    let mut answers = Vec::new();
    for guess in 0..8 {
        let reply = market
            .app
            .get(&format!("ord_guess_{guess}"), "/api/v1/orders")
            .await;
        answers.push((reply.status, reply.code().to_owned()));
    }
    let unauthorized = answers.iter().filter(|(status, _)| *status == 401).count();
    let limited: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 429)
        .collect();
    assert_eq!(unauthorized, 5, "{answers:?}");
    assert_eq!(limited.len(), 3, "{answers:?}");
    assert!(limited.iter().all(|(_, code)| code == "rate_limited"));
    let anonymous = market
        .app
        .request("GET", "/api/v1/orders", None, None, None)
        .await;
    assert_eq!(
        anonymous.status, 429,
        "missing tokens count as failures too"
    );
    let valid = market.app.get(&market.buyer, "/api/v1/orders").await;
    assert_eq!(valid.status, 200, "{valid:?}");
    market.app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let database = orderly_testkit::TestDb::sqlite();
    let setup = Setup {
        server: orderly_server::ServerOptions {
            metrics_token: Some("metrics-secret-0123456789abcdef".into()),
            ..Default::default()
        },
        ..Setup::default()
    };
    let app = TestApp::start_with(&database.url, start_time(), setup).await;
    let refused = app.request("GET", "/metrics", None, None, None).await;
    assert_eq!(refused.status, 401);
    let wrong = app
        .request("GET", "/metrics", Some(ADMIN_TOKEN), None, None)
        .await;
    assert_eq!(wrong.status, 401);
    let allowed = app
        .request(
            "GET",
            "/metrics",
            Some("metrics-secret-0123456789abcdef"),
            None,
            None,
        )
        .await;
    assert_eq!(allowed.status, 200);
    assert!(
        allowed
            .body
            .as_str()
            .is_some_and(|text| text.contains("orderly_"))
    );
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_buyer_cannot_hoard_stock_with_unpaid_orders() {
    let database = orderly_testkit::TestDb::sqlite();
    let setup = Setup {
        policy: orderly_domain::Policy {
            unpaid_orders_per_buyer_max: 2,
            ..Default::default()
        },
        ..Setup::default()
    };
    let app = TestApp::start_with(&database.url, start_time(), setup).await;
    let market = Market::open(app).await;
    let first = market.placed().await;
    market.placed().await;
    let stock = market.product_stock().await;
    let third = market
        .app
        .post(&market.buyer, "/api/v1/orders", market.order_body(2))
        .await;
    assert_eq!((third.status, third.code()), (409, "conflict"), "{third:?}");
    assert_eq!(market.product_stock().await, stock, "nothing reserved");
    // Paying one makes room again; another buyer was never limited.
    market.ok(&market.buyer, &first, "pay", json!({})).await;
    let again = market
        .app
        .post(&market.buyer, "/api/v1/orders", market.order_body(2))
        .await;
    assert_eq!(again.status, 201, "{again:?}");
    market.app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn history_and_messages_come_in_pages_and_a_thread_has_a_limit() {
    let database = orderly_testkit::TestDb::sqlite();
    let setup = Setup {
        policy: orderly_domain::Policy {
            messages_per_order_max: 5,
            ..Default::default()
        },
        ..Setup::default()
    };
    let app = TestApp::start_with(&database.url, start_time(), setup).await;
    let market = Market::open(app).await;
    let id = market.verified().await;
    for index in 0..5 {
        let token = if index % 2 == 0 {
            &market.buyer
        } else {
            &market.seller
        };
        market
            .ok(
                token,
                &id,
                "messages",
                json!({"text": format!("message {index}")}),
            )
            .await;
    }
    let sixth = market
        .act(&market.buyer, &id, "messages", json!({"text": "one more"}))
        .await;
    assert_eq!(
        (sixth.status, sixth.code()),
        (409, "invalid_transition"),
        "{sixth:?}"
    );
    let order = market.order(&market.buyer, &id).await;
    assert!(!actions(&order).contains(&"message".to_owned()));
    // Pages of two messages, in order, then the end.
    let mut texts = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!("/api/v1/orders/{id}/messages?limit=2{after}");
        let page = market.app.get(&market.seller, &path).await;
        assert_eq!(page.status, 200, "{page:?}");
        for message in page.body["messages"].as_array().expect("messages") {
            texts.push(message["text"].as_str().expect("text").to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => after = format!("&after={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|index| format!("message {index}")).collect();
    assert_eq!(texts, expected);
    // The history pages the same way and adds up to the whole.
    let all = market
        .app
        .get(&market.buyer, &format!("/api/v1/orders/{id}/events"))
        .await;
    let total = all.body["events"].as_array().expect("events").len();
    let first = market
        .app
        .get(
            &market.buyer,
            &format!("/api/v1/orders/{id}/events?limit=3"),
        )
        .await;
    assert_eq!(first.body["events"].as_array().expect("events").len(), 3);
    let cursor = first.body["next_cursor"].as_str().expect("more").to_owned();
    let rest = market
        .app
        .get(
            &market.buyer,
            &format!("/api/v1/orders/{id}/events?after={cursor}"),
        )
        .await;
    assert_eq!(
        3 + rest.body["events"].as_array().expect("events").len(),
        total
    );
    let bad = market
        .app
        .get(
            &market.buyer,
            &format!("/api/v1/orders/{id}/events?limit=0"),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (422, "validation_failed"));
    market.app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_new_accounts_token_is_shown_once_and_never_stored() {
    let (market, database) = sqlite_market().await;
    let body = json!({"role": "buyer", "name": "Once"});
    let first = market
        .app
        .request(
            "POST",
            "/api/v1/accounts",
            Some(ADMIN_TOKEN),
            Some(&body),
            Some("acc-1"),
        )
        .await;
    assert_eq!(first.status, 201);
    let token = first.body["token"].as_str().expect("token").to_owned();
    let replay = market
        .app
        .request(
            "POST",
            "/api/v1/accounts",
            Some(ADMIN_TOKEN),
            Some(&body),
            Some("acc-1"),
        )
        .await;
    assert_eq!(replay.status, 201);
    assert_eq!(
        replay.body["id"], first.body["id"],
        "the same account, not a second one"
    );
    assert!(replay.body["token"].is_null(), "{replay:?}");
    // Nothing in the database holds the token in plain text.
    let dump = sqlite_dump(&database.url).await;
    assert!(!dump.contains(&token), "the token is stored in plain text");
    let works = market.app.get(&token, "/api/v1/orders").await;
    assert_eq!(works.status, 200);
    close(market, database).await;
}

/// Every text value of every table, for searching.
async fn sqlite_dump(url: &str) -> String {
    use sqlx::{Connection, Row};
    let mut connection = sqlx::SqliteConnection::connect(url).await.expect("connect");
    let tables: Vec<String> =
        sqlx::query_scalar("select name from sqlite_master where type = 'table'")
            .fetch_all(&mut connection)
            .await
            .expect("tables");
    let mut dump = String::new();
    for table in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("select * from {table}")))
            .fetch_all(&mut connection)
            .await
            .expect("rows");
        for row in rows {
            for index in 0..row.len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(index) {
                    dump.push_str(&text);
                    dump.push('\n');
                }
            }
        }
    }
    dump
}

#[tokio::test]
async fn a_panicking_decision_fails_alone_and_the_commands_beside_it_commit() {
    // Arrange: several commands in flight at once, one of whose decisions panics.
    let (market, database) = sqlite_market().await;
    let store = market.app.inner.store.clone();
    let ids: Vec<String> = futures_ids(&market, 6).await;
    let mut tasks = Vec::new();
    for (index, id) in ids.iter().enumerate() {
        let store = store.clone();
        let order_id = orderly_domain::OrderId::from_uuid(id.parse().expect("uuid"));
        let buyer = orderly_domain::AccountId::from_uuid(market.buyer_id.parse().expect("uuid"));
        tasks.push(tokio::spawn(async move {
            store
                .transact(
                    order_id,
                    Box::new(move |order: Option<&orderly_domain::Order>| {
                        assert!(index != 3, "a bug in one decision");
                        let order = order.expect("exists");
                        let decision = orderly_domain::decide(
                            order,
                            orderly_domain::Command::Pay { method: None },
                            orderly_domain::Actor::Buyer(buyer),
                            order.placed_at,
                            &Default::default(),
                        )?;
                        Ok(orderly_store::Batch::from(decision))
                    }),
                )
                .await
        }));
    }
    // Act
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("the caller's task does not panic"));
    }
    // Assert: only the buggy one failed; the writer goes on.
    for (index, outcome) in outcomes.iter().enumerate() {
        assert_eq!(outcome.is_ok(), index != 3, "{index}: {outcome:?}");
    }
    let later = market.placed().await;
    market.ok(&market.buyer, &later, "pay", json!({})).await;
    drop(store);
    close(market, database).await;
}

async fn futures_ids(market: &Market, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(market.placed().await);
    }
    ids
}

#[tokio::test]
async fn a_worker_step_that_panics_is_reported_and_the_worker_goes_on() {
    let (market, database) = sqlite_market().await;
    let app: Arc<orderly_app::App> = market.app.inner.clone();
    let failed =
        orderly_app::workers::supervised(&app, "test-worker", async { panic!("a bug in a step") })
            .await;
    assert!(failed.is_none());
    let ready = market.app.request("GET", "/readyz", None, None, None).await;
    assert_eq!(
        (ready.status, ready.code()),
        (503, "worker_failing"),
        "{ready:?}"
    );
    assert!(
        ready.body["detail"]
            .as_str()
            .expect("detail")
            .contains("a bug in a step")
    );
    let next = orderly_app::workers::supervised(&app, "test-worker", async {
        Ok(orderly_app::workers::Step::Idle { next_due: None })
    })
    .await;
    assert!(next.is_some());
    let ready = market.app.request("GET", "/readyz", None, None, None).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.body["workers"][0]["panics"], 1);
    close(market, database).await;
}
