//! [`Quota`]: what a mailbox holds for others, counted per recipient and per depositor,
//! and whether one more box fits.
//!
//! A recipient's boxes are capped (messages and bytes); so is everything one depositor has
//! left here, for all recipients together, at one recipient's quota: one member cannot
//! fill every recipient's quota with boxes of its own.

use std::collections::HashMap;
use std::fmt;

use weft_proto::mesh::MemberKey;

use crate::config::MailboxLimits;

/// Messages and bytes held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Boxes held.
    pub messages: usize,
    /// Their bytes.
    pub bytes: usize,
}

/// Why a box does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The recipient's quota is used up: what is held for it, and the limits.
    Recipient(Usage, MailboxLimits),
    /// The depositor's boxes here fill a recipient's quota already.
    Depositor(Usage),
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Full::Recipient(used, limits) => write!(
                f,
                "{} messages, {} bytes held for the recipient (limits {}, {})",
                used.messages, used.bytes, limits.max_messages, limits.max_bytes
            ),
            Full::Depositor(theirs) => write!(
                f,
                "this depositor's boxes fill a recipient's quota already ({} messages, {} bytes)",
                theirs.messages, theirs.bytes
            ),
        }
    }
}

/// What is held, by recipient and by depositor.
#[derive(Debug, Default)]
pub struct Quota {
    recipients: HashMap<MemberKey, Usage>,
    depositors: HashMap<MemberKey, Usage>,
}

impl Quota {
    /// Why a box of `bytes` for `to` from `from` does not fit within `limits`, if it does
    /// not.
    pub fn full(
        &self,
        to: &MemberKey,
        from: &MemberKey,
        bytes: usize,
        limits: MailboxLimits,
    ) -> Option<Full> {
        let over = |u: Usage| {
            u.messages.saturating_add(1) > limits.max_messages
                || u.bytes.saturating_add(bytes) > limits.max_bytes
        };
        let used = self.recipients.get(to).copied().unwrap_or_default();
        if over(used) {
            return Some(Full::Recipient(used, limits));
        }
        let theirs = self.depositors.get(from).copied().unwrap_or_default();
        over(theirs).then_some(Full::Depositor(theirs))
    }

    /// A box of `bytes` for `to` from `from` is held now.
    pub fn hold(&mut self, to: MemberKey, from: MemberKey, bytes: usize) {
        count(&mut self.recipients, to, bytes);
        count(&mut self.depositors, from, bytes);
    }

    /// A box of `bytes` for `to` from `from` is held no more.
    pub fn release(&mut self, to: &MemberKey, from: &MemberKey, bytes: usize) {
        uncount(&mut self.recipients, to, bytes);
        uncount(&mut self.depositors, from, bytes);
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.recipients.is_empty()
    }

    /// Everything held, for all recipients.
    pub fn total(&self) -> Usage {
        self.recipients
            .values()
            .fold(Usage::default(), |t, u| Usage {
                messages: t.messages + u.messages,
                bytes: t.bytes + u.bytes,
            })
    }

    /// How many recipients have boxes held.
    pub fn recipients(&self) -> usize {
        self.recipients.len()
    }
}

fn count(usage: &mut HashMap<MemberKey, Usage>, key: MemberKey, bytes: usize) {
    let u = usage.entry(key).or_default();
    u.messages += 1;
    u.bytes += bytes;
}

fn uncount(usage: &mut HashMap<MemberKey, Usage>, key: &MemberKey, bytes: usize) {
    if let Some(u) = usage.get_mut(key) {
        u.messages = u.messages.saturating_sub(1);
        u.bytes = u.bytes.saturating_sub(bytes);
        if u.messages == 0 {
            usage.remove(key);
        }
    }
}

#[cfg(test)]
mod tests;
