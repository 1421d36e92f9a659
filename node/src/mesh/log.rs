//! [`Log`]: a mesh's ACL ops as a hash-linked DAG, and the door every op passes to get in.
//!
//! An op is admitted ([`Log::admit`]) only when it is well formed, signed by its author, for
//! this mesh, its predecessors are all known, and its author may issue it at that point of
//! the log: an admin (a senior one, for demoting an admin) in the resolved ACL of the op's
//! causal past. That decision depends on the op and its causal past alone, so every node
//! admits the same ops whatever order they arrive in (but for ops of a key the founder
//! removed, which are void anyway: see [`Refused::Removed`]). What an admitted op then does is
//! decided by `Acl::resolve` over the whole log (a concurrent demotion of its author can
//! still void it). The log holds at most [`MAX_LOG_OPS`] ops.
//!
//! Each op is kept with its height (one above its highest predecessor; the founding op is 0)
//! and its causal past as a bit set, so "did this op see that one" is one lookup; ops are
//! numbered in the order this node admitted them, which is always parents first.

use std::collections::{BTreeSet, HashMap};

use weft_proto::DecodeError;
use weft_proto::acl::{MAX_PREV, OpId, OpKind, SignedOp};
use weft_proto::mesh::{MemberKey, MeshId, Role};

use super::acl::Acl;
use super::bits::Bits;

/// Most ops a mesh's log holds. At a few hundred bytes each that is a few MiB; a mesh admits
/// a few thousand members over its life within it.
pub const MAX_LOG_OPS: usize = 10_000;

/// What [`Log::admit`] did with an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// It is new, and stored in the log.
    New,
    /// The log holds it already.
    Known,
}

/// Why an op was not admitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// It is malformed, oversize or of another version.
    #[error("malformed op: {0}")]
    Malformed(#[from] DecodeError),
    /// It is an op of another mesh.
    #[error("an op of another mesh")]
    OtherMesh,
    /// Its signature does not verify for its author.
    #[error("its signature does not verify")]
    BadSignature,
    /// Some of the ops it names as seen are not in the log (yet).
    #[error("{} of the ops it follows are not known here", .0.len())]
    MissingParents(Vec<OpId>),
    /// Its author may not issue it at that point of the log.
    #[error("its author may not issue it at that point of the log")]
    NotAllowed,
    /// Its author was removed from the mesh by the founder, as this log knows. Such an op
    /// takes effect nowhere (it is concurrent with the removal, which voids it, or after
    /// it), so it is not kept unless a later op of someone else names it (see
    /// [`Log::admit_all`]).
    #[error("its author was removed from the mesh")]
    Removed,
    /// The log holds [`MAX_LOG_OPS`] ops already.
    #[error("the ACL log is full ({MAX_LOG_OPS} ops)")]
    Full,
}

impl Refused {
    /// A short label for counters.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::Malformed(e) => e.reason(),
            Refused::OtherMesh => "other_mesh",
            Refused::BadSignature => "signature",
            Refused::MissingParents(_) => "missing_parents",
            Refused::NotAllowed => "not_allowed",
            Refused::Removed => "removed_author",
            Refused::Full => "log_full",
        }
    }

    /// Whether the op is provably bad (as opposed to early, or too many).
    pub fn is_forged(&self) -> bool {
        !matches!(
            self,
            Refused::MissingParents(_) | Refused::Full | Refused::Removed
        )
    }
}

/// What [`Log::admit_all`] did with a batch.
#[derive(Debug, Default)]
pub struct Batch {
    /// The ops admitted, in the order they were (the order to store them in).
    pub new: Vec<SignedOp>,
    /// Why the others were refused (known ones are neither).
    pub refused: Vec<Refused>,
}

/// The ops of `limbo` (parents first) that `missing` needs, directly or through each
/// other; empty unless they supply every missing op.
fn needed_from(limbo: &[SignedOp], missing: Vec<OpId>) -> BTreeSet<OpId> {
    let mut wanted: BTreeSet<OpId> = missing.iter().copied().collect();
    for op in limbo.iter().rev() {
        if wanted.contains(&op.id()) {
            wanted.extend(op.body.prev.iter().copied());
        }
    }
    let ids: BTreeSet<OpId> = limbo.iter().map(SignedOp::id).collect();
    if missing.iter().all(|m| ids.contains(m)) {
        wanted.intersection(&ids).copied().collect()
    } else {
        BTreeSet::new()
    }
}

