//! [`Exchanges`]: the request/response protocols (`/weft/join/1`, `/weft/sync/1`,
//! `/weft/mailbox/1`) carried out for the core, both ways. Requests from peers come in
//! through the three [`Server`]s and go to the core as [`Input::Asked`]; the shell keeps
//! where each answer goes until the core answers, reading from the store what an answer
//! carries (topic messages, held boxes). This node's own requests run in tasks beside the
//! loop, sealing first what is to be deposited, and what they bring comes back on
//! [`Exchanges::next`].
//!
//! Mailbox exchanges hold one of a few permits while they talk, and one of fewer for their
//! peer: a burst (ten thousand receipts, say) must not open more streams on a connection
//! than the multiplexer allows, or other protocols there (gossip) would lose theirs, nor
//! more than the peer serves one peer at once, or it drops the rest unread. They are
//! joined when the node stops, so a receipt or release started by the last flush still
//! goes out.

use std::collections::HashMap;
use std::sync::Arc;

use libp2p::PeerId;
use libp2p_stream::Control;
use tokio::sync::{mpsc, oneshot};
use weft_keys::seal::{SealKey, seal};
use weft_proto::join::{JoinRequest, JoinResponse};
use weft_proto::mailbox::{Boxed, MailboxRequest, MailboxResponse, Op};
use weft_proto::sync::{SyncRequest, SyncResponse};

use super::Shared;
use crate::core::io::{
    Answer, Ask, AskId, AskedId, Input, Request, Response, Sealing, seal_all, with_unsent,
};
use crate::core::topics::Wanted;
use crate::network::exchange::{MAX_ASKS_PER_PEER, Server};
use crate::network::permits::Permits;
use crate::network::tasks::Spawner;
use crate::network::{join, mailbox, sync};
use crate::store::mailbox::BoxInfo;
use crate::store::{Store, StoreError};

/// Mailbox exchanges talking at once, at most.
const MAX_MAILBOX_EXCHANGES: usize = 16;

/// Capacity of the channel from requests under way back to the loop.
const ANSWERED_CAPACITY: usize = 256;

/// What the loop hears of a request of this node's.
type Answered = (AskId, Result<Answer, String>);

/// Where the answer to a peer's request goes.
enum Reply {
    Join(oneshot::Sender<JoinResponse>),
    Sync(oneshot::Sender<SyncResponse>),
    Mailbox(oneshot::Sender<MailboxResponse>),
}

/// The exchange protocols, both ways.
pub(super) struct Exchanges {
    control: Control,
    store: Store,
    seal: Arc<SealKey>,
    joins: Server<JoinRequest, JoinResponse>,
    syncs: Server<SyncRequest, SyncResponse>,
    mailboxes: Server<MailboxRequest, MailboxResponse>,
    replies: HashMap<AskedId, Reply>,
    last: u64,
    permits: Permits,
    answered_tx: mpsc::Sender<Answered>,
    /// What this node's requests brought.
    answered: mpsc::Receiver<Answered>,
}

impl Exchanges {
    /// Registers the three protocols on `control`: anyone may ask to join; members (and
    /// members just removed, to hear of it) to sync; only members to use a mailbox.
    pub(super) fn new(
        mut control: Control,
        store: Store,
        seal: SealKey,
        shared: &Shared,
    ) -> Result<Exchanges, libp2p_stream::AlreadyRegistered> {
        let tally = shared.tally.clone();
        let joins = Server::new(
            &mut control,
            join::PROTOCOL,
            join::RULES,
            None,
            tally.clone(),
        )?;
        let syncs = Server::new(
            &mut control,
            sync::PROTOCOL,
            sync::RULES,
            Some(shared.sync_door.clone()),
            tally.clone(),
        )?;
        let mailboxes = Server::new(
            &mut control,
            mailbox::PROTOCOL,
            mailbox::RULES,
            Some(shared.door.clone()),
            tally,
        )?;
        let (answered_tx, answered) = mpsc::channel(ANSWERED_CAPACITY);
        Ok(Exchanges {
            control,
            store,
            seal: Arc::new(seal),
            joins,
            syncs,
            mailboxes,
            replies: HashMap::new(),
            last: 0,
            permits: Permits::new(MAX_MAILBOX_EXCHANGES, MAX_ASKS_PER_PEER),
            answered_tx,
            answered,
        })
    }

