//! The use cases. Each command is load → decide → commit in one store transaction, with
//! its outbox rows, stock changes and idempotent response written in the same commit.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use orderly_domain::seller::SellerMetrics;
use orderly_domain::{
    AccountId, Actor, CatalogueLine, Command, Currency, EventKind, Money, Order, OrderId,
    PaymentMethod, PlaceOrder, Policy, ProductId, Rejection, Role, ShippingAddress, Status,
};
use orderly_store::{
    Account, Batch, Committed, Cursor, IdempotentResponse, OrderFilter, Page, Product, Store,
    StoredEvent, Viewer,
};
use uuid::Uuid;

use crate::clock::{Clock, TestClock};
use crate::error::AppError;
use crate::{outbox, tokens};

/// The bootstrap admin behind `ORDERLY_ADMIN_TOKEN` (SPEC 14).
pub const BOOTSTRAP_ADMIN_ID: AccountId = AccountId::from_uuid(Uuid::from_u128(0xad01));
/// Most deadlines fired per claim.
const DEADLINE_BATCH: u32 = 100;
/// How long a claimed deadline is reserved for the process that claimed it.
const DEADLINE_LEASE_SECS: i64 = 60;
/// Most advance steps in one test-clock call, so a runaway timer cannot spin forever.
const ADVANCE_STEPS_MAX: usize = 100_000;
/// The rolling window of seller performance (SPEC 11).
pub const SELLER_WINDOW_DAYS: i64 = 90;

/// Settings the use cases need.
#[derive(Clone, Debug, Default)]
pub struct AppConfig {
    /// `ORDERLY_ADMIN_TOKEN`: when set, this token is a valid admin token.
    pub admin_token: Option<String>,
    /// The base of the links in e-mails, e.g. `https://shop.example` (`[server]
    /// public_url`).
    pub public_url: String,
    /// How long the outbox keeps trying and keeps what it delivered.
    pub outbox: crate::delivery::OutboxSettings,
    /// The key integration secrets are derived from (`[integrations] signing_key`); when
    /// empty, a random key kept in the database.
    pub integration_signing_key: Option<String>,
}

/// Turns the order after a command (and the events it just recorded) into the response the
/// caller gets, so that a retried request can replay it byte for byte.
pub type Render = Arc<dyn Fn(&Order, &[orderly_domain::Event]) -> (u16, String) + Send + Sync>;

/// A reservation whose request never finished is taken over after this long. It is well
/// beyond the whole-request timeout, so the first request has been stopped by then; and
/// should it still commit, its owner no longer matches and its work is undone.
pub const IDEMPOTENCY_STALE_SECS: i64 = 120;

/// An `Idempotency-Key` reserved for one request (SPEC 15.20): its answer is stored in
/// the same transaction as the request's work, under the reservation's owner.
#[derive(Clone, Debug)]
pub struct KeyedRequest {
    pub account_id: AccountId,
    pub key: String,
    pub fingerprint: String,
    /// The reservation's owner: a request whose key was taken over stores nothing.
    pub owner: String,
}

impl KeyedRequest {
    /// The answer to store for this request.
    pub fn answer(&self, status: u16, body: String) -> IdempotentResponse {
        IdempotentResponse {
            account_id: self.account_id,
            key: self.key.clone(),
            owner: self.owner.clone(),
            fingerprint: self.fingerprint.clone(),
            status,
            body,
        }
    }

    /// The claim on the key, made at `now`.
    pub fn reservation(&self, now: Timestamp) -> orderly_store::Reservation {
        orderly_store::Reservation {
            account_id: self.account_id,
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            owner: self.owner.clone(),
            now,
            stale_secs: IDEMPOTENCY_STALE_SECS,
        }
    }
}

/// An `Idempotency-Key` for one command, not claimed yet: the store claims it in the
/// command's own commit. With how to render its answer from the order after the command.
#[derive(Clone)]
pub struct Idempotency {
    pub request: KeyedRequest,
    pub render: Render,
}

/// A page of an order's history as the caller may see it.
#[derive(Clone, Debug)]
pub struct EventPage {
    /// Each event's seq and what the caller may see of it.
    pub events: Vec<(u64, orderly_domain::EventView)>,
    /// The seq to continue after, when there is more.
    pub next: Option<u64>,
    /// The order's currency, for the amounts the events name.
    pub currency: orderly_domain::money::Currency,
}

/// A buyer's order: products and quantities; prices come from the catalogue.
#[derive(Clone, Debug)]
pub struct NewOrder {
    pub lines: Vec<(ProductId, u32)>,
    pub shipping_address: ShippingAddress,
    pub payment_method: PaymentMethod,
}

/// A seller's new product.
#[derive(Clone, Debug)]
pub struct NewProduct {
    pub title: String,
    pub price: Money,
    pub shipping_fee: Money,
    pub stock: i64,
    pub processing_days: u32,
}

/// Most points one penalty by hand may carry.
pub const PENALTY_POINTS_MAX: u32 = 10;

/// Most units of stock a product may have.
pub const STOCK_MAX: i64 = 1_000_000_000;

