//! Mailboxes: messages for members who are not connected.
//!
//! - As a sender (`sealed`): a direct message whose recipient is not connected is sealed to
//!   the recipient's sealing key and deposited with a connected mailbox member; the outbox
//!   keeps it (marked held) until the recipient's receipt comes back, or until the recipient
//!   is reachable again and acknowledges it directly.
//! - As a mailbox (here): boxes deposited for members are held on disk within a quota per
//!   recipient (and a share per depositor: all it deposited may fill one recipient's quota,
//!   no more) and a lifetime ([`Holding`]), handed over when their recipient fetches them,
//!   and forwarded at once when the recipient is connected; when a forward gets no answer
//!   while the recipient stays connected, its boxes are forwarded again, within bounds
//!   ([`Forwards`]).
//! - As a recipient (`sealed`): on connecting to a mailbox it fetches its boxes page by page
//!   ([`Collecting`]), opens them, stores what they carry exactly once (history is the
//!   seen-set), releases them, and sends the sender a sealed receipt (to the sender itself
//!   when connected, else through a mailbox).
//!
//! Any node takes a deposit addressed to itself from a member: that is how forwarded boxes
//! and receipts arrive.

use libp2p::PeerId;
use weft_proto::api::MailboxStatus;
use weft_proto::mailbox::{
    Boxed, MAILBOX_VERSION, MAX_DEPOSIT_BOXES, MAX_DEPOSIT_BYTES, MAX_FETCH_BYTES, MAX_RELEASE_IDS,
    MailboxRequest, MailboxResponse, Op, Outcome, box_id,
};
use weft_proto::mesh::{MemberKey, Role};
use weft_proto::seal::SealCard;

use super::asks::Purpose;
use super::collect::Collecting;
use super::commit::Durable;
use super::forwards::{Forwarded, Forwards};
use super::holding::{self, Deposit, Holding};
use super::io::{AskedId, Now, Output, Response};
use super::sealed::ToReceipt;
use super::{Core, short};
use crate::config::MailboxLimits;
use crate::mesh::membership::{key_of, peer_of};
use crate::store::mailbox::{BoxInfo, HeldBox};
use crate::store::write::Write;

/// What this node holds for others, and collects for itself.
#[derive(Debug)]
pub struct Mailbox {
    limits: MailboxLimits,
    /// The boxes held for others.
    pub(super) holding: Holding,
    /// Collecting this node's boxes from mailboxes.
    pub(super) collecting: Collecting<PeerId>,
    /// Forwards to recipients under way, and the rounds of forwarding again due.
    forwards: Forwards<PeerId>,
}

impl Mailbox {
    /// Holding `held` (what the store holds) within `limits`.
    pub fn new(limits: MailboxLimits, held: Vec<BoxInfo>) -> Mailbox {
        Mailbox {
            limits,
            holding: Holding::of(held),
            collecting: Collecting::default(),
            forwards: Forwards::default(),
        }
    }

    /// The quota and lifetime of held messages.
    pub fn limits(&self) -> MailboxLimits {
        self.limits
    }

    /// What is held for others.
    pub fn holding(&self) -> &Holding {
        &self.holding
    }

    /// `peer` is gone: no collection from it is retried, nothing forwarded to it again
    /// (connecting again starts a collection, and it fetches what is held for it).
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.collecting.forget(peer);
        self.forwards.disconnected(peer);
    }
}

impl Core {
    /// Takes `card` as `member`'s sealing key (verified) and stores it when new.
    pub(super) fn learn_card(&mut self, member: MemberKey, card: SealCard) {
        if let Some(mesh) = self.mesh.get_mut()
            && mesh.learn_card(member, card)
        {
            self.commit.write(Write::PutCard(member, card));
        }
    }

    /// Connected members with the mailbox role, other than `not`, in order.
    pub(super) fn mailboxes_except(&self, not: &PeerId) -> Vec<PeerId> {
        let mut mailboxes: Vec<PeerId> = self
            .peers
            .ids()
            .filter(|p| *p != not && self.mesh.role_of(p) == Some(Role::Mailbox))
            .copied()
            .collect();
        mailboxes.sort();
        mailboxes
    }

    /// What this node holds for others, for `weft status`.
    pub fn mailbox_status(&self) -> Option<MailboxStatus> {
        let holding = &self.mailbox.holding;
        let mine = self.mesh.role_of(&self.me.peer);
        if mine != Some(Role::Mailbox) && holding.is_empty() {
            return None;
        }
        let held = holding.total();
        let limits = self.mailbox.limits;
        Some(MailboxStatus {
            messages: held.messages,
            bytes: held.bytes,
            recipients: holding.recipients(),
            max_messages: limits.max_messages,
            max_bytes: limits.max_bytes,
            ttl_secs: limits.ttl.as_secs(),
        })
    }