    /// Starts serving (on the runtime; call it once the loop runs).
    pub(super) fn start(&mut self, tasks: &Spawner) {
        self.joins.start(tasks);
        self.syncs.start(tasks);
        self.mailboxes.start(tasks);
    }

    /// Where new streams are opened (the joiner's journey uses it too).
    pub(super) fn control(&self) -> Control {
        self.control.clone()
    }

    /// The next request from a peer (its answer is kept a place here), or answer to one
    /// of this node's, for the core.
    pub(super) async fn next(&mut self) -> Option<Input> {
        let (peer, request, reply) = tokio::select! {
            biased;
            Some(asked) = self.joins.requests.recv() => {
                (asked.peer, Request::Join(asked.request), Reply::Join(asked.reply))
            }
            Some(asked) = self.syncs.requests.recv() => {
                (asked.peer, Request::Sync(asked.request), Reply::Sync(asked.reply))
            }
            Some(asked) = self.mailboxes.requests.recv() => {
                (asked.peer, Request::Mailbox(asked.request), Reply::Mailbox(asked.reply))
            }
            Some((id, answer)) = self.answered.recv() => {
                return Some(Input::Answered { id, answer });
            }
            else => return None,
        };
        self.last += 1;
        let id = AskedId(self.last);
        self.replies.insert(id, reply);
        Some(Input::Asked { id, peer, request })
    }

    /// Answers request `id` with `response`.
    pub(super) fn answer(&mut self, id: AskedId, response: Response) {
        let sent = match (self.replies.remove(&id), response) {
            (Some(Reply::Join(reply)), Response::Join(r)) => reply.send(r).is_ok(),
            (Some(Reply::Sync(reply)), Response::Sync(r)) => reply.send(r).is_ok(),
            (Some(Reply::Mailbox(reply)), Response::Mailbox(r)) => reply.send(r).is_ok(),
            (None, _) => false,
            (Some(_), response) => {
                tracing::error!(?response, "an answer for another protocol; dropped");
                false
            }
        };
        if !sent {
            tracing::debug!("an answer found its asker gone");
        }
    }

    /// Answers sync request `id` with `response` and the topic messages of the runs
    /// `wanted`, read from the topic log beside the loop.
    pub(super) fn answer_sync(
        &mut self,
        id: AskedId,
        mut response: SyncResponse,
        wanted: Vec<Wanted>,
        tasks: &Spawner,
    ) {
        let Some(Reply::Sync(reply)) = self.replies.remove(&id) else {
            return;
        };
        let log = self.store.topics_log.clone();
        read_then(
            tasks,
            "sync answer",
            move || log.wanted(&wanted),
            move |read| {
                let (logged, more_logged) = read.unwrap_or_default();
                if let SyncResponse::Ops { messages, more, .. } = &mut response {
                    *messages = logged;
                    *more |= more_logged;
                }
                let _ = reply.send(response);
            },
        );
    }

    /// Answers mailbox fetch `id` with the sealed bytes of `boxes`, read beside the loop.
    pub(super) fn answer_fetch(
        &mut self,
        id: AskedId,
        boxes: Vec<BoxInfo>,
        more: bool,
        tasks: &Spawner,
    ) {
        let Some(Reply::Mailbox(reply)) = self.replies.remove(&id) else {
            return;
        };
        let store = self.store.mailbox.clone();
        read_then(
            tasks,
            "mailbox fetch",
            move || store.sealed(&boxes),
            move |read| {
                let _ = reply.send(match read {
                    Some(items) => MailboxResponse::Items { items, more },
                    None => MailboxResponse::Refused {
                        reason: "this mailbox cannot read its store".into(),
                    },
                });
            },
        );
    }

