//! What each viewer may see of an order's history (SPEC 16.3). This is the one place that
//! decides it: the API's `/events`, the web pages' timeline, the webhooks and the e-mails
//! all show events through [`visible`], so a private text cannot leak through one door
//! while another keeps it shut.
//!
//! Private to the platform: internal notes (not shown at all), the notes of freeze, unfreeze
//! and the decision of an escalated cancellation, and the account id of the admin who acted
//! (the parties see "the platform"). A complaint's text is seen by the platform and by the
//! buyer who filed it, never by the seller it accuses; a request to support is seen by the
//! party who sent it and the platform only.

use jiff::Timestamp;

use crate::actor::{Actor, Role};
use crate::ids::AccountId;
use crate::order::event::{Event, EventKind};

/// Who is looking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// The order's buyer.
    Buyer,
    /// The order's seller.
    Seller,
    /// Support staff and orderly itself: everything.
    Platform,
}

impl Audience {
    /// The audience of an actor who may see the order.
    pub fn of(actor: Actor) -> Self {
        match actor {
            Actor::Buyer(_) => Audience::Buyer,
            Actor::Seller(_) => Audience::Seller,
            Actor::Admin(_) | Actor::System | Actor::Provider(_) => Audience::Platform,
        }
    }

    /// Every audience, for sweeps in tests and for notification rules.
    pub const ALL: &'static [Audience] = &[Audience::Buyer, Audience::Seller, Audience::Platform];
}

/// An event as one audience sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventView {
    pub at: Timestamp,
    /// The role of whoever acted.
    pub role: Role,
    /// Who acted; `None` for the system, and for an admin unless the audience is the
    /// platform.
    pub actor_id: Option<AccountId>,
    /// The event with the texts this audience may not read removed (empty).
    pub kind: EventKind,
}

impl EventView {
    /// A sentence for people, from what this audience may see.
    pub fn describe(&self, currency: crate::money::Currency) -> String {
        self.kind.describe(currency)
    }
}

/// `event` as `audience` may see it; `None` when the audience may not see it at all.
pub fn visible(event: &Event, audience: Audience) -> Option<EventView> {
    let hidden = match (&event.kind, audience) {
        (_, Audience::Platform) => false,
        (EventKind::InternalNote { .. }, _) => true,
        (EventKind::SupportRequested { .. }, Audience::Buyer) => event.actor.role() != Role::Buyer,
        (EventKind::SupportRequested { .. }, Audience::Seller) => {
            event.actor.role() != Role::Seller
        }
        _ => false,
    };
    if hidden {
        return None;
    }
    let actor_id = match (event.actor, audience) {
        (Actor::Admin(_), Audience::Buyer | Audience::Seller) => None,
        (actor, _) => actor.account_id(),
    };
    Some(EventView {
        at: event.at,
        role: event.actor.role(),
        actor_id,
        kind: visible_kind(&event.kind, audience),
    })
}

fn visible_kind(kind: &EventKind, audience: Audience) -> EventKind {
    if audience == Audience::Platform {
        return kind.clone();
    }
    match kind {
        EventKind::OrderFrozen { .. } => EventKind::OrderFrozen {
            note: String::new(),
        },
        EventKind::OrderUnfrozen { .. } => EventKind::OrderUnfrozen {
            note: String::new(),
        },
        EventKind::CancellationDecided { approve, .. } => EventKind::CancellationDecided {
            approve: *approve,
            note: String::new(),
        },
        EventKind::ComplaintFiled { .. } if audience == Audience::Seller => {
            EventKind::ComplaintFiled {
                text: String::new(),
            }
        }
        other => other.clone(),
    }
}