    /// Answers a member's `/weft/mailbox/1` request.
    pub(super) fn answer_mailbox(
        &mut self,
        asked: AskedId,
        peer: PeerId,
        request: MailboxRequest,
        now: Now,
    ) {
        let member = self.mesh.get().and_then(|m| m.member(&peer));
        let Some((key, _)) = member else {
            let why = "mailbox request from a non-member";
            self.reject("mailbox", &peer, "acl", &why);
            self.answer(asked, refused("not a member of this node's mesh"));
            return;
        };
        if request.v != MAILBOX_VERSION {
            self.answer(asked, refused(format!("unsupported version {}", request.v)));
            return;
        }
        match request.op {
            Op::Deposit { boxes } => self.take_deposit(asked, peer, boxes, now),
            Op::Fetch { max_bytes } => self.hand_over(asked, key, max_bytes as usize, now),
            Op::Release { ids } => {
                let count = self.release_boxes(key, &ids);
                let response = Response::Mailbox(MailboxResponse::Released { count });
                self.commit.after(Durable::then(Output::Answer {
                    id: asked,
                    response,
                }));
            }
        }
    }

    fn answer(&mut self, asked: AskedId, response: MailboxResponse) {
        self.out.push_back(Output::Answer {
            id: asked,
            response: Response::Mailbox(response),
        });
    }

    /// Boxes deposited by `peer`: each held (see [`Self::hold`]) or refused, and one answer
    /// with every outcome once all that was held is on disk. A request over the caps is
    /// refused whole.
    fn take_deposit(&mut self, asked: AskedId, peer: PeerId, boxes: Vec<Boxed>, now: Now) {
        let bytes: usize = boxes.iter().map(|b| b.sealed.len()).sum();
        if boxes.len() > MAX_DEPOSIT_BOXES || bytes > MAX_DEPOSIT_BYTES {
            let why = format!(
                "a deposit carries at most {MAX_DEPOSIT_BOXES} boxes and {MAX_DEPOSIT_BYTES} bytes"
            );
            self.reject("mailbox", &peer, "oversize", &why);
            self.answer(asked, refused(why));
            return;
        }
        let Some(from) = key_of(&peer) else {
            self.answer(asked, refused("the depositor has no ed25519 key"));
            return;
        };
        let mut due = Vec::new();
        let outcomes = boxes
            .into_iter()
            .map(|boxed| match self.hold(peer, from, boxed, &mut due, now) {
                Ok(id) => Outcome::Held { id },
                Err(reason) => Outcome::Refused { reason },
            })
            .collect();
        let response = Response::Mailbox(MailboxResponse::Deposited { outcomes });
        self.commit.after(Durable::then(Output::Answer {
            id: asked,
            response,
        }));
        // One receipt per sender for the whole deposit.
        for receipt in self.receipts(due, now) {
            self.commit.after(Durable::then(receipt));
        }
    }

    /// A box `peer` (whose key is `from`) deposited: for this node, opened now (what it
    /// carried is written, and the receipt it calls for added to `due`); for another member,
    /// held within the quota when this node is a mailbox, and handed on at once when the
    /// recipient is connected. Its id, or why it is not held.
    fn hold(
        &mut self,
        peer: PeerId,
        from: MemberKey,
        boxed: Boxed,
        due: &mut Vec<ToReceipt>,
        now: Now,
    ) -> Result<[u8; 32], String> {
        let Boxed {
            to,
            expires,
            sealed,
        } = boxed;
        let refuse = |core: &mut Core, refusal: holding::Refusal| {
            if let Some(reason) = refusal.counted() {
                core.reject("mailbox", &peer, reason, &refusal);
            }
            Err(refusal.to_string())
        };
        if let Err(refusal) = holding::check(sealed.len(), expires, now.secs()) {
            return refuse(self, refusal);
        }
        let id = box_id(&sealed);
        if to == self.me.key {
            let Ok(receipt) = self.take_box(peer, &sealed, now) else {
                return Err("the sender's sealing key is not known here".into());
            };
            due.extend(receipt);
            return Ok(id);
        }
        let recipient = peer_of(&to).filter(|p| self.admits(p));
        let deposit = Deposit {
            to,
            from,
            id,
            size: sealed.len(),
            expires,
        };
        let is_mailbox = self.mesh.role_of(&self.me.peer) == Some(Role::Mailbox);
        let limits = self.mailbox.limits;
        let held = self.mailbox.holding.deposit(
            deposit,
            limits,
            is_mailbox,
            recipient.is_some(),
            now.unix_us,
        );
        let info = match held {
            Ok(Some(info)) => info,
            // Held already, though its write may still be on its way to disk.
            Ok(None) => return Ok(id),
            Err(refusal) => return refuse(self, refusal),
        };
        self.commit.write(Write::HoldBox(
            to,
            info.at,
            id,
            Box::new(HeldBox {
                expires: info.expires,
                from,
                sealed,
            }),
        ));
        // The recipient is here: hand it over now rather than on its next fetch.
        if let Some(recipient) = recipient.filter(|r| self.peers.is_connected(r)) {
            let forward = self.forward(recipient, info);
            self.commit.after(Durable::then(forward));
        }
        Ok(id)
    }

