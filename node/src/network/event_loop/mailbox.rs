//! Mailboxes: messages for members who are not connected.
//!
//! - As a sender: a direct message whose recipient is not connected is sealed to the
//!   recipient's sealing key and deposited with a connected mailbox member; the outbox keeps
//!   it (marked held) until the recipient's receipt comes back, or until the recipient is
//!   reachable again and acknowledges it directly.
//! - As a mailbox: boxes deposited for members are held on disk within a quota per recipient
//!   (and a share per depositor: all it deposited may fill one recipient's quota, no more)
//!   and a lifetime, handed over when their recipient fetches them, and forwarded at once when
//!   the recipient is connected.
//! - As a recipient: on connecting to a mailbox it fetches its boxes, opens them, stores what
//!   they carry exactly once (history is the seen-set), releases them, and sends the sender a
//!   sealed receipt (to the sender itself when connected, else through a mailbox).
//!
//! Any node takes a deposit addressed to itself from a member: that is how forwarded boxes
//! and receipts arrive.
//!
//! This file holds the state and the holding side; `sealed` is the sending and collecting
//! side.

use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::{Semaphore, mpsc, oneshot};
use weft_keys::Identity;
use weft_keys::seal::SealKey;
use weft_proto::MessageId;
use weft_proto::api::MailboxStatus;
use weft_proto::mailbox::{
    MAILBOX_VERSION, MAX_FETCH_BYTES, MAX_RELEASE_IDS, MailboxRequest, MailboxResponse, Op, box_id,
};
use weft_proto::mesh::Role;
use weft_proto::seal::SealCard;

use super::EventLoop;
use crate::config::MailboxLimits;
use crate::core::collect::{Collecting, Step};
use crate::core::holding::{self, Deposit, Holding};
use crate::delivery::clock::wall_us;
use crate::network::group_flush::{Durable, Then};
use crate::store::mailbox::{BoxInfo, HeldBox};
use crate::store::write::Write;

/// Mailbox exchanges talking at once, at most (see `sealed`).
pub(super) const MAX_EXCHANGES: usize = 16;

/// How often held boxes and the outbox are checked for expiry (more often when the TTL is
/// short).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Capacity of the channel from mailbox exchanges back to the loop.
const DONE_CAPACITY: usize = 256;

/// A finished mailbox exchange, back on the loop.
pub(super) enum Done {
    /// A deposit of outbox message `id` for `to` at `mailbox`.
    Deposited {
        id: MessageId,
        to: PeerId,
        mailbox: PeerId,
        result: Result<MailboxResponse, String>,
    },
    /// Boxes fetched from `mailbox`.
    Fetched {
        mailbox: PeerId,
        result: Result<MailboxResponse, String>,
    },
    /// A held box for `to` was handed to `to` itself: it may go.
    Forwarded { to: [u8; 32], id: [u8; 32] },
    /// A step of collecting from `mailbox` ended.
    Collected { mailbox: PeerId, step: Step },
}

/// The loop's mailbox state.
pub(super) struct Mailboxes {
    limits: MailboxLimits,
    seal: Arc<SealKey>,
    /// What this node holds for others.
    holding: Holding,
    /// Collecting this node's boxes from mailboxes.
    pub(super) collecting: Collecting<PeerId>,
    /// Permits for exchanges in flight.
    permits: Arc<Semaphore>,
    last_sweep: Instant,
    done_tx: mpsc::Sender<Done>,
    /// Finished exchanges, for the loop.
    pub(super) done: mpsc::Receiver<Done>,
}

impl Mailboxes {
    /// The state for `identity`'s node: usage of what `store` holds, outbox messages held.
    pub(super) fn load(
        identity: &Identity,
        limits: MailboxLimits,
        store: &crate::store::Store,
    ) -> Result<Mailboxes, crate::store::StoreError> {
        let holding = Holding::of(store.mailbox.all()?);
        let (done_tx, done) = mpsc::channel(DONE_CAPACITY);
        Ok(Mailboxes {
            limits,
            seal: Arc::new(SealKey::of(identity)),
            holding,
            collecting: Collecting::default(),
            permits: Arc::new(Semaphore::new(MAX_EXCHANGES)),
            last_sweep: Instant::now(),
            done_tx,
            done,
        })
    }

    /// This node's sealing-key card.
    pub(super) fn card(&self, identity: &Identity) -> SealCard {
        self.seal.card(identity)
    }

    /// The permits exchanges take while they talk.
    pub(super) fn permits(&self) -> Arc<Semaphore> {
        self.permits.clone()
    }

    /// Where finished exchanges report.
    pub(super) fn done_sender(&self) -> mpsc::Sender<Done> {
        self.done_tx.clone()
    }

    /// This node's sealing key.
    pub(super) fn seal_key(&self) -> &Arc<SealKey> {
        &self.seal
    }

    /// The quota and lifetime of held messages.
    pub(super) fn limits(&self) -> MailboxLimits {
        self.limits
    }
}

pub(super) fn now_secs() -> u64 {
    wall_us() / 1_000_000
}

