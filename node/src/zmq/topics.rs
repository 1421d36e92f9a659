//! `pub` and `sub`: a program's PUB publishes on weft topics, a program's SUB receives them.
//! weft topics carry text, so a body must be UTF-8 (a binary one is refused and counted).
//!
//! - `pub`: each message is `[topic, body]`, ZeroMQ's envelope convention.
//! - `pub/TOPIC`: each message is one frame, published on TOPIC whatever it starts with
//!   (as the guide's weather server writes them).
//! - `sub`: the program gets `[topic, body]`. It subscribes by prefix, as ZeroMQ does; a
//!   prefix that is a whole topic name also subscribes this node to that topic in the
//!   mesh (a shorter one matches the topics this node is subscribed to).
//! - `sub/TOPIC`: this node subscribes to TOPIC; the program gets each message as one frame
//!   and its prefix filters match the message's start.

use std::collections::VecDeque;

use tokio::sync::broadcast::error::RecvError as Lagging;
use tokio::sync::oneshot;
use tokio::sync::oneshot::error::RecvError;
use weft_proto::MessageId;
use weft_proto::api::Event;
use weft_proto::topic::TopicName;

use super::Endpoint;
use super::socket::{Frames, Socket};
use crate::network::NodeError;

/// Publishes what the program's PUB sends (weft's SUB is on `socket`), on `fixed` or on
/// each message's first frame, in order, up to 256 under way (so that many go
/// to disk in one flush). Runs until the node or the socket stops.
pub async fn publish(mut socket: Socket, fixed: Option<TopicName>, door: Endpoint) {
    let mut under_way: VecDeque<Published> = VecDeque::new();
    loop {
        tokio::select! {
            // What is done first: it makes room.
            biased;
            done = first(&mut under_way), if !under_way.is_empty() => {
                under_way.pop_front();
                match done {
                    Ok(Ok(_)) => door.passed("in"),
                    Ok(Err(e)) => door.refused(super::reason(&e), &e),
                    Err(_) => return,
                }
            }
            frames = socket.recv(), if under_way.len() < PUBLISHING => {
                let frames = match frames {
                    Ok(frames) => frames,
                    Err(e) => return door.broken(e),
                };
                match read(frames, fixed.as_ref()) {
                    Ok((topic, text)) => match door.handle.publish_queued(topic, text).await {
                        Ok(published) => under_way.push_back(published),
                        Err(_) => return,
                    },
                    Err((reason, why)) => door.refused(reason, &why),
                }
            }
        }
    }
}

/// Messages a `pub` endpoint has under way at once.
const PUBLISHING: usize = 256;

/// How one publish went, when it is on disk.
type Published = oneshot::Receiver<Result<(MessageId, usize), NodeError>>;

/// The outcome of the oldest publish under way.
async fn first(
    under_way: &mut VecDeque<Published>,
) -> Result<Result<(MessageId, usize), NodeError>, RecvError> {
    match under_way.front_mut() {
        Some(published) => published.await,
        None => std::future::pending().await,
    }
}

/// The topic and text of one PUB message.
fn read(
    frames: Frames,
    fixed: Option<&TopicName>,
) -> Result<(TopicName, String), (&'static str, String)> {
    let (topic, body) = match (fixed, <[Vec<u8>; 2]>::try_from(frames)) {
        (None, Ok([topic, body])) => {
            let topic = String::from_utf8(topic)
                .map_err(|_| ("topic", "the topic frame is not UTF-8".to_string()))?;
            let topic = topic
                .parse::<TopicName>()
                .map_err(|e| ("topic", format!("`{}`: {e}", topic.escape_debug())))?;
            (topic, body)
        }
        (Some(topic), Err(frames)) if frames.len() == 1 => {
            let body = frames.into_iter().next().unwrap_or_default();
            (topic.clone(), body)
        }
        (None, Err(frames)) => {
            return Err((
                "frames",
                format!(
                    "a message of {} frames; `pub` takes [topic, body]",
                    frames.len()
                ),
            ));
        }
        (Some(topic), _) => {
            return Err((
                "frames",
                format!("`pub/{topic}` takes messages of one frame"),
            ));
        }
    };
    let text = String::from_utf8(body).map_err(|_| {
        (
            "body",
            "weft topics carry text; the body is not UTF-8".to_string(),
        )
    })?;
    Ok((topic, text))
}

/// Hands the program's SUB (weft's XPUB is on `socket`) the topic messages this node
/// receives: those of `fixed` as one frame, or all as `[topic, body]`. Runs until the node
/// or the socket stops.
pub async fn subscribe(mut socket: Socket, fixed: Option<TopicName>, door: Endpoint) {
    let mut events = door.handle.events();
    if let Some(topic) = &fixed {
        join(&door, topic.clone()).await;
    }
    loop {
        tokio::select! {
            frames = socket.recv() => match frames {
                Ok(frames) => {
                    if fixed.is_none() {
                        subscription(&door, &frames).await;
                    }
                }
                Err(e) => return door.broken(e),
            },
            event = events.recv() => match event {
                Ok(Event::Message(m)) => {
                    let Some(topic) = m.topic else { continue };
                    let frames = match &fixed {
                        None => vec![topic.to_string().into_bytes(), m.text.into_bytes()],
                        Some(only) if *only == topic => vec![m.text.into_bytes()],
                        Some(_) => continue,
                    };
                    // An XPUB never waits: a subscriber past its high-water mark misses
                    // messages, as with any ZeroMQ PUB.
                    match socket.try_send(&frames) {
                        Ok(()) => door.passed("out"),
                        Err(e) => door.refused("send", &e),
                    }
                }
                Ok(_) => {}
                Err(Lagging::Lagged(missed)) => door.refused(
                    "lagged",
                    &format!("fell behind the node's events; {missed} were skipped"),
                ),
                Err(Lagging::Closed) => return,
            },
        }
    }
}

/// A subscription message from a program's SUB: `[1, prefix...]` subscribes. A prefix that
/// is a whole topic name subscribes this node to that topic.
async fn subscription(door: &Endpoint, frames: &Frames) {
    let [frame] = frames.as_slice() else { return };
    let Some((&1, prefix)) = frame.split_first() else {
        return;
    };
    if let Some(topic) = std::str::from_utf8(prefix)
        .ok()
        .and_then(|p| p.parse::<TopicName>().ok())
    {
        join(door, topic).await;
    }
}

/// Subscribes this node to `topic`, saying so if it may not.
async fn join(door: &Endpoint, topic: TopicName) {
    if let Err(e) = door.handle.subscribe(topic, true).await {
        door.refused(super::reason(&e), &e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pub_messages_read_as_the_endpoint_says() {
        let weather: TopicName = "weather".parse().unwrap();
        let two = vec![b"news".to_vec(), b"hello".to_vec()];
        assert_eq!(
            read(two.clone(), None).unwrap(),
            ("news".parse().unwrap(), "hello".to_string())
        );
        assert_eq!(
            read(vec![b"10001 23 45".to_vec()], Some(&weather)).unwrap(),
            (weather.clone(), "10001 23 45".to_string())
        );
        for (frames, fixed, reason) in [
            (vec![b"x".to_vec()], None, "frames"),
            (two.clone(), Some(&weather), "frames"),
            (vec![vec![0xff], b"x".to_vec()], None, "topic"),
            (vec![b"Not A Topic".to_vec(), b"x".to_vec()], None, "topic"),
            (vec![b"news".to_vec(), vec![0xff, 0xfe]], None, "body"),
        ] {
            assert_eq!(read(frames, fixed).unwrap_err().0, reason);
        }
    }
}
