//! A deterministic simulation of many orders at once. A seeded generator picks an order,
//! an actor (buyer, seller, admin, or a stranger), an action and its arguments — valid or
//! not — and sometimes jumps the clock forward, firing every deadline that falls due, the
//! way the scheduler does. After every step it checks the invariants of SPEC 6 and the
//! agreement between `allowed_actions` and `decide`. The same seed replays the same run.
//!
//! Nothing here reads a clock or the OS's randomness: the run is a pure function of its
//! configuration.

#![forbid(unsafe_code)]

use jiff::{SignedDuration, Timestamp};
use orderly_domain::order::message::MessageBody;
use orderly_domain::{
    AccountId, Action, Actor, CancelReason, CatalogueLine, ClaimDecision, Command, Currency,
    DisputeReason, Event, EventKind, Fault, Money, Order, OrderId, PaymentMethod, PlaceOrder,
    Policy, ProductId, ReturnReason, ShippingAddress, check, decide, place, replay,
};
use uuid::Uuid;

/// How a run is set up.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub steps: u64,
    /// How many orders are alive at once.
    pub orders_in_flight: usize,
    /// The policy the run uses; randomised per seed by [`SimConfig::with_random_policy`].
    pub policy: Policy,
}

impl SimConfig {
    pub fn new(seed: u64, steps: u64) -> Self {
        Self {
            seed,
            steps,
            orders_in_flight: 16,
            policy: Policy::default(),
        }
    }

    /// Varies the policy settings on which the seeds disagree, chosen by the seed.
    pub fn with_random_policy(mut self) -> Self {
        let mut rng = Rng::new(self.seed ^ 0x5eed_5eed);
        self.policy.cancel_before_verification = rng.chance(50);
        self.policy.refund_shipping_after_shipment = rng.chance(50);
        if rng.chance(50) {
            self.policy.cancel_request_window =
                orderly_domain::policy::CancelRequestWindow::OneDayAfterPayment;
        }
        if rng.chance(50) {
            self.policy.statutory_withdrawal_days = Some(7);
        }
        match rng.below(4) {
            0 => self.policy.payment_verification = orderly_domain::Verification::Manual,
            1 => self.policy.payment_verification = orderly_domain::Verification::Provider,
            _ => {}
        }
        if rng.chance(50) {
            self.policy.payment_window = orderly_domain::Window::Days(7);
            self.policy.seller_response_window = orderly_domain::Window::Days(14);
        }
        self
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimReport {
    pub steps: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub deadlines_fired: u64,
    pub orders_placed: u64,
    pub orders_finished: u64,
    pub events: u64,
    pub refunds: u64,
    /// Claims (returns, refund-only claims, disputes, refused parcels) that ended with a
    /// decided refund.
    pub claims_settled: u64,
    /// How many orders ended in each final status: completed, cancelled, closed.
    pub endings: [u64; 3],
    /// Partial refunds by agreement paid, and seller proposals to cancel accepted.
    pub partial_refunds: u64,
    pub proposals_accepted: u64,
    /// Evidence files added to claims.
    pub evidence: u64,
}

/// A broken invariant, with what is needed to replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFailure {
    pub seed: u64,
    pub step: u64,
    pub message: String,
}

impl std::fmt::Display for SimFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "simulation seed {} failed at step {}: {} (replay with `orderly simulate --seed {} --steps {}`)",
            self.seed,
            self.step,
            self.message,
            self.seed,
            self.step + 1
        )
    }
}

/// Runs the simulation to the end, or to the first broken invariant.
pub fn run(config: &SimConfig) -> Result<SimReport, SimFailure> {
    let mut sim = Sim::new(config);
    for step in 0..config.steps {
        sim.step = step;
        sim.step_once().map_err(|message| SimFailure {
            seed: config.seed,
            step,
            message,
        })?;
        sim.report.steps += 1;
    }
    Ok(sim.report)
}

/// SplitMix64: tiny, fast, and good enough to explore a state machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True `percent` times out of a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An amount around `pivot`: mostly valid, sometimes just outside the bounds.
    fn amount_near(&mut self, pivot: i64) -> i64 {
        match self.below(10) {
            0 => -1,
            1 => 0,
            2 => pivot + 1,
            3 => pivot,
            _ => 1 + self.below(pivot.max(1) as u64) as i64,
        }
    }
}

