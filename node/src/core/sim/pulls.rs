//! The simulated shell's queues: `/weft/queue/1` sessions over the simulated network (one
//! per worker and producer, behind the members' door; an item's bytes read from the
//! producer's store as it goes out), and local workers that take a set time per item and
//! fail the items a test names.

use libp2p::PeerId;
use weft_proto::queue::{ItemId, Lease, ProducerFrame, QUEUE_VERSION, QueueName, WorkerFrame};

use super::shell::{Frame, ProducerSession};
use super::{Due, Sim};
use crate::core::io::{Input, RunId, SessionId, WorkerId};
use crate::core::queues::working::WorkOpts;

/// A simulated local worker.
#[derive(Clone, Copy, Debug)]
pub struct Worker {
    /// How long it takes per item, at least and at most, in milliseconds.
    pub took_ms: (u64, u64),
    /// Whether it fails items whose body starts with `fail`.
    pub fails_marked: bool,
}

/// One run of an item by a node's worker: its delivery, its body, and when it started and
/// ended (the fake clock; `None` while it runs, or when its node crashed).
#[derive(Clone, Debug)]
pub struct Ran {
    /// The delivery.
    pub lease: Lease,
    /// The item.
    pub body: Vec<u8>,
    /// The node's run (epoch) it ran in.
    pub epoch: u64,
    /// When it started.
    pub started: u64,
    /// When it ended, and whether it succeeded.
    pub ended: Option<(u64, bool)>,
}

impl Sim {
    /// `node` works `queue` with `opts`, items run by `worker`.
    pub fn work(&mut self, node: usize, queue: &str, opts: WorkOpts, worker: Worker) -> WorkerId {
        let queue: QueueName = queue.parse().expect("a queue name");
        let id = self.command(node, |core, _| core.work(queue, opts));
        let id = id.expect("the node may work it");
        self.nodes[node].shell.workers.insert(id, worker);
        id
    }

    /// `node` pushes `body` to `queue`, with idempotency `key`: the item's id and the mark
    /// its caller is answered with once it is on disk, or why not.
    pub fn push(
        &mut self,
        node: usize,
        queue: &str,
        body: &[u8],
        key: Option<&str>,
    ) -> Result<(ItemId, bool, super::Mark), String> {
        let queue: QueueName = queue.parse().expect("a queue name");
        let key = key.map(str::to_string);
        let epoch = self.nodes[node].epoch;
        self.command(node, |core, now| {
            let pushed = core.push(queue, body.to_vec(), key, now)?;
            Ok((pushed, core.ticket()))
        })
        .map(|(pushed, ticket)| {
            let id: ItemId = pushed.id.parse().expect("an item id");
            (id, pushed.new, (epoch, ticket))
        })
        .map_err(|e: crate::network::NodeError| e.to_string())
    }

    /// Starts `node`'s session to producer `peer` unless one is open (a session that
    /// cannot start, its peer not connected, is lost at once).
    pub(super) fn open_to_producer(&mut self, node: usize, peer: PeerId) {
        let Some(to) = self.index.get(&peer).copied() else {
            return;
        };
        if self.nodes[node].shell.queue_out.contains_key(&to) {
            return;
        }
        if !self.is_connected(node, to) {
            self.input(node, Input::ProducerLost { peer });
            return;
        }
        let connection = self.established(node, to);
        let shell = &mut self.nodes[node].shell;
        let id = shell.new_session(node);
        let out = ProducerSession {
            id,
            connection,
            ended: false,
        };
        shell.queue_out.insert(to, out);
    }

    /// Sends `frame` on `node`'s open session to producer `peer`; with none open it is
    /// dropped. A session found ended fails the write, and is reported lost at once; one
    /// on a connection that dropped unnoticed loses the frame.
    pub(super) fn send_to_producer(&mut self, node: usize, peer: PeerId, frame: WorkerFrame) {
        let Some(to) = self.index.get(&peer).copied() else {
            return;
        };
        let connected = self.is_connected(node, to);
        let current = self.established(node, to);
        let shell = &mut self.nodes[node].shell;
        let Some(out) = shell.queue_out.get(&to).copied() else {
            return;
        };
        if out.ended {
            shell.queue_out.remove(&to);
            self.input(node, Input::ProducerLost { peer });
        } else if connected && out.connection == current {
            let session = out.id;
            self.send(node, to, Frame::ToProducer { session, frame });
        }
    }

