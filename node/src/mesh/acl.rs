//! [`Acl`]: what a mesh's ACL log says, resolved deterministically from the op DAG
//! ([`super::log::Log`]) so that every node holding the same ops computes the same ACL,
//! whatever order they arrived in.
//!
//! # The rules
//!
//! 1. **Authority is judged in an op's causal past**, after resolving that past: an op takes
//!    effect only if its author was an admin among the ops it had seen that took effect (the
//!    founder always is). So an op whose author's power came from an op that did not take
//!    effect has none either.
//! 2. **Seniority.** An admin may demote (revoke, or set to a role below admin) another
//!    admin only if it is that admin's senior in the op's causal past: one of its grants of
//!    admin power (the founding op, an admission as admin, a promotion) was seen by every
//!    grant of the other's since the other was last demoted. The founder is everyone's
//!    senior and can be neither revoked nor demoted.
//! 3. **A demotion voids what its target did concurrently.** A demotion of X voids every op
//!    of X that neither saw it nor was seen by it (whatever the op claims), when the demotion
//!    is a revocation or the op needs admin power. Back-dating an op to before one's removal
//!    therefore gains nothing: it is concurrent with the removal, and void. Because only a
//!    senior may demote, two admins can never void each other: there are no mutual removals,
//!    and a removed admin cannot take its remover down with a back-dated counter-removal.
//! 4. **Effects.** The ops that take effect apply in a fixed order (height, then id): a
//!    revoked key is never a member again (a concurrent re-admission loses), the first
//!    admission of a key wins, later role changes and policies override earlier ones.
//!
//! Decisions depend on other decisions (an op's authority on its author's grants, its
//! voiding on concurrent demotions), so ops are decided in dependency order, each as soon
//! as its fate is sure (see `Resolver::decide_all`): an op that takes no effect must not
//! change what others resolve to, since one node may hold it and another not. Cycles can
//! still form among concurrent demotions (an admin demoted on one branch removing the
//! member who removes it on another); what is left in one is decided first where it fares
//! the same whichever way the rest goes, then pessimistically in (height, id) order
//! (undecided demotions void, undecided grants give no power), which is deterministic too.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use weft_proto::acl::{OpId, OpKind, SignedOp};
use weft_proto::mesh::{MemberKey, MeshId, Role};
use weft_proto::queue::QueueName;
use weft_proto::service::ServiceName;
use weft_proto::topic::TopicName;

mod policies;

use super::bits::Bits;
use super::log::Log;
use policies::Policies;

/// A member as the ACL sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its role.
    pub role: Role,
    /// Its name, if one was given.
    pub name: Option<String>,
    /// The admin that admitted it (its own key for the founder).
    pub added_by: MemberKey,
    /// The height of its admission in the log (its depth in the op DAG).
    pub added_at: u64,
}

/// How a key was removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The admin that removed it.
    pub by: MemberKey,
    /// The revoking op.
    pub op: OpId,
}

/// The state of a mesh's ACL. Two are equal when they say the same, whichever order their
/// nodes hold the ops in.
#[derive(Clone, Debug)]
pub struct Acl {
    mesh: MeshId,
    name: Option<String>,
    members: BTreeMap<MemberKey, Member>,
    revoked: BTreeMap<MemberKey, Revocation>,
    policies: Policies,
    revoked_invites: BTreeSet<[u8; 16]>,
    /// Which ops of the log took effect (by index).
    applied: Bits,
}

impl Acl {
    /// The ACL of a mesh with no ops yet.
    pub fn empty(mesh: MeshId) -> Acl {
        Acl {
            mesh,
            name: None,
            members: BTreeMap::new(),
            revoked: BTreeMap::new(),
            policies: Policies::default(),
            revoked_invites: BTreeSet::new(),
            applied: Bits::default(),
        }
    }

    /// Resolves the ops of `log` in `within` (a causal past: closed under predecessors), or
    /// all of them.
    pub(super) fn resolve(log: &Log, within: Option<&Bits>) -> Acl {
        let mut resolver = Resolver::new(log, within);
        resolver.decide_all();
        resolver.state()
    }

    /// Whether op `i` of `log` may be issued by its author (rules 1 and 2), this being the
    /// resolution of its causal past.
    pub(super) fn allows(&self, log: &Log, i: u32) -> bool {
        self.continued(log, i).authorized(i)
    }

