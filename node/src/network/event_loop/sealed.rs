//! Sealed boxes from this node's side: depositing outbox messages for members who are not
//! connected, collecting this node's boxes from mailboxes, opening them, and receipting what
//! they carried. (Holding boxes for others is `mailbox`.)
//!
//! Every exchange these start runs in its own task but holds one of a few permits while it
//! talks: a burst (ten thousand receipts, say) must not open more streams on a connection
//! than the multiplexer allows, or other protocols there (gossip) would lose theirs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use libp2p::PeerId;
use libp2p_stream::Control;
use tokio::sync::{Semaphore, mpsc};
use weft_keys::seal::{SealKey, open, seal};
use weft_proto::MessageId;
use weft_proto::api::{DeliveryState, Event};
use weft_proto::dm::AckOutcome;
use weft_proto::mailbox::{MAX_FETCH_BYTES, MAX_RELEASE_IDS, MailboxResponse, Op, box_id};
use weft_proto::mesh::{MeshId, Role};
use weft_proto::seal::{Content, MAX_RECEIPTS, SEALED_VERSION, SealedMessage};

use super::EventLoop;
use super::mailbox::{Done, now_secs};
use crate::core::collect::Step;
use crate::core::delivery::{Deposit, Ending};
use crate::network::group_flush::{Durable, Then};
use crate::network::handle::Delivery;
use crate::network::mailbox::ask;
use crate::network::tasks::Spawner;
use crate::store::outbox::{OutboxTree, Outgoing};
use crate::store::write::Write;

/// A box kept at its mailbox: it could not be attributed to its sender yet.
#[derive(Debug)]
pub(super) struct Kept;

/// A direct message taken out of a box, to receipt to its sender once it is on disk.
pub(super) type ToReceipt = (PeerId, MessageId);

/// Exchanges to start once the writes before them are on disk.
pub(super) type Later = Vec<(PeerId, Op)>;

impl EventLoop {
    /// What starts mailbox exchanges from tasks and closures that outlive this call.
    pub(super) fn exchanger(&self) -> Exchanger {
        Exchanger {
            control: self.control.clone(),
            permits: self.mailboxes.permits(),
            tasks: self.tasks.spawner(),
            done: self.mailboxes.done_sender(),
        }
    }

    /// Opens a box that arrived for this node (fetched, forwarded or deposited by `via`) and
    /// queues what it carries; returns the direct message to receipt, if it carried one.
    /// `Err(Kept)` when the box cannot be attributed to its sender yet (the sender's card
    /// is not known here, or does not carry the key that sealed it): such a box is not
    /// taken and not released, so it is never lost to a claimed key. Refusals are counted
    /// and logged here.
    pub(super) fn take_box(
        &mut self,
        via: PeerId,
        sealed: &[u8],
    ) -> Result<Option<ToReceipt>, Kept> {
        let Some(mesh) = self.mesh.as_ref() else {
            return Err(Kept);
        };
        let opened = match open(self.mailboxes.seal_key(), &mesh.id(), sealed) {
            Ok(opened) => opened,
            Err(e) => {
                self.reject("mailbox", &via, "sealed_tampered", &e);
                return Ok(None);
            }
        };
        let message = match SealedMessage::decode(&opened.plaintext) {
            Ok(m) => m,
            Err(e) => {
                self.reject("mailbox", &via, e.reason(), &e);
                return Ok(None);
            }
        };
        // The sender the box names, when its own card carries the key that sealed it.
        let Some(sender) = mesh.sealer(&message.from, &opened.from) else {
            let unknown = "a sealed box whose sender's sealing key is not known here";
            self.reject("mailbox", &via, "sealed_unknown_sender", &unknown);
            return Err(Kept);
        };
        if message.to != self.identity.public().to_bytes() {
            self.reject(
                "mailbox",
                &sender,
                "invalid",
                &"a sealed box for someone else",
            );
            return Ok(None);
        }
        if message.expires <= now_secs() {
            self.reject(
                "mailbox",
                &sender,
                "sealed_expired",
                &"a sealed box past its expiry",
            );
            return Ok(None);
        }
        Ok(match message.content {
            Content::Direct(dm) => {
                let id = dm.id;
                match self.take_direct(sender, dm) {
                    Ok(received) => {
                        if let Some(message) = received {
                            self.flush.push(Durable::Received(message));
                        }
                        Some((sender, id))
                    }
                    Err(_) => None,
                }
            }
            Content::Receipts(ids) => {
                for id in ids.into_iter().take(MAX_RECEIPTS) {
                    self.settle(sender, id, Ending::Acked(AckOutcome::Stored));
                }
                None
            }
        })
    }

