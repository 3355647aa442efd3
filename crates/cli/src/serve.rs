//! `orderly serve`: the HTTP API, the deadline worker and the webhook worker as sibling
//! tasks, with graceful shutdown on Ctrl-C or SIGTERM (requests in flight finish first).
//! `--demo` seeds the demo market once (`orderly_app::demo`) and prints sign-in links for
//! its buyer, seller and support agent.

use std::sync::Arc;
use std::time::Duration;

use orderly_app::{App, AppConfig, SystemClock, TestClock, workers};
use orderly_server::AppState;

use crate::config::Config;

/// What `serve` was asked for on top of the configuration.
pub struct ServeOptions {
    pub test_clock: bool,
    pub demo: bool,
    pub admin_token: Option<String>,
}

/// The shortest `ORDERLY_ADMIN_TOKEN` accepted: a short admin token can be guessed.
pub const ADMIN_TOKEN_LEN_MIN: usize = 32;

pub async fn run(config: Config, options: ServeOptions) -> anyhow::Result<()> {
    if let Some(token) = &options.admin_token
        && token.chars().count() < ADMIN_TOKEN_LEN_MIN
    {
        anyhow::bail!(
            "ORDERLY_ADMIN_TOKEN is {} characters long; use at least {ADMIN_TOKEN_LEN_MIN} random characters (e.g. `openssl rand -hex 32`), or leave it unset",
            token.chars().count()
        );
    }
    let policy = config.policy()?;
    let outbox = config.outbox_settings()?;
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", config.server.listen))?;
    let address = listener.local_addr()?;
    let url = format!("http://{address}");
    let public_url = if config.server.public_url.is_empty() {
        url.clone()
    } else {
        config.server.public_url.trim_end_matches('/').to_owned()
    };
    let store = open_store(&config).await?;
    let app_config = AppConfig {
        admin_token: options.admin_token.clone(),
        public_url: public_url.clone(),
        outbox,
        integration_signing_key: Some(config.integrations.signing_key.clone())
            .filter(|key| !key.is_empty()),
    };
    if config.integrations.signing_key.is_empty() {
        tracing::warn!(
            "no [integrations] signing_key: integration secrets are derived from a key kept in the database; set ORDERLY__INTEGRATIONS__SIGNING_KEY to keep them safe from a database leak"
        );
    }
    let app = Arc::new(if options.test_clock {
        #[allow(
            clippy::disallowed_methods,
            reason = "the test clock starts at the real time once"
        )]
        let start = jiff::Timestamp::now();
        App::with_test_clock(store, policy, Arc::new(TestClock::new(start)), app_config)
    } else {
        App::new(store, policy, Arc::new(SystemClock), app_config)
    });
    tracing::info!(%url, db = %orderly_store::redact_url(&config.server.db), test_clock = options.test_clock, "orderly is listening");
    println!(
        "orderly is listening on {url}  (API docs: {url}/api/docs, OpenAPI: {url}/api/openapi.json)"
    );
    if options.demo {
        seed_demo(&app, &url, options.test_clock).await?;
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = vec![tokio::spawn(workers::run_loop(
        app.clone(),
        "deadlines",
        Duration::from_secs(config.server.deadline_poll_secs.max(1)),
        workers::Wake::Deadlines,
        stopped.clone(),
        workers::deadline_step,
    ))];
    if config.webhooks.url.is_empty() {
        tracing::info!("no [webhooks] url: webhooks wait in the outbox");
    } else {
        if config.webhooks.secret.is_empty() {
            anyhow::bail!(
                "[webhooks] url is set but secret is empty: set ORDERLY__WEBHOOKS__SECRET"
            );
        }
        let sender = Arc::new(orderly_app::delivery::WebhookSender::new(
            orderly_app::delivery::WebhookTarget {
                url: config.webhooks.url.clone(),
                secret: config.webhooks.secret.clone(),
            },
            outbox,
        )?);
        workers.push(tokio::spawn(workers::run_loop(
            app.clone(),
            "webhooks",
            Duration::from_secs(1),
            workers::Wake::Deliveries,
            stopped.clone(),
            move |app| workers::webhook_step(app, sender.clone()),
        )));
    }
    if config.email.smtp_url.is_empty() {
        tracing::info!("no [email] smtp_url: e-mails wait in the outbox");
    } else {
        let sender = Arc::new(orderly_app::mail::EmailSender::new(
            &orderly_app::mail::EmailSettings {
                smtp_url: config.email.smtp_url.clone(),
                from: config.email.from.clone(),
            },
            outbox,
        )?);
        tracing::info!(smtp = %orderly_store::redact_url(&config.email.smtp_url), "e-mails are sent");
        app.use_mailer(sender.clone());
        workers.push(tokio::spawn(workers::run_loop(
            app.clone(),
            "emails",
            Duration::from_secs(1),
            workers::Wake::Deliveries,
            stopped.clone(),
            move |app| workers::email_step(app, sender.clone()),
        )));
    }
    let state = AppState::new(app, config.server_options());
    let metrics_server = if config.metrics.listen.is_empty() {
        None
    } else {
        let metrics_listener = tokio::net::TcpListener::bind(&config.metrics.listen)
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot listen on {} for metrics: {error}",
                    config.metrics.listen
                )
            })?;
        tracing::info!(listen = %config.metrics.listen, "metrics are served on their own address");
        let mut metrics_stopped = stopped.clone();
        Some(tokio::spawn(orderly_server::serve_router(
            metrics_listener,
            orderly_server::metrics_app(state.clone()),
            state.options.header_read_timeout,
            None,
            async move {
                let _ = metrics_stopped.changed().await;
            },
        )))
    };
    let mut server_stopped = stopped.clone();
    let server =
        orderly_server::serve_with(listener, state, Some(orderly_web::pages()), async move {
            let _ = server_stopped.changed().await;
        });
    let signals = async {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop.send(true);
    };
    let (served, ()) = tokio::join!(server, signals);
    served.map_err(|error| anyhow::anyhow!("the HTTP server stopped: {error}"))?;
    for worker in workers {
        worker
            .await
            .map_err(|error| anyhow::anyhow!("a worker panicked: {error}"))?;
    }
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    tracing::info!("stopped");
    Ok(())
}

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn orderly_store::Store>> {
    orderly_store::connect(&config.server.db, &config.store_options())
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot open {}: {error}",
                orderly_store::redact_url(&config.server.db)
            )
        })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// The demo market (seeded once, found again on later starts): prints a sign-in link for
