//! The catalogues of reasons: why an order is cancelled (SPEC 4.1, with the side at fault),
//! why a dispute is opened and why a return is asked for (SPEC 7).

use serde::{Deserialize, Serialize};

/// Whose fault a cancellation is. A seller-fault cancellation costs the seller a penalty
/// point and counts in its rating [002][004].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    Buyer,
    Seller,
}

codes!(Fault {
    Buyer = "buyer",
    Seller = "seller",
});

code_enum!(
    /// Why an order is cancelled or closed (SPEC 4.1).
    CancelReason {
        NoLongerNeeded = "no_longer_needed",
        OrderedWrongItem = "ordered_wrong_item",
        WrongShippingAddress = "wrong_shipping_address",
        DuplicateOrder = "duplicate_order",
        FoundBetterPrice = "found_better_price",
        PaymentProblem = "payment_problem",
        SellerFailedToShip = "seller_failed_to_ship",
        OutOfStock = "out_of_stock",
        SellerRaisedPrice = "seller_raised_price",
        ShippingMethodUnavailable = "shipping_method_unavailable",
        SellerUnresponsive = "seller_unresponsive",
        BelowMinimumOrder = "below_minimum_order",
        /// System: the payment window ran out.
        PaymentWindowExpired = "payment_window_expired",
        /// System: the seller did not answer a cancellation request in time.
        SellerResponseTimeout = "seller_response_timeout",
        /// System: the seller did not ship within the handling time.
        HandlingTimeExpired = "handling_time_expired",
        /// Admin: cancelled on suspicion of fraud.
        FraudSuspected = "fraud_suspected",
        /// The parcel was refused and came back to the seller.
        DeliveryRefused = "delivery_refused",
        /// Admin decided an escalated cancellation request in the buyer's favour.
        AdminDecision = "admin_decision",
    }
);

impl CancelReason {
    /// The side at fault, from the catalogue of SPEC 4.1.
    pub fn fault(self) -> Fault {
        use CancelReason::*;
        match self {
            NoLongerNeeded | OrderedWrongItem | WrongShippingAddress | DuplicateOrder
            | FoundBetterPrice | PaymentProblem | PaymentWindowExpired | DeliveryRefused => {
                Fault::Buyer
            }
            SellerFailedToShip
            | OutOfStock
            | SellerRaisedPrice
            | ShippingMethodUnavailable
            | SellerUnresponsive
            | BelowMinimumOrder
            | HandlingTimeExpired
            | FraudSuspected => Fault::Seller,
            // Both keep the buyer's own reason's fault; see `fault_of_request`.
            SellerResponseTimeout | AdminDecision => Fault::Buyer,
        }
    }

    /// Whether a buyer may pick this reason from the list (the first twelve).
    pub fn is_buyer_choice(self) -> bool {
        self.is_pickable()
    }

    /// Whether a seller may cancel with it (seller-fault reasons of the buyer list) [004].
    pub fn is_seller_choice(self) -> bool {
        self.is_pickable() && self.fault() == Fault::Seller
    }

    /// The text shown to people.
    pub fn text(self) -> &'static str {
        use CancelReason::*;
        match self {
            NoLongerNeeded => "I no longer need this order",
            OrderedWrongItem => "I ordered the wrong item (color, size, model)",
            WrongShippingAddress => "I entered the wrong shipping address",
            DuplicateOrder => "I placed a duplicate order",
            FoundBetterPrice => "I found a better offer elsewhere",
            PaymentProblem => "There were problems with payment",
            SellerFailedToShip => "Seller failed to ship on time",
            OutOfStock => "The item is out of stock",
            SellerRaisedPrice => "The seller increased the price",
            ShippingMethodUnavailable => "The seller cannot ship by the chosen method",
            SellerUnresponsive => "The seller did not answer my questions",
            BelowMinimumOrder => "The order is below the seller's minimum amount",
            PaymentWindowExpired => "The order was not paid in time",
            SellerResponseTimeout => "The seller did not answer the cancellation request in time",
            HandlingTimeExpired => "The seller did not ship within the handling time",
            FraudSuspected => "Cancelled by the platform on suspicion of fraud",
            DeliveryRefused => "The buyer refused the delivery and the parcel came back",
            AdminDecision => "The platform decided to cancel the order",
        }
    }

    fn is_pickable(self) -> bool {
        use CancelReason::*;
        !matches!(
            self,
            PaymentWindowExpired
                | SellerResponseTimeout
                | HandlingTimeExpired
                | FraudSuspected
                | DeliveryRefused
                | AdminDecision
        )
    }
}

code_enum!(
    /// Why a buyer opens a dispute (SPEC 7).
    DisputeReason {
        NotReceived = "not_received",
        Damaged = "damaged",
        NotAsDescribed = "not_as_described",
        Incomplete = "incomplete",
        /// Only from six days after shipment [004].
        NoTrackingInformation = "no_tracking_information",
        FakeTracking = "fake_tracking",
    }
);

impl DisputeReason {
    /// Whether this reason may be used while the parcel is still on its way (SPEC 15.13).
    pub fn allowed_before_delivery(self) -> bool {
        matches!(
            self,
            DisputeReason::NotReceived
                | DisputeReason::FakeTracking
                | DisputeReason::NoTrackingInformation
        )
    }

    /// Whether this reason may be used once the carrier reported delivery.
    pub fn allowed_after_delivery(self) -> bool {
        self != DisputeReason::NoTrackingInformation
    }
}

code_enum!(
    /// Why a buyer asks for a return or a refund after delivery (SPEC 7).
    ReturnReason {
        /// The buyer's own choice: the buyer pays return shipping [004].
        NoLongerNeeded = "no_longer_needed",
        /// The buyer's own choice: the buyer pays return shipping [004].
        OrderedWrongItem = "ordered_wrong_item",
        Damaged = "damaged",
        NotAsDescribed = "not_as_described",
        Incomplete = "incomplete",
        WrongItemSent = "wrong_item_sent",
        Defective = "defective",
    }
);

impl ReturnReason {
    /// Whose fault the problem is; it decides who pays return shipping [004].
    pub fn fault(self) -> Fault {
        match self {
            ReturnReason::NoLongerNeeded | ReturnReason::OrderedWrongItem => Fault::Buyer,
            _ => Fault::Seller,
        }
    }
}
