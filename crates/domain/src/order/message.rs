//! The order's message thread (SPEC 9): free text or one of the templates of [001] with
//! the order number filled in.

use serde::{Deserialize, Serialize};

/// The longest message accepted, in characters.
pub const MESSAGE_LEN_MAX: usize = 2_000;

/// The message templates of [001].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    ChangedMyMind,
    WrongItemOrdered,
    WrongAddress,
    DuplicateOrder,
    SellerDelay,
}

codes!(Template {
    ChangedMyMind = "changed_my_mind",
    WrongItemOrdered = "wrong_item_ordered",
    WrongAddress = "wrong_address",
    DuplicateOrder = "duplicate_order",
    SellerDelay = "seller_delay",
});

impl Template {
    /// The template's text with the order number filled in [001].
    pub fn render(self, order_number: &str) -> String {
        match self {
            Template::ChangedMyMind => format!(
                "Hello! I would like to cancel order #{order_number} because I no longer need the item. Please approve the cancellation request before shipment. Thank you!"
            ),
            Template::WrongItemOrdered => format!(
                "Hello! I accidentally ordered the wrong item in order #{order_number}. Please approve my cancellation request before shipment. Thank you!"
            ),
            Template::WrongAddress => format!(
                "Hello! I entered the wrong shipping address for order #{order_number}. Please approve the cancellation request before shipment so I can place a new order with the correct address."
            ),
            Template::DuplicateOrder => format!(
                "Hello! I accidentally placed a duplicate order. Please approve the cancellation request for order #{order_number}. Thank you!"
            ),
            Template::SellerDelay => format!(
                "Hello! Order #{order_number} has not been shipped yet, and I would like to cancel it. Please approve the cancellation request. Thank you!"
            ),
        }
    }
}

/// What the author sends: their own words or a template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageBody {
    Text(String),
    Template(Template),
}