    /// Sealed receipts for `due`, one box per sender (up to [`MAX_RECEIPTS`] ids each), each
    /// addressed to its sender when connected, else to a mailbox. A sender whose sealing key
    /// is unknown, or who is unreachable, gets none: it learns of the delivery when it sends
    /// the message again directly and hears `Duplicate`.
    pub(super) fn receipts(&self, due: Vec<ToReceipt>) -> Later {
        let Some(mesh) = self.mesh.as_ref() else {
            return Vec::new();
        };
        let mut by_sender: BTreeMap<PeerId, Vec<MessageId>> = BTreeMap::new();
        for (sender, id) in due {
            by_sender.entry(sender).or_default().push(id);
        }
        let expires = now_secs() + self.mailboxes.limits().ttl.as_secs();
        let mut later = Vec::new();
        for (sender, ids) in by_sender {
            let Some((key, _)) = mesh.member(&sender) else {
                continue;
            };
            let Some(card) = mesh.card(&key) else {
                continue;
            };
            let target = if self.peers.is_connected(&sender) {
                sender
            } else {
                match self.mailboxes_except(&sender).first() {
                    Some(mailbox) => *mailbox,
                    None => continue,
                }
            };
            for chunk in ids.chunks(MAX_RECEIPTS) {
                let plain = SealedMessage {
                    v: SEALED_VERSION,
                    from: self.identity.public().to_bytes(),
                    to: key,
                    expires,
                    content: Content::Receipts(chunk.to_vec()),
                };
                let Ok(plain) = plain.encode() else {
                    continue;
                };
                let Ok(sealed) = seal(self.mailboxes.seal_key(), &card.key, &mesh.id(), &plain)
                else {
                    continue;
                };
                later.push((
                    target,
                    Op::Deposit {
                        to: key,
                        expires,
                        sealed,
                    },
                ));
            }
        }
        later
    }

    /// Deposits outbox messages for members who are not connected with a connected mailbox.
    pub(super) fn deposit_for_absent(&mut self, now: Instant) {
        if self.mesh.is_none() {
            return;
        }
        for (to, id) in self.deliveries.to_deposit(now) {
            let Some(mailbox) = self.mailboxes_except(&to).first().copied() else {
                continue;
            };
            if let Some(sealing) = self.sealing(to, id) {
                self.deliveries.depositing(id);
                let outbox = self.store.outbox.clone();
                self.exchanger()
                    .deposit(mailbox, sealing, outbox, move |result| {
                        Some(Done::Deposited {
                            id,
                            to,
                            mailbox,
                            result,
                        })
                    });
            }
        }
    }

    /// How to seal outbox message `id` for `to` as a deposit; `None` when `to`'s sealing key
    /// is not known yet.
    fn sealing(&self, to: PeerId, id: MessageId) -> Option<Sealing> {
        let mesh = self.mesh.as_ref()?;
        let (key, _) = mesh.member(&to)?;
        let card = mesh.card(&key)?;
        let written = self.deliveries.written(&id)?;
        Some(Sealing {
            message: self.flush.outgoing(id),
            from: self.identity.public().to_bytes(),
            to: key,
            card: card.key,
            mesh: mesh.id(),
            expires: written / 1_000_000 + self.mailboxes.limits().ttl.as_secs(),
            seal: self.mailboxes.seal_key().clone(),
        })
    }

    /// Starts collecting this node's boxes from `peer` when it is a mailbox and no
    /// collection from it is under way.
    pub(super) fn fetch_from(&mut self, peer: PeerId) {
        let is_mailbox = self
            .mesh
            .as_ref()
            .and_then(|m| m.member(&peer))
            .is_some_and(|(_, role)| role == Role::Mailbox);
        if is_mailbox && self.mailboxes.collecting.begin(peer) {
            self.fetch_next(peer);
        }
    }

    /// Fetches the next page of a collection under way from `mailbox`.
    pub(super) fn fetch_next(&self, mailbox: PeerId) {
        self.exchanger().spawn(mailbox, fetch_op(), move |result| {
            Some(Done::Fetched { mailbox, result })
        });
    }

    /// Starts again the collections whose failed step's pause is over, from mailboxes
    /// still connected.
    pub(super) fn retry_collecting(&mut self, now: Instant) {
        for mailbox in self.mailboxes.collecting.due(now) {
            if self.peers.is_connected(&mailbox) {
                self.fetch_from(mailbox);
            }
        }
    }