fn refused(reason: impl Into<String>) -> MailboxResponse {
    MailboxResponse::Refused {
        reason: reason.into(),
    }
}

impl EventLoop {
    /// Takes `card` as `member`'s sealing key (verified) and stores it when new.
    pub(super) fn learn_card(&mut self, member: [u8; 32], card: SealCard) {
        if let Some(mesh) = self.mesh.as_mut()
            && mesh.learn_card(member, card)
        {
            self.flush.write(Write::PutCard(member, card));
        }
    }

    /// This node's role in its mesh.
    pub(super) fn my_role(&self) -> Option<Role> {
        self.mesh.as_ref()?.member(&self.local).map(|(_, r)| r)
    }

    /// Connected members with the mailbox role, other than `not`.
    pub(super) fn mailboxes_except(&self, not: &PeerId) -> Vec<PeerId> {
        let Some(mesh) = &self.mesh else {
            return Vec::new();
        };
        self.peers
            .ids()
            .filter(|p| *p != not)
            .filter(|p| matches!(mesh.member(p), Some((_, Role::Mailbox))))
            .copied()
            .collect()
    }

    /// What this node holds for others, for `weft status`.
    pub(super) fn mailbox_status(&self) -> Option<MailboxStatus> {
        let m = &self.mailboxes;
        if self.my_role() != Some(Role::Mailbox) && m.holding.is_empty() {
            return None;
        }
        let held = m.holding.total();
        Some(MailboxStatus {
            messages: held.messages,
            bytes: held.bytes,
            recipients: m.holding.recipients(),
            max_messages: m.limits.max_messages,
            max_bytes: m.limits.max_bytes,
            ttl_secs: m.limits.ttl.as_secs(),
        })
    }

    /// Answers a member's `/weft/mailbox/1` request.
    pub(super) fn answer_mailbox(
        &mut self,
        peer: PeerId,
        request: MailboxRequest,
        reply: oneshot::Sender<MailboxResponse>,
    ) {
        let Some((key, _)) = self.mesh.as_ref().and_then(|m| m.member(&peer)) else {
            self.reject(
                "mailbox",
                &peer,
                "acl",
                &"mailbox request from a non-member",
            );
            let _ = reply.send(refused("not a member of this node's mesh"));
            return;
        };
        if request.v != MAILBOX_VERSION {
            let _ = reply.send(refused(format!("unsupported version {}", request.v)));
            return;
        }
        match request.op {
            Op::Deposit {
                to,
                expires,
                sealed,
            } => self.take_deposit(peer, to, expires, sealed, reply),
            Op::Fetch { max_bytes } => self.hand_over(key, max_bytes as usize, reply),
            Op::Release { ids } => {
                let count = self.release_boxes(key, &ids);
                self.flush.push(Durable::Then(Then(Box::new(move |_| {
                    let _ = reply.send(MailboxResponse::Released { count });
                }))));
            }
        }
    }

    fn take_deposit(
        &mut self,
        peer: PeerId,
        to: [u8; 32],
        expires: u64,
        sealed: Vec<u8>,
        reply: oneshot::Sender<MailboxResponse>,
    ) {
        let now_us = wall_us();
        if let Err(refusal) = holding::check(sealed.len(), expires, now_us / 1_000_000) {
            self.refuse_deposit(&peer, refusal, reply);
            return;
        }
        let id = box_id(&sealed);
        let me = self.identity.public().to_bytes();
        if to == me {
            // For this node: open it now; the answer waits for what it carried to be on disk.
            let due = match self.take_box(peer, &sealed) {
                Ok(due) => due,
                Err(super::sealed::Kept) => {
                    let _ = reply.send(refused("the sender's sealing key is not known here"));
                    return;
                }
            };
            let later = self.receipts(due.into_iter().collect());
            let exchanger = self.exchanger();
            self.flush.push(Durable::Then(Then(Box::new(move |ok| {
                let _ = reply.send(if ok {
                    MailboxResponse::Held { id }
                } else {
                    refused("could not store it")
                });
                if ok {
                    exchanger.spawn_all(later);
                }
            }))));
            return;
        }
        let Some(from) = crate::mesh::membership::key_of(&peer) else {
            let _ = reply.send(refused("the depositor has no ed25519 key"));
            return;
        };
        let recipient = crate::mesh::membership::peer_of(&to).filter(|p| self.admits(p));
        let deposit = Deposit {
            to,
            from,
            id,
            size: sealed.len(),
            expires,
        };
        let is_mailbox = self.my_role() == Some(Role::Mailbox);
        let limits = self.mailboxes.limits;
        let held = self.mailboxes.holding.deposit(
            deposit,
            limits,
            is_mailbox,
            recipient.is_some(),
            now_us,
        );
        let BoxInfo { at, expires, .. } = match held {
            Ok(Some(info)) => info,
            Ok(None) => {
                let _ = reply.send(MailboxResponse::Held { id });
                return;
            }
            Err(refusal) => {
                self.refuse_deposit(&peer, refusal, reply);
                return;
            }
        };
        let recipient = recipient.filter(|r| self.peers.is_connected(r));
        let forward = recipient.map(|recipient| {
            let op = Op::Deposit {
                to,
                expires,
                sealed: sealed.clone(),
            };
            (recipient, self.exchanger(), op)
        });
        self.flush.write(Write::HoldBox(
            to,
            at,
            id,
            Box::new(HeldBox {
                expires,
                from,
                sealed,
            }),
        ));
        self.flush.push(Durable::Then(Then(Box::new(move |ok| {
            let _ = reply.send(if ok {
                MailboxResponse::Held { id }
            } else {
                refused("could not store it")
            });
            // The recipient is here: hand it over now rather than on its next fetch.
            if let (true, Some((recipient, exchanger, op))) = (ok, forward) {
                exchanger.spawn(recipient, op, move |result| {
                    matches!(result, Ok(MailboxResponse::Held { .. }))
                        .then_some(Done::Forwarded { to, id })
                });
            }
        }))));
    }

