//! SPEC section 3 as a table: for each situation of an order and each actor, the exact
//! list of actions allowed. Every other action of SPEC 15.3 is tried too, and its refusal
//! code is stated: 404 for strangers, 403 for a role that never takes it, 409
//! `order_frozen` on a frozen order, 409 `invalid_transition` or `conflict` otherwise.
//! Each allowed action is also sent to `decide` and must be accepted.

use orderly_domain::{Action, Actor, ClaimDecision, Command, DisputeReason, Role, allowed_actions};

use crate::support::*;

use Action::*;

struct Row {
    situation: &'static str,
    story: fn() -> Story,
    buyer: &'static [Action],
    seller: &'static [Action],
    admin: &'static [Action],
}

fn with(mut story: Story, steps: &[(Actor, Action)]) -> Story {
    for (actor, action) in steps {
        story.act(*actor, *action);
    }
    story
}

fn counter_offered() -> Story {
    let mut story = with(Story::delivered(), &[(BUYER_ACTOR, RequestRefund)]);
    story.run(
        SELLER_ACTOR,
        Command::RespondClaim {
            decision: ClaimDecision::Counter,
            amount_minor: Some(1_000),
            explanation: "half, keep the item".into(),
        },
    );
    story
}

fn dispute_in_transit() -> Story {
    let mut story = Story::shipped();
    story.run(
        BUYER_ACTOR,
        Command::OpenDispute {
            reason: DisputeReason::NotReceived,
            amount_minor: ITEMS,
            return_item: false,
            explanation: "nothing arrived".into(),
        },
    );
    story
}

