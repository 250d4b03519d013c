//! Leaf links and routes on a clustered hub (nats-server `updateRouteSubscriptionMap`,
//! `updateLeafNodes`, `processInboundRoutedMsg`): interest learned on the links we are
//! the hub of goes to the routes as RS+ (natrix sends no `lnoc`, so nats-server peers
//! expect no leaf-origin LS+), route interest goes to those links as LS+, and the
//! routes' messages reach them. Links where we are the spoke take no part: a spoke
//! does not pass its hub's interest or messages to its routes.
use super::cluster_state::ROUTE_WORKER;
use super::core::Core;
use crate::subject::Subscription;
use std::sync::Arc;

impl Core {
    /// A route announced (`add`) or withdrew interest: tell the links we are the hub of.
    pub(super) fn route_interest_to_leafs(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, add: bool) {
        let shared = self.shared.clone();
        let Some(l) = shared.leaf.as_ref() else { return };
        if l.routed_changed(account, std::iter::once((subject, queue)), add) && self.id != ROUTE_WORKER {
            shared.wake(ROUTE_WORKER as usize);
        }
    }

    /// Interest learned on an interest-carrying connection that went: a route's
    /// (`from_route`) leaves the hub-role links, a hub-role link's (`hub_leaf`: its
    /// account) leaves the routes.
    pub(super) fn withdraw_crossed(&mut self, drained: &[(u32, Arc<Subscription>)], from_route: bool, hub_leaf: Option<&str>) {
        if from_route {
            let shared = self.shared.clone();
            let Some(l) = shared.leaf.as_ref() else { return };
            let mut queued = false;
            for (_, s) in drained {
                let account = super::cluster_conn::route_sub_account(s);
                queued |= l.routed_changed(account, std::iter::once((&s.subject[..], s.queue.as_deref())), false);
            }
            if queued && self.id != ROUTE_WORKER {
                shared.wake(ROUTE_WORKER as usize);
            }
        } else if let Some(account) = hub_leaf {
            for (_, s) in drained {
                self.leaf_interest_to_routes(account.as_bytes(), &s.subject, s.queue.as_deref(), -super::leaf_conn::leaf_members(s));
            }
        }
    }

    /// Whether a routed message may go to remote subscription `sub`: a live leaf link
    /// we are the hub of (never a route: one hop; never our hub).
    pub(super) fn routed_to_leaf(&self, sub: &Subscription) -> bool {
        sub.leaf && !sub.is_closed() && !self.is_spoke_link(sub.owner.slot, sub.owner.cid)
    }
}
