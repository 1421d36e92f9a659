//! `work-ack/NAME`: a program's DEALER works weft queue NAME and says when each item is
//! done, for at-least-once work where ZeroMQ's PULL cannot say it.
//!
//! The program asks for items and answers them, one frame each way per message:
//!
//! | the program sends | meaning |
//! |---|---|
//! | `[ready]` | give me one item (one credit; send it N times to hold N items) |
//! | `[ID]` | item ID is done (and give me the next) |
//! | `[ID, WHY]` | item ID failed, WHY in one line: it goes back for another delivery (and give me the next) |
//!
//! and gets `[ID, body]` for each item (ID in decimal). An item not answered within
//! [`ACK_WITHIN`], or held by a program that is gone when the node hands it on, fails and
//! goes back; while no program is connected the node does not work the queue.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;
use weft_proto::queue::{DEFAULT_MAX_DELIVER, QueueName};

use super::Endpoint;
use super::presence::Presence;
use super::socket::{Frames, Socket};
use crate::core::io::RunId;
use crate::core::queues::working::WorkOpts;
use crate::network::handle::{WorkItem, Working};

/// Longest a program holds an item without answering it.
pub const ACK_WITHIN: Duration = Duration::from_secs(30);

/// Most credit the programs hold together (more `ready`s are ignored).
const MAX_CREDIT: usize = 64;

/// How this node works the queue for its programs: a few items at a time, so that workers
/// elsewhere get their share.
const OPTS: WorkOpts = WorkOpts {
    concurrency: 8,
    prefetch: 0,
    max_deliver: DEFAULT_MAX_DELIVER,
};

/// What the programs asked for and hold.
#[derive(Default)]
struct Programs {
    /// One entry per item asked for: the routing id of the program that asked.
    credit: VecDeque<Vec<u8>>,
    /// The items handed out: who holds each, and until when.
    held: BTreeMap<u64, (Vec<u8>, Instant)>,
}

/// Works `queue` while programs are connected to `socket` (weft's ROUTER), handing each
/// item to a program that asked and ending it as the program says. Runs until the node or
/// the socket stops.
pub async fn work(mut socket: Socket, mut presence: Presence, queue: QueueName, door: Endpoint) {
    let mut working: Option<Working> = None;
    let mut programs = Programs::default();
    let mut waiting: Option<WorkItem> = None;
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            change = presence.changed() => {
                if let Err(e) = change {
                    return door.broken(e);
                }
                if super::queues::follow(presence.connected(), &mut working, &door, &queue, OPTS).await {
                    (waiting, programs) = (None, Programs::default());
                }
            }
            item = super::next(working.as_mut().map(|w| &mut w.items)), if waiting.is_none() => match item {
                Some(item) => waiting = Some(item),
                None => working = None,
            },
            frames = socket.recv() => match frames {
                Ok(frames) => answered(&door, &mut programs, frames).await,
                Err(e) => return door.broken(e),
            },
            now = sweep.tick() => {
                let late: Vec<u64> = programs.held.iter().filter(|(_, (_, until))| *until <= now).map(|(run, _)| *run).collect();
                for run in late {
                    programs.held.remove(&run);
                    door.refused("late", &format!("item {run} was not answered within {} s; it goes back", ACK_WITHIN.as_secs()));
                    let _ = door.handle.worked(RunId(run), Err("the program did not answer it in time".into())).await;
                }
            }
        }
        // Hand out what waits while a program asked for it.
        while waiting.is_some() && !programs.credit.is_empty() {
            let (Some(item), Some(to)) = (waiting.take(), programs.credit.pop_front()) else {
                break;
            };
            let id = item.run.0.to_string().into_bytes();
            match socket.try_send(&[to.clone(), id, item.body.clone()]) {
                Ok(()) => {
                    door.passed("out");
                    programs
                        .held
                        .insert(item.run.0, (to, Instant::now() + ACK_WITHIN));
                }
                // That program is gone (ZMQ_ROUTER_MANDATORY says so): its credit goes, the
                // item waits for the next.
                Err(_) => waiting = Some(item),
            }
        }
    }
}

/// A program's message: `[ready]`, `[ID]` or `[ID, WHY]` after its routing id.
async fn answered(door: &Endpoint, programs: &mut Programs, frames: Frames) {
    let Some((from, said)) = frames.split_first() else {
        return;
    };
    let (run, result) = match said {
        [ready] if ready == b"ready" => {
            if programs.credit.len() < MAX_CREDIT {
                programs.credit.push_back(from.clone());
            }
            return;
        }
        [id] => (id, Ok(())),
        [id, why] => (
            id,
            Err(String::from_utf8_lossy(why).chars().take(200).collect()),
        ),
        _ => return door.refused("frames", &"work-ack takes [ready], [ID] or [ID, WHY]"),
    };
    let Some(run) = std::str::from_utf8(run)
        .ok()
        .and_then(|r| r.parse::<u64>().ok())
    else {
        return door.refused("frames", &"an item id is its number in decimal");
    };
    match programs.held.get(&run) {
        Some((holder, _)) if holder == from => {
            programs.held.remove(&run);
        }
        _ => return door.refused("late", &format!("item {run} is not held by this program")),
    }
    door.passed("in");
    if programs.credit.len() < MAX_CREDIT {
        programs.credit.push_back(from.clone());
    }
    let _ = door.handle.worked(RunId(run), result).await;
}