    /// Hands `to` its boxes, up to `max_bytes`, read from the store by the shell once the
    /// writes queued before it are applied (a box just deposited is held here before its
    /// write lands, and must not be missing from the answer); expired ones are dropped
    /// instead.
    fn hand_over(&mut self, asked: AskedId, to: MemberKey, max_bytes: usize, now: Now) {
        let fetch = self.mailbox.holding.fetch(
            &to,
            max_bytes.min(MAX_FETCH_BYTES),
            MAX_RELEASE_IDS,
            now.secs(),
        );
        for held in fetch.expired {
            self.drop_box(&to, &held.id);
        }
        self.commit.after(Durable::then(Output::AnswerFetch {
            id: asked,
            boxes: fetch.boxes,
            more: fetch.more,
        }));
    }

    /// Drops `to`'s boxes `ids`; how many were held.
    fn release_boxes(&mut self, to: MemberKey, ids: &[[u8; 32]]) -> u32 {
        let mut count = 0;
        for id in ids.iter().take(MAX_RELEASE_IDS) {
            if self.drop_box(&to, id) {
                count += 1;
            }
        }
        count
    }

    /// Drops `to`'s box `id`; whether it was held.
    pub(super) fn drop_box(&mut self, to: &MemberKey, id: &[u8; 32]) -> bool {
        let held = self.mailbox.holding.release(to, id).is_some();
        if held {
            self.commit.write(Write::ReleaseBox(*to, *id));
        }
        held
    }

    /// Hands `recipient` the box `held` for it (read from the store by the shell).
    fn forward(&mut self, recipient: PeerId, held: BoxInfo) -> Output {
        self.mailbox.forwards.sent(recipient);
        let id = self.asks.ask(Purpose::Forward {
            peer: recipient,
            to: held.to,
            id: held.id,
        });
        Output::Forward {
            id,
            peer: recipient,
            held,
        }
    }

    /// A forward to `recipient` ended as `how`: the box goes once it is held there; when
    /// it got no answer, the recipient's boxes may be forwarded again ([`Forwards`]).
    pub(super) fn forwarded(
        &mut self,
        recipient: PeerId,
        to: MemberKey,
        id: [u8; 32],
        how: Forwarded,
        now: Now,
    ) {
        if how == Forwarded::Held {
            self.drop_box(&to, &id);
        }
        let connected = self.peers.is_connected(&recipient);
        self.mailbox
            .forwards
            .ended(recipient, how, connected, now.at);
    }

    /// Forwards again, a page each, what is held for connected recipients whose forward
    /// got no answer; a recipient with more than a page held gets another round.
    pub(super) fn retry_forwards(&mut self, now: Now) {
        for recipient in self.mailbox.forwards.due(now.at) {
            let Some(to) = key_of(&recipient) else {
                continue;
            };
            if !self.peers.is_connected(&recipient) || !self.admits(&recipient) {
                continue;
            }
            tracing::debug!(peer = %short(&recipient), "forwarding held boxes again");
            let fetch =
                self.mailbox
                    .holding
                    .fetch(&to, MAX_FETCH_BYTES, MAX_RELEASE_IDS, now.secs());
            for held in fetch.boxes {
                let forward = self.forward(recipient, held);
                self.out.push_back(forward);
            }
            if fetch.more {
                self.mailbox.forwards.again(recipient, now.at);
            }
        }
    }

    /// Drops what expired: outbox messages whose lifetime (the mailbox TTL, counted from
    /// when they were sent) is over are marked expired, and held boxes whose time is up go.
    pub(super) fn sweep(&mut self, now: Now) {
        let ttl = self.mailbox.limits.ttl;
        for (to, id, settled) in self.delivery.expire(now.secs(), ttl, now.at) {
            self.settled(to, id, settled);
        }
        self.expire_bench(now);
        for held in self.mailbox.holding.expired(now.secs()) {
            self.drop_box(&held.to, &held.id);
        }
    }
}

fn refused(reason: impl Into<String>) -> MailboxResponse {
    MailboxResponse::Refused {
        reason: reason.into(),
    }
}
