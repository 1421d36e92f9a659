//! [`Holding`]: the boxes a mailbox holds for others, as an index (recipient, arrival, id,
//! size, depositor, expiry); the sealed bytes stay on disk. It decides whether a deposit is
//! held ([`Holding::deposit`]: it fits the [`Quota`], has not expired, and its lifetime is
//! capped at the mailbox's), and answers what the loop used to ask the store: whether a box
//! is held, what a fetch hands over and what has expired.

use std::collections::{BTreeMap, HashMap};

use weft_proto::mesh::MemberKey;
use weft_proto::seal::MAX_SEALED_BYTES;

use super::quota::{Full, Quota, Usage};
use crate::config::MailboxLimits;
use crate::store::mailbox::BoxInfo;

/// A recipient's key and a box id.
type BoxKey = (MemberKey, [u8; 32]);

/// What one fetch hands over: boxes oldest first, within its caps.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fetch {
    /// The boxes to hand over (their bytes are read from the store).
    pub boxes: Vec<BoxInfo>,
    /// Boxes found expired on the way: drop them.
    pub expired: Vec<BoxInfo>,
    /// Whether more remain after these.
    pub more: bool,
}

/// A sealed box a member leaves for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deposit {
    /// The recipient's key.
    pub to: MemberKey,
    /// The depositor's key.
    pub from: MemberKey,
    /// The box id (of its sealed bytes).
    pub id: [u8; 32],
    /// Its sealed size in bytes.
    pub size: usize,
    /// When the depositor lets it be dropped, Unix seconds.
    pub expires: u64,
}

/// Why a deposit is not held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The sealed box is over [`MAX_SEALED_BYTES`].
    #[error("a sealed box is at most {MAX_SEALED_BYTES} bytes")]
    Oversize,
    /// Its expiry has passed.
    #[error("the box has expired")]
    Expired,
    /// This node holds boxes for no one.
    #[error("this node is not a mailbox")]
    NotAMailbox,
    /// Its recipient is not a member.
    #[error("the recipient is not a member of this mesh")]
    NotAMember,
    /// It does not fit the recipient's quota or the depositor's share.
    #[error("the mailbox is full for the recipient: {0}")]
    Full(Full),
}

impl Refusal {
    /// The label a refusal is counted under as refused input, when it is the depositor's
    /// doing rather than the way of things.
    pub fn counted(&self) -> Option<&'static str> {
        match self {
            Refusal::Oversize => Some("oversize"),
            Refusal::Full(_) => Some("mailbox_full"),
            Refusal::Expired | Refusal::NotAMailbox | Refusal::NotAMember => None,
        }
    }
}

/// Whether a box of `size` bytes expiring at `expires` may be deposited at all at `now`
/// (Unix seconds), whoever it is for.
pub fn check(size: usize, expires: u64, now: u64) -> Result<(), Refusal> {
    if size > MAX_SEALED_BYTES {
        return Err(Refusal::Oversize);
    }
    if expires <= now {
        return Err(Refusal::Expired);
    }
    Ok(())
}

/// The held boxes and their quota.
#[derive(Debug, Default)]
pub struct Holding {
    /// By recipient, then arrival, then id: a fetch reads oldest first.
    order: BTreeMap<(MemberKey, u64, [u8; 32]), BoxInfo>,
    /// When each box arrived.
    arrival: HashMap<BoxKey, u64>,
    quota: Quota,
}

impl Holding {
    /// The index of what the store holds.
    pub fn of(held: impl IntoIterator<Item = BoxInfo>) -> Holding {
        let mut holding = Holding::default();
        for info in held {
            holding.hold(info);
        }
        holding
    }

    /// Whether `to`'s box `id` is held.
    pub fn holds(&self, to: &MemberKey, id: &[u8; 32]) -> bool {
        self.arrival.contains_key(&(*to, *id))
    }

    /// Why a box of `bytes` for `to` from `from` does not fit within `limits`, if it does
    /// not.
    pub fn full(
        &self,
        to: &MemberKey,
        from: &MemberKey,
        bytes: usize,
        limits: MailboxLimits,
    ) -> Option<Full> {
        self.quota.full(to, from, bytes, limits)
    }

    /// Decides `deposit` (which passed [`check`]) for another member at `now_us`
    /// (microseconds since the Unix epoch), at a node that `is_mailbox`, its recipient a
    /// `member` or not: held within `limits`, its lifetime capped at theirs. `Ok(Some)`: the
    /// box to hold, held from now (its bytes are for the store); `Ok(None)`: held already.
    pub fn deposit(
        &mut self,
        deposit: Deposit,
        limits: MailboxLimits,
        is_mailbox: bool,
        member: bool,
        now_us: u64,
    ) -> Result<Option<BoxInfo>, Refusal> {
        if !is_mailbox {
            return Err(Refusal::NotAMailbox);
        }
        if !member {
            return Err(Refusal::NotAMember);
        }
        let Deposit {
            to,
            from,
            id,
            size,
            expires,
        } = deposit;
        if self.holds(&to, &id) {
            return Ok(None);
        }
        if let Some(full) = self.full(&to, &from, size, limits) {
            return Err(Refusal::Full(full));
        }
        let info = BoxInfo {
            to,
            id,
            at: now_us,
            expires: expires.min(now_us / 1_000_000 + limits.ttl.as_secs()),
            size,
            from,
        };
        self.hold(info);
        Ok(Some(info))
    }

    /// `info`'s box is held now (once: a box already held stays as it was).
    pub fn hold(&mut self, info: BoxInfo) {
        if self.holds(&info.to, &info.id) {
            return;
        }
        self.arrival.insert((info.to, info.id), info.at);
        self.order.insert((info.to, info.at, info.id), info);
        self.quota.hold(info.to, info.from, info.size);
    }

    /// `to`'s box `id` is held no more: what it was, if it was held.
    pub fn release(&mut self, to: &MemberKey, id: &[u8; 32]) -> Option<BoxInfo> {
        let at = self.arrival.remove(&(*to, *id))?;
        let info = self.order.remove(&(*to, at, *id))?;
        self.quota.release(to, &info.from, info.size);
        Some(info)
    }

    /// Every box whose time is up at `now` (Unix seconds).
    pub fn expired(&self, now: u64) -> Vec<BoxInfo> {
        self.order
            .values()
            .filter(|b| b.expires <= now)
            .copied()
            .collect()
    }

    /// What a fetch by `to` at `now` hands over: its boxes oldest first, at most
    /// `max_count` and until their sizes pass `max_bytes` (always one when any is held).
    pub fn fetch(&self, to: &MemberKey, max_bytes: usize, max_count: usize, now: u64) -> Fetch {
        let mut fetch = Fetch::default();
        let mut bytes = 0;
        let theirs = self
            .order
            .range((*to, 0, [0; 32])..=(*to, u64::MAX, [u8::MAX; 32]));
        for info in theirs.map(|(_, info)| *info) {
            if info.expires <= now {
                fetch.expired.push(info);
                continue;
            }
            let full = fetch.boxes.len() >= max_count || bytes + info.size > max_bytes;
            if !fetch.boxes.is_empty() && full {
                fetch.more = true;
                break;
            }
            bytes += info.size;
            fetch.boxes.push(info);
        }
        fetch
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.quota.is_empty()
    }

    /// Everything held, for all recipients.
    pub fn total(&self) -> Usage {
        self.quota.total()
    }

    /// How many recipients have boxes held.
    pub fn recipients(&self) -> usize {
        self.quota.recipients()
    }
}

#[cfg(test)]
mod tests;