    /// Asks `peer`: a sync in a task of its own, a mailbox request under a permit.
    pub(super) fn ask(&self, id: AskId, peer: PeerId, ask: Ask, tasks: &Spawner) {
        let (control, answered) = (self.control.clone(), self.answered_tx.clone());
        match ask {
            Ask::Sync(request) => tasks.spawn("sync", async move {
                let synced = sync::request(control, peer, *request).await;
                let _ = answered.send((id, synced.map(Answer::Sync))).await;
            }),
            Ask::Mailbox(op) => self.mailbox(id, peer, tasks, move || Ok(Some(op)), mailbox::ask),
        }
    }

    /// Seals each of `sealings` (reading the outbox message it carries, when it is on disk)
    /// and deposits the boxes with `peer`: one outcome per sealing comes back, a sealing
    /// whose message left the outbox meanwhile refused here.
    pub(super) fn deposit(&self, id: AskId, peer: PeerId, sealings: Vec<Sealing>, tasks: &Spawner) {
        let (key, outbox) = (self.seal.clone(), self.store.outbox.clone());
        let make = move || {
            Ok(seal_all(
                sealings,
                |outgoing| outbox.message(outgoing),
                |card, mesh, plain| seal(&key, card, mesh, plain),
            ))
        };
        self.mailbox(
            id,
            peer,
            tasks,
            make,
            |control, peer, (boxes, sent)| async move {
                with_unsent(mailbox::deposit(control, peer, boxes).await?, sent)
            },
        );
    }

    /// Hands `peer` the box `held` that this node holds for it, read from the store.
    pub(super) fn forward(&self, id: AskId, peer: PeerId, held: BoxInfo, tasks: &Spawner) {
        let store = self.store.mailbox.clone();
        let make = move || {
            let items = store.sealed(&[held]).map_err(|e| e.to_string())?;
            Ok(items.into_iter().next().map(|item| {
                let boxed = Boxed {
                    to: held.to,
                    expires: held.expires,
                    sealed: item.sealed,
                };
                Op::Deposit { boxes: vec![boxed] }
            }))
        };
        self.mailbox(id, peer, tasks, make, mailbox::ask);
    }

    /// Runs a mailbox request with `peer`: `make` makes what to send (on the blocking pool:
    /// it may seal or read the store; `Ok(None)`: nothing to send, the message left the
    /// outbox or the box is gone), and `talk` sends it and reads the answer. Both hold
    /// permits ([`Permits`]) meanwhile.
    fn mailbox<T, Talk>(
        &self,
        id: AskId,
        peer: PeerId,
        tasks: &Spawner,
        make: impl FnOnce() -> Result<Option<T>, String> + Send + 'static,
        talk: impl FnOnce(Control, PeerId, T) -> Talk + Send + 'static,
    ) where
        T: Send + 'static,
        Talk: Future<Output = Result<MailboxResponse, String>> + Send,
    {
        let (control, answered) = (self.control.clone(), self.answered_tx.clone());
        let permits = self.permits.to(peer);
        tasks.spawn_joined("mailbox exchange", async move {
            // The permits first: what waits for them holds no box in memory.
            let Some(_permits) = permits.acquire().await else {
                return;
            };
            let made = tokio::task::spawn_blocking(make).await;
            let result = match made.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok(Some(what)) => talk(control, peer, what).await.map(Answer::Mailbox),
                Ok(None) => Err("nothing left to deposit".into()),
                Err(e) => Err(e),
            };
            let _ = answered.send((id, result)).await;
        });
    }
}

/// Reads with `read` on the blocking pool, beside the loop, in a task named `what`, then
/// answers with what `answer` makes of it (`None`: the store could not be read, logged).
fn read_then<T: Send + 'static>(
    tasks: &Spawner,
    what: &'static str,
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    answer: impl FnOnce(Option<T>) + Send + 'static,
) {
    tasks.spawn(what, async move {
        let read = match tokio::task::spawn_blocking(read).await {
            Ok(Ok(read)) => Some(read),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "{what}: cannot read the store");
                None
            }
            Err(_) => None,
        };
        answer(read);
    });
}
