//! A small story harness: an order, a clock and a policy, with one method per step, so each
//! test reads as given / when / then. Deadlines fire the way the scheduler fires them:
//! through `decide`, as the system, at their due time, in due order.

use jiff::{SignedDuration, Timestamp};
use orderly_domain::{
    AccountId, Action, Actor, Command, Currency, Decision, Event, Order, OrderId, PaymentMethod,
    PlaceOrder, Policy, Rejection, decide, place, replay,
};
use uuid::Uuid;

pub const BUYER: AccountId = AccountId::from_uuid(Uuid::from_u128(0xb1));
pub const SELLER: AccountId = AccountId::from_uuid(Uuid::from_u128(0x51));
pub const ADMIN: AccountId = AccountId::from_uuid(Uuid::from_u128(0xad));
pub const OTHER_BUYER: AccountId = AccountId::from_uuid(Uuid::from_u128(0xb2));
pub const OTHER_SELLER: AccountId = AccountId::from_uuid(Uuid::from_u128(0x52));

pub const BUYER_ACTOR: Actor = Actor::Buyer(BUYER);
pub const SELLER_ACTOR: Actor = Actor::Seller(SELLER);
pub const ADMIN_ACTOR: Actor = Actor::Admin(ADMIN);

/// Unit price 1500, two of them, shipping 500: items 3000, total 3500.
pub const ITEMS: i64 = 3_000;
pub const SHIPPING: i64 = 500;
pub const TOTAL: i64 = ITEMS + SHIPPING;

pub fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

pub fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// Monday 2 November 2026, 09:00 UTC.
pub fn start_time() -> Timestamp {
    "2026-11-02T09:00:00Z".parse().expect("valid timestamp")
}

pub fn eur() -> Currency {
    Currency::parse("EUR").expect("EUR is a currency")
}

pub fn place_command(method: PaymentMethod) -> PlaceOrder {
    let order_id = OrderId::from_uuid(Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef));
    PlaceOrder {
        payment_method: method,
        ..PlaceOrder::sample(order_id, BUYER, SELLER)
    }
}

/// One order under test, with its full history.
pub struct Story {
    pub order: Order,
    pub events: Vec<Event>,
    pub now: Timestamp,
    pub policy: Policy,
}

impl Story {
    /// Given: an order placed with a card under the default policy.
    pub fn placed() -> Self {
        Self::placed_with(Policy::default(), PaymentMethod::Card)
    }

    pub fn placed_with(policy: Policy, method: PaymentMethod) -> Self {
        let now = start_time();
        let decision = place(place_command(method), BUYER_ACTOR, now, &policy)
            .expect("the sample order is valid");
        Self {
            order: decision.order,
            events: decision.events,
            now,
            policy,
        }
    }

    /// Given: paid, not yet verified.
    pub fn paid() -> Self {
        let mut story = Self::placed();
        story.act(BUYER_ACTOR, Action::Pay);
        story
    }

    /// Given: paid and verified, awaiting shipment.
    pub fn verified() -> Self {
        let mut story = Self::paid();
        story.act(ADMIN_ACTOR, Action::VerifyPayment);
        story
    }

    /// Given: verified, with a pending cancellation request.
    pub fn requested() -> Self {
        let mut story = Self::verified();
        story.act(BUYER_ACTOR, Action::RequestCancellation);
        story
    }

    pub fn shipped() -> Self {
        let mut story = Self::verified();
        story.act(SELLER_ACTOR, Action::Ship);
        story
    }

    pub fn delivered() -> Self {
        let mut story = Self::shipped();
        story.act(ADMIN_ACTOR, Action::MarkDelivered);
        story
    }

    /// When: `actor` takes `action` with the sample arguments; it must be accepted.
    pub fn act(&mut self, actor: Actor, action: Action) -> Decision {
        let command = Command::sample(action, &self.order, &self.policy);
        self.run(actor, command)
    }

    /// When: `actor` sends `command`; it must be accepted.
    pub fn run(&mut self, actor: Actor, command: Command) -> Decision {
        let decision = self
            .try_run(actor, command.clone())
            .unwrap_or_else(|rejection| {
                panic!(
                    "{command:?} by {actor:?} was refused: {rejection} ({})",
                    rejection.code()
                )
            });
        self.record(&decision);
        decision
    }

    /// When: `actor` sends `command`; the caller inspects the outcome. A refusal changes
    /// nothing.
    pub fn try_run(&self, actor: Actor, command: Command) -> Result<Decision, Rejection> {
        decide(&self.order, command, actor, self.now, &self.policy)
    }

    /// The rejection `actor` gets for `action` with sample arguments.
    pub fn refusal(&self, actor: Actor, action: Action) -> Rejection {
        let command = Command::sample(action, &self.order, &self.policy);
        match self.try_run(actor, command) {
            Ok(decision) => panic!("{action} by {actor:?} was accepted: {:?}", decision.events),
            Err(rejection) => rejection,
        }
    }

    fn record(&mut self, decision: &Decision) {
        self.events.extend(decision.events.iter().cloned());
        self.order = decision.order.clone();
        let replayed = replay(&self.events).expect("history is not empty");
        assert_eq!(
            replayed, self.order,
            "replaying the events must rebuild the order"
        );
        self.order
            .check_invariants()
            .unwrap_or_else(|broken| panic!("invariant broken: {broken}"));
    }

    /// When: time passes; every deadline due by then fires at its due time, in due order,
    /// including deadlines armed along the way (SPEC 15.17).
    pub fn advance(&mut self, by: SignedDuration) {
        let target = self.now + by;
        while let Some((kind, due_at)) = self.order.next_due() {
            if due_at > target {
                break;
            }
            self.now = due_at.max(self.now);
            self.run(Actor::System, Command::ExpireDeadline { kind });
        }
        self.now = target;
    }

    /// The names of the events recorded since `from`.
    pub fn event_names_since(&self, from: usize) -> Vec<&'static str> {
        self.events[from..]
            .iter()
            .map(|event| event.kind.name())
            .filter(|name| !name.starts_with("deadline_"))
            .collect()
    }

    pub fn allowed(&self, actor: Actor) -> Vec<Action> {
        orderly_domain::allowed_actions(&self.order, actor, self.now, &self.policy)
    }
}