/// The application: the store, the policy and the clock.
pub struct App {
    pub store: Arc<dyn Store>,
    pub policy: Arc<Policy>,
    pub clock: Arc<dyn Clock>,
    test_clock: Option<Arc<TestClock>>,
    config: AppConfig,
    /// The SHA-256 of `config.admin_token` (when set): a request's token is hashed once,
    /// to be compared with it and looked up.
    admin_token_digest: Option<[u8; 32]>,
    /// One deadline run at a time in this process (the store keeps processes apart).
    deadline_run: tokio::sync::Mutex<()>,
    /// The workers' health, for `/readyz` and `/metrics`.
    pub health: crate::workers::Health,
    /// When idempotency records were last purged.
    last_purge: std::sync::Mutex<Option<Timestamp>>,
    /// Wakes the delivery workers: a command wrote to the outbox, or an admin retried.
    pub deliveries: tokio::sync::Notify,
    /// Wakes the deadline worker: a command armed a deadline due before it meant to look.
    pub deadlines: crate::workers::DeadlineAlarm,
    /// The e-mail sender, when `[email]` is configured: sign-in links go out through it.
    pub(crate) mailer: std::sync::OnceLock<Arc<crate::mail::EmailSender>>,
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        policy: Policy,
        clock: Arc<dyn Clock>,
        config: AppConfig,
    ) -> Self {
        let admin_token_digest = config
            .admin_token
            .as_deref()
            .filter(|token| !token.is_empty())
            .map(tokens::digest);
        Self {
            store,
            policy: Arc::new(policy),
            clock,
            test_clock: None,
            config,
            admin_token_digest,
            deadline_run: tokio::sync::Mutex::new(()),
            health: crate::workers::Health::default(),
            last_purge: std::sync::Mutex::new(None),
            deliveries: tokio::sync::Notify::new(),
            deadlines: crate::workers::DeadlineAlarm::default(),
            mailer: std::sync::OnceLock::new(),
        }
    }

    /// The configured integration signing key, if any.
    pub(crate) fn signing_key_configured(&self) -> Option<&str> {
        self.config
            .integration_signing_key
            .as_deref()
            .filter(|key| !key.is_empty())
    }

    /// How long delivered outbox rows are kept.
    pub fn outbox_keep_delivered(&self) -> jiff::SignedDuration {
        self.config.outbox.keep_delivered
    }

    /// Wakes the delivery workers now rather than at their next poll.
    pub fn wake_deliveries(&self) {
        self.deliveries.notify_waiters();
    }

    /// Runs `decide` on the order, claiming the request's idempotency key first when it
    /// sent one.
    async fn transact(
        &self,
        order_id: OrderId,
        claim: Option<orderly_store::Reservation>,
        decide: orderly_store::Decide,
    ) -> Result<Committed, orderly_store::StoreError> {
        match claim {
            Some(claim) => self.store.transact_claimed(order_id, claim, decide).await,
            None => self.store.transact(order_id, decide).await,
        }
    }

    /// After a commit: the delivery workers have new messages, and the deadline worker is
    /// told of the order's earliest running deadline (it wakes only if that is sooner than
    /// it meant to look).
    fn committed(&self, committed: &Committed) {
        self.wake_deliveries();
        // Under the test clock deadlines fire only when the clock is advanced.
        if self.has_test_clock() {
            return;
        }
        if let Some(due) = committed
            .order
            .deadlines
            .iter()
            .filter(|deadline| !deadline.is_paused())
            .map(|deadline| deadline.due_at)
            .min()
        {
            self.deadlines.armed(due);
        }
    }

    /// Sends a dead outbox message again, with a fresh give-up window (SPEC 16.2).
    pub async fn retry_outbox(&self, id: i64) -> Result<orderly_store::OutboxEntry, AppError> {
        let entry = self
            .store
            .outbox_retry(id, self.now())
            .await?
            .ok_or(AppError::NoSuch("outbox message"))?;
        self.wake_deliveries();
        Ok(entry)
    }

    /// Gives up an outbox message for good, so the order's later messages go.
    pub async fn skip_outbox(&self, id: i64) -> Result<orderly_store::OutboxEntry, AppError> {
        let entry = self
            .store
            .outbox_skip(id, self.now())
            .await?
            .ok_or(AppError::NoSuch("outbox message"))?;
        self.wake_deliveries();
        Ok(entry)
    }

    /// Whether an hour has passed since the last idempotency purge (and notes that one
    /// runs now).
    pub fn purge_due(&self, now: Timestamp) -> bool {
        let mut last = self
            .last_purge
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let due =
            last.is_none_or(|at| now.duration_since(at) >= jiff::SignedDuration::from_hours(1));
        if due {
            *last = Some(now);
        }
        due
    }

    /// An app on a test clock that only `advance_clock` moves.
    pub fn with_test_clock(
        store: Arc<dyn Store>,
        policy: Policy,
        clock: Arc<TestClock>,
        config: AppConfig,
    ) -> Self {
        let mut app = Self::new(store, policy, clock.clone(), config);
        app.test_clock = Some(clock);
        app
    }

    pub fn has_test_clock(&self) -> bool {
        self.test_clock.is_some()
    }

    /// Where people reach the pages (`[server] public_url`), without a trailing slash.
    pub fn public_url(&self) -> &str {
        self.config.public_url.trim_end_matches('/')
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    // ---- Accounts ----------------------------------------------------------------------

    /// The account a bearer token belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Account>, AppError> {
        let digest = tokens::digest(token);
        if let Some(admin) = &self.admin_token_digest
            && tokens::digests_equal(admin, &digest)
        {
            return Ok(Some(Account {
                id: BOOTSTRAP_ADMIN_ID,
                role: Role::Admin,
                name: "bootstrap admin".into(),
                email: None,
                created_at: Timestamp::UNIX_EPOCH,
                revoked_at: None,
            }));
        }
        Ok(self.store.account_by_token(&hex::encode(digest)).await?)
    }

    /// Creates an account and returns it with its token (shown once, stored hashed).
    /// `answer` gives the idempotent answer to store with it; it never sees the token, so
    /// no token is ever stored in plain text.
    pub async fn create_account(
        &self,
        role: Role,
        name: &str,
        email: Option<&str>,
        answer: impl FnOnce(&Account) -> Option<IdempotentResponse>,
    ) -> Result<(Account, String), AppError> {
        let email = email.map(parse_email).transpose()?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Rejection::Validation {
                field: "name",
                detail: "give a name of 1 to 200 characters".into(),
            }
            .into());
        }
        if role == Role::System {
            return Err(Rejection::Validation {
                field: "role",
                detail: "role must be buyer, seller or admin".into(),
            }
            .into());
        }
        let account = Account {
            id: AccountId::from_uuid(new_id()),
            role,
            name: name.to_owned(),
            email,
            created_at: self.now(),
            revoked_at: None,
        };
        let token = tokens::generate();
        let stored = answer(&account);
        self.store
            .create_account(&account, &tokens::hash(&token), stored.as_ref())
            .await?;
        Ok((account, token))
    }

    /// Sets (or, with `None`, removes) an account's e-mail address (SPEC 16.1); the
    /// account after.
    pub async fn set_email(
        &self,
        id: AccountId,
        email: Option<&str>,
        answer: impl FnOnce(&Account) -> Option<IdempotentResponse>,
    ) -> Result<Account, AppError> {
        let email = email.map(parse_email).transpose()?;
        let mut account = self
            .store
            .account(id)
            .await?
            .ok_or(AppError::NoSuch("account"))?;
        account.email = email;
        let stored = answer(&account);
        if !self
            .store
            .set_account_email(id, account.email.as_deref(), self.now(), stored.as_ref())
            .await?
        {
            return Err(AppError::NoSuch("account"));
        }
        Ok(account)
    }

    /// Revokes the account's token; a revoked token gets 401 from then on.
    pub async fn revoke_token(
        &self,
        id: AccountId,
        answer: Option<IdempotentResponse>,
    ) -> Result<bool, AppError> {
        Ok(self
            .store
            .revoke_token(id, self.now(), answer.as_ref())
            .await?)
    }

    pub async fn account(&self, id: AccountId) -> Result<Option<Account>, AppError> {
        Ok(self.store.account(id).await?)
    }

    // ---- Catalogue ---------------------------------------------------------------------

    pub async fn create_product(
        &self,
        seller: AccountId,
        input: NewProduct,
        answer: impl FnOnce(&Product) -> Option<IdempotentResponse>,
    ) -> Result<Product, AppError> {
        let title = input.title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(validation("title", "give a title of 1 to 200 characters"));
        }
        if input.price.amount_minor() == 0 {
            return Err(validation("price", "a product costs more than nothing"));
        }
        if input.price.currency() != input.shipping_fee.currency() {
            return Err(validation(
                "shipping_fee",
                "the shipping fee must be in the price's currency",
            ));
        }
        if !(0..=STOCK_MAX).contains(&input.stock) {
            return Err(validation(
                "stock",
                format!("stock must be between 0 and {STOCK_MAX}"),
            ));
        }
        if !(1..=orderly_domain::order::decide::PROCESSING_DAYS_MAX)
            .contains(&input.processing_days)
        {
            return Err(validation(
                "processing_days",
                format!(
                    "processing time must be between 1 and {} days",
                    orderly_domain::order::decide::PROCESSING_DAYS_MAX
                ),
            ));
        }
        let product = Product {
            id: ProductId::from_uuid(new_id()),
            seller_id: seller,
            title: title.to_owned(),
            currency: input.price.currency().code().to_owned(),
            price_minor: input.price.amount_minor(),
            shipping_fee_minor: input.shipping_fee.amount_minor(),
            stock: input.stock,
            processing_days: input.processing_days,
            created_at: self.now(),
        };
        let stored = answer(&product);
        self.store.create_product(&product, stored.as_ref()).await?;
        Ok(product)
    }

    pub async fn product(&self, id: ProductId) -> Result<Option<Product>, AppError> {
        Ok(self.store.product(id).await?)
    }

    /// Products newest first: one seller's, or the whole catalogue.
    pub async fn products(
        &self,
        filter: orderly_store::ProductFilter,
    ) -> Result<Vec<Product>, AppError> {
        Ok(self.store.list_products(filter).await?)
    }

    /// A seller changes a product of theirs: title, price, shipping fee, stock or
    /// processing time, each checked as at creation. Orders placed before keep the prices
    /// they were placed at.
    pub async fn update_product(
        &self,
        seller: AccountId,
        id: ProductId,
        change: orderly_store::ProductChange,
        answer: impl FnOnce(&Product) -> Option<IdempotentResponse>,
    ) -> Result<Product, AppError> {
        let existing = self
            .store
            .product(id)
            .await?
            .filter(|product| product.seller_id == seller)
            .ok_or(AppError::NoSuch("product"))?;
        let mut change = change;
        if let Some(title) = &change.title {
            let title = title.trim();
            if title.is_empty() || title.chars().count() > 200 {
                return Err(validation("title", "give a title of 1 to 200 characters"));
            }
            change.title = Some(title.to_owned());
        }
        for (field, amount) in [
            ("price", change.price_minor),
            ("shipping_fee", change.shipping_fee_minor),
        ] {
            if let Some(amount) = amount
                && !(0..=orderly_domain::money::AMOUNT_MINOR_MAX).contains(&amount)
            {
                return Err(validation(
                    field,
                    format!(
                        "an amount is 0 to {} minor units",
                        orderly_domain::money::AMOUNT_MINOR_MAX
                    ),
                ));
            }
        }
        if change.price_minor == Some(0) {
            return Err(validation("price", "a product costs more than nothing"));
        }
        if let Some(stock) = change.stock
            && !(0..=STOCK_MAX).contains(&stock)
        {
            return Err(validation(
                "stock",
                format!("stock must be between 0 and {STOCK_MAX}"),
            ));
        }
        if let Some(days) = change.processing_days
            && !(1..=orderly_domain::order::decide::PROCESSING_DAYS_MAX).contains(&days)
        {
            return Err(validation(
                "processing_days",
                format!(
                    "processing time must be between 1 and {} days",
                    orderly_domain::order::decide::PROCESSING_DAYS_MAX
                ),
            ));
        }
        // The answer is rendered from the product as it will be after the change.
        let after = Product {
            title: change.title.clone().unwrap_or(existing.title.clone()),
            price_minor: change.price_minor.unwrap_or(existing.price_minor),
            shipping_fee_minor: change
                .shipping_fee_minor
                .unwrap_or(existing.shipping_fee_minor),
            stock: change.stock.unwrap_or(existing.stock),
            processing_days: change.processing_days.unwrap_or(existing.processing_days),
            ..existing
        };
        let stored = answer(&after);
        self.store
            .update_product(id, seller, &change, self.now(), stored.as_ref())
            .await?
            .ok_or(AppError::NoSuch("product"))
    }

    /// Orders for support's search: one buyer's or one seller's (or everyone's), of one
    /// status or all, newest first.
    pub async fn search_orders(
        &self,
        viewer: Viewer,
        status: Option<Status>,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Page, AppError> {
        Ok(self
            .store
            .list_orders(OrderFilter {
                viewer,
                status,
                after,
                limit,
            })
            .await?)
    }

    /// The orders with that number (as e-mails show it, `#DDC603E088`).
    pub async fn orders_by_number(&self, number: &str) -> Result<Vec<OrderId>, AppError> {
        Ok(self
            .store
            .orders_by_number(number.trim().trim_start_matches('#'))
            .await?)
    }

    /// Accounts newest first, of one role or all (admin pages).
    pub async fn accounts(
        &self,
        role: Option<Role>,
        after: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<Account>, AppError> {
        Ok(self.store.list_accounts(role, after, limit).await?)
    }

    // ---- Orders ------------------------------------------------------------------------

    /// Places an order: prices from the catalogue, stock reserved in the same commit.
    pub async fn place_order(
        &self,
        buyer: AccountId,
        input: NewOrder,
        idempotency: Option<Idempotency>,
    ) -> Result<Committed, AppError> {
        if input.lines.is_empty() || input.lines.len() > orderly_domain::order::decide::LINES_MAX {
            return Err(validation(
                "lines",
                format!(
                    "an order needs between 1 and {} lines",
                    orderly_domain::order::decide::LINES_MAX
                ),
            ));
        }
        let mut catalogue_lines = Vec::with_capacity(input.lines.len());
        let mut reserved: BTreeMap<ProductId, i64> = BTreeMap::new();
        let mut seller: Option<AccountId> = None;
        for (index, (product_id, quantity)) in input.lines.iter().enumerate() {
            let Some(product) = self.store.product(*product_id).await? else {
                return Err(validation(
                    "lines",
                    format!("lines[{index}].product_id: no such product"),
                ));
            };
            if *seller.get_or_insert(product.seller_id) != product.seller_id {
                return Err(validation(
                    "lines",
                    "every line of an order must come from the same seller; place one order per seller",
                ));
            }
            let currency = Currency::parse(&product.currency).map_err(anyhow::Error::new)?;
            catalogue_lines.push(CatalogueLine {
                product_id: product.id,
                title: product.title.clone(),
                quantity: *quantity,
                unit_price: Money::parse(product.price_minor, currency)
                    .map_err(anyhow::Error::new)?,
                shipping_fee: Money::parse(product.shipping_fee_minor, currency)
                    .map_err(anyhow::Error::new)?,
                processing_days: Some(product.processing_days),
            });
            *reserved.entry(product.id).or_default() -= i64::from(*quantity);
        }
        let order_id = OrderId::from_uuid(new_id());
        let command = PlaceOrder {
            order_id,
            buyer_id: buyer,
            seller_id: seller.expect("an order has at least one line"),
            lines: catalogue_lines,
            shipping_address: input.shipping_address,
            payment_method: input.payment_method,
        };
        let now = self.now();
        let policy = self.policy.clone();
        let actor = Actor::Buyer(buyer);
        let stock: Vec<(ProductId, i64)> = reserved.into_iter().collect();
        let unpaid_orders_max = self.policy.unpaid_orders_per_buyer_max;
        let public_url = self.config.public_url.clone();
        let claim = idempotency
            .as_ref()
            .map(|idempotency| idempotency.request.reservation(now));
        let committed = self
            .transact(
                order_id,
                claim,
                Box::new(move |_: Option<&Order>| {
                    let decision = orderly_domain::place(command.clone(), actor, now, &policy)?;
                    let mut batch = to_batch(
                        decision,
                        None,
                        actor,
                        idempotency.as_ref(),
                        &policy,
                        &public_url,
                    );
                    batch.stock = stock.clone();
                    batch.unpaid_orders_max = Some(unpaid_orders_max);
                    Ok(batch)
                }),
            )
            .await?;
        self.committed(&committed);
        record_command("place_order", "accepted");
        Ok(committed)
    }

    /// "Order again" [004]: a new order with the same products, quantities, address and
    /// payment method as a finished one, at today's catalogue prices.
    pub async fn order_again(
        &self,
        buyer: AccountId,
        order_id: OrderId,
        idempotency: Option<Idempotency>,
    ) -> Result<Committed, AppError> {
        let actor = Actor::Buyer(buyer);
        let order = self.order_for(actor, order_id).await?;
        orderly_domain::check(
            &order,
            orderly_domain::Action::OrderAgain,
            actor,
            self.now(),
            &self.policy,
        )?;
        let input = NewOrder {
            lines: order
                .lines
                .iter()
                .map(|line| (line.product_id, line.quantity))
                .collect(),
            shipping_address: order.shipping_address.clone(),
            payment_method: order.payment_method,
        };
        // The request names no lines: what today's catalogue refuses in them (a product
        // gone or now priced past the largest total) is the state of things, not bad input.
        self.place_order(buyer, input, idempotency)
            .await
            .map_err(|error| match error {
                AppError::Rejected(Rejection::Validation { detail, .. }) => Rejection::Conflict {
                    detail: format!("this order cannot be placed again: {detail}"),
                }
                .into(),
                other => other,
            })
    }

    /// Runs one command on an order as `actor`, now.
    pub async fn command(
        &self,
        actor: Actor,
        order_id: OrderId,
        command: Command,
        idempotency: Option<Idempotency>,
    ) -> Result<Committed, AppError> {
        self.command_at(actor, order_id, command, idempotency, self.now())
            .await
    }

    /// Runs one command that the caller asked for as `action` (an API route), now: who may
    /// see the order and whether their role ever takes `action` are checked on the order
    /// the command decides on, in its transaction, before the command's own rules. The
    /// order is read once.
    pub async fn command_as(
        &self,
        actor: Actor,
        order_id: OrderId,
        action: orderly_domain::Action,
        command: Command,
        idempotency: Option<Idempotency>,
    ) -> Result<Committed, AppError> {
        self.command_with(
            actor,
            order_id,
            Some(action),
            command,
            idempotency,
            self.now(),
            None,
        )
        .await
    }

    async fn command_at(
        &self,
        actor: Actor,
        order_id: OrderId,
        command: Command,
        idempotency: Option<Idempotency>,
        now: Timestamp,
    ) -> Result<Committed, AppError> {
        self.command_with(actor, order_id, None, command, idempotency, now, None)
            .await
    }

    /// A command (asked for as `action`, when it came through an API route), with the
    /// bytes of the evidence file it records (if any) written in its transaction.
    #[allow(clippy::too_many_arguments)]
    async fn command_with(
        &self,
        actor: Actor,
        order_id: OrderId,
        action: Option<orderly_domain::Action>,
        command: Command,
        idempotency: Option<Idempotency>,
        now: Timestamp,
        evidence: Option<orderly_store::NewEvidence>,
    ) -> Result<Committed, AppError> {
        let policy = self.policy.clone();
        let public_url = self.config.public_url.clone();
        let name = command_name(&command);
        let claim = idempotency
            .as_ref()
            .map(|idempotency| idempotency.request.reservation(now));
        let outcome = self
            .transact(
                order_id,
                claim,
                Box::new(move |order: Option<&Order>| {
                    let order = order.ok_or(Rejection::NotFound)?;
                    if let Some(action) = action {
                        orderly_domain::order::decide::authorize(order, action, actor)?;
                    }
                    let decision =
                        orderly_domain::decide(order, command.clone(), actor, now, &policy)?;
                    let mut batch = to_batch(
                        decision,
                        Some(order),
                        actor,
                        idempotency.as_ref(),
                        &policy,
                        &public_url,
                    );
                    batch.evidence = evidence.clone();
                    Ok(batch)
                }),
            )
            .await
            .map_err(AppError::from);
        if let Ok(committed) = &outcome {
            self.committed(committed);
        }
        let counted = match &outcome {
            Ok(_) => Some("accepted"),
            Err(AppError::Rejected(rejection)) => Some(rejection.code()),
            // A retry answered from its key ran nothing: not counted, as before the key
            // was claimed in the command's commit.
            Err(AppError::KeyUsed(_)) => None,
            Err(_) => Some("failed"),
        };
        if let Some(counted) = counted {
            record_command(name, counted);
        }
        outcome
    }

    /// The order, if `actor` may see it (strangers get `not_found`, SPEC 1).
    pub async fn order_for(&self, actor: Actor, order_id: OrderId) -> Result<Order, AppError> {
        let order = self.store.load_order(order_id).await?;
        match order {
            Some(order) if orderly_domain::order::decide::can_see(&order, actor) => Ok(order),
            _ => Err(Rejection::NotFound.into()),
        }
    }

    /// The order's whole history, oldest first, if `actor` may see it, as stored: for the
    /// platform's own tools. Parties read it through [`App::events_page`].
    pub async fn events_for(
        &self,
        actor: Actor,
        order_id: OrderId,
    ) -> Result<Vec<StoredEvent>, AppError> {
        self.order_for(actor, order_id).await?;
        Ok(self.store.order_events(order_id).await?)
    }

    /// A page of the order's history, oldest first, as `actor` may see it (SPEC 16.3:
    /// admin notes, admin ids and others' complaints removed): events after `after`, at
    /// most `limit`, only of `kind` when given.
    pub async fn events_page(
        &self,
        actor: Actor,
        order_id: OrderId,
        after: u64,
        limit: u32,
        kind: Option<&str>,
    ) -> Result<EventPage, AppError> {
        let order = self.order_for(actor, order_id).await?;
        let (events, next) = self
            .store
            .order_events_page(order_id, after, limit, kind)
            .await?;
        let audience = orderly_domain::Audience::of(actor);
        Ok(EventPage {
            currency: order.currency,
            events: events
                .iter()
                .filter_map(|stored| {
                    orderly_domain::visible(&stored.event, audience).map(|view| (stored.seq, view))
                })
                .collect(),
            next,
        })
    }

    /// The caller's orders (admins: all), newest first.
    pub async fn list_orders(
        &self,
        actor: Actor,
        status: Option<Status>,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Page, AppError> {
        let viewer = match actor {
            Actor::Buyer(id) => Viewer::Buyer(id),
            Actor::Seller(id) => Viewer::Seller(id),
            Actor::Admin(_) | Actor::System | Actor::Provider(_) => Viewer::Everyone,
        };
        Ok(self
            .store
            .list_orders(OrderFilter {
                viewer,
                status,
                after,
                limit,
            })
            .await?)
    }

    /// A seller and their performance over the rolling window (SPEC 11).
    pub async fn seller(&self, seller_id: AccountId) -> Result<(Account, SellerMetrics), AppError> {
        let account = self
            .store
            .account(seller_id)
            .await?
            .filter(|account| account.role == Role::Seller)
            .ok_or(Rejection::NotFound)?;
        let since = self.now() - jiff::SignedDuration::from_hours(24 * SELLER_WINDOW_DAYS);
        let mut metrics = self.store.seller_metrics(seller_id, since).await?;
        // Penalties count as long as they are not revoked, whether the engine or support
        // applied them (SPEC 16.3).
        metrics.penalty_points = self.store.penalty_points(seller_id, since).await?;
        Ok((account, metrics))
    }

    // ---- Evidence ----------------------------------------------------------------------

    /// Adds an evidence file to the order's open claim (SPEC 16.4): a JPEG, PNG, WebP or
    /// PDF judged by its content, whose name (if it has an extension) agrees; at most 5 MiB
    /// (the caller stops reading beyond that) and 10 per claim. The bytes are written in
    /// the command's transaction.
    pub async fn add_evidence(
        &self,
        actor: Actor,
        order_id: OrderId,
        filename: &str,
        bytes: Vec<u8>,
        note: Option<String>,
        idempotency: Option<Idempotency>,
    ) -> Result<Committed, AppError> {
        let content_type = crate::evidence::sniff(&bytes).ok_or(AppError::UnsupportedMedia(
            "evidence must be a JPEG, PNG or WebP image or a PDF; this file is none of them".into(),
        ))?;
        let filename = crate::evidence::clean_name(filename);
        if !crate::evidence::name_agrees(&filename, content_type) {
            return Err(AppError::UnsupportedMedia(format!(
                "the file is {content_type} but its name `{filename}` says otherwise; rename it or send the right file"
            )));
        }
        let size = bytes.len() as u64;
        if size > orderly_domain::order::decide::EVIDENCE_BYTES_MAX {
            return Err(AppError::TooLarge(format!(
                "an evidence file is at most {} MiB",
                orderly_domain::order::decide::EVIDENCE_BYTES_MAX / 1024 / 1024
            )));
        }
        let evidence_id = orderly_domain::EvidenceId::from_uuid(new_id());
        let command = Command::AddEvidence {
            evidence_id,
            filename: filename.clone(),
            content_type: content_type.to_owned(),
            size,
            note,
        };
        let stored = orderly_store::NewEvidence {
            id: evidence_id,
            filename,
            content_type: content_type.to_owned(),
            bytes,
            uploaded_by: actor.role().code().to_owned(),
        };
        self.command_with(
            actor,
            order_id,
            None,
            command,
            idempotency,
            self.now(),
            Some(stored),
        )
        .await
    }

    /// An evidence file of an order `actor` may see.
    pub async fn evidence_file(
        &self,
        actor: Actor,
        order_id: OrderId,
        evidence_id: orderly_domain::EvidenceId,
    ) -> Result<orderly_store::EvidenceFile, AppError> {
        self.order_for(actor, order_id).await?;
        self.store
            .evidence_file(order_id, evidence_id)
            .await?
            .ok_or(AppError::NoSuch("evidence file"))
    }

    // ---- Support desk ------------------------------------------------------------------

    /// A page of the work queue (SPEC 16.3).
    pub async fn queue(
        &self,
        filter: orderly_store::QueueFilter,
    ) -> Result<orderly_store::QueuePage, AppError> {
        Ok(self.store.list_queue(filter).await?)
    }

    /// Assigns a queue item to an admin (or to nobody).
    pub async fn assign_queue_item(
        &self,
        id: Uuid,
        assignee: Option<AccountId>,
        answer: impl FnOnce(&orderly_store::QueueItem) -> Option<IdempotentResponse>,
    ) -> Result<orderly_store::QueueItem, AppError> {
        let item = self
            .store
            .queue_item(id)
            .await?
            .ok_or(AppError::NoSuch("queue item"))?;
        if let Some(assignee) = assignee
            && assignee != BOOTSTRAP_ADMIN_ID
        {
            match self.store.account(assignee).await? {
                None => return Err(AppError::NoSuch("admin account")),
                Some(account) if account.role != Role::Admin => {
                    return Err(validation(
                        "assignee_id",
                        "assign items to an admin account",
                    ));
                }
                Some(_) => {}
            }
        }
        let mut after = item.clone();
        after.assignee_id = assignee;
        let stored = answer(&after);
        self.store
            .assign_queue_item(id, assignee, self.now(), stored.as_ref())
            .await?
            .ok_or(AppError::NoSuch("queue item"))
    }

    /// Resolves a queue item with a note.
    pub async fn resolve_queue_item(
        &self,
        id: Uuid,
        by: AccountId,
        note: &str,
        answer: impl FnOnce(&orderly_store::QueueItem) -> Option<IdempotentResponse>,
    ) -> Result<orderly_store::QueueItem, AppError> {
        let note = note.trim();
        if note.is_empty() || note.chars().count() > orderly_domain::order::decide::TEXT_LEN_MAX {
            return Err(validation(
                "note",
                "say how it was resolved, in 1 to 2000 characters",
            ));
        }
        let item = self
            .store
            .queue_item(id)
            .await?
            .ok_or(AppError::NoSuch("queue item"))?;
        let now = self.now();
        let mut after = item.clone();
        if after.status == "open" {
            after.status = "done".into();
            after.resolved_at = Some(now);
            after.resolved_by = Some(by);
            after.resolution_note = Some(note.to_owned());
        }
        let stored = answer(&after);
        self.store
            .resolve_queue_item(id, by, note, now, stored.as_ref())
            .await?
            .ok_or(AppError::NoSuch("queue item"))
    }

    /// A seller's penalties, newest first: the engine's and support's (SPEC 16.3).
    pub async fn penalties(
        &self,
        seller_id: AccountId,
    ) -> Result<Vec<orderly_store::Penalty>, AppError> {
        self.seller(seller_id).await?;
        Ok(self.store.penalties(seller_id).await?)
    }

    /// Applies penalty points to a seller by hand, with a reason.
    pub async fn apply_penalty(
        &self,
        seller_id: AccountId,
        points: u32,
        reason: &str,
        answer: Option<&(dyn for<'p> Fn(&'p orderly_store::Penalty) -> IdempotentResponse + Sync)>,
    ) -> Result<orderly_store::Penalty, AppError> {
        self.seller(seller_id).await?;
        if !(1..=PENALTY_POINTS_MAX).contains(&points) {
            return Err(validation(
                "points",
                format!("give 1 to {PENALTY_POINTS_MAX} points"),
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > orderly_domain::order::decide::TEXT_LEN_MAX
        {
            return Err(validation(
                "reason",
                "give the reason, in 1 to 2000 characters",
            ));
        }
        Ok(self
            .store
            .add_penalty(seller_id, points, reason, self.now(), answer)
            .await?)
    }

    /// Revokes one of a seller's penalties with a note; the rating no longer counts it.
    pub async fn revoke_penalty(
        &self,
        seller_id: AccountId,
        penalty_id: i64,
        note: &str,
        answer: Option<&(dyn for<'p> Fn(&'p orderly_store::Penalty) -> IdempotentResponse + Sync)>,
    ) -> Result<orderly_store::Penalty, AppError> {
        self.seller(seller_id).await?;
        let note = note.trim();
        if note.is_empty() || note.chars().count() > orderly_domain::order::decide::TEXT_LEN_MAX {
            return Err(validation(
                "note",
                "say why it is revoked, in 1 to 2000 characters",
            ));
        }
        self.store
            .revoke_penalty(seller_id, penalty_id, note, self.now(), answer)
            .await?
            .ok_or(AppError::NoSuch("penalty"))
    }

    // ---- Deadlines ---------------------------------------------------------------------

    /// Fires every deadline due at `now`, earliest first, each through `decide` as the
    /// system. Returns how many fired.
    pub async fn run_due_deadlines(&self, now: Timestamp) -> Result<usize, AppError> {
        let _running = self.deadline_run.lock().await;
        Ok(self.fire_due(now).await?.fired)
    }

    async fn fire_due(&self, now: Timestamp) -> Result<Fired, AppError> {
        let mut outcome = Fired::default();
        loop {
            let due = self
                .store
                .claim_due_deadlines(now, DEADLINE_BATCH, DEADLINE_LEASE_SECS)
                .await?;
            if due.is_empty() {
                return Ok(outcome);
            }
            outcome.claimed += due.len();
            for deadline in due {
                let command = Command::ExpireDeadline {
                    kind: deadline.kind,
                };
                match self
                    .command_at(Actor::System, deadline.order_id, command, None, now)
                    .await
                {
                    Ok(_) => {
                        outcome.fired += 1;
                        metrics::counter!("orderly_deadlines_fired_total", "kind" => deadline.kind.code()).increment(1);
                    }
                    // Another process fired it first, or an action changed the order between
                    // the claim and the command: the deadline no longer applies.
                    Err(AppError::Rejected(rejection)) => {
                        tracing::warn!(order_id = %deadline.order_id, kind = %deadline.kind, %rejection, "a claimed deadline was refused");
                    }
                    Err(AppError::Conflict) => {}
                    Err(error) => return Err(error),
                }
            }
        }
    }

    /// Test clock only: moves time forward by `seconds`, firing every deadline that falls
    /// due on the way at its due time, in due order, including deadlines armed on the way
    /// (SPEC 15.17). Returns the new time once all of them have fired.
    /// Moves the test clock forward by `seconds`, firing every deadline due on the way in
    /// order; the new time and how many deadlines fired.
    pub async fn advance_clock(&self, seconds: i64) -> Result<(Timestamp, usize), AppError> {
        let Some(clock) = &self.test_clock else {
            return Err(Rejection::NotFound.into());
        };
        if seconds <= 0 || seconds > 100 * 365 * 86_400 {
            return Err(validation(
                "seconds",
                "advance by a whole number of seconds above 0",
            ));
        }
        let _running = self.deadline_run.lock().await;
        let target = clock.now() + jiff::SignedDuration::from_secs(seconds);
        let mut fired = 0;
        for _ in 0..ADVANCE_STEPS_MAX {
            let Some(next) = self.store.next_deadline(clock.now()).await? else {
                break;
            };
            if next > target {
                break;
            }
            clock.set(next);
            let now = clock.now();
            let round = self.fire_due(now).await?;
            fired += round.fired;
            if round.claimed == 0 {
                // Claimed by another process: do not spin on it.
                break;
            }
        }
        clock.set(target);
        fired += self.fire_due(target).await?.fired;
        Ok((clock.now(), fired))
    }
}

/// What one deadline run did.
#[derive(Clone, Copy, Debug, Default)]
struct Fired {
    claimed: usize,
    fired: usize,
}

/// The batch of a decision: its events and order, the outbox rows, stock released if the
/// order ended before shipment, and the idempotent response.
fn to_batch(
    decision: orderly_domain::Decision,
    before: Option<&Order>,
    actor: Actor,
    idempotency: Option<&Idempotency>,
    policy: &Policy,
    public_url: &str,
) -> Batch {
    let first_seq = before.map_or(1, |order| order.version + 1);
    let now = decision
        .events
        .last()
        .map_or(decision.order.placed_at, |event| event.at);
    let outbox = outbox::messages(
        &decision.order,
        &decision.events,
        first_seq,
        now,
        policy,
        public_url,
    );
    let (queue, queue_resolutions) =
        crate::queue::changes(&decision.events, first_seq, &decision.order, policy);
    let releases_stock = decision
        .events
        .iter()
        .any(|event| matches!(event.kind, EventKind::StockReleased));
    let stock = if releases_stock {
        let mut released: BTreeMap<ProductId, i64> = BTreeMap::new();
        for line in &decision.order.lines {
            *released.entry(line.product_id).or_default() += i64::from(line.quantity);
        }
        released.into_iter().collect()
    } else {
        Vec::new()
    };
    let idempotency = match (idempotency, actor.account_id()) {
        (Some(idempotency), Some(_)) => {
            let (status, body) = (idempotency.render)(&decision.order, &decision.events);
            Some(idempotency.request.answer(status, body))
        }
        _ => None,
    };
    Batch {
        events: decision.events,
        order: decision.order,
        outbox,
        idempotency,
        stock,
        unpaid_orders_max: None,
        queue,
        queue_resolutions,
        evidence: None,
    }
}

/// An e-mail address as lettre (and SMTP) accepts it, trimmed; 422 otherwise.
fn parse_email(text: &str) -> Result<String, AppError> {
    let text = text.trim();
    if text.chars().count() > EMAIL_LEN_MAX {
        return Err(validation(
            "email",
            format!("an address is at most {EMAIL_LEN_MAX} characters"),
        ));
    }
    text.parse::<lettre::Address>()
        .map(|address| address.to_string())
        .map_err(|error| {
            validation(
                "email",
                format!("`{text}` is not an e-mail address ({error})"),
            )
        })
}

/// The longest e-mail address accepted (RFC 5321's path limit).
pub const EMAIL_LEN_MAX: usize = 254;

/// A 422 for `field`, for the app's other modules.
pub(crate) fn validation_error(field: &'static str, detail: impl Into<String>) -> AppError {
    validation(field, detail)
}

fn validation(field: &'static str, detail: impl Into<String>) -> AppError {
    AppError::Rejected(Rejection::Validation {
        field,
        detail: detail.into(),
    })
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::ExpireDeadline { .. } => "expire_deadline",
        Command::Cancel { .. } => "cancel",
        other => other
            .action(Status::AwaitingShipment)
            .map_or("unknown", |action| action.code()),
    }
}

fn record_command(command: &'static str, outcome: &'static str) {
    metrics::counter!("orderly_commands_total", "command" => command, "outcome" => outcome)
        .increment(1);
}

/// A new time-ordered id. The app is where ids are made; the domain only receives them.
#[allow(
    clippy::disallowed_methods,
    reason = "the app is the one place that makes ids"
)]
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
