//! `call/NAME` and `offer/NAME`: a program's REQ (or DEALER) calls weft service NAME, and a
//! program's REP (or ROUTER) serves it.
//!
//! A request is one frame after ZeroMQ's envelope (the frames up to the first empty one);
//! its reply is one frame after the same envelope. A call that fails comes back as one
//! frame that starts with `weft-error: ` and says why in one line, so a REQ is never left
//! waiting and never receives what it did not ask for.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use weft_proto::service::{Outcome, Refusal, ServiceName};

use super::Endpoint;
use super::presence::{Change, Presence};
use super::socket::{Frames, Socket};
use crate::core::io::{CallEnd, ServeId};
use crate::core::services::serving::OfferOpts;
use crate::network::NodeError;
use crate::network::handle::{Offered, ServeRequest};

/// What a failed call's reply starts with.
pub const ERROR_PREFIX: &str = "weft-error: ";

/// How long a call waits for its reply.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The most calls one `call` endpoint has under way; more wait unread.
const MAX_CALLS: usize = 256;

/// Calls an `offer` endpoint runs at once across its programs; more wait in the mesh.
const OFFER_CONCURRENCY: u32 = 64;

/// Splits a ROUTER's message into its envelope (the routing id, and the frames up to the
/// first empty one) and its one body frame.
fn split(mut frames: Frames) -> Result<(Frames, Vec<u8>), (Frames, String)> {
    let end = match frames.iter().skip(1).position(Vec::is_empty) {
        Some(empty) => empty + 2,
        None => 1.min(frames.len()),
    };
    let body = frames.split_off(end);
    match <[Vec<u8>; 1]>::try_from(body) {
        Ok([body]) => Ok((frames, body)),
        Err(body) => Err((
            frames,
            format!(
                "a request of {} frames after its envelope; weft carries one",
                body.len()
            ),
        )),
    }
}

/// The reply frame for how a call ended.
fn reply(service: &ServiceName, end: Result<CallEnd, NodeError>) -> Vec<u8> {
    let why = match end {
        Ok(CallEnd::Replied(reply)) => return reply,
        Ok(CallEnd::Failed(why)) => format!("`{service}` failed: {why}"),
        Ok(CallEnd::Refused(Refusal::NotAllowed)) => {
            format!("the policy of `{service}` does not let this node call it")
        }
        Ok(CallEnd::Refused(refusal)) => format!("`{service}` refused the call: {refusal}"),
        Ok(CallEnd::NoProvider) => format!("no provider of `{service}` is reachable"),
        Ok(CallEnd::TimedOut) => format!(
            "no reply from `{service}` within {} s",
            CALL_TIMEOUT.as_secs()
        ),
        Err(e) => e.to_string(),
    };
    format!("{ERROR_PREFIX}{why}").into_bytes()
}

/// Calls `service` for each request from the programs on `socket` (weft's ROUTER), up to
/// 256 at once, and sends each its reply. Runs until the node or the socket stops.
pub async fn call(mut socket: Socket, service: ServiceName, door: Endpoint) {
    let permits = Arc::new(Semaphore::new(MAX_CALLS));
    let (done, mut replies) = mpsc::channel::<Frames>(MAX_CALLS);
    loop {
        tokio::select! {
            // Replies first: each frees a place for the next request.
            biased;
            Some(frames) = replies.recv() => {
                // A ROUTER drops a reply whose program has gone.
                match socket.try_send(&frames) {
                    Ok(()) => door.passed("out"),
                    Err(e) => door.refused("send", &e),
                }
            }
            frames = socket.recv(), if permits.available_permits() > 0 => {
                let frames = match frames {
                    Ok(frames) => frames,
                    Err(e) => return door.broken(e),
                };
                let (mut envelope, body) = match split(frames) {
                    Ok(split) => split,
                    Err((mut envelope, why)) => {
                        door.refused("frames", &why);
                        envelope.push(format!("{ERROR_PREFIX}{why}").into_bytes());
                        let _ = socket.try_send(&envelope);
                        continue;
                    }
                };
                // Never waits: the branch runs only while a permit is free, so replies
                // keep draining.
                let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
                door.passed("in");
                let (door, service, done) = (door.clone(), service.clone(), done.clone());
                tokio::spawn(async move {
                    let end = door.handle.call(service.clone(), body, CALL_TIMEOUT).await;
                    if let Ok(CallEnd::Refused(Refusal::NotAllowed)) = &end {
                        door.refused("forbidden", &format!("the policy of `{service}` does not let this node call it"));
                    }
                    envelope.push(reply(&service, end));
                    // Freed before the reply queues: when the loop takes the reply, the
                    // next request may be read.
                    drop(permit);
                    let _ = done.send(envelope).await;
                });
            }
        }
    }
}

