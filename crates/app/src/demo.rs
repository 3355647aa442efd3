//! The demo market of `serve --demo`: a seller with products, two buyers, support staff,
//! and one order in every situation worth seeing (unpaid, in verification, a pending
//! cancellation request, shipped, delivered, an open dispute with a photo, frozen,
//! completed, cancelled with a refund). Every order is made through the same use cases as
//! real traffic. Seeding is idempotent: a database seeded once is found again by the ids
//! kept in its settings, and nothing is added twice.

use orderly_domain::{
    AccountId, Actor, CancelReason, Command, Currency, DisputeReason, Money, OrderId,
    PaymentMethod, ProductId, Role, ShippingAddress,
};
use orderly_store::Account;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::service::{App, NewOrder, NewProduct};

/// The setting under which the demo's ids are kept.
const SETTING: &str = "demo";

/// A photo of a damaged lamp, the dispute's evidence.
const PHOTO: &[u8] = include_bytes!("../assets/demo-photo.png");

/// Who and what the demo holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Demo {
    pub buyer: AccountId,
    pub second_buyer: AccountId,
    pub seller: AccountId,
    pub admin: AccountId,
    pub products: Vec<ProductId>,
    /// Each situation's name and its order.
    pub orders: Vec<(String, OrderId)>,
}

/// The tokens of a demo seeded just now (they exist nowhere else: only their hashes are
/// stored).
#[derive(Clone, Debug)]
pub struct Tokens {
    pub buyer: String,
    pub second_buyer: String,
    pub seller: String,
    pub admin: String,
}

impl Demo {
    /// The order of a situation.
    pub fn order(&self, situation: &str) -> Option<OrderId> {
        self.orders
            .iter()
            .find(|(name, _)| name == situation)
            .map(|(_, id)| *id)
    }
}

/// The situations, in the order they are seeded.
pub const SITUATIONS: [&str; 9] = [
    "unpaid",
    "payment_verification",
    "cancellation_requested",
    "shipped",
    "delivered",
    "dispute",
    "frozen",
    "completed",
    "cancelled_with_refund",
];

fn address(name: &str) -> Result<ShippingAddress, AppError> {
    Ok(ShippingAddress::parse([
        ("name".to_owned(), name.to_owned()),
        ("street".to_owned(), "12 Linden Street".to_owned()),
        ("city".to_owned(), "Berlin".to_owned()),
        ("postal_code".to_owned(), "10115".to_owned()),
        ("country".to_owned(), "DE".to_owned()),
    ])?)
}

impl App {
    /// The demo of this database, seeding it first if there is none; the tokens only when
    /// it was seeded by this call.
    pub async fn demo(&self) -> Result<(Demo, Option<Tokens>), AppError> {
        if let Some(kept) = self.store.setting(SETTING).await? {
            let demo: Demo = serde_json::from_str(&kept)
                .map_err(|error| anyhow::anyhow!("the kept demo is unreadable: {error}"))?;
            return Ok((demo, None));
        }
        let (demo, tokens) = self.seed_demo().await?;
        let text = serde_json::to_string(&demo).expect("the demo serialises");
        let kept = self
            .store
            .setting_or_insert(SETTING, &text, self.now())
            .await?;
        if kept != text {
            // Another process seeded at the same moment; its demo is the one kept.
            let demo: Demo = serde_json::from_str(&kept)
                .map_err(|error| anyhow::anyhow!("the kept demo is unreadable: {error}"))?;
            return Ok((demo, None));
        }
        Ok((demo, Some(tokens)))
    }