    /// Answers a deposit from `peer` with `refusal`, counting it when it is the depositor's
    /// doing.
    fn refuse_deposit(
        &mut self,
        peer: &PeerId,
        refusal: holding::Refusal,
        reply: oneshot::Sender<MailboxResponse>,
    ) {
        if let Some(reason) = refusal.counted() {
            self.reject("mailbox", peer, reason, &refusal);
        }
        let _ = reply.send(refused(refusal.to_string()));
    }

    /// Hands `to` its boxes, up to `max_bytes`, read from the store beside the loop once
    /// the writes queued before it are applied (a box just deposited is held in memory
    /// before its write lands, and must not be missing from the answer); expired ones are
    /// dropped instead.
    fn hand_over(
        &mut self,
        to: [u8; 32],
        max_bytes: usize,
        reply: oneshot::Sender<MailboxResponse>,
    ) {
        let fetch = self.mailboxes.holding.fetch(
            &to,
            max_bytes.min(MAX_FETCH_BYTES),
            MAX_RELEASE_IDS,
            now_secs(),
        );
        for held in fetch.expired {
            self.drop_box(&to, &held.id);
        }
        let (boxes, more) = (fetch.boxes, fetch.more);
        let store = self.store.mailbox.clone();
        let tasks = self.tasks.spawner();
        self.flush.push(Durable::Then(Then(Box::new(move |ok| {
            if !ok {
                let _ = reply.send(refused("this mailbox cannot write its store"));
                return;
            }
            tasks.spawn("mailbox fetch", async move {
                let read = tokio::task::spawn_blocking(move || store.sealed(&boxes));
                let _ = reply.send(match read.await {
                    Ok(Ok(items)) => MailboxResponse::Items { items, more },
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "cannot read the mailbox");
                        refused("this mailbox cannot read its store")
                    }
                    Err(_) => refused("this mailbox cannot read its store"),
                });
            });
        }))));
    }

    /// Drops `to`'s boxes `ids`; how many were held.
    fn release_boxes(&mut self, to: [u8; 32], ids: &[[u8; 32]]) -> u32 {
        let mut count = 0;
        for id in ids.iter().take(MAX_RELEASE_IDS) {
            if self.drop_box(&to, id) {
                count += 1;
            }
        }
        count
    }

    /// Drops `to`'s box `id`; whether it was held.
    fn drop_box(&mut self, to: &[u8; 32], id: &[u8; 32]) -> bool {
        let held = self.mailboxes.holding.release(to, id).is_some();
        if held {
            self.flush.write(Write::ReleaseBox(*to, *id));
        }
        held
    }

    /// Drops held boxes whose time is up (every [`SWEEP_EVERY`]).
    /// Also gives up on outbox messages whose lifetime (the mailbox TTL, counted from when
    /// they were sent) is over: they are marked expired.
    pub(super) fn sweep_mailbox(&mut self, now: Instant) {
        let every = SWEEP_EVERY.min(self.mailboxes.limits.ttl / 2);
        if now < self.mailboxes.last_sweep + every {
            return;
        }
        self.mailboxes.last_sweep = now;
        let secs = now_secs();
        let ttl = self.mailboxes.limits.ttl;
        for (to, id, settled) in self.deliveries.expire(secs, ttl, now) {
            self.settled(to, id, settled);
        }
        for held in self.mailboxes.holding.expired(secs) {
            self.drop_box(&held.to, &held.id);
        }
    }

    /// A mailbox exchange finished.
    pub(super) fn on_mailbox_done(&mut self, done: Done) {
        match done {
            Done::Deposited {
                id,
                to,
                mailbox,
                result,
            } => self.on_deposited(id, to, mailbox, result),
            Done::Fetched { mailbox, result } => self.on_fetched(mailbox, result),
            Done::Forwarded { to, id } => {
                self.drop_box(&to, &id);
            }
            Done::Collected { mailbox, step } => {
                if self
                    .mailboxes
                    .collecting
                    .ended(mailbox, step, Instant::now())
                {
                    self.fetch_next(mailbox);
                }
            }
        }
    }
}
