//! The real thing for the browser tests: the binary's own app (API and pages) on a free
//! port with a test clock and the demo market, Debian's Chromium driven through
//! chromedriver, and axe-core injected into each page.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use jiff::Timestamp;
use orderly_app::demo::{Demo, Tokens};
use orderly_app::{App, AppConfig, TestClock};
use orderly_server::{AppState, ServerOptions};
use orderly_testkit::TestDb;
use serde_json::{Value, json};

/// Monday 2 November 2026, 09:00 UTC: every test starts here.
pub fn start_time() -> Timestamp {
    "2026-11-02T09:00:00Z".parse().expect("a timestamp")
}

/// At most this many tests at once, each with its own site and up to two browsers: a
/// browser takes a core while it starts. (Counting browsers instead deadlocks two tests
/// that each hold one and wait for a second.)
static SITES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The app serving the API and the pages, with the demo market seeded.
pub struct Site {
    pub url: String,
    pub app: Arc<App>,
    pub demo: Demo,
    pub tokens: Tokens,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    server: Option<tokio::task::JoinHandle<()>>,
    database: Option<TestDb>,
    _permit: tokio::sync::SemaphorePermit<'static>,
}

impl Site {
    pub async fn start() -> Self {
        let permit = SITES.acquire().await.expect("the semaphore stays open");
        orderly_app::delivery::install_crypto_provider();
        let database = TestDb::sqlite();
        let store = orderly_store::connect(&database.url, &Default::default())
            .await
            .expect("open the database");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = Arc::new(App::with_test_clock(
            store,
            orderly_domain::Policy::default(),
            Arc::new(TestClock::new(start_time())),
            AppConfig {
                public_url: url.clone(),
                ..Default::default()
            },
        ));
        let (demo, tokens) = app.demo().await.expect("the demo seeds");
        let tokens = tokens.expect("a fresh database is seeded now");
        let state = AppState::new(app.clone(), ServerOptions::default());
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(async move {
            orderly_server::serve_with(listener, state, Some(orderly_web::pages()), async move {
                let _ = stopped.changed().await;
            })
            .await
            .expect("the server runs");
        });
        Self {
            url,
            app,
            demo,
            tokens,
            stop: Some(stop),
            server: Some(server),
            database: Some(database),
            _permit: permit,
        }
    }

    /// The demo order of a situation.
    pub fn order(&self, situation: &str) -> String {
        self.demo
            .order(situation)
            .unwrap_or_else(|| panic!("no demo order {situation}"))
            .as_uuid()
            .to_string()
    }

    /// A one-time sign-in link for an account, to `page`.
    pub async fn signin_link(&self, account: orderly_domain::AccountId, page: &str) -> String {
        let link = self
            .app
            .create_signin_link(account, Some(page), |_| None)
            .await
            .expect("a sign-in link");
        format!("{}/signin/link/{}", self.url, link.token)
    }

    /// An API call with a bearer token; the JSON answer and its status.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let client = reqwest::Client::new();
        let mut request = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", self.url),
            )
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The API's order document as `token` sees it.
    pub async fn order_document(&self, token: &str, id: &str) -> Value {
        let (status, body) = self
            .api("GET", &format!("/api/v1/orders/{id}"), token, None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Moves the test clock on, firing due deadlines.
    pub async fn advance_hours(&self, hours: i64) {
        self.app
            .advance_clock(hours * 3_600)
            .await
            .expect("the clock moves");
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(database) = self.database.take() {
            database.drop_database().await;
        }
    }
}

/// A headless Chromium, driven through its own chromedriver.
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile_dir::Dir,
}

/// A fresh profile directory, removed afterwards.
mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!(
                "orderly-chromium-{}",
                orderly_app::service::new_id().simple()
            ));
            std::fs::create_dir_all(&path).expect("a profile directory");
            Self(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("address")
        .port()
}

impl Browser {
    pub async fn start() -> Self {
        let port = free_port();
        let driver = tokio::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts (apt-get install chromium chromium-driver)");
        let profile = tempfile_dir::Dir::new();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-extensions", "--disable-quic", "--no-first-run", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.0.display())]
            }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        driver,
                        _profile: profile,
                    };
                }
                Err(error) => {
                    last_error = error.to_string();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("chromedriver did not start: {last_error}");
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|error| panic!("open {url}: {error}"));
    }

    /// Signs in with a one-time link: opens it and continues.
    pub async fn sign_in(&self, link: &str) {
        self.goto(link).await;
        self.click("button[data-action='sign_in']").await;
        self.client
            .wait()
            .for_element(Locator::Css("form.signout"))
            .await
            .expect("signed in");
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(error) => panic!("no element {css}: {error}\n{}", self.text().await),
        }
    }

    /// Waits until the element's text contains `expected` (the page may still be loading
    /// its new version); the text.
    pub async fn wait_for_text(&self, css: &str, expected: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if text.contains(expected) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never said {expected:?}; it said {last:?}");
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("click {css}: {error}"));
    }

    /// Opens the form of an action (its `<details>`) when it is folded.
    pub async fn open_action(&self, code: &str) {
        let summary = format!("#action-{code} summary");
        if let Ok(summary) = self.client.find(Locator::Css(&summary)).await {
            let open = self
                .client
                .execute(
                    &format!("return document.querySelector('#action-{code} details').open"),
                    vec![],
                )
                .await
                .expect("script");
            if open != json!(true) {
                summary.click().await.expect("unfold");
            }
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        element.clear().await.expect("clear");
        element.send_keys(text).await.expect("type");
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .expect("select");
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        match self.client.find(Locator::Css("main")).await {
            Ok(main) => main.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The order status the page shows.
    pub async fn status(&self) -> String {
        self.find("[data-status]")
            .await
            .attr("data-status")
            .await
            .expect("attr")
            .unwrap_or_default()
    }

    /// The action codes of the page's buttons, in order (the confirmation page's
    /// "yes" is counted as its action).
    pub async fn actions(&self) -> Vec<String> {
        let value = self
            .client
            .execute(
                "return [...document.querySelectorAll('.actions [data-action], [aria-labelledby=history] [data-action], [aria-labelledby=support] [data-action]')].map(b => b.dataset.action)",
                vec![],
            )
            .await
            .expect("script");
        serde_json::from_value(value).expect("strings")
    }

    /// Waits until the page's status is `status` (after a redirect).
    pub async fn wait_for_status(&self, status: &str) {
        for _ in 0..100 {
            if self.status().await == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {status}:\n{}", self.text().await);
    }

    /// Runs axe-core on the page; the serious and critical violations, described.
    pub async fn axe(&self) -> Vec<String> {
        const AXE: &str = include_str!("../vendor/axe.min.js");
        self.client.execute(AXE, vec![]).await.expect("axe loads");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations
                   .filter(v => v.impact === 'serious' || v.impact === 'critical')
                   .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))));",
                vec![],
            )
            .await
            .expect("axe runs");
        serde_json::from_value(result).expect("strings")
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(path, png).expect("write the screenshot");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}
