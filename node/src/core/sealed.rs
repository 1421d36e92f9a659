//! Sealed boxes from this node's side: depositing outbox messages for members who are not
//! connected, collecting this node's boxes from mailboxes, opening them, and receipting what
//! they carried. (Holding boxes for others is `mailbox`.) Sealing draws randomness and may
//! read the outbox, so the shell seals what [`Sealing`] describes; opening is a pure
//! function of the bytes and this node's key, and happens here.

use std::collections::BTreeMap;

use libp2p::PeerId;
use weft_keys::seal::open;
use weft_proto::MessageId;
use weft_proto::api::{DeliveryState, Event};
use weft_proto::dm::AckOutcome;
use weft_proto::mailbox::{
    MAX_DEPOSIT_BOXES, MAX_FETCH_BYTES, MAX_RELEASE_IDS, MailboxResponse, Op, Outcome, box_id,
};
use weft_proto::mesh::Role;
use weft_proto::seal::{Content, MAX_RECEIPTS, SealedMessage};

use super::asks::Purpose;
use super::collect::Step;
use super::commit::Durable;
use super::delivery::{Deposit, Ending};
use super::io::{Ask, Delivery, Now, Output, Sealed, Sealing};
use super::{Core, short};
use crate::cli::output::peer_words;
use crate::store::write::Write;

/// A box kept at its mailbox: it could not be attributed to its sender yet.
#[derive(Debug)]
pub(super) struct Kept;

/// A direct message taken out of a box, to receipt to its sender once it is on disk.
pub(super) type ToReceipt = (PeerId, MessageId);

/// A message being deposited: its id and recipient, and how to seal it.
type Depositing = ((MessageId, PeerId), Sealing);

