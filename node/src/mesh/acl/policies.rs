//! [`Policies`]: what the ACL's policies let members do on topics, services and queues.
//!
//! Each policy lists principals (roles, or members by key) per action; an empty list is no
//! restriction, and a later policy for the same name replaces the earlier one. Without a
//! policy, every member and admin may publish, offer and work, and everyone in the mesh
//! (guests too) may call and push. A guest publishes never, and offers or works only where a
//! policy names it (by key, or the guest role).

use std::collections::BTreeMap;

use weft_proto::acl::{OpKind, Principal};
use weft_proto::mesh::{MemberKey, Role};
use weft_proto::queue::QueueName;
use weft_proto::service::ServiceName;
use weft_proto::topic::TopicName;

/// Who a service's or queue's policy lets do each of its two actions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Pair {
    /// Offer (a service) or work (a queue): the serving side.
    serve: Vec<Principal>,
    /// Call (a service) or push (a queue): the asking side.
    ask: Vec<Principal>,
}

/// The policies in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Policies {
    topics: BTreeMap<TopicName, Vec<Principal>>,
    services: BTreeMap<ServiceName, Pair>,
    queues: BTreeMap<QueueName, Pair>,
}

/// Whether `list` admits `key` holding `role`: when it names either, or when it is empty and
/// `by_default`.
fn admits(list: &[Principal], key: &MemberKey, role: Role, by_default: bool) -> bool {
    if list.is_empty() {
        return by_default;
    }
    list.iter().any(|p| match p {
        Principal::Role(r) => *r == role,
        Principal::Key(k) => k == key,
    })
}

impl Policies {
    /// Takes in a policy op (others are ignored).
    pub(super) fn apply(&mut self, kind: &OpKind) {
        match kind {
            OpKind::TopicPolicy { topic, publishers } => {
                self.topics.insert(topic.clone(), publishers.clone());
            }
            OpKind::ServicePolicy {
                service,
                offer,
                call,
            } => {
                let pair = Pair {
                    serve: offer.clone(),
                    ask: call.clone(),
                };
                self.services.insert(service.clone(), pair);
            }
            OpKind::QueuePolicy { queue, push, work } => {
                let pair = Pair {
                    serve: work.clone(),
                    ask: push.clone(),
                };
                self.queues.insert(queue.clone(), pair);
            }
            _ => {}
        }
    }

    /// Whether the member `key` (holding `role`) may publish on `topic`.
    pub(super) fn can_publish(&self, key: &MemberKey, role: Role, topic: &TopicName) -> bool {
        let list = self.topics.get(topic).map_or(&[][..], Vec::as_slice);
        role != Role::Guest && admits(list, key, role, true)
    }

    /// Whether the member `key` may offer `service`.
    pub(super) fn can_offer(&self, key: &MemberKey, role: Role, service: &ServiceName) -> bool {
        let list = self.services.get(service).map_or(&[][..], |p| &p.serve);
        admits(list, key, role, role != Role::Guest)
    }

    /// Whether the member `key` may call `service`.
    pub(super) fn can_call(&self, key: &MemberKey, role: Role, service: &ServiceName) -> bool {
        let list = self.services.get(service).map_or(&[][..], |p| &p.ask);
        admits(list, key, role, true)
    }

    /// Whether the member `key` may work `queue`'s items.
    pub(super) fn can_work(&self, key: &MemberKey, role: Role, queue: &QueueName) -> bool {
        let list = self.queues.get(queue).map_or(&[][..], |p| &p.serve);
        admits(list, key, role, role != Role::Guest)
    }

    /// Whether the member `key` may push items to `queue`.
    pub(super) fn can_push(&self, key: &MemberKey, role: Role, queue: &QueueName) -> bool {
        let list = self.queues.get(queue).map_or(&[][..], |p| &p.ask);
        admits(list, key, role, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: MemberKey = MemberKey([1; 32]);
    const GUEST: MemberKey = MemberKey([2; 32]);

    fn service() -> ServiceName {
        "resize".parse().unwrap()
    }

    fn queue() -> QueueName {
        "jobs".parse().unwrap()
    }

    #[test]
    fn by_default_members_serve_and_everyone_asks() {
        let p = Policies::default();
        assert!(p.can_offer(&ALICE, Role::Member, &service()));
        assert!(p.can_work(&ALICE, Role::Member, &queue()));
        assert!(!p.can_offer(&GUEST, Role::Guest, &service()));
        assert!(!p.can_work(&GUEST, Role::Guest, &queue()));
        assert!(p.can_call(&GUEST, Role::Guest, &service()));
        assert!(p.can_push(&GUEST, Role::Guest, &queue()));
    }

    #[test]
    fn a_policy_admits_only_whom_it_names_and_can_name_a_guest() {
        let mut p = Policies::default();
        p.apply(&OpKind::ServicePolicy {
            service: service(),
            offer: vec![Principal::Key(GUEST)],
            call: vec![Principal::Role(Role::Admin)],
        });
        assert!(p.can_offer(&GUEST, Role::Guest, &service()));
        assert!(!p.can_offer(&ALICE, Role::Member, &service()));
        assert!(!p.can_call(&ALICE, Role::Member, &service()));
        assert!(p.can_call(&ALICE, Role::Admin, &service()));
        p.apply(&OpKind::QueuePolicy {
            queue: queue(),
            push: vec![Principal::Key(ALICE)],
            work: vec![Principal::Role(Role::Guest)],
        });
        assert!(p.can_push(&ALICE, Role::Member, &queue()));
        assert!(!p.can_push(&GUEST, Role::Guest, &queue()));
        assert!(p.can_work(&GUEST, Role::Guest, &queue()));
        assert!(!p.can_work(&ALICE, Role::Member, &queue()));
    }

    #[test]
    fn an_empty_policy_lifts_the_restriction_and_guests_never_publish() {
        let mut p = Policies::default();
        let topic: TopicName = "news".parse().unwrap();
        p.apply(&OpKind::TopicPolicy {
            topic: topic.clone(),
            publishers: vec![Principal::Role(Role::Guest)],
        });
        assert!(!p.can_publish(&GUEST, Role::Guest, &topic));
        assert!(!p.can_publish(&ALICE, Role::Member, &topic));
        p.apply(&OpKind::TopicPolicy {
            topic: topic.clone(),
            publishers: vec![],
        });
        assert!(p.can_publish(&ALICE, Role::Member, &topic));
    }
}