/// the demo buyer, seller and support agent, and on the first start their API tokens.
async fn seed_demo(app: &App, url: &str, test_clock: bool) -> anyhow::Result<()> {
    let (demo, tokens) = app.demo().await?;
    println!(
        "\nDemo market: one order in every situation (unpaid, in verification, a cancellation request, shipped, delivered, a dispute, frozen, completed, cancelled)."
    );
    println!("Sign in (each link works once, for 15 minutes; restart for new ones):");
    for (label, account, page) in [
        ("buyer   Alice Martin ", demo.buyer, "/orders"),
        ("seller  Linden Lamps ", demo.seller, "/seller"),
        ("support Sam          ", demo.admin, "/admin"),
    ] {
        let link = app
            .create_signin_link(account, Some(page), |_| None)
            .await?;
        println!("  {label} {}/signin/link/{}", app.public_url(), link.token);
    }
    match tokens {
        Some(tokens) => {
            println!(
                "API tokens (shown this once; also sign in at {url}/signin):\n  buyer   {}\n  buyer   {} (Bob Keller)\n  seller  {}\n  support {}",
                tokens.buyer, tokens.second_buyer, tokens.seller, tokens.admin
            );
            let product = demo.products[0].as_uuid();
            println!(
                r#"Try the API as the buyer:
  curl -s -X POST {url}/api/v1/orders -H 'Authorization: Bearer {buyer}' -H 'Content-Type: application/json' \
    -d '{{"lines":[{{"product_id":"{product}","quantity":1}}],"shipping_address":{{"name":"Alice","city":"Berlin","country":"DE"}},"payment_method":"card"}}'
  curl -s {url}/api/v1/orders -H 'Authorization: Bearer {buyer}'"#,
                buyer = tokens.buyer
            );
        }
        None => {
            println!("(The demo was seeded on an earlier start; its API tokens were printed then.)")
        }
    }
    if test_clock {
        println!(
            "The clock is a test clock: support moves it on {url}/admin/clock, and due deadlines fire on the way."
        );
    }
    println!();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_admin_token_refuses_to_start_with_a_clear_message() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let options = ServeOptions {
            test_clock: true,
            demo: false,
            admin_token: Some("too-short".into()),
        };
        let error = runtime
            .block_on(run(Config::default(), options))
            .expect_err("a 9-character admin token is refused");
        let message = error.to_string();
        assert!(message.contains("ORDERLY_ADMIN_TOKEN"), "{message}");
        assert!(message.contains("at least 32"), "{message}");
    }
}