/// Offers `service` while programs are connected to `socket` (weft's DEALER), handing them
/// its calls as `[serve id, "", request]` and taking their replies. When a program leaves,
/// the calls under way are given back to the mesh, which sends them to another provider.
/// Runs until the node or the socket stops.
pub async fn offer(
    mut socket: Socket,
    mut presence: Presence,
    service: ServiceName,
    door: Endpoint,
) {
    let mut offered: Option<Offered> = None;
    let mut running = BTreeSet::new();
    // A call the programs' queues could not take yet.
    let mut waiting: Option<ServeRequest> = None;
    loop {
        let want = if waiting.is_some() {
            zmq::POLLIN | zmq::POLLOUT
        } else {
            zmq::POLLIN
        };
        tokio::select! {
            change = presence.changed() => {
                if let Err(e) = change {
                    return door.broken(e);
                }
                if change == Ok(Change::Left) {
                    // Which program held which call is not known: every call under way
                    // goes back to the mesh.
                    withdraw(&door, &mut offered, &mut running, &mut waiting).await;
                }
                if presence.connected() > 0 && offered.is_none() {
                    offered = offer_to(&door, &service).await;
                }
            }
            request = super::next(offered.as_mut().map(|o| &mut o.requests)), if waiting.is_none() => match request {
                Some(request) => waiting = Some(request),
                None => offered = None,
            },
            ready = socket.ready(want) => {
                let ready = match ready {
                    Ok(ready) => ready,
                    Err(e) => return door.broken(e),
                };
                if ready.contains(zmq::POLLOUT) {
                    if let Some(request) = waiting.take() {
                        let frames = vec![request.serve.0.to_be_bytes().to_vec(), Vec::new(), request.body];
                        match socket.try_send(&frames) {
                            Ok(()) => {
                                running.insert(request.serve);
                                door.passed("out");
                            }
                            Err(zmq::Error::EAGAIN) => {
                                let [_, _, body] = <[Vec<u8>; 3]>::try_from(frames).unwrap_or_default();
                                waiting = Some(ServeRequest { serve: request.serve, body });
                            }
                            Err(e) => return door.broken(e),
                        }
                    }
                }
                loop {
                    match socket.try_recv() {
                        Ok(Some(frames)) => answered(&door, &mut running, frames).await,
                        Ok(None) => break,
                        Err(e) => return door.broken(e),
                    }
                }
            }
        }
    }
}

/// Offers `service` from this node, saying so if it may not.
async fn offer_to(door: &Endpoint, service: &ServiceName) -> Option<Offered> {
    let opts = OfferOpts {
        standby: false,
        concurrency: OFFER_CONCURRENCY,
        max_inflight: None,
        max_cpu_permille: None,
    };
    match door.handle.offer(service.clone(), opts).await {
        Ok(offered) => Some(offered),
        Err(e) => {
            door.refused("offer", &format!("cannot offer `{service}`: {e}"));
            None
        }
    }
}

/// Withdraws the offer: the mesh sends the calls it had here to another provider.
async fn withdraw(
    door: &Endpoint,
    offered: &mut Option<Offered>,
    running: &mut BTreeSet<ServeId>,
    waiting: &mut Option<ServeRequest>,
) {
    if let Some(offered) = offered.take() {
        let _ = door.handle.withdraw(offered.handler).await;
    }
    running.clear();
    *waiting = None;
}

/// A program's reply `[serve id, "", reply]`: the call's answer.
async fn answered(door: &Endpoint, running: &mut BTreeSet<ServeId>, frames: Frames) {
    let (envelope, body) = match frames.iter().position(Vec::is_empty) {
        Some(empty) => (&frames[..empty], &frames[empty + 1..]),
        None => (&frames[..0], &frames[..]),
    };
    let serve = match envelope {
        [id] if id.len() == 8 => ServeId(u64::from_be_bytes(
            id.as_slice().try_into().unwrap_or_default(),
        )),
        _ => {
            return door.refused(
                "frames",
                &"a reply without the envelope weft sent its request in",
            );
        }
    };
    if !running.remove(&serve) {
        return door.refused("late", &"a reply to a call no longer under way here");
    }
    let outcome = match body {
        [reply] => Outcome::Ok(reply.clone()),
        _ => {
            let why = format!(
                "the program replied {} frames; weft carries one",
                body.len()
            );
            door.refused("frames", &why);
            Outcome::Failed(why)
        }
    };
    door.passed("in");
    let _ = door.handle.served(serve, outcome).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: &[&str]) -> Frames {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    #[test]
    fn requests_split_at_their_envelope() {
        let (envelope, body) = split(frames(&["id", "", "hello"])).unwrap();
        assert_eq!((envelope, body), (frames(&["id", ""]), b"hello".to_vec()));
        let (envelope, body) = split(frames(&["id", "hop", "", ""])).unwrap();
        assert_eq!((envelope, body), (frames(&["id", "hop", ""]), Vec::new()));
        let (envelope, body) = split(frames(&["id", "bare"])).unwrap();
        assert_eq!((envelope, body), (frames(&["id"]), b"bare".to_vec()));
        for bad in [
            &["id", ""][..],
            &["id", "", "a", "b"],
            &["id"],
            &["id", "a", "b"],
        ] {
            let (envelope, why) = split(frames(bad)).unwrap_err();
            assert_eq!(envelope[0], b"id");
            assert!(why.contains("weft carries one"), "{why}");
        }
    }

    #[test]
    fn a_failed_call_says_so_in_one_frame() {
        let hello: ServiceName = "hello".parse().unwrap();
        assert_eq!(
            reply(&hello, Ok(CallEnd::Replied(b"World".to_vec()))),
            b"World"
        );
        let failed = String::from_utf8(reply(&hello, Ok(CallEnd::NoProvider))).unwrap();
        assert!(
            failed.starts_with(ERROR_PREFIX) && failed.contains("no provider"),
            "{failed}"
        );
    }
}