    /// A step of collecting from `mailbox` ended as `step`.
    fn collected(&mut self, mailbox: PeerId, step: Step) {
        self.on_mailbox_done(Done::Collected { mailbox, step });
    }

    pub(super) fn on_deposited(
        &mut self,
        id: MessageId,
        to: PeerId,
        mailbox: PeerId,
        result: Result<MailboxResponse, String>,
    ) {
        let how = match &result {
            Ok(MailboxResponse::Held { .. }) => Deposit::Held,
            _ => Deposit::Failed,
        };
        if !self.deliveries.deposited(id, how, Instant::now()) {
            return; // Settled meanwhile.
        }
        match result {
            Ok(MailboxResponse::Held { .. }) => {
                tracing::info!(id = %id.short(), mailbox = %super::short(&mailbox), "a mailbox holds a message");
                self.flush.write(Write::MarkHeld(id));
                self.flush.write(Write::SetState(id, DeliveryState::Held));
                let _ = self.events.send(Event::Held {
                    id,
                    to: to.to_string(),
                    mailbox: mailbox.to_string(),
                });
                if let Some(waiter) = self.waiters.remove(&id) {
                    let _ = waiter.send(Delivery::Held { mailbox });
                }
            }
            Ok(MailboxResponse::Refused { reason }) => {
                tracing::warn!(id = %id.short(), mailbox = %super::short(&mailbox), %reason, "a mailbox refused a message");
                if let Some(waiter) = self.waiters.remove(&id) {
                    let _ = waiter.send(Delivery::NotHeld { mailbox, reason });
                }
            }
            Ok(other) => {
                self.reject(
                    "mailbox",
                    &mailbox,
                    "invalid",
                    &format!("answer to a deposit: {other:?}"),
                );
            }
            Err(e) => tracing::debug!(id = %id.short(), error = %e, "deposit failed"),
        }
    }

    /// A page fetched from `mailbox`: its boxes are opened and queued for the store; once
    /// that is on disk the senders are receipted and the page released, and only once the
    /// release is answered is the next page fetched.
    pub(super) fn on_fetched(&mut self, mailbox: PeerId, result: Result<MailboxResponse, String>) {
        let (items, more) = match result {
            Ok(MailboxResponse::Items { items, more }) => (items, more),
            Ok(MailboxResponse::Refused { reason }) => {
                tracing::debug!(mailbox = %super::short(&mailbox), %reason, "mailbox refused a fetch");
                self.collected(mailbox, Step::Failed);
                return;
            }
            Ok(other) => {
                let what = format!("answer to a fetch: {other:?}");
                self.reject("mailbox", &mailbox, "invalid", &what);
                self.collected(mailbox, Step::Failed);
                return;
            }
            Err(e) => {
                tracing::debug!(mailbox = %super::short(&mailbox), error = %e, "no fetch");
                self.collected(mailbox, Step::Failed);
                return;
            }
        };
        if !items.is_empty() {
            tracing::info!(mailbox = %super::short(&mailbox), boxes = items.len(), "fetched held messages");
        }
        let mut ids = Vec::with_capacity(items.len());
        let mut due = Vec::with_capacity(items.len());
        for item in items.into_iter().take(MAX_RELEASE_IDS) {
            if item.id != box_id(&item.sealed) {
                self.reject(
                    "mailbox",
                    &mailbox,
                    "sealed_tampered",
                    &"a held box whose id does not match",
                );
            } else {
                match self.take_box(mailbox, &item.sealed) {
                    Ok(receipt) => due.extend(receipt),
                    // Not attributable yet: it stays at the mailbox for a later fetch.
                    Err(Kept) => continue,
                }
            }
            // Taken, tampered or unreadable, the box is of no more use: release it.
            ids.push(item.id);
        }
        // Ask on only when this answer let something go: kept boxes come back first.
        let more = more && !ids.is_empty();
        let receipts = self.receipts(due);
        let release = (!ids.is_empty()).then_some(Op::Release { ids });
        let exchanger = self.exchanger();
        self.flush.push(Durable::Then(Then(Box::new(move |ok| {
            if !ok {
                // Nothing released: the boxes stay at the mailbox for the next fetch.
                exchanger.report(Done::Collected {
                    mailbox,
                    step: Step::Failed,
                });
                return;
            }
            exchanger.spawn_all(receipts);
            let Some(release) = release else {
                exchanger.report(Done::Collected {
                    mailbox,
                    step: Step::Drained,
                });
                return;
            };
            exchanger.spawn(mailbox, release, move |result| {
                let step = match (result, more) {
                    (Ok(MailboxResponse::Released { .. }), true) => Step::More,
                    (Ok(MailboxResponse::Released { .. }), false) => Step::Drained,
                    _ => Step::Failed,
                };
                Some(Done::Collected { mailbox, step })
            });
        }))));
    }
}