struct Slot {
    order: Order,
    events: Vec<Event>,
    buyer: AccountId,
    seller: AccountId,
}

struct Sim<'c> {
    config: &'c SimConfig,
    rng: Rng,
    now: Timestamp,
    slots: Vec<Slot>,
    next_id: u128,
    step: u64,
    report: SimReport,
}

const ADMIN: AccountId = AccountId::from_uuid(Uuid::from_u128(0xad));
const STRANGER: AccountId = AccountId::from_uuid(Uuid::from_u128(0x5747));
const PROVIDER: AccountId = AccountId::from_uuid(Uuid::from_u128(0x9a7e));

impl<'c> Sim<'c> {
    fn new(config: &'c SimConfig) -> Self {
        let mut sim = Self {
            config,
            rng: Rng::new(config.seed),
            now: "2026-11-02T09:00:00Z".parse().expect("valid start time"),
            slots: Vec::new(),
            next_id: 1,
            step: 0,
            report: SimReport::default(),
        };
        for _ in 0..config.orders_in_flight.max(1) {
            let slot = sim.new_order();
            sim.slots.push(slot);
        }
        sim
    }

    fn id(&mut self) -> Uuid {
        self.next_id += 1;
        Uuid::from_u128(self.next_id << 64 | u128::from(self.rng.next_u64()))
    }

    fn new_order(&mut self) -> Slot {
        let buyer = AccountId::from_uuid(self.id());
        let seller = AccountId::from_uuid(self.id());
        let code: &&str = self.rng.pick(&["EUR", "USD", "JPY"]);
        let currency = Currency::parse(code).expect("ISO");
        let lines = (0..1 + self.rng.below(3))
            .map(|_| CatalogueLine {
                product_id: ProductId::from_uuid(Uuid::from_u128(self.rng.below(50).into())),
                title: "Sample product".into(),
                quantity: 1 + self.rng.below(3) as u32,
                unit_price: Money::parse(100 + self.rng.below(50_000) as i64, currency)
                    .expect("valid price"),
                shipping_fee: Money::parse(self.rng.below(1_500) as i64, currency)
                    .expect("valid fee"),
                processing_days: self.rng.chance(80).then(|| 1 + self.rng.below(10) as u32),
            })
            .collect();
        let method = *self.rng.pick(&[
            PaymentMethod::Card,
            PaymentMethod::Paypal,
            PaymentMethod::EWallet,
            PaymentMethod::PlatformWallet,
            PaymentMethod::Cash,
            PaymentMethod::WesternUnion,
            PaymentMethod::BankTransfer,
            PaymentMethod::CashOnDelivery,
        ]);
        let command = PlaceOrder {
            order_id: OrderId::from_uuid(self.id()),
            buyer_id: buyer,
            seller_id: seller,
            lines,
            shipping_address: ShippingAddress::parse([("city".to_owned(), "Replay".to_owned())])
                .expect("a valid address"),
            payment_method: method,
        };
        let decision = place(command, Actor::Buyer(buyer), self.now, &self.config.policy)
            .expect("simulated orders are valid");
        self.report.orders_placed += 1;
        self.report.events += decision.events.len() as u64;
        Slot {
            order: decision.order,
            events: decision.events,
            buyer,
            seller,
        }
    }

    fn step_once(&mut self) -> Result<(), String> {
        if self.rng.chance(4) {
            let jump = self.random_jump();
            return self.advance(jump);
        }
        let index = self.rng.below(self.slots.len() as u64) as usize;
        let (buyer, seller) = (self.slots[index].buyer, self.slots[index].seller);
        let actor = match self.rng.below(22) {
            0..=8 => Actor::Buyer(buyer),
            9..=15 => Actor::Seller(seller),
            16..=18 => Actor::Admin(ADMIN),
            // A carrier or payment provider, through its callbacks (SPEC 16.6).
            19 | 20 => Actor::Provider(PROVIDER),
            _ => *self
                .rng
                .pick(&[Actor::Buyer(STRANGER), Actor::Seller(STRANGER)]),
        };
        let order = &self.slots[index].order;
        let allowed = orderly_domain::allowed_actions(order, actor, self.now, &self.config.policy);
        let action = if !allowed.is_empty() && self.rng.chance(75) {
            self.pick_weighted(&allowed)
        } else {
            *self.rng.pick(Action::ALL)
        };
        let command = self.random_command(action, index);
        self.execute(index, command, actor)?;
        self.check_agreement(index)?;
        self.replace_if_finished(index);
        Ok(())
    }

