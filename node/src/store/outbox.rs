//! Tree `outbox`: direct messages this node sent that their recipient has not acknowledged.
//! Key: message id (32 bytes). Value: JSON [`OutboxEntry`]. An entry is removed only after
//! the recipient's acknowledgement arrived, so a crash at any point leaves it here to resend
//! (the recipient de-duplicates by id).

use serde::{Deserialize, Serialize};
use weft_proto::MessageId;
use weft_proto::dm::DirectMessage;

use super::{StoreError, decode, encode};

/// One unacknowledged direct message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The recipient's PeerId (base58).
    pub to: String,
    /// The message exactly as it goes on the wire.
    pub message: DirectMessage,
    /// Whether a mailbox member holds it, sealed, for the recipient.
    #[serde(default)]
    pub held: bool,
}

/// A message on its way to the wire: its bytes, when the loop has them (its write is still
/// queued), or its id, for the task that sends it to read from the outbox.
#[derive(Debug)]
pub enum Outgoing {
    /// The message itself.
    Here(DirectMessage),
    /// The message with this id, on disk.
    Stored(MessageId),
}

impl Outgoing {
    /// The message's id.
    pub fn id(&self) -> MessageId {
        match self {
            Outgoing::Here(message) => message.id,
            Outgoing::Stored(id) => *id,
        }
    }
}

/// The `outbox` tree.
#[derive(Clone)]
pub struct OutboxTree(pub(super) sled::Tree);

impl OutboxTree {
    /// Adds an entry.
    pub fn put(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.0.insert(entry.message.id.0, encode(entry))?;
        Ok(())
    }

    /// The entry for `id`.
    pub fn entry(&self, id: &MessageId) -> Result<Option<OutboxEntry>, StoreError> {
        match self.0.get(id.0)? {
            None => Ok(None),
            Some(bytes) => decode("outbox", &bytes).map(Some),
        }
    }

    /// The message `outgoing` names; `None` when it left the outbox meanwhile.
    pub fn message(&self, outgoing: Outgoing) -> Result<Option<DirectMessage>, StoreError> {
        match outgoing {
            Outgoing::Here(message) => Ok(Some(message)),
            Outgoing::Stored(id) => Ok(self.entry(&id)?.map(|e| e.message)),
        }
    }

    /// Marks the entry for `id` held by a mailbox, if it is still there.
    pub fn mark_held(&self, id: &MessageId) -> Result<(), StoreError> {
        if let Some(mut entry) = self.entry(id)? {
            entry.held = true;
            self.put(&entry)?;
        }
        Ok(())
    }

    /// Removes the entry for `id` (its acknowledgement arrived).
    pub fn remove(&self, id: &MessageId) -> Result<(), StoreError> {
        self.0.remove(id.0)?;
        Ok(())
    }

    /// Every entry, oldest first (by the sender's clock).
    pub fn all(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out: Vec<OutboxEntry> = Vec::new();
        for entry in self.0.iter().values() {
            out.push(decode("outbox", &entry?)?);
        }
        out.sort_by_key(|e| e.message.ts);
        Ok(out)
    }
}