    /// `node`'s connection to `to` dropped: its session to `to` as a producer ends, found
    /// and reported as late as [`Sim::producer_end_late`] says.
    pub(super) fn producer_connection_closed(&mut self, node: usize, to: usize) {
        let Some(out) = self.nodes[node].shell.queue_out.get(&to).copied() else {
            return;
        };
        let (found, told) = self.producer_end_late;
        if found == 0 && told == 0 {
            self.producer_session_ends(node, to, out.id, true);
            return;
        }
        let due = Due::ProducerSessionEnds {
            node,
            to,
            session: out.id,
            epoch: self.nodes[node].epoch,
            told: false,
        };
        self.at(self.ms + found, due);
    }

    /// `node` found its session `session` to producer `to` ended (a write on it fails), or
    /// (`told`) hears that it ended: it is lost, unless a failed write said so already.
    pub(super) fn producer_session_ends(
        &mut self,
        node: usize,
        to: usize,
        session: SessionId,
        told: bool,
    ) {
        let shell = &mut self.nodes[node].shell;
        let Some(out) = shell.queue_out.get_mut(&to).filter(|o| o.id == session) else {
            return;
        };
        if !told {
            out.ended = true;
            let due = Due::ProducerSessionEnds {
                node,
                to,
                session,
                epoch: self.nodes[node].epoch,
                told: true,
            };
            self.at(self.ms + self.producer_end_late.1, due);
            return;
        }
        shell.queue_out.remove(&to);
        let peer = self.nodes[to].peer;
        self.input(node, Input::ProducerLost { peer });
    }

    /// A worker's frame from `from` reached producer `to`: read only when the door lets
    /// `from` in.
    pub(super) fn producer_reached(
        &mut self,
        from: usize,
        to: usize,
        session: SessionId,
        frame: WorkerFrame,
    ) {
        let peer = self.nodes[from].peer;
        if !self.nodes[to].shell.admits(&peer) {
            let refused = &mut self.nodes[to].app.refused;
            let key = ("queue".to_string(), "queue_not_member".to_string());
            *refused.entry(key).or_default() += 1;
            return;
        }
        self.nodes[to].shell.queue_in.insert(session, from);
        self.input(
            to,
            Input::WorkerFrame {
                peer,
                session,
                frame,
            },
        );
    }

    /// Sends `frame` on `node`'s inbound session `session`, to its worker.
    pub(super) fn send_to_worker(&mut self, node: usize, session: SessionId, frame: ProducerFrame) {
        if let Some(&worker) = self.nodes[node].shell.queue_in.get(&session) {
            self.send(node, worker, Frame::ToWorker { session, frame });
        }
    }

    /// Sends the item of `lease` on `node`'s session `session`, read from its store.
    pub(super) fn deliver(
        &mut self,
        node: usize,
        session: SessionId,
        queue: QueueName,
        lease: Lease,
    ) {
        let body = self.nodes[node].store.queues.body(&lease.id);
        let frame = match body.expect("the queue trees") {
            Some(body) => ProducerFrame::Item {
                v: QUEUE_VERSION,
                queue,
                lease,
                body,
            },
            None => ProducerFrame::Drained { queue, returned: 0 },
        };
        self.send_to_worker(node, session, frame);
    }

    /// `node`'s worker runs `lease`, and ends it after its time.
    pub(super) fn run_item(
        &mut self,
        node: usize,
        worker: WorkerId,
        run: RunId,
        lease: Lease,
        body: Vec<u8>,
    ) {
        let Some(w) = self.nodes[node].shell.workers.get(&worker).copied() else {
            return;
        };
        let took = self.rng.range(w.took_ms.0, w.took_ms.1);
        let ok = !(w.fails_marked && body.starts_with(b"fail"));
        let epoch = self.nodes[node].epoch;
        let index = self.nodes[node].app.worked.len();
        self.nodes[node].app.worked.push(Ran {
            lease,
            body,
            epoch,
            started: self.ms,
            ended: None,
        });
        let due = Due::Worked {
            node,
            run,
            index,
            ok,
            epoch,
        };
        self.at(self.ms + took, due);
    }

    /// `node`'s run `run` (its `index`-th) ended.
    pub(super) fn worked(&mut self, node: usize, run: RunId, index: usize, ok: bool) {
        self.nodes[node].app.worked[index].ended = Some((self.ms, ok));
        let result = if ok {
            Ok(())
        } else {
            Err("marked to fail".to_string())
        };
        self.command(node, |core, _| core.worked(run, result));
    }
}
