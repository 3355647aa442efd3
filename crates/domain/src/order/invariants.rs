//! The invariants every order obeys after every event. `decide` asserts them on what it
//! produces; the store checks them when it loads; the simulation checks them every step.

use crate::ledger::{Escrow, LedgerAccount};
use crate::order::Order;

impl Order {
    /// `Ok` when the order is consistent; otherwise a sentence naming what is broken.
    pub fn check_invariants(&self) -> Result<(), String> {
        let escrow = &self.escrow;
        if !escrow.is_balanced() {
            return Err(format!("escrow does not balance: {escrow:?}"));
        }
        if Escrow::balance(&self.ledger, LedgerAccount::Escrow) != escrow.held_minor {
            return Err("the ledger's escrow balance differs from the escrow held".into());
        }
        if Escrow::balance(&self.ledger, LedgerAccount::SellerPayable) != escrow.released_minor {
            return Err("the ledger's seller balance differs from the escrow released".into());
        }
        let refunded: i64 = self.refunds.iter().map(|refund| refund.amount_minor).sum();
        if refunded != escrow.refunded_minor {
            return Err(format!(
                "refund records add up to {refunded}, escrow says {}",
                escrow.refunded_minor
            ));
        }
        if escrow.captured_minor > self.total_minor() {
            return Err("more was captured than the order total".into());
        }
        if escrow.refunded_minor > escrow.captured_minor {
            return Err("more was refunded than was paid".into());
        }
        if self.refunds.iter().any(|refund| refund.amount_minor <= 0) {
            return Err("a refund is not positive".into());
        }
        if self.status.is_final() {
            if escrow.held_minor != 0 {
                return Err(format!(
                    "the order ended with {} still in escrow",
                    escrow.held_minor
                ));
            }
            if self.frozen {
                return Err("an ended order is still frozen".into());
            }
            if let Some(deadline) = self.deadlines.iter().find(|deadline| {
                deadline.kind != crate::order::deadline::DeadlineKind::RefundOverdue
            }) {
                return Err(format!(
                    "an ended order still has a {} deadline",
                    deadline.kind
                ));
            }
        }
        let mut kinds: Vec<_> = self
            .deadlines
            .iter()
            .map(|deadline| deadline.kind)
            .collect();
        kinds.dedup();
        if kinds.len() != self.deadlines.len() {
            return Err("two deadlines of the same kind".into());
        }
        Ok(())
    }
}
