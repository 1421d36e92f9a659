//! The handles' queue commands, served by the core: pushes answered once on disk, a
//! queue's status and dead letters, retries, and local workers.

use tokio::sync::mpsc;

use super::{EventLoop, now};
use crate::network::handle::{QueueCommand, Working};

impl EventLoop {
    /// Serves one queue command.
    pub(super) fn on_queue_command(&mut self, command: QueueCommand) {
        let now = now();
        let core = &mut self.core;
        match command {
            QueueCommand::Push {
                queue,
                body,
                key,
                reply,
            } => {
                let result = core.push(queue, body, key, now);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            QueueCommand::Status { queue, reply } => {
                let _ = reply.send(core.queue_status(&queue));
            }
            QueueCommand::All { reply } => {
                let _ = reply.send(core.queue_statuses());
            }
            QueueCommand::Dead { queue, reply } => {
                let _ = reply.send(core.dead_letters(&queue));
            }
            QueueCommand::Retry { queue, id, reply } => {
                let result = core.retry(&queue, id, now);
                self.local
                    .reply_durably(reply, result, || self.core.ticket());
            }
            QueueCommand::Work { queue, opts, reply } => match core.work(queue, opts) {
                Ok(worker) => {
                    let held = opts.concurrency.saturating_add(opts.prefetch);
                    let capacity = held.clamp(1, weft_proto::queue::MAX_CREDIT) as usize;
                    let (tx, items) = mpsc::channel(capacity);
                    self.local.working(worker, tx);
                    let _ = reply.send(Ok(Working { worker, items }));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            QueueCommand::Worked { run, result } => core.worked(run, result),
            QueueCommand::StopWork { worker } => {
                self.local.stopped(&worker);
                core.stop_work(worker);
            }
        }
    }
}
