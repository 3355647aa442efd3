//! The seed guides' stories, played through the domain with a simulated clock and printed
//! as a readable history: what each person did, what the deadlines did, where the money
//! went.

use jiff::{SignedDuration, Timestamp};
use orderly_domain::{
    AccountId, Action, Actor, CancelReason, ClaimDecision, Command, DisputeReason, Order, OrderId,
    PaymentMethod, PlaceOrder, Policy, decide, guidance, place,
};
use uuid::Uuid;

const BUYER: Actor = Actor::Buyer(AccountId::from_uuid(Uuid::from_u128(0xb1)));
const SELLER: Actor = Actor::Seller(AccountId::from_uuid(Uuid::from_u128(0x51)));
const ADMIN: Actor = Actor::Admin(AccountId::from_uuid(Uuid::from_u128(0xad)));

/// A story: its title (with the seeds it comes from) and the steps that play it.
type Story = (&'static str, fn(&mut Player));

/// Plays every story.
/// A line of the story on stdout; a reader that stopped reading (`orderly story | head`)
/// ends the program quietly instead of with a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        emit(&format!($($arg)*))
    };
}

fn emit(line: &str) {
    use std::io::Write;
    if let Err(error) = writeln!(std::io::stdout().lock(), "{line}") {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        panic!("cannot write the story: {error}");
    }
}

pub fn play_all() {
    let stories: [Story; 6] = [
        ("Cancelling an unpaid order", |p| {
            p.act(BUYER, cancel(CancelReason::NoLongerNeeded));
        }),
        ("The seller does not answer a cancellation request", |p| {
            p.pay_and_verify();
            p.act(BUYER, cancel(CancelReason::OrderedWrongItem));
            p.wait(SignedDuration::from_hours(72));
        }),
        (
            "The seller ships while a cancellation request is pending",
            |p| {
                p.pay_and_verify();
                p.act(BUYER, cancel(CancelReason::FoundBetterPrice));
                p.act(SELLER, Command::sample(Action::Ship, &p.order, &p.policy));
                p.show_guidance(BUYER);
            },
        ),
        ("A rejected request escalated to the platform", |p| {
            p.pay_and_verify();
            p.act(BUYER, cancel(CancelReason::SellerRaisedPrice));
            p.act(
                SELLER,
                Command::RejectCancellation {
                    reason: "the price is as listed".into(),
                },
            );
            p.act(
                BUYER,
                Command::EscalateCancellation {
                    message: "the price changed after I ordered".into(),
                },
            );
            p.act(
                ADMIN,
                Command::DecideCancellation {
                    approve: true,
                    note: "price change confirmed".into(),
                },
            );
        }),
        ("Refusing a delivery", |p| {
            p.pay_and_verify();
            p.act(SELLER, Command::sample(Action::Ship, &p.order, &p.policy));
            p.act(BUYER, Command::RefuseDelivery);
            p.wait(SignedDuration::from_hours(24 * 15));
        }),
        ("A dispute, a counter offer and a partial refund", |p| {
            p.pay_and_verify();
            p.act(SELLER, Command::sample(Action::Ship, &p.order, &p.policy));
            p.act(ADMIN, Command::MarkDelivered);
            p.act(
                BUYER,
                Command::OpenDispute {
                    reason: DisputeReason::NotAsDescribed,
                    amount_minor: 3_000,
                    return_item: false,
                    explanation: "the colour is wrong".into(),
                },
            );
            p.act(
                SELLER,
                Command::RespondClaim {
                    decision: ClaimDecision::Counter,
                    amount_minor: Some(1_200),
                    explanation: "keep it with a discount".into(),
                },
            );
            p.act(BUYER, Command::AcceptOffer);
        }),
    ];
    for (title, play) in stories {
        say!("\n== {title}");
        let mut player = Player::new();
        play(&mut player);
        let escrow = player.order.escrow;
        say!(
            "   => {}; paid {}, refunded {}, released to the seller {}, held {}",
            player.order.status,
            escrow.captured_minor,
            escrow.refunded_minor,
            escrow.released_minor,
            escrow.held_minor
        );
    }
}

fn cancel(reason: CancelReason) -> Command {
    Command::Cancel {
        reason,
        message: None,
        complaint: None,
    }
}

struct Player {
    order: Order,
    now: Timestamp,
    start: Timestamp,
    policy: Policy,
}

impl Player {
    fn new() -> Self {
        let policy = Policy::default();
        let now: Timestamp = "2026-11-02T09:00:00Z".parse().expect("valid start");
        let Actor::Buyer(buyer_id) = BUYER else {
            unreachable!()
        };
        let Actor::Seller(seller_id) = SELLER else {
            unreachable!()
        };
        let order_id =
            OrderId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_00c0_ffee_0001));
        let command = PlaceOrder::sample(order_id, buyer_id, seller_id);
        let decision = place(command, BUYER, now, &policy).expect("the story's order is valid");
        let player = Self {
            order: decision.order,
            now,
            start: now,
            policy,
        };
        player.print(&decision.events);
        player
    }

    fn pay_and_verify(&mut self) {
        self.act(
            BUYER,
            Command::Pay {
                method: Some(PaymentMethod::Card),
            },
        );
        self.act(ADMIN, Command::VerifyPayment { approved: true });
    }

    fn act(&mut self, actor: Actor, command: Command) {
        match decide(&self.order, command, actor, self.now, &self.policy) {
            Ok(decision) => {
                self.print(&decision.events);
                self.order = decision.order;
            }
            Err(rejection) => say!(
                "   {:>9}  refused ({}): {rejection}",
                self.clock(),
                rejection.code()
            ),
        }
    }

    /// Lets time pass; deadlines fire as the scheduler would fire them.
    fn wait(&mut self, by: SignedDuration) {
        let target = self.now + by;
        say!("   {:>9}  ... {} hours pass", self.clock(), by.as_hours());
        while let Some((kind, due_at)) = self.order.next_due().filter(|(_, due)| *due <= target) {
            self.now = due_at;
            self.act(Actor::System, Command::ExpireDeadline { kind });
        }
        self.now = target;
    }

    fn show_guidance(&self, actor: Actor) {
        say!(
            "   {:>9}  advice to the {}: {}",
            self.clock(),
            actor.role().code(),
            guidance(&self.order, actor, self.now, &self.policy)
        );
    }

    fn clock(&self) -> String {
        let elapsed = self.now.duration_since(self.start);
        format!("+{}h", elapsed.as_hours())
    }

    fn print(&self, events: &[orderly_domain::Event]) {
        for event in events {
            if matches!(
                event.kind,
                orderly_domain::EventKind::DeadlineSet { .. }
                    | orderly_domain::EventKind::DeadlineCleared { .. }
            ) {
                continue;
            }
            let who = event.actor.role().code();
            say!(
                "   {:>9}  {who:>6}: {}",
                self.clock(),
                event.kind.describe(self.order.currency)
            );
        }
    }
}