    /// Takes in op `i`, which every other op of `log` precedes (it names all the heads):
    /// nothing it does can change an earlier decision, so it is decided and applied alone.
    pub(super) fn extend(&mut self, log: &Log, i: u32) {
        let mut resolver = self.continued(log, i);
        let applied = resolver.decide(i);
        self.applied = resolver.applied;
        if applied {
            self.apply(log.op(i), log.height(i), log.id(i));
        }
    }

    /// A resolver that has decided ops `0..i` as this resolution did.
    fn continued<'a>(&self, log: &'a Log, i: u32) -> Resolver<'a> {
        let mut resolver = Resolver::new(log, None);
        resolver.applied = self.applied.clone();
        resolver.decided = Bits::below(i);
        resolver
    }

    /// Whether op `i` of the log took effect.
    pub fn applied(&self, i: u32) -> bool {
        self.applied.has(i)
    }

    fn apply(&mut self, op: &SignedOp, height: u32, id: OpId) {
        let author = op.body.author;
        let at = u64::from(height);
        match &op.body.kind {
            OpKind::Found { name, founder } => {
                self.name.clone_from(name);
                self.members.entry(author).or_insert(Member {
                    role: Role::Admin,
                    name: founder.clone(),
                    added_by: author,
                    added_at: at,
                });
            }
            OpKind::Add { member, role, name } => {
                if !self.revoked.contains_key(member) && !self.is_founder(member) {
                    self.members.entry(*member).or_insert(Member {
                        role: *role,
                        name: name.clone(),
                        added_by: author,
                        added_at: at,
                    });
                }
            }
            OpKind::Revoke { member } => {
                self.members.remove(member);
                self.revoked
                    .entry(*member)
                    .or_insert(Revocation { by: author, op: id });
            }
            OpKind::SetRole { member, role } => {
                if let Some(m) = self.members.get_mut(member) {
                    m.role = *role;
                }
            }
            OpKind::Name { member, name } => {
                if let Some(m) = self.members.get_mut(member) {
                    m.name = name.clone();
                }
            }
            OpKind::TopicPolicy { .. }
            | OpKind::ServicePolicy { .. }
            | OpKind::QueuePolicy { .. } => self.policies.apply(&op.body.kind),
            OpKind::RevokeInvite { invite } => {
                self.revoked_invites.insert(*invite);
            }
        }
    }

    /// The mesh.
    pub fn mesh(&self) -> MeshId {
        self.mesh
    }

    /// Whether `key` founded this mesh.
    pub fn is_founder(&self, key: &MemberKey) -> bool {
        MeshId::of_founder(key) == self.mesh
    }

    /// The mesh's name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The member with `key`, if it is one.
    pub fn member(&self, key: &MemberKey) -> Option<&Member> {
        self.members.get(key)
    }

    /// Every member, by key.
    pub fn members(&self) -> impl Iterator<Item = (&MemberKey, &Member)> {
        self.members.iter()
    }

    /// Whether `key` is a current admin.
    pub fn is_admin(&self, key: &MemberKey) -> bool {
        self.members.get(key).is_some_and(|m| m.role == Role::Admin)
    }

    /// Whether `key` was revoked.
    pub fn is_revoked(&self, key: &MemberKey) -> bool {
        self.revoked.contains_key(key)
    }

    /// How `key` was revoked, if it was.
    pub fn revocation(&self, key: &MemberKey) -> Option<Revocation> {
        self.revoked.get(key).copied()
    }

    /// Whether the invite with `id` was revoked.
    pub fn is_invite_revoked(&self, id: &[u8; 16]) -> bool {
        self.revoked_invites.contains(id)
    }

    /// The role of `key`, if it is a member.
    fn role(&self, key: &MemberKey) -> Option<Role> {
        self.members.get(key).map(|m| m.role)
    }

    /// Whether `key` may publish on `topic`: never a guest; otherwise as the topic's policy
    /// says, or any member when it has none.
    pub fn can_publish(&self, key: &MemberKey, topic: &TopicName) -> bool {
        self.role(key)
            .is_some_and(|role| self.policies.can_publish(key, role, topic))
    }

    /// Whether `key` may offer `service`: as its policy says, or any member but a guest.
    pub fn can_offer(&self, key: &MemberKey, service: &ServiceName) -> bool {
        self.role(key)
            .is_some_and(|role| self.policies.can_offer(key, role, service))
    }

    /// Whether `key` may call `service`: as its policy says, or any member, guests too.
    pub fn can_call(&self, key: &MemberKey, service: &ServiceName) -> bool {
        self.role(key)
            .is_some_and(|role| self.policies.can_call(key, role, service))
    }

    /// Whether `key` may work `queue`: as its policy says, or any member but a guest.
    pub fn can_work(&self, key: &MemberKey, queue: &QueueName) -> bool {
        self.role(key)
            .is_some_and(|role| self.policies.can_work(key, role, queue))
    }

    /// Whether `key` may push to `queue`: as its policy says, or any member, guests too.
    pub fn can_push(&self, key: &MemberKey, queue: &QueueName) -> bool {
        self.role(key)
            .is_some_and(|role| self.policies.can_push(key, role, queue))
    }
}