/// One op as the log keeps it.
#[derive(Clone, Debug)]
struct Entry {
    op: SignedOp,
    id: OpId,
    height: u32,
    /// The ops it saw (strict causal past), by index.
    ancestors: Bits,
    /// Its encoded size.
    size: usize,
}

/// The ACL log of one mesh, and its resolution.
#[derive(Clone, Debug)]
pub struct Log {
    mesh: MeshId,
    entries: Vec<Entry>,
    by_id: HashMap<OpId, u32>,
    /// Ops no other op names as seen.
    heads: BTreeSet<u32>,
    /// By member key: the ops deciding its role (founding, admission, role changes,
    /// revocation), in (height, id) order.
    role_ops: HashMap<MemberKey, Vec<u32>>,
    /// By member key: the ops demoting it.
    demotions: HashMap<MemberKey, Vec<u32>>,
    bytes: usize,
    acl: Acl,
}

impl Log {
    /// The empty log of `mesh`.
    pub fn new(mesh: MeshId) -> Log {
        Log {
            mesh,
            entries: Vec::new(),
            by_id: HashMap::new(),
            heads: BTreeSet::new(),
            role_ops: HashMap::new(),
            demotions: HashMap::new(),
            bytes: 0,
            acl: Acl::empty(mesh),
        }
    }

    /// Admits `op` if it passes (see the module docs); the ACL is resolved anew.
    pub fn admit(&mut self, op: SignedOp) -> Result<Admitted, Refused> {
        self.admit_checked(op, false)
    }

    /// Admits `op` like [`Log::admit`], even when its author was removed: for an op that
    /// another op names as seen (it came before that one, in the same sync answer), without
    /// which the later one could never be admitted.
    pub fn admit_removed(&mut self, op: SignedOp) -> Result<Admitted, Refused> {
        self.admit_checked(op, true)
    }

    /// Admits `ops` (parents first) into a joiner's log, as [`Log::admit_all`] does; the
    /// first refusal that proves the ops forged, if any (ops that are only void, or early,
    /// are dropped).
    pub fn adopt(&mut self, ops: impl IntoIterator<Item = SignedOp>) -> Result<(), Refused> {
        match self
            .admit_all(ops)
            .refused
            .into_iter()
            .find(Refused::is_forged)
        {
            Some(forged) => Err(forged),
            None => Ok(()),
        }
    }

    /// Admits `ops`, parents first, as one sync answer brings them. An op of a removed
    /// author is let in only when a later op of the batch needs it (names it, directly or
    /// through other such ops); the others are refused as [`Refused::Removed`].
    pub fn admit_all(&mut self, ops: impl IntoIterator<Item = SignedOp>) -> Batch {
        let mut batch = Batch::default();
        let mut limbo: Vec<SignedOp> = Vec::new();
        for op in ops {
            match self.admit(op.clone()) {
                Ok(Admitted::New) => batch.new.push(op),
                Ok(Admitted::Known) => {}
                Err(Refused::Removed) => limbo.push(op),
                Err(Refused::MissingParents(missing)) => {
                    let needed = needed_from(&limbo, missing);
                    if needed.is_empty() {
                        batch.refused.push(Refused::MissingParents(Vec::new()));
                        continue;
                    }
                    limbo.retain(|l| {
                        if !needed.contains(&l.id()) {
                            return true;
                        }
                        match self.admit_removed(l.clone()) {
                            Ok(Admitted::New) => batch.new.push(l.clone()),
                            Ok(Admitted::Known) => {}
                            Err(e) => batch.refused.push(e),
                        }
                        false
                    });
                    match self.admit(op.clone()) {
                        Ok(Admitted::New) => batch.new.push(op),
                        Ok(Admitted::Known) => {}
                        // Removed too: a later op may need it in turn.
                        Err(Refused::Removed) => limbo.push(op),
                        Err(e) => batch.refused.push(e),
                    }
                }
                Err(e) => batch.refused.push(e),
            }
        }
        batch.refused.extend(limbo.iter().map(|_| Refused::Removed));
        batch
    }