    /// Picks among allowed actions, favouring the ones that move an order forward so that
    /// runs reach delivery, claims and completion as often as early cancellations.
    fn pick_weighted(&mut self, allowed: &[Action]) -> Action {
        let weight = |action: &Action| -> u64 {
            match action {
                Action::Cancel
                | Action::RequestCancellation
                | Action::SellerCancel
                | Action::AdminCancel
                | Action::Freeze
                | Action::RefuseDelivery => 1,
                Action::Message | Action::OrderAgain | Action::UpdateTracking => 2,
                _ => 8,
            }
        };
        let total: u64 = allowed.iter().map(weight).sum();
        let mut ticket = self.rng.below(total);
        for action in allowed {
            if ticket < weight(action) {
                return *action;
            }
            ticket -= weight(action);
        }
        allowed[allowed.len() - 1]
    }

    fn random_jump(&mut self) -> SignedDuration {
        match self.rng.below(10) {
            0..=3 => SignedDuration::from_mins(1 + self.rng.below(120) as i64),
            4..=6 => SignedDuration::from_hours(1 + self.rng.below(48) as i64),
            7 | 8 => SignedDuration::from_hours(24 * (1 + self.rng.below(7) as i64)),
            _ => SignedDuration::from_hours(24 * (1 + self.rng.below(30) as i64)),
        }
    }