impl Core {
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
        now: Now,
    ) -> Result<Option<ToReceipt>, Kept> {
        let Some(mesh) = self.mesh.id() else {
            return Err(Kept);
        };
        let opened = match open(&self.me.seal, &mesh, sealed) {
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
        let sender = self
            .mesh
            .get()
            .and_then(|m| m.sealer(&message.from, &opened.from));
        let Some(sender) = sender else {
            let unknown = "a sealed box whose sender's sealing key is not known here";
            self.reject("mailbox", &via, "sealed_unknown_sender", &unknown);
            return Err(Kept);
        };
        if message.to != self.me.key {
            let why = "a sealed box for someone else";
            self.reject("mailbox", &sender, "invalid", &why);
            return Ok(None);
        }
        if message.expires <= now.secs() {
            let why = "a sealed box past its expiry";
            self.reject("mailbox", &sender, "sealed_expired", &why);
            return Ok(None);
        }
        Ok(match message.content {
            Content::Direct(dm) => {
                let id = dm.id;
                match self.take_direct(sender, dm, now) {
                    Ok(received) => {
                        if let Some(message) = received {
                            self.commit.after(Durable::Received(message));
                        }
                        Some((sender, id))
                    }
                    Err(_) => None,
                }
            }
            Content::Receipts(ids) => {
                for id in ids.into_iter().take(MAX_RECEIPTS) {
                    self.settle(sender, id, Ending::Acked(AckOutcome::Stored), now);
                }
                None
            }
        })
    }

    /// Sealed receipts for `due`, one box per sender (up to [`MAX_RECEIPTS`] ids each), each
    /// addressed to its sender when connected, else to a mailbox: the deposits to start once
    /// what the boxes carried is on disk. A sender whose sealing key is unknown, or who is
    /// unreachable, gets none: it learns of the delivery when it sends the message again
    /// directly and hears `Duplicate`.
    pub(super) fn receipts(&mut self, due: Vec<ToReceipt>, now: Now) -> Vec<Output> {
        let Some(mesh) = self.mesh.get() else {
            return Vec::new();
        };
        let mesh_id = mesh.id();
        let mut by_sender: BTreeMap<PeerId, Vec<MessageId>> = BTreeMap::new();
        for (sender, id) in due {
            by_sender.entry(sender).or_default().push(id);
        }
        let expires = now.secs() + self.mailbox.limits().ttl.as_secs();
        let mut boxes = Vec::new();
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
                let sealing = Sealing {
                    from: self.me.key,
                    to: key,
                    card: card.key,
                    mesh: mesh_id,
                    expires,
                    content: Sealed::Receipts(chunk.to_vec()),
                };
                boxes.push((target, sealing));
            }
        }
        boxes
            .into_iter()
            .map(|(peer, sealing)| Output::Deposit {
                id: self.asks.ask(Purpose::Receipt),
                peer,
                sealings: vec![sealing],
            })
            .collect()
    }

    /// Deposits outbox messages for members who are not connected with a connected
    /// mailbox, up to [`MAX_DEPOSIT_BOXES`] in each request.
    pub(super) fn deposit_for_absent(&mut self, now: Now) {
        if self.mesh.get().is_none() {
            return;
        }
        let mut by_mailbox: BTreeMap<PeerId, Vec<Depositing>> = BTreeMap::new();
        let peers = &self.peers;
        let due = (self.delivery).to_deposit(now.at, |p| !peers.is_first_dial(p));
        for (to, id) in due {
            let Some(mailbox) = self.mailboxes_except(&to).first().copied() else {
                continue;
            };
            if let Some(sealing) = self.sealing(to, id) {
                self.delivery.depositing(id);
                by_mailbox
                    .entry(mailbox)
                    .or_default()
                    .push(((id, to), sealing));
            }
        }
        for (mailbox, mut waiting) in by_mailbox {
            while !waiting.is_empty() {
                let rest = waiting.split_off(waiting.len().min(MAX_DEPOSIT_BOXES));
                let (items, sealings) = std::mem::replace(&mut waiting, rest).into_iter().unzip();
                let id = self.asks.ask(Purpose::Deposit { mailbox, items });
                self.out.push_back(Output::Deposit {
                    id,
                    peer: mailbox,
                    sealings,
                });
            }
        }
    }

    /// How to seal outbox message `id` for `to` as a deposit; `None` when `to`'s sealing key
    /// is not known yet.
    fn sealing(&self, to: PeerId, id: MessageId) -> Option<Sealing> {
        let mesh = self.mesh.get()?;
        let (key, _) = mesh.member(&to)?;
        let card = mesh.card(&key)?;
        let written = self.delivery.written(&id)?;
        Some(Sealing {
            from: self.me.key,
            to: key,
            card: card.key,
            mesh: mesh.id(),
            expires: written / 1_000_000 + self.mailbox.limits().ttl.as_secs(),
            content: Sealed::Direct(self.commit.outgoing(id)),
        })
    }

    /// Starts collecting this node's boxes from `peer` when it is a mailbox and no
    /// collection from it is under way.
    pub(super) fn fetch_from(&mut self, peer: PeerId) {
        let is_mailbox = self.mesh.role_of(&peer) == Some(Role::Mailbox);
        if is_mailbox && self.mailbox.collecting.begin(peer) {
            self.fetch_next(peer);
        }
    }

    /// Fetches the next page of a collection under way from `mailbox`.
    fn fetch_next(&mut self, mailbox: PeerId) {
        let id = self.asks.ask(Purpose::Fetch { mailbox });
        let op = Op::Fetch {
            max_bytes: MAX_FETCH_BYTES as u32,
        };
        self.out.push_back(Output::Ask {
            id,
            peer: mailbox,
            ask: Ask::Mailbox(op),
        });
    }

    /// Starts again the collections whose failed step's pause is over, from mailboxes
    /// still connected.
    pub(super) fn retry_collecting(&mut self, now: Now) {
        for mailbox in self.mailbox.collecting.due(now.at) {
            if self.peers.is_connected(&mailbox) {
                self.fetch_from(mailbox);
            }
        }
    }

    /// A step of collecting from `mailbox` ended as `step`.
    pub(super) fn collected(&mut self, mailbox: PeerId, step: Step, now: Now) {
        if self.mailbox.collecting.ended(mailbox, step, now.at) {
            self.fetch_next(mailbox);
        }
    }

    /// A deposit of outbox messages `items` (each with its recipient) at `mailbox` ended as
    /// `result`. While few deposits remain under way, the next start at once.
    pub(super) fn on_deposited(
        &mut self,
        mailbox: PeerId,
        items: Vec<(MessageId, PeerId)>,
        result: Result<MailboxResponse, String>,
        now: Now,
    ) {
        // A mailbox's words are cut short and escaped before they are kept or logged.
        let outcomes: Vec<Option<Result<(), String>>> = match result {
            Ok(MailboxResponse::Deposited { outcomes }) if outcomes.len() == items.len() => {
                let outcome = |o| match o {
                    Outcome::Held { .. } => Ok(()),
                    Outcome::Refused { reason } => Err(peer_words(&reason)),
                };
                outcomes.into_iter().map(|o| Some(outcome(o))).collect()
            }
            Ok(MailboxResponse::Refused { reason }) => {
                vec![Some(Err(peer_words(&reason))); items.len()]
            }
            Ok(_) => {
                let what = "an answer to a deposit that is none, or not one outcome per box";
                self.reject("mailbox", &mailbox, "invalid", &what);
                vec![None; items.len()]
            }
            Err(e) => {
                let error = peer_words(&e);
                tracing::debug!(mailbox = %short(&mailbox), %error, "deposit failed");
                vec![None; items.len()]
            }
        };
        let (mut held, mut refused) = (0, None);
        for ((id, to), outcome) in items.into_iter().zip(outcomes) {
            let how = match outcome {
                Some(Ok(())) => Deposit::Held,
                _ => Deposit::Failed,
            };
            if !self.delivery.deposited(id, how, now.at) {
                continue; // Settled meanwhile.
            }
            match outcome {
                Some(Ok(())) => {
                    held += 1;
                    self.commit.write(Write::MarkHeld(id));
                    self.commit.write(Write::SetState(id, DeliveryState::Held));
                    self.out.push_back(Output::Event(Event::Held {
                        id,
                        to: to.to_string(),
                        mailbox: mailbox.to_string(),
                    }));
                    let delivery = Delivery::Held { mailbox };
                    self.out.push_back(Output::Delivery { id, delivery });
                }
                Some(Err(reason)) => {
                    refused = Some(reason.clone());
                    let delivery = Delivery::NotHeld { mailbox, reason };
                    self.out.push_back(Output::Delivery { id, delivery });
                }
                None => {}
            }
        }
        if held > 0 {
            tracing::info!(mailbox = %short(&mailbox), held, "a mailbox holds messages");
        }
        if let Some(reason) = refused {
            tracing::warn!(mailbox = %short(&mailbox), %reason, "a mailbox refused messages");
        }
        if self.delivery.wants_deposits() {
            self.deposit_for_absent(now);
        }
    }

    /// A page fetched from `mailbox`: its boxes are opened and queued for the store; once
    /// that is on disk the senders are receipted and the page released, and only once the
    /// release is answered is the next page fetched.
    pub(super) fn on_fetched(
        &mut self,
        mailbox: PeerId,
        result: Result<MailboxResponse, String>,
        now: Now,
    ) {
        let (items, more) = match result {
            Ok(MailboxResponse::Items { items, more }) => (items, more),
            Ok(MailboxResponse::Refused { reason }) => {
                tracing::debug!(mailbox = %short(&mailbox), %reason, "mailbox refused a fetch");
                self.collected(mailbox, Step::Failed, now);
                return;
            }
            Ok(other) => {
                let what = format!("answer to a fetch: {other:?}");
                self.reject("mailbox", &mailbox, "invalid", &what);
                self.collected(mailbox, Step::Failed, now);
                return;
            }
            Err(e) => {
                tracing::debug!(mailbox = %short(&mailbox), error = %e, "no fetch");
                self.collected(mailbox, Step::Failed, now);
                return;
            }
        };
        if !items.is_empty() {
            tracing::info!(mailbox = %short(&mailbox), boxes = items.len(), "fetched held messages");
        }
        let mut ids = Vec::with_capacity(items.len());
        let mut due = Vec::with_capacity(items.len());
        for item in items.into_iter().take(MAX_RELEASE_IDS) {
            if item.id != box_id(&item.sealed) {
                let why = "a held box whose id does not match";
                self.reject("mailbox", &mailbox, "sealed_tampered", &why);
            } else {
                match self.take_box(mailbox, &item.sealed, now) {
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
        for receipt in self.receipts(due, now) {
            self.commit.after(Durable::then(receipt));
        }
        if ids.is_empty() {
            self.commit.after(Durable::Collected {
                mailbox,
                step: Step::Drained,
            });
            return;
        }
        let id = self.asks.ask(Purpose::Release { mailbox, more });
        let release = Output::Ask {
            id,
            peer: mailbox,
            ask: Ask::Mailbox(Op::Release { ids }),
        };
        self.commit.after(Durable::then(release));
    }
}