impl PartialEq for Acl {
    fn eq(&self, other: &Acl) -> bool {
        // Not `applied`: it names ops by their index in one node's log.
        (
            &self.mesh,
            &self.name,
            &self.members,
            &self.revoked,
            &self.policies,
            &self.revoked_invites,
        ) == (
            &other.mesh,
            &other.name,
            &other.members,
            &other.revoked,
            &other.policies,
            &other.revoked_invites,
        )
    }
}

impl Eq for Acl {}

/// One resolution in progress.
struct Resolver<'a> {
    log: &'a Log,
    within: Option<&'a Bits>,
    applied: Bits,
    decided: Bits,
    /// What undecided ops are taken to do: `None` pessimistically (a demotion voids, a
    /// grant gives no power), `Some(applied)` all alike, to see whether an op's fate
    /// depends on them.
    assume: Option<bool>,
}

/// Most ops left in a cycle for which [`Resolver::decide_all`] looks for those whose fate
/// does not depend on the rest (quadratic in them); a bigger cycle, which only a crafted
/// log forms, is decided pessimistically at once.
const MAX_CYCLE_SEARCH: usize = 256;

impl<'a> Resolver<'a> {
    fn new(log: &'a Log, within: Option<&'a Bits>) -> Resolver<'a> {
        Resolver {
            log,
            within,
            applied: Bits::with_capacity(log.len()),
            decided: Bits::with_capacity(log.len()),
            assume: None,
        }
    }

    fn inside(&self, i: u32) -> bool {
        self.within.is_none_or(|w| w.has(i))
    }

    /// The ops resolved, in (height, id) order.
    fn order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.log.len() as u32)
            .filter(|&i| self.inside(i))
            .collect();
        order.sort_by_key(|&i| self.log.rank(i));
        order
    }

    /// Decides every op, dependencies first (Kahn's algorithm); ops left in a cycle are
    /// decided in (height, id) order, pessimistically.
    ///
    /// An op is decided as soon as its fate is sure, before all it depends on is: once
    /// what it saw is decided and its author was not allowed to issue it, or once a
    /// demotion that voids it took effect. So an op that takes no effect never holds up,
    /// in a cycle, what would not depend on it were it absent.
    fn decide_all(&mut self) {
        let order = self.order();
        // For each op still waiting: how many of the ops it saw, and of the demotions
        // concurrent with it, are undecided.
        let mut waiting: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
        let mut dependents: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let mut ready = VecDeque::new();
        for &i in &order {
            let deps = self.dependencies(i);
            let seen = deps
                .iter()
                .filter(|&&d| self.log.ancestors(i).has(d))
                .count();
            if deps.is_empty() || (seen == 0 && !self.authorized(i)) {
                ready.push_back(i);
                continue;
            }
            waiting.insert(i, (seen, deps.len() - seen));
            for d in deps {
                dependents.entry(d).or_default().push(i);
            }
        }
        while let Some(i) = ready.pop_front() {
            if self.decided.has(i) {
                continue;
            }
            let applied = self.decide(i);
            for j in dependents.remove(&i).unwrap_or_default() {
                let Some((seen, concurrent)) = waiting.get_mut(&j) else {
                    continue;
                };
                let sure = if self.log.ancestors(j).has(i) {
                    *seen -= 1;
                    *seen == 0 && (*concurrent == 0 || !self.authorized(j))
                } else {
                    *concurrent -= 1;
                    (*seen == 0 && *concurrent == 0) || (applied && self.voids(i, j))
                };
                if sure {
                    waiting.remove(&j);
                    ready.push_back(j);
                }
            }
        }
        // Left in a cycle: first whatever fares the same whichever way the rest of the
        // cycle goes, then the others, pessimistically, in (height, id) order.
        let mut left: Vec<u32> = order
            .into_iter()
            .filter(|&i| !self.decided.has(i))
            .collect();
        while !left.is_empty() {
            let sure = (left.len() <= MAX_CYCLE_SEARCH)
                .then(|| {
                    left.iter()
                        .position(|&i| self.fate_if(i, true) == self.fate_if(i, false))
                })
                .flatten();
            match sure {
                Some(n) => {
                    let i = left.remove(n);
                    let fate = self.fate_if(i, true);
                    self.settle(i, fate);
                }
                None => {
                    let i = left.remove(0);
                    self.decide(i);
                }
            }
        }
    }

    /// Whether op `i` would take effect were every undecided op decided as `applied`.
    fn fate_if(&mut self, i: u32, applied: bool) -> bool {
        self.assume = Some(applied);
        let fate = !self.doomed(i) && self.authorized(i) && !self.voided(i);
        self.assume = None;
        fate
    }

    /// The ops whose decisions op `i`'s decision needs: the role ops of its author (and of
    /// the member it demotes) that it saw, and the demotions of its author it is concurrent
    /// with.
    fn dependencies(&self, i: u32) -> BTreeSet<u32> {
        if self.doomed(i) {
            return BTreeSet::new();
        }
        let op = self.log.op(i);
        let author = &op.body.author;
        let mut deps: BTreeSet<u32> = self.seen_role_ops(author, i).collect();
        if MeshId::of_founder(author) == op.body.mesh {
            // The founder is everyone's senior and never demoted: its ops wait on nothing
            // but the founding.
            return deps;
        }
        if let Some(target) = op.body.kind.demotes() {
            deps.extend(self.seen_role_ops(target, i));
        }
        deps.extend(
            self.log
                .demotions_of(author)
                .filter(|&d| self.inside(d) && !self.doomed(d) && self.voids(d, i)),
        );
        deps
    }

    /// Whether op `i`'s author was removed by the founder and `i` is not in that removal's
    /// causal past. Such an op is void whatever else the log holds (the founder's removals
    /// always take effect), so it is decided at once and nothing waits on it: one node may
    /// hold it (signed before its author heard of the removal) and another not (it refused
    /// it, knowing), and they must resolve alike.
    fn doomed(&self, i: u32) -> bool {
        let author = &self.log.op(i).body.author;
        self.log.demotions_of(author).any(|d| {
            let removal = self.log.op(d);
            d != i
                && self.inside(d)
                && matches!(removal.body.kind, OpKind::Revoke { .. })
                && MeshId::of_founder(&removal.body.author) == removal.body.mesh
                && !self.log.ancestors(d).has(i)
        })
    }

    /// Decides op `i` (its dependencies decided, or assumed as described above) and returns
    /// whether it takes effect.
    fn decide(&mut self, i: u32) -> bool {
        let applied = !self.doomed(i) && self.authorized(i) && !self.voided(i);
        self.settle(i, applied)
    }

    /// Records that op `i` takes effect, or not; returns which.
    fn settle(&mut self, i: u32, applied: bool) -> bool {
        self.decided.insert(i);
        if applied {
            self.applied.insert(i);
        }
        applied
    }

    /// Whether demotion `d` voids op `i` (rule 3).
    fn voids(&self, d: u32, i: u32) -> bool {
        let (demotion, op) = (self.log.op(d), self.log.op(i));
        demotion.body.kind.demotes() == Some(&op.body.author)
            && self.log.concurrent(d, i)
            && (matches!(demotion.body.kind, OpKind::Revoke { .. })
                || !matches!(op.body.kind, OpKind::Found { .. }))
    }

    fn voided(&self, i: u32) -> bool {
        let author = self.log.op(i).body.author;
        self.log.demotions_of(&author).any(|d| {
            self.inside(d) && !self.doomed(d) && self.voids(d, i) && self.in_effect(d, true)
        })
    }

    /// Rules 1 and 2 for op `i`.
    fn authorized(&self, i: u32) -> bool {
        let op = self.log.op(i);
        let author = &op.body.author;
        if let OpKind::Found { .. } = op.body.kind {
            return MeshId::of_founder(author) == op.body.mesh;
        }
        if self.role_at(author, i) != Some(Role::Admin) {
            return false;
        }
        let founder = |key: &MemberKey| MeshId::of_founder(key) == op.body.mesh;
        match &op.body.kind {
            OpKind::Add { member, .. } => !founder(member),
            OpKind::Revoke { member } | OpKind::SetRole { member, .. } if founder(member) => false,
            kind => match kind.demotes() {
                Some(target) if self.role_at(target, i) == Some(Role::Admin) => {
                    self.senior(author, target, i)
                }
                _ => true,
            },
        }
    }

    /// The role ops of `member` in op `at`'s causal past, in (height, id) order.
    fn seen_role_ops(&self, member: &MemberKey, at: u32) -> impl Iterator<Item = u32> + '_ {
        let seen = self.log.ancestors(at);
        self.log.role_ops(member).filter(move |&g| seen.has(g))
    }

    /// Whether role op `g` counts for authority (undecided, in a cycle: it does not).
    fn counts(&self, g: u32) -> bool {
        self.in_effect(g, false)
    }

    /// Whether op `i` took effect; undecided (in a cycle), as assumed, else `pessimistic`.
    fn in_effect(&self, i: u32, pessimistic: bool) -> bool {
        if self.decided.has(i) {
            self.applied.has(i)
        } else {
            self.assume.unwrap_or(pessimistic)
        }
    }

    /// `member`'s role among the ops op `at` saw that took effect.
    fn role_at(&self, member: &MemberKey, at: u32) -> Option<Role> {
        let mut role = None;
        for g in self.seen_role_ops(member, at).filter(|&g| self.counts(g)) {
            match &self.log.op(g).body.kind {
                OpKind::Found { .. } => role = Some(Role::Admin),
                OpKind::Add { role: r, .. } => {
                    role = role.or(Some(*r));
                }
                OpKind::SetRole { role: r, .. } if role.is_some() => role = Some(*r),
                OpKind::Revoke { .. } => return None,
                _ => {}
            }
        }
        role
    }

    /// `member`'s grants of admin power since its last demotion, among the ops op `at` saw
    /// that took effect.
    fn grants_at(&self, member: &MemberKey, at: u32) -> Vec<u32> {
        let mut grants = Vec::new();
        let mut is_member = false;
        for g in self.seen_role_ops(member, at).filter(|&g| self.counts(g)) {
            let kind = &self.log.op(g).body.kind;
            if kind.demotes().is_some() {
                grants.clear();
            }
            match kind {
                OpKind::Found { .. } => grants.push(g),
                OpKind::Add { role, .. } if !is_member && *role == Role::Admin => grants.push(g),
                OpKind::SetRole { role, .. } if is_member && *role == Role::Admin => grants.push(g),
                _ => {}
            }
            is_member |= matches!(kind, OpKind::Found { .. } | OpKind::Add { .. });
        }
        grants
    }

    /// Rule 2: whether `senior` outranks `junior` as of op `at`'s causal past.
    fn senior(&self, senior: &MemberKey, junior: &MemberKey, at: u32) -> bool {
        let theirs = self.grants_at(junior, at);
        self.grants_at(senior, at).into_iter().any(|mine| {
            theirs
                .iter()
                .all(|&g| g != mine && self.log.ancestors(g).has(mine))
        })
    }

    /// Applies the ops that took effect, in (height, id) order.
    fn state(self) -> Acl {
        let mut acl = Acl::empty(self.log.mesh());
        let order = self.order();
        // Revocations first: a key revoked anywhere is never admitted, whatever the order.
        for &i in &order {
            if let (true, OpKind::Revoke { member }) =
                (self.applied.has(i), &self.log.op(i).body.kind)
            {
                let by = self.log.op(i).body.author;
                acl.revoked.entry(*member).or_insert(Revocation {
                    by,
                    op: self.log.id(i),
                });
            }
        }
        for i in order.into_iter().filter(|&i| self.applied.has(i)) {
            acl.apply(self.log.op(i), self.log.height(i), self.log.id(i));
        }
        acl.applied = self.applied;
        acl
    }
}

#[cfg(test)]
mod tests;