    /// Moves the clock to `now + by`, firing every due deadline at its due time, earliest
    /// first, including the ones armed along the way (SPEC 15.17).
    fn advance(&mut self, by: SignedDuration) -> Result<(), String> {
        let target = self.now + by;
        loop {
            let next = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(index, slot)| slot.order.next_due().map(|due| (due.1, due.0, index)))
                .filter(|(due_at, _, _)| *due_at <= target)
                .min();
            let Some((due_at, kind, index)) = next else {
                break;
            };
            self.now = self.now.max(due_at);
            let fired = self.execute(index, Command::ExpireDeadline { kind }, Actor::System)?;
            if !fired {
                return Err(format!(
                    "deadline {kind} of order {} was due but refused",
                    self.slots[index].order.id
                ));
            }
            self.report.deadlines_fired += 1;
            self.replace_if_finished(index);
        }
        self.now = target;
        Ok(())
    }

    /// Sends one command and checks every invariant; `Ok(true)` when it was accepted.
    fn execute(&mut self, index: usize, command: Command, actor: Actor) -> Result<bool, String> {
        let policy = &self.config.policy;
        let before = self.slots[index].order.clone();
        let outcome = decide(&before, command.clone(), actor, self.now, policy);
        let decision = match outcome {
            Err(rejection) => {
                self.report.rejected += 1;
                if matches!(actor, Actor::Buyer(id) | Actor::Seller(id) if id == STRANGER)
                    && rejection.code() != "not_found"
                {
                    return Err(format!(
                        "a stranger got {} instead of not_found",
                        rejection.code()
                    ));
                }
                return Ok(false);
            }
            Ok(decision) => decision,
        };
        if matches!(actor, Actor::Buyer(id) | Actor::Seller(id) if id == STRANGER) {
            return Err(format!("a stranger's {command:?} was accepted"));
        }
        self.report.accepted += 1;
        self.report.events += decision.events.len() as u64;
        let after = decision.order;
        let context = || format!("after {command:?} by {actor:?}");
        after
            .check_invariants()
            .map_err(|broken| format!("{broken} {}", context()))?;
        if before.status.is_final() && after.status != before.status {
            return Err(format!(
                "a finished order left {} for {} {}",
                before.status,
                after.status,
                context()
            ));
        }
        check_deadlines_follow_policy(&before, &decision.events, self.now, policy)
            .map_err(|broken| format!("{broken} {}", context()))?;
        check_no_payout_during_claim(&before, &decision.events)
            .map_err(|broken| format!("{broken} {}", context()))?;
        for event in &decision.events {
            match event.kind {
                EventKind::ClaimSettled { .. } => self.report.claims_settled += 1,
                EventKind::PartialRefundAccepted => self.report.partial_refunds += 1,
                EventKind::CancellationProposalAccepted => self.report.proposals_accepted += 1,
                EventKind::EvidenceAdded { .. } => self.report.evidence += 1,
                _ => {}
            }
            if let EventKind::RefundIssued { amount_minor, .. } = event.kind {
                self.report.refunds += 1;
                if before.status.is_final() {
                    return Err(format!("a finished order was refunded again {}", context()));
                }
                if amount_minor <= 0 {
                    return Err(format!("a refund of {amount_minor} {}", context()));
                }
            }
        }
        // Nothing is refunded twice: one decision sends at most one refund, and exactly
        // what was decided — a settled claim's amount, or all that was left in escrow when
        // an order is cancelled.
        let refunds: Vec<i64> = decision
            .events
            .iter()
            .filter_map(|event| match event.kind {
                EventKind::RefundIssued { amount_minor, .. } => Some(amount_minor),
                _ => None,
            })
            .collect();
        let settled = decision.events.iter().find_map(|event| match event.kind {
            EventKind::ClaimSettled { refund_minor } => Some(refund_minor),
            _ => None,
        });
        let cancelled = decision
            .events
            .iter()
            .any(|event| matches!(event.kind, EventKind::OrderCancelled { .. }));
        let partial = decision
            .events
            .iter()
            .any(|event| matches!(event.kind, EventKind::PartialRefundAccepted))
            .then(|| {
                before
                    .pending_partial_refund()
                    .map(|offer| offer.amount_minor)
            })
            .flatten();
        let decided = match (settled, cancelled, partial) {
            (Some(refund), _, _) => refund,
            (None, true, _) => before.escrow.held_minor,
            (None, false, Some(offer)) => offer,
            (None, false, None) => 0,
        };
        if refunds.len() > 1 || refunds.iter().sum::<i64>() != decided {
            return Err(format!(
                "refunds {refunds:?} differ from the {decided} decided {}",
                context()
            ));
        }
        if after.escrow.refunded_minor > after.escrow.captured_minor {
            return Err(format!("refunds exceed the payment {}", context()));
        }
        let slot = &mut self.slots[index];
        slot.events.extend(decision.events);
        let replayed = replay(&slot.events).expect("history is not empty");
        if replayed != after {
            return Err(format!(
                "replaying the events does not rebuild the order {}",
                context()
            ));
        }
        slot.order = after;
        Ok(true)
    }

    /// `allowed_actions` lists an action exactly when `decide` accepts it with valid
    /// arguments, for every party of the order.
    fn check_agreement(&self, index: usize) -> Result<(), String> {
        let slot = &self.slots[index];
        let policy = &self.config.policy;
        let actor = match self.step % 4 {
            0 => Actor::Buyer(slot.buyer),
            1 => Actor::Seller(slot.seller),
            2 => Actor::Admin(ADMIN),
            _ => Actor::Provider(PROVIDER),
        };
        for action in Action::ALL.iter().copied() {
            let command = Command::sample(action, &slot.order, policy);
            let listed = check(&slot.order, action, actor, self.now, policy).is_ok();
            if command.action(slot.order.status) != Some(action) {
                // `cancel` (at once) and `request_cancellation` are one command whose code
                // depends on the status: the code that does not apply now is never listed.
                if listed {
                    return Err(format!(
                        "allowed_actions lists {action} in {}, where the cancel command means {:?}",
                        slot.order.status,
                        command.action(slot.order.status)
                    ));
                }
                continue;
            }
            if listed
                && matches!(action, Action::Cancel | Action::RequestCancellation)
                && (slot.order.status.is_after_shipment() || slot.order.status.is_final())
            {
                return Err(format!(
                    "{action} is offered in {}: the cancel button must disappear once shipped",
                    slot.order.status
                ));
            }
            let accepted = decide(&slot.order, command, actor, self.now, policy);
            if listed != accepted.is_ok() {
                return Err(format!(
                    "allowed_actions says {action} is {} for {:?} in {}, decide says {:?}",
                    if listed { "allowed" } else { "not allowed" },
                    actor.role(),
                    slot.order.status,
                    accepted.err()
                ));
            }
        }
        Ok(())
    }

    fn replace_if_finished(&mut self, index: usize) {
        let order = &self.slots[index].order;
        if order.status.is_final() && order.deadlines.is_empty() {
            let ending = match order.status {
                orderly_domain::Status::Completed => 0,
                orderly_domain::Status::Cancelled => 1,
                _ => 2,
            };
            self.report.endings[ending] += 1;
            self.report.orders_finished += 1;
            self.slots[index] = self.new_order();
        }
    }

    /// The sample command for `action`, with arguments varied by the generator: other
    /// reasons, amounts at and beyond the bounds, repeated messages.
    fn random_command(&mut self, action: Action, index: usize) -> Command {
        let order = &self.slots[index].order;
        let policy = &self.config.policy;
        let mut command = Command::sample(action, order, policy);
        let cap = order.claim_cap_minor(policy.refund_shipping_after_shipment);
        let rng = &mut self.rng;
        match &mut command {
            Command::Pay { method } if rng.chance(30) => {
                *method = Some(*rng.pick(&[
                    PaymentMethod::Card,
                    PaymentMethod::Paypal,
                    PaymentMethod::Cash,
                ]));
            }
            Command::VerifyPayment { approved } => *approved = rng.chance(80),
            Command::Cancel {
                reason, complaint, ..
            } => {
                *reason = *rng.pick(CancelReason::ALL);
                if rng.chance(10) {
                    *complaint = Some("the seller is slow".into());
                }
            }
            Command::SellerCancel { reason } => *reason = *rng.pick(CancelReason::ALL),
            Command::DecideCancellation { approve, .. } => *approve = rng.chance(50),
            Command::RequestReturn {
                reason,
                amount_minor,
                ..
            } => {
                *reason = *rng.pick(ReturnReason::ALL);
                *amount_minor = rng.amount_near(cap);
            }
            Command::OpenDispute {
                reason,
                amount_minor,
                return_item,
                ..
            } => {
                *reason = *rng.pick(DisputeReason::ALL);
                *amount_minor = rng.amount_near(cap);
                *return_item = rng.chance(40);
            }
            Command::RespondClaim {
                decision,
                amount_minor,
                explanation,
            } => {
                *decision = *rng.pick(&[
                    ClaimDecision::Accept,
                    ClaimDecision::Reject,
                    ClaimDecision::Counter,
                ]);
                let asked = order
                    .claim
                    .as_ref()
                    .map_or(0, |claim| claim.amount_asked_minor);
                *amount_minor = Some(rng.amount_near(asked));
                *explanation = "answer".into();
            }
            Command::ResolveClaim {
                refund_amount_minor,
                return_required,
                return_shipping_paid_by,
            } => {
                *refund_amount_minor = rng.amount_near(order.refundable_minor());
                *return_required = rng.chance(30);
                *return_shipping_paid_by =
                    *rng.pick(&[None, Some(Fault::Buyer), Some(Fault::Seller)]);
            }
            Command::OfferPartialRefund { amount_minor, .. } => {
                *amount_minor = rng.amount_near(order.refundable_minor());
            }
            Command::ProposeCancellation { reason } => *reason = *rng.pick(CancelReason::ALL),
            // Scans in any order, at any time around now, duplicates included.
            Command::RecordScan { status, at, .. } => {
                *status = *rng.pick(orderly_domain::ScanStatus::ALL);
                let skew = SignedDuration::from_mins(rng.below(6 * 60) as i64 - 3 * 60);
                *at = self.now + skew;
            }
            Command::RequestExtension { days, .. } => *days = rng.below(33) as u32,
            Command::SendMessage { body } => {
                if rng.chance(30)
                    && let Some(last) = order.last_message.as_ref()
                {
                    *body = MessageBody::Text(last.text.clone());
                }
            }
            _ => {}
        }
        command
    }
}