    async fn seed_demo(&self) -> Result<(Demo, Tokens), AppError> {
        let (seller, seller_token) = self
            .create_account(Role::Seller, "Linden Lamps", Some("shop@demo.test"), |_| {
                None
            })
            .await?;
        let (buyer, buyer_token) = self
            .create_account(Role::Buyer, "Alice Martin", Some("alice@demo.test"), |_| {
                None
            })
            .await?;
        let (second, second_token) = self
            .create_account(Role::Buyer, "Bob Keller", Some("bob@demo.test"), |_| None)
            .await?;
        let (admin, admin_token) = self
            .create_account(
                Role::Admin,
                "Sam (support)",
                Some("support@demo.test"),
                |_| None,
            )
            .await?;
        let eur = Currency::parse("EUR").map_err(anyhow::Error::from)?;
        let mut products = Vec::new();
        for (title, price, fee, days) in [
            ("Brass desk lamp", 4_900, 590, 3),
            ("Linen lampshade, 30 cm", 2_450, 490, 5),
            ("Warm LED bulb, pack of 4", 1_299, 0, 2),
            ("Cactus seeds, 20 pack", 350, 150, 3),
        ] {
            let product = self
                .create_product(
                    seller.id,
                    NewProduct {
                        title: title.into(),
                        price: Money::parse(price, eur).map_err(anyhow::Error::from)?,
                        shipping_fee: Money::parse(fee, eur).map_err(anyhow::Error::from)?,
                        stock: 100,
                        processing_days: days,
                    },
                    |_| None,
                )
                .await?;
            products.push(product.id);
        }
        let mut orders = Vec::new();
        for (index, situation) in SITUATIONS.iter().enumerate() {
            let product = products[index % products.len()];
            let id = self
                .seed_situation(situation, &buyer, &seller, &admin, product)
                .await?;
            orders.push(((*situation).to_owned(), id));
        }
        Ok((
            Demo {
                buyer: buyer.id,
                second_buyer: second.id,
                seller: seller.id,
                admin: admin.id,
                products,
                orders,
            },
            Tokens {
                buyer: buyer_token,
                second_buyer: second_token,
                seller: seller_token,
                admin: admin_token,
            },
        ))
    }

    /// One order brought to `situation` by the commands people would send.
    async fn seed_situation(
        &self,
        situation: &str,
        buyer: &Account,
        seller: &Account,
        admin: &Account,
        product: ProductId,
    ) -> Result<OrderId, AppError> {
        let placed = self
            .place_order(
                buyer.id,
                NewOrder {
                    lines: vec![(product, 1)],
                    shipping_address: address(&buyer.name)?,
                    payment_method: PaymentMethod::Card,
                },
                None,
            )
            .await?;
        let id = placed.order.id;
        let (as_buyer, as_seller, as_admin) = (
            Actor::Buyer(buyer.id),
            Actor::Seller(seller.id),
            Actor::Admin(admin.id),
        );
        let mut steps: Vec<(Actor, Command)> = Vec::new();
        let paid = [
            (as_buyer, Command::Pay { method: None }),
            (as_admin, Command::VerifyPayment { approved: true }),
        ];
        let shipped = [(
            as_seller,
            Command::Ship {
                carrier: "DHL".into(),
                tracking_number: format!(
                    "JD01460{}",
                    id.as_uuid().simple().to_string()[..6].to_uppercase()
                ),
            },
        )];
        let cancel = (
            as_buyer,
            Command::Cancel {
                reason: CancelReason::OrderedWrongItem,
                message: Some(
                    orderly_domain::Template::WrongItemOrdered.render(&placed.order.number()),
                ),
                complaint: None,
            },
        );
        match situation {
            "unpaid" => {}
            "payment_verification" => steps.push((as_buyer, Command::Pay { method: None })),
            "cancellation_requested" => {
                steps.extend(paid);
                steps.push(cancel);
            }
            "shipped" => {
                steps.extend(paid);
                steps.extend(shipped);
                // Something in the support desk's queue from the start.
                steps.push((
                    as_buyer,
                    Command::ContactSupport {
                        message:
                            "The tracking has not moved since it was shipped. Is the parcel lost?"
                                .into(),
                    },
                ));
            }
            "delivered" | "dispute" | "completed" => {
                steps.extend(paid);
                steps.extend(shipped);
                steps.push((as_admin, Command::MarkDelivered));
                match situation {
                    "completed" => steps.push((as_buyer, Command::ConfirmReceipt)),
                    "dispute" => steps.push((
                        as_buyer,
                        Command::OpenDispute {
                            reason: DisputeReason::Damaged,
                            amount_minor: placed.order.items_total_minor,
                            return_item: false,
                            explanation:
                                "The lampshade arrived cracked along one side; see the photo."
                                    .into(),
                        },
                    )),
                    _ => {}
                }
            }
            "frozen" => {
                steps.extend(paid);
                steps.push((
                    as_admin,
                    Command::Freeze {
                        note: "Card flagged by the payment provider; checking the address first."
                            .into(),
                    },
                ));
            }
            "cancelled_with_refund" => {
                steps.extend(paid);
                steps.push(cancel);
                steps.push((as_seller, Command::ApproveCancellation));
            }
            other => return Err(anyhow::anyhow!("no demo situation {other}").into()),
        }
        for (actor, command) in steps {
            self.command(actor, id, command, None).await?;
        }
        if situation == "dispute" {
            self.add_evidence(
                as_buyer,
                id,
                "cracked-lampshade.png",
                PHOTO.to_vec(),
                Some("The crack, photographed as it came out of the box".into()),
                None,
            )
            .await?;
        }
        Ok(id)
    }
}