const ROWS: &[Row] = &[
    Row {
        situation: "awaiting_payment",
        story: Story::placed,
        buyer: &[Pay, Cancel, Message, ContactSupport],
        seller: &[Message, ContactSupport],
        admin: &[Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "payment_verification",
        story: Story::paid,
        buyer: &[Cancel, Message, ContactSupport],
        seller: &[Message, ContactSupport],
        admin: &[VerifyPayment, Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "awaiting_shipment",
        story: Story::verified,
        buyer: &[RequestCancellation, Message, ContactSupport],
        seller: &[
            SellerCancel,
            Ship,
            Message,
            ProposeCancellation,
            OfferPartialRefund,
            ContactSupport,
        ],
        admin: &[Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "awaiting_shipment + cancellation_requested",
        story: Story::requested,
        buyer: &[WithdrawCancellation, Message, ContactSupport],
        seller: &[
            ApproveCancellation,
            RejectCancellation,
            SellerCancel,
            Ship,
            Message,
            OfferPartialRefund,
            ContactSupport,
        ],
        admin: &[Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "awaiting_shipment + request rejected",
        story: || with(Story::requested(), &[(SELLER_ACTOR, RejectCancellation)]),
        buyer: &[
            RequestCancellation,
            EscalateCancellation,
            Message,
            ContactSupport,
        ],
        seller: &[
            SellerCancel,
            Ship,
            Message,
            ProposeCancellation,
            OfferPartialRefund,
            ContactSupport,
        ],
        admin: &[Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "awaiting_shipment + request escalated",
        story: || {
            with(
                Story::requested(),
                &[
                    (SELLER_ACTOR, RejectCancellation),
                    (BUYER_ACTOR, EscalateCancellation),
                ],
            )
        },
        buyer: &[WithdrawCancellation, Message, ContactSupport],
        seller: &[
            SellerCancel,
            Ship,
            Message,
            OfferPartialRefund,
            ContactSupport,
        ],
        admin: &[DecideCancellation, Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "awaiting_shipment + frozen",
        story: || with(Story::verified(), &[(ADMIN_ACTOR, Freeze)]),
        buyer: &[Message, ContactSupport],
        seller: &[Message, ContactSupport],
        admin: &[Unfreeze, AdminCancel, AddNote],
    },
    Row {
        situation: "shipped",
        story: Story::shipped,
        buyer: &[
            RefuseDelivery,
            ConfirmReceipt,
            OpenDispute,
            RequestExtension,
            Message,
            ContactSupport,
        ],
        seller: &[UpdateTracking, Message, OfferPartialRefund, ContactSupport],
        admin: &[MarkDelivered, Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "shipped + extension requested",
        story: || with(Story::shipped(), &[(BUYER_ACTOR, RequestExtension)]),
        buyer: &[
            RefuseDelivery,
            ConfirmReceipt,
            OpenDispute,
            Message,
            ContactSupport,
        ],
        seller: &[
            UpdateTracking,
            ApproveExtension,
            DeclineExtension,
            Message,
            OfferPartialRefund,
            ContactSupport,
        ],
        admin: &[MarkDelivered, Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "shipped + delivery refused",
        story: || with(Story::shipped(), &[(BUYER_ACTOR, RefuseDelivery)]),
        buyer: &[Message, AddEvidence, ContactSupport],
        seller: &[
            UpdateTracking,
            ReturnReceived,
            Message,
            AddEvidence,
            ContactSupport,
        ],
        admin: &[ReturnReceived, Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "shipped + dispute open",
        story: dispute_in_transit,
        buyer: &[EscalateClaim, Message, AddEvidence, ContactSupport],
        seller: &[
            UpdateTracking,
            RespondClaim,
            EscalateClaim,
            Message,
            AddEvidence,
            ContactSupport,
        ],
        admin: &[MarkDelivered, Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "delivered",
        story: Story::delivered,
        buyer: &[
            ConfirmReceipt,
            RequestReturn,
            RequestRefund,
            OpenDispute,
            Message,
            ContactSupport,
        ],
        seller: &[Message, OfferPartialRefund, ContactSupport],
        admin: &[Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "delivered + return awaiting the seller",
        story: || with(Story::delivered(), &[(BUYER_ACTOR, RequestReturn)]),
        buyer: &[Message, AddEvidence, ContactSupport],
        seller: &[RespondClaim, Message, AddEvidence, ContactSupport],
        admin: &[Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "delivered + counter offer",
        story: counter_offered,
        buyer: &[
            AcceptOffer,
            EscalateClaim,
            Message,
            AddEvidence,
            ContactSupport,
        ],
        seller: &[EscalateClaim, Message, AddEvidence, ContactSupport],
        admin: &[Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "delivered + return approved",
        story: || {
            with(
                Story::delivered(),
                &[(BUYER_ACTOR, RequestReturn), (SELLER_ACTOR, RespondClaim)],
            )
        },
        buyer: &[ReturnShipped, Message, AddEvidence, ContactSupport],
        seller: &[Message, AddEvidence, ContactSupport],
        admin: &[Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "delivered + return on its way back",
        story: || {
            with(
                Story::delivered(),
                &[
                    (BUYER_ACTOR, RequestReturn),
                    (SELLER_ACTOR, RespondClaim),
                    (BUYER_ACTOR, ReturnShipped),
                ],
            )
        },
        buyer: &[Message, AddEvidence, ContactSupport],
        seller: &[ReturnReceived, Message, AddEvidence, ContactSupport],
        admin: &[ReturnReceived, Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "delivered + claim escalated",
        story: || with(counter_offered(), &[(BUYER_ACTOR, EscalateClaim)]),
        buyer: &[Message, AddEvidence, ContactSupport],
        seller: &[Message, AddEvidence, ContactSupport],
        admin: &[ResolveClaim, Freeze, AdminCancel, AddNote],
    },
    Row {
        situation: "completed",
        story: || with(Story::delivered(), &[(BUYER_ACTOR, ConfirmReceipt)]),
        buyer: &[Message, OrderAgain, ContactSupport],
        seller: &[Message, ContactSupport],
        admin: &[AddNote],
    },
    Row {
        situation: "cancelled",
        story: || with(Story::requested(), &[(SELLER_ACTOR, ApproveCancellation)]),
        buyer: &[Message, OrderAgain, RefundArrived, ContactSupport],
        seller: &[Message, ContactSupport],
        admin: &[RefundArrived, AddNote],
    },
    Row {
        situation: "closed",
        story: || with(Story::placed(), &[(BUYER_ACTOR, Cancel)]),
        buyer: &[Message, OrderAgain, ContactSupport],
        seller: &[Message, ContactSupport],
        admin: &[AddNote],
    },
];

fn command_action(story: &Story, action: Action) -> Option<Action> {
    Command::sample(action, &story.order, &story.policy).action(story.order.status)
}

fn sorted(actions: &[Action]) -> Vec<Action> {
    let mut actions = actions.to_vec();
    actions.sort();
    actions
}

#[test]
fn every_state_actor_and_action_has_the_stated_outcome() {
    for row in ROWS {
        let story = (row.story)();
        for (actor, expected) in [
            (BUYER_ACTOR, row.buyer),
            (SELLER_ACTOR, row.seller),
            (ADMIN_ACTOR, row.admin),
        ] {
            // Arrange: the allowed list is exactly the table's.
            let allowed = allowed_actions(&story.order, actor, story.now, &story.policy);
            assert_eq!(
                sorted(&allowed),
                sorted(expected),
                "{}: allowed actions of the {:?}",
                row.situation,
                actor.role()
            );
            for action in Action::ALL.iter().copied() {
                let command = Command::sample(action, &story.order, &story.policy);
                let outcome = story.try_run(actor, command);
                if expected.contains(&action) {
                    // Assert: allowed means decide accepts it.
                    assert!(
                        outcome.is_ok(),
                        "{}: {action} by {:?} is listed but refused: {:?}",
                        row.situation,
                        actor.role(),
                        outcome.err()
                    );
                    continue;
                }
                // `Cancel` is checked as `cancel` or `request_cancellation` by status; where the
                // sample command stands for the other code, ask `check` about this code.
                let rejection = if command_action(&story, action) == Some(action) {
                    outcome.expect_err("an action not listed must be refused")
                } else {
                    orderly_domain::check(&story.order, action, actor, story.now, &story.policy)
                        .expect_err("an action not listed must be refused")
                };
                let expected_code = if !action.roles().contains(&actor.role()) {
                    "forbidden"
                } else if story.order.frozen
                    && action.changes_state()
                    && actor.role() != Role::Admin
                {
                    "order_frozen"
                } else if matches!(rejection, orderly_domain::Rejection::Conflict { .. }) {
                    "conflict"
                } else {
                    "invalid_transition"
                };
                assert_eq!(
                    rejection.code(),
                    expected_code,
                    "{}: {action} by {:?}: {rejection}",
                    row.situation,
                    actor.role()
                );
            }
        }
        // Strangers see nothing: a foreign buyer or seller gets not_found for every action.
        for stranger in [Actor::Buyer(OTHER_BUYER), Actor::Seller(OTHER_SELLER)] {
            for action in Action::ALL.iter().copied() {
                let command = Command::sample(action, &story.order, &story.policy);
                let rejection = story.try_run(stranger, command).expect_err("stranger");
                assert_eq!(rejection.code(), "not_found", "{}: {action}", row.situation);
            }
            assert!(allowed_actions(&story.order, stranger, story.now, &story.policy).is_empty());
        }
        // The system only fires deadlines.
        for action in Action::ALL.iter().copied() {
            let command = Command::sample(action, &story.order, &story.policy);
            let rejection = story.try_run(Actor::System, command).expect_err("system");
            assert_eq!(rejection.code(), "forbidden", "{}: {action}", row.situation);
        }
    }
}

#[test]
fn spec_15_1_a_second_request_while_one_is_pending_is_a_conflict() {
    let story = Story::requested();
    let rejection = story.refusal(BUYER_ACTOR, RequestCancellation);
    assert_eq!(rejection.code(), "conflict");
}

#[test]
fn spec_15_1_cancel_after_shipment_is_an_invalid_transition() {
    let story = Story::shipped();
    let rejection = story.refusal(BUYER_ACTOR, Cancel);
    assert_eq!(rejection.code(), "invalid_transition");
    assert!(
        rejection.to_string().contains("no longer possible"),
        "{rejection}"
    );
}

#[test]
fn spec_15_2_a_buyer_action_by_the_seller_is_forbidden_with_a_sentence() {
    let story = Story::placed();
    let rejection = story.refusal(SELLER_ACTOR, Pay);
    assert_eq!(rejection.code(), "forbidden");
    assert_eq!(
        rejection.to_string(),
        "seller accounts cannot pay; only the buyer can"
    );
}

#[test]
fn every_role_of_the_table_is_a_real_role() {
    for action in Action::ALL {
        assert!(!action.roles().is_empty());
        assert!(!action.roles().contains(&Role::System));
    }
}