/// Every timer armed by a decision is due exactly when the policy says, counted from the
/// moment that starts it (SPEC 5): an expectation held independently of `decide`, so a
/// wrong window or a timer re-armed from the wrong moment is caught.
fn check_deadlines_follow_policy(
    before: &Order,
    events: &[Event],
    now: Timestamp,
    policy: &Policy,
) -> Result<(), String> {
    use orderly_domain::DeadlineKind as Kind;
    let holidays = &policy.holidays;
    let mut order = before.clone();
    for event in events {
        if let EventKind::DeadlineSet { deadline, due_at } = event.kind {
            let expected = match deadline {
                // Re-armed after a declined payment: the same window, from placement.
                Kind::PaymentWindow => Some(policy.payment_window.end(order.placed_at, holidays)),
                Kind::PaymentVerification => policy.payment_verification.end(now, holidays),
                Kind::SellerResponse => Some(policy.seller_response_window.end(now, holidays)),
                Kind::HandlingTime => {
                    Some(orderly_domain::Window::Days(order.handling_days).end(now, holidays))
                }
                Kind::NoTrackingDispute => {
                    Some(policy.no_tracking_dispute_after.end(now, holidays))
                }
                Kind::BuyerProtection => Some(policy.buyer_protection.end(now, holidays)),
                // Confirmed early under a statutory withdrawal period: the order waits
                // for the period's end, counted from delivery.
                Kind::ReceiptConfirmation => {
                    match (order.receipt_confirmed_at, policy.statutory_withdrawal_days) {
                        (Some(_), Some(days)) => Some(
                            orderly_domain::Window::Days(days)
                                .end(order.delivered_at.unwrap_or(now), holidays),
                        ),
                        _ => Some(policy.receipt_confirmation.end(now, holidays)),
                    }
                }
                Kind::ClaimResponse => Some(policy.claim_response_window.end(now, holidays)),
                Kind::Negotiation => Some(policy.negotiation_window.end(now, holidays)),
                Kind::ReturnShipment => Some(policy.return_shipment_window.end(now, holidays)),
                Kind::ReturnConfirmation => {
                    Some(policy.return_confirmation_window.end(now, holidays))
                }
                Kind::RefusedDeliveryReturn => {
                    Some(policy.refused_delivery_return_window.end(now, holidays))
                }
                // The earliest refund not yet flagged; each refund's own time is checked
                // when it is issued, below.
                Kind::RefundOverdue => None,
                Kind::ProposalResponse => Some(policy.seller_response_window.end(now, holidays)),
                Kind::VerificationOverdue => Some(
                    now + SignedDuration::from_hours(
                        orderly_domain::policy::PROVIDER_VERIFICATION_HOURS,
                    ),
                ),
                // A reminder: the lead time before the deadline it announces.
                Kind::ReminderSellerResponse
                | Kind::ReminderClaimResponse
                | Kind::ReminderHandlingTime
                | Kind::ReminderReceiptConfirmation
                | Kind::ReminderBuyerProtection => {
                    let (_, target, lead) = policy
                        .reminders()
                        .into_iter()
                        .find(|(reminder, _, _)| *reminder == deadline)
                        .expect("every reminder kind is in the policy");
                    let target = order
                        .deadline(target)
                        .ok_or_else(|| format!("{deadline} armed without its deadline"))?;
                    if due_at <= now {
                        return Err(format!("{deadline} armed in the past"));
                    }
                    Some(target.due_at - lead.duration().expect("hours or days"))
                }
            };
            if let Some(expected) = expected
                && expected != due_at
            {
                return Err(format!(
                    "{deadline} armed for {due_at}, but the policy says {expected}"
                ));
            }
        }
        if let EventKind::RefundIssued {
            destination,
            expected_by,
            overdue_at,
            ..
        } = event.kind
        {
            let (_, upper) = destination.arrival_business_days();
            let expected = orderly_domain::calendar::add_business_days(now, upper, holidays);
            if expected_by != expected {
                return Err(format!("refund expected by {expected_by}, not {expected}"));
            }
            let watched = destination.watched_for_overdue();
            let overdue =
                watched.then(|| policy.refund_overdue_after.end(now, holidays).max(expected));
            if overdue_at != overdue {
                return Err(format!("refund overdue at {overdue_at:?}, not {overdue:?}"));
            }
        }
        order = orderly_domain::apply(order, event);
    }
    Ok(())
}

/// No order completes, and no escrow goes to the seller, while a claim is open: the claim
/// decides how the order ends (SPEC 7 and 15.9).
fn check_no_payout_during_claim(before: &Order, events: &[Event]) -> Result<(), String> {
    let mut order = before.clone();
    for event in events {
        if matches!(
            event.kind,
            EventKind::OrderCompleted | EventKind::EscrowReleased { .. }
        ) && order.open_claim().is_some()
        {
            return Err(format!(
                "{} while a {} claim is open",
                event.kind.name(),
                order.claim.as_ref().map_or("?", |claim| claim.kind.code())
            ));
        }
        order = orderly_domain::apply(order, event);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let config = SimConfig::new(7, 2_000);
        assert_eq!(run(&config), run(&config));
    }

    #[test]
    fn different_seeds_explore_differently() {
        let first = run(&SimConfig::new(1, 2_000)).expect("no invariant broken");
        let second = run(&SimConfig::new(2, 2_000)).expect("no invariant broken");
        assert_ne!(first, second);
    }
}