    fn admit_checked(&mut self, op: SignedOp, removed_too: bool) -> Result<Admitted, Refused> {
        op.check_shape()?;
        if op.body.mesh != self.mesh {
            return Err(Refused::OtherMesh);
        }
        let id = op.id();
        if self.by_id.contains_key(&id) {
            return Ok(Admitted::Known);
        }
        if self.entries.len() >= MAX_LOG_OPS {
            return Err(Refused::Full);
        }
        let missing: Vec<OpId> = op
            .body
            .prev
            .iter()
            .filter(|p| !self.by_id.contains_key(p))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(Refused::MissingParents(missing));
        }
        // Cheap before the signature: every op but the founding one takes an admin, so an
        // author never made admin anywhere in the log (a guest flooding it) is refused here.
        if !self.ever_admin(&op.body.author) && !matches!(op.body.kind, OpKind::Found { .. }) {
            return Err(Refused::NotAllowed);
        }
        if !removed_too && self.removed_for_good(&op.body.author) {
            return Err(Refused::Removed);
        }
        weft_keys::acl::verify_op(&op).map_err(|_| Refused::BadSignature)?;
        let parents: Vec<u32> = op.body.prev.iter().map(|p| self.by_id[p]).collect();
        let extends_all = parents.iter().copied().collect::<BTreeSet<u32>>() == self.heads;
        let i = self.push(op, id, &parents);
        let allowed = if extends_all {
            // It saw the whole log: the log's resolution is its causal past's.
            self.acl.allows(self, i)
        } else {
            let past = Acl::resolve(self, Some(&self.entries[i as usize].ancestors.clone()));
            past.allows(self, i)
        };
        if !allowed {
            self.pop();
            return Err(Refused::NotAllowed);
        }
        for p in &parents {
            self.heads.remove(p);
        }
        self.heads.insert(i);
        self.bytes += self.entries[i as usize].size;
        if extends_all {
            let mut acl = std::mem::replace(&mut self.acl, Acl::empty(self.mesh));
            acl.extend(self, i);
            self.acl = acl;
        } else {
            self.acl = Acl::resolve(self, None);
        }
        Ok(Admitted::New)
    }

    /// Whether `key` was removed by the founder: such a removal always takes effect (the
    /// founder is senior to every admin and never demoted), so every op of `key`'s that is
    /// not in its causal past is void, wherever it lands. (A removal by another admin can
    /// itself be voided, by a demotion of its author concurrent with it, so the ops of a
    /// key it removed are kept.)
    fn removed_for_good(&self, key: &MemberKey) -> bool {
        self.acl
            .revocation(key)
            .is_some_and(|r| self.acl.is_founder(&r.by))
    }

    /// Whether some op of the log makes `key` an admin (or founds the mesh as `key`).
    fn ever_admin(&self, key: &MemberKey) -> bool {
        self.role_ops(key).any(|i| match &self.op(i).body.kind {
            OpKind::Found { .. } => self.op(i).body.author == *key,
            OpKind::Add { role, .. } | OpKind::SetRole { role, .. } => *role == Role::Admin,
            _ => false,
        })
    }

    /// Adds an entry for `op` at the end and indexes it; undone by [`Log::pop`].
    fn push(&mut self, op: SignedOp, id: OpId, parents: &[u32]) -> u32 {
        let i = self.entries.len() as u32;
        let mut ancestors = Bits::with_capacity(self.entries.len());
        let mut height = 0u32;
        for &p in parents {
            let parent = &self.entries[p as usize];
            ancestors.union(&parent.ancestors);
            ancestors.insert(p);
            // At most MAX_LOG_OPS deep: cannot overflow, but never wrap.
            height = height.max(parent.height.saturating_add(1));
        }
        let size = weft_proto::codec::to_cbor(&op).map_or(0, |b| b.len());
        let kind = op.body.kind.clone();
        let author = op.body.author;
        self.entries.push(Entry {
            op,
            id,
            height,
            ancestors,
            size,
        });
        self.by_id.insert(id, i);
        let key = |log: &Log, j: u32| log.rank(j);
        let member = match &kind {
            OpKind::Found { .. } => Some(author),
            other => other.concerns().copied(),
        };
        if let Some(member) = member {
            let mut list = self.role_ops.remove(&member).unwrap_or_default();
            let at = list.partition_point(|&j| key(self, j) < key(self, i));
            list.insert(at, i);
            self.role_ops.insert(member, list);
        }
        if let Some(target) = kind.demotes() {
            self.demotions.entry(*target).or_default().push(i);
        }
        i
    }

    /// Removes the last entry [`Log::push`] added.
    fn pop(&mut self) {
        let Some(entry) = self.entries.pop() else {
            return;
        };
        let i = self.entries.len() as u32;
        self.by_id.remove(&entry.id);
        for lists in [&mut self.role_ops, &mut self.demotions] {
            for list in lists.values_mut() {
                list.retain(|&j| j != i);
            }
            lists.retain(|_, list| !list.is_empty());
        }
    }

    /// The mesh.
    pub fn mesh(&self) -> MeshId {
        self.mesh
    }

    /// What the log says.
    pub fn acl(&self) -> &Acl {
        &self.acl
    }

    /// How many ops it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no op.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Their encoded size, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether it holds the op `id`.
    pub fn contains(&self, id: &OpId) -> bool {
        self.by_id.contains_key(id)
    }

    /// The ops, in the order this node admitted them (parents first).
    pub fn ops(&self) -> impl Iterator<Item = &SignedOp> {
        self.entries.iter().map(|e| &e.op)
    }

    /// The heads, in id order.
    pub fn heads(&self) -> Vec<OpId> {
        let mut heads: Vec<OpId> = self.heads.iter().map(|&i| self.id(i)).collect();
        heads.sort();
        heads
    }

    /// What a new op of this node names as seen: the heads, or the [`MAX_PREV`] highest of
    /// them (the rest are merged by later ops), sorted.
    pub fn next_prev(&self) -> Vec<OpId> {
        let mut heads: Vec<u32> = self.heads.iter().copied().collect();
        heads.sort_by_key(|&i| std::cmp::Reverse(self.rank(i)));
        heads.truncate(MAX_PREV);
        let mut prev: Vec<OpId> = heads.into_iter().map(|i| self.id(i)).collect();
        prev.sort();
        prev
    }

    /// A summary of what this log holds, for a sync request: at most `max_heads` heads
    /// (the highest), and at most `max_known` more ops at exponentially spaced depths below
    /// the top (1, 2, 4, ... places down in (height, id) order).
    pub fn summary(&self, max_heads: usize, max_known: usize) -> (Vec<OpId>, Vec<OpId>) {
        let mut heads: Vec<u32> = self.heads.iter().copied().collect();
        heads.sort_by_key(|&i| std::cmp::Reverse(self.rank(i)));
        heads.truncate(max_heads);
        let order = self.order();
        let mut known = Vec::new();
        let mut step = 1usize;
        while known.len() < max_known && step < order.len() {
            let i = order[order.len() - 1 - step];
            if !self.heads.contains(&i) {
                known.push(self.id(i));
            }
            step = step.saturating_mul(2);
        }
        if let Some(&root) = order.first()
            && known.len() < max_known
            && !self.heads.contains(&root)
        {
            known.push(self.id(root));
        }
        (heads.into_iter().map(|i| self.id(i)).collect(), known)
    }

    /// The ops an asker whose summary names `seen` may lack: those not in the causal past of
    /// any op of `seen` this log holds (and, paging, that come after op `after` in the order
    /// they are sent), parents first, at most `max_ops` of them and `max_bytes` in all; and
    /// whether more remain.
    pub fn lacking(
        &self,
        seen: &[OpId],
        after: Option<&OpId>,
        max_ops: usize,
        max_bytes: usize,
    ) -> (Vec<SignedOp>, bool) {
        self.lacking_within(None, seen, after, max_ops, max_bytes)
    }

    /// The same as [`Self::lacking`], but only op `within` and its causal past when given:
    /// all a member just removed is sent (the ops that tell it so), and nothing that came
    /// after. Nothing when the log lacks `within`.
    pub fn lacking_within(
        &self,
        within: Option<&OpId>,
        seen: &[OpId],
        after: Option<&OpId>,
        max_ops: usize,
        max_bytes: usize,
    ) -> (Vec<SignedOp>, bool) {
        let within = match within.map(|id| self.by_id.get(id)) {
            None => None,
            Some(Some(&i)) => Some(i),
            Some(None) => return (Vec::new(), false),
        };
        let inside =
            |i: u32| within.is_none_or(|w| i == w || self.entries[w as usize].ancestors.has(i));
        let from = after
            .and_then(|id| self.by_id.get(id))
            .map(|&i| self.rank(i));
        let mut held = Bits::default();
        for id in seen {
            if let Some(&i) = self.by_id.get(id) {
                held.union(&self.entries[i as usize].ancestors);
                held.insert(i);
            }
        }
        self.capped(
            self.order().into_iter().filter(|&i| {
                inside(i) && !held.has(i) && from.is_none_or(|from| self.rank(i) > from)
            }),
            max_ops,
            max_bytes,
        )
    }

    /// Op `id` and its causal past, parents first, at most `max_bytes` of them; and whether
    /// the log holds more ops than those sent. `None` when the log lacks `id`.
    pub fn with_past(&self, id: &OpId, max_bytes: usize) -> Option<(Vec<SignedOp>, bool)> {
        let i = *self.by_id.get(id)?;
        let past = &self.entries[i as usize].ancestors;
        let wanted = self.order().into_iter().filter(|&j| j == i || past.has(j));
        let (ops, capped) = self.capped(wanted, usize::MAX, max_bytes);
        let more = capped || ops.len() < self.entries.len();
        Some((ops, more))
    }

    fn capped(
        &self,
        wanted: impl Iterator<Item = u32>,
        max_ops: usize,
        max_bytes: usize,
    ) -> (Vec<SignedOp>, bool) {
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        for i in wanted {
            let entry = &self.entries[i as usize];
            if out.len() >= max_ops || bytes + entry.size > max_bytes {
                return (out, true);
            }
            bytes += entry.size;
            out.push(entry.op.clone());
        }
        (out, false)
    }

    /// Every op index in (height, id) order: the order ops take effect in, parents first.
    fn order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.entries.len() as u32).collect();
        order.sort_by_key(|&i| self.rank(i));
        order
    }

    // What the resolution reads.

    pub(super) fn op(&self, i: u32) -> &SignedOp {
        &self.entries[i as usize].op
    }

    pub(super) fn id(&self, i: u32) -> OpId {
        self.entries[i as usize].id
    }

    pub(super) fn height(&self, i: u32) -> u32 {
        self.entries[i as usize].height
    }

    /// Where op `i` stands in the order ops take effect: by height, then id.
    pub(super) fn rank(&self, i: u32) -> (u32, OpId) {
        let e = &self.entries[i as usize];
        (e.height, e.id)
    }

    /// The ops op `i` saw.
    pub(super) fn ancestors(&self, i: u32) -> &Bits {
        &self.entries[i as usize].ancestors
    }

    /// Whether neither of ops `a` and `b` saw the other.
    pub(super) fn concurrent(&self, a: u32, b: u32) -> bool {
        a != b && !self.ancestors(a).has(b) && !self.ancestors(b).has(a)
    }

    /// The ops deciding `member`'s role, in (height, id) order.
    pub(super) fn role_ops(&self, member: &MemberKey) -> impl Iterator<Item = u32> + '_ {
        self.role_ops.get(member).into_iter().flatten().copied()
    }

    /// The ops demoting `member`.
    pub(super) fn demotions_of(&self, member: &MemberKey) -> impl Iterator<Item = u32> + '_ {
        self.demotions.get(member).into_iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests;
