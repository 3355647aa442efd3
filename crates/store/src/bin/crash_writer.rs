//! Test helper for the crash test (`tests/it/crash.rs`): runs the cancellation story of
//! [001] on new orders in a loop, as fast as the database allows, and prints
//! `ORDER_ID VERSION` after each command is committed. It never stops by itself; the test
//! kills it with SIGKILL at a random moment.

#![forbid(unsafe_code)]

use std::io::Write;

use jiff::Timestamp;
use orderly_domain::{AccountId, Action, Actor, Command, Order, OrderId, PlaceOrder, Policy};
use orderly_store::{Batch, StoreOptions};
use uuid::Uuid;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: orderly-crash-writer DATABASE_URL"))?;
    let store = orderly_store::connect(&url, &StoreOptions::default()).await?;
    let policy = Policy::default();
    let now: Timestamp = "2026-11-02T09:00:00Z".parse()?;
    let buyer = AccountId::from_uuid(Uuid::from_u128(0xb1));
    let seller = AccountId::from_uuid(Uuid::from_u128(0x51));
    let admin = AccountId::from_uuid(Uuid::from_u128(0xad));
    let mut stdout = std::io::stdout().lock();
    for counter in 0_u64.. {
        let order_id = OrderId::from_uuid(Uuid::from_u128(
            u128::from(std::process::id()) << 64 | u128::from(counter),
        ));
        let place = PlaceOrder::sample(order_id, buyer, seller);
        let placing = policy.clone();
        let committed = store
            .transact(
                order_id,
                Box::new(move |_: Option<&Order>| {
                    orderly_domain::place(place.clone(), Actor::Buyer(buyer), now, &placing)
                        .map(Batch::from)
                }),
            )
            .await?;
        writeln!(stdout, "{order_id} {}", committed.order.version)?;
        stdout.flush()?;
        for (actor, action) in [
            (Actor::Buyer(buyer), Action::Pay),
            (Actor::Admin(admin), Action::VerifyPayment),
            (Actor::Buyer(buyer), Action::RequestCancellation),
            (Actor::Seller(seller), Action::ApproveCancellation),
        ] {
            let policy = policy.clone();
            let committed = store
                .transact(
                    order_id,
                    Box::new(move |order: Option<&Order>| {
                        let order = order.ok_or(orderly_domain::Rejection::NotFound)?;
                        let command = Command::sample(action, order, &policy);
                        orderly_domain::decide(order, command, actor, now, &policy).map(Batch::from)
                    }),
                )
                .await?;
            writeln!(stdout, "{order_id} {}", committed.order.version)?;
            stdout.flush()?;
        }
    }
    Ok(())
}