/// A fetch of as much as one answer may carry.
fn fetch_op() -> Op {
    Op::Fetch {
        max_bytes: MAX_FETCH_BYTES as u32,
    }
}

/// An outbox message to seal for a mailbox, beside the loop: it may have to be read from
/// disk first.
pub(super) struct Sealing {
    message: Outgoing,
    /// This node's key.
    from: [u8; 32],
    /// The recipient's key.
    to: [u8; 32],
    /// The recipient's sealing key.
    card: [u8; 32],
    mesh: MeshId,
    /// When the box may be dropped, Unix seconds.
    expires: u64,
    seal: Arc<SealKey>,
}

impl Sealing {
    /// The deposit; `Ok(None)` when the message left the outbox meanwhile.
    fn deposit(self, outbox: &OutboxTree) -> Result<Option<Op>, String> {
        let Some(message) = outbox.message(self.message).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let plain = SealedMessage {
            v: SEALED_VERSION,
            from: self.from,
            to: self.to,
            expires: self.expires,
            content: Content::Direct(message),
        }
        .encode()
        .map_err(|e| e.to_string())?;
        let sealed = seal(&self.seal, &self.card, &self.mesh, &plain).map_err(|e| e.to_string())?;
        Ok(Some(Op::Deposit {
            to: self.to,
            expires: self.expires,
            sealed,
        }))
    }
}

/// Starts mailbox exchanges, each in its own task holding one of the exchange permits while
/// it talks, and reports what the loop should hear.
#[derive(Clone)]
pub(super) struct Exchanger {
    control: Control,
    permits: Arc<Semaphore>,
    /// Where the exchanges run: joined when the node stops, so a receipt or release started
    /// by the last flush still goes out.
    tasks: Spawner,
    done: mpsc::Sender<Done>,
}

impl Exchanger {
    /// Runs `op` with `peer`; `then` turns the answer into what the loop should hear, if
    /// anything.
    pub(super) fn spawn(
        &self,
        peer: PeerId,
        op: Op,
        then: impl FnOnce(Result<MailboxResponse, String>) -> Option<Done> + Send + 'static,
    ) {
        let this = self.clone();
        self.tasks.spawn_joined("mailbox exchange", async move {
            let Ok(_permit) = this.permits.acquire_owned().await else {
                return;
            };
            let result = ask(this.control, peer, op).await;
            if let Some(report) = then(result) {
                let _ = this.done.send(report).await;
            }
        });
    }

    /// Seals `sealing` (reading its message from `outbox` when it is on disk) and deposits
    /// it with `mailbox`; `then` hears the answer, or why there is none.
    pub(super) fn deposit(
        &self,
        mailbox: PeerId,
        sealing: Sealing,
        outbox: OutboxTree,
        then: impl FnOnce(Result<MailboxResponse, String>) -> Option<Done> + Send + 'static,
    ) {
        let this = self.clone();
        self.tasks.spawn_joined("mailbox deposit", async move {
            let sealed = tokio::task::spawn_blocking(move || sealing.deposit(&outbox)).await;
            match sealed.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok(Some(op)) => this.spawn(mailbox, op, then),
                // Settled meanwhile: settling told the loop already.
                Ok(None) => {}
                Err(e) => {
                    if let Some(report) = then(Err(e)) {
                        let _ = this.done.send(report).await;
                    }
                }
            }
        });
    }

    /// Runs every exchange of `later` (receipts); failures are only logged: the sender
    /// keeps the message and, sending it again directly, hears `Duplicate`.
    pub(super) fn spawn_all(&self, later: Later) {
        for (peer, op) in later {
            self.spawn(peer, op, |result| {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "a receipt did not go out");
                }
                None
            });
        }
    }

    /// Tells the loop `report`.
    pub(super) fn report(&self, report: Done) {
        let done = self.done.clone();
        self.tasks.spawn("mailbox report", async move {
            let _ = done.send(report).await;
        });
    }
}
