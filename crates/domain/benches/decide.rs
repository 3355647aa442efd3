//! Throughput of the pure core: `decide` + `apply` for the cancellation story of [001]
//! (place, pay, verify, request cancellation, approve) and for a delivered order's
//! happy path (place, pay, verify, ship, deliver, confirm). Each iteration runs the whole
//! story, so commands per second = stories per second × commands per story.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use orderly_domain::{
    AccountId, Action, Actor, Command, Order, OrderId, PlaceOrder, Policy, decide, place,
};
use uuid::Uuid;

const BUYER: AccountId = AccountId::from_uuid(Uuid::from_u128(1));
const SELLER: AccountId = AccountId::from_uuid(Uuid::from_u128(2));

fn placed(policy: &Policy, now: Timestamp) -> Order {
    let command = PlaceOrder::sample(OrderId::from_uuid(Uuid::from_u128(3)), BUYER, SELLER);
    place(command, Actor::Buyer(BUYER), now, policy)
        .expect("valid order")
        .order
}

fn play(policy: &Policy, now: Timestamp, steps: &[(Actor, Action)]) -> Order {
    let mut order = placed(policy, now);
    for (actor, action) in steps {
        let command = Command::sample(*action, &order, policy);
        order = decide(&order, command, *actor, now, policy)
            .expect("the story is valid")
            .order;
    }
    order
}

fn bench(c: &mut Criterion) {
    let policy = Policy::default();
    let now: Timestamp = "2026-11-02T09:00:00Z".parse().expect("valid");
    let buyer = Actor::Buyer(BUYER);
    let seller = Actor::Seller(SELLER);
    let admin = Actor::Admin(AccountId::from_uuid(Uuid::from_u128(5)));
    let cancellation = [
        (buyer, Action::Pay),
        (admin, Action::VerifyPayment),
        (buyer, Action::RequestCancellation),
        (seller, Action::ApproveCancellation),
    ];
    let delivery = [
        (buyer, Action::Pay),
        (admin, Action::VerifyPayment),
        (seller, Action::Ship),
        (admin, Action::MarkDelivered),
        (buyer, Action::ConfirmReceipt),
    ];
    let mut group = c.benchmark_group("decide+apply");
    group.throughput(Throughput::Elements(1 + cancellation.len() as u64));
    group.bench_function("cancellation story (5 commands)", |b| {
        b.iter(|| play(&policy, now, &cancellation))
    });
    group.throughput(Throughput::Elements(1 + delivery.len() as u64));
    group.bench_function("delivery story (6 commands)", |b| {
        b.iter(|| play(&policy, now, &delivery))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
