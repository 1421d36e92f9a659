//! `queue/NAME` and `work/NAME`: a program's PUSH pushes items on weft queue NAME, and a
//! program's PULL works it.
//!
//! - `queue/NAME`: items are pushed one at a time, each once the one before it is on disk;
//!   libzmq reads up to 10,000 ahead (why so many: `QUEUE_READ_AHEAD` in `zmq.rs`),
//!   and past that the program's high-water mark holds it back.
//! - `work/NAME`: while a program is connected, this node works the queue and hands each
//!   item to the programs (round-robin, as a PUSH does). An item counts as done once a
//!   program's socket has taken it: ZeroMQ's PULL tells no one when the program reads or
//!   finishes, so an item still in the buffers of a program that is killed is lost. When
//!   the last program leaves, the items not yet taken go back to the producers.

use weft_proto::queue::{DEFAULT_MAX_DELIVER, QueueName};

use super::Endpoint;
use super::presence::Presence;
use super::socket::Socket;
use crate::core::queues::working::WorkOpts;
use crate::network::NodeError;
use crate::network::handle::{WorkItem, Working};

/// How this node works a queue for its PULL programs: a few items at a time.
const OPTS: WorkOpts = WorkOpts {
    concurrency: 4,
    prefetch: 4,
    max_deliver: DEFAULT_MAX_DELIVER,
};

/// Pushes what the programs' PUSH sends (weft's PULL is on `socket`) on `queue`, one
/// message at a time. Runs until the node or the socket stops.
pub async fn push(mut socket: Socket, queue: QueueName, door: Endpoint) {
    loop {
        let frames = match socket.recv().await {
            Ok(frames) => frames,
            Err(e) => return door.broken(e),
        };
        let Ok([body]) = <[Vec<u8>; 1]>::try_from(frames) else {
            door.refused("frames", &"a queue item is one frame");
            continue;
        };
        match door.handle.push(queue.clone(), body, None).await {
            Ok(_) => door.passed("in"),
            Err(NodeError::Shutdown) => return,
            Err(e) => door.refused(super::reason(&e), &e),
        }
    }
}

/// Works `queue` while programs are connected to `socket` (weft's PUSH), handing them its
/// items. Runs until the node or the socket stops.
pub async fn work(mut socket: Socket, mut presence: Presence, queue: QueueName, door: Endpoint) {
    let mut working: Option<Working> = None;
    // An item the programs' queues could not take yet.
    let mut waiting: Option<WorkItem> = None;
    loop {
        tokio::select! {
            change = presence.changed() => {
                if let Err(e) = change {
                    return door.broken(e);
                }
                if follow(presence.connected(), &mut working, &door, &queue, OPTS).await {
                    waiting = None;
                }
            }
            item = super::next(working.as_mut().map(|w| &mut w.items)), if waiting.is_none() => match item {
                Some(item) => waiting = Some(item),
                None => working = None,
            },
            ready = socket.ready(zmq::POLLOUT), if waiting.is_some() => {
                if let Err(e) = ready {
                    return door.broken(e);
                }
                let Some(item) = waiting.take() else { continue };
                match socket.try_send(std::slice::from_ref(&item.body)) {
                    Ok(()) => {
                        door.passed("out");
                        let _ = door.handle.worked(item.run, Ok(())).await;
                    }
                    Err(zmq::Error::EAGAIN) => waiting = Some(item),
                    Err(e) => return door.broken(e),
                }
            }
        }
    }
}

/// Starts working `queue` with `opts` when the first program came, and stops when the last
/// left (`connected` programs now): true when it stopped (what this node held, the item
/// waiting too, went back to the producers).
pub(super) async fn follow(
    connected: usize,
    working: &mut Option<Working>,
    door: &Endpoint,
    queue: &QueueName,
    opts: WorkOpts,
) -> bool {
    match (connected, &*working) {
        (0, Some(w)) => {
            let _ = door.handle.stop_work(w.worker).await;
            *working = None;
            true
        }
        (1.., None) => {
            *working = start(door, queue, opts).await;
            false
        }
        _ => false,
    }
}

/// Works `queue` from this node with `opts`, saying so if it may not.
async fn start(door: &Endpoint, queue: &QueueName, opts: WorkOpts) -> Option<Working> {
    match door.handle.work(queue.clone(), opts).await {
        Ok(working) => Some(working),
        Err(e) => {
            door.refused("work", &format!("cannot work `{queue}`: {e}"));
            None
        }
    }
}
