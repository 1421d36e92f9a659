//! Replays: a signed topic message injected again after gossipsub's duplicate cache forgot
//! it (here: after the receiver restarted) is not delivered to the application twice.

use std::time::Duration;

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub};
use weft::keys::Identity;
use weft::keys::topic::sign_topic;
use weft::proto::api::Event;
use weft::proto::mesh::MeshId;
use weft::proto::topic::TopicMessage;

use crate::bare;
use crate::support::{PATIENCE, TestNode, founder, root, two_following};

/// Connects the bare member `swarm` to `node` (after the connection to an earlier run of
/// it has closed) and returns once the node's subscriptions to the swarm's topics are known.
async fn connect(swarm: &mut Swarm<gossipsub::Behaviour>, node: &TestNode) {
    let target: PeerId = node.peer_id.parse().unwrap();
    let closed = swarm.is_connected(&target)
        && !bare::drive(swarm, PATIENCE, |swarm, _| !swarm.is_connected(&target)).await;
    assert!(
        !closed,
        "the connection to {}'s last run never closed",
        node.name
    );
    swarm
        .dial(node.addr().parse::<Multiaddr>().unwrap())
        .unwrap();
    let wanted: Vec<gossipsub::TopicHash> = swarm.behaviour().topics().cloned().collect();
    let subscribed = bare::drive(swarm, PATIENCE, |swarm, _| {
        (swarm.behaviour().all_peers())
            .any(|(peer, topics)| *peer == target && wanted.iter().all(|w| topics.contains(&w)))
    })
    .await;
    assert!(subscribed, "{} never announced its subscription", node.name);
}

/// Publishes `payload` on `topic` from the connected bare member `swarm`; returns once
/// `node`'s history holds a message with `text` from the member.
async fn publish_to(
    swarm: &mut Swarm<gossipsub::Behaviour>,
    node: &TestNode,
    topic: &gossipsub::IdentTopic,
    payload: Vec<u8>,
    text: &str,
) {
    swarm
        .behaviour_mut()
        .publish(topic.clone(), payload)
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let member = swarm.local_peer_id().to_string();
    while !texts_from(node, &member).iter().any(|t| t == text) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{text:?} never reached {}",
            node.name
        );
        bare::drive(swarm, Duration::from_millis(200), |_, _| false).await;
    }
}

/// Texts of the topic messages in `node`'s history from `from`.
fn texts_from(node: &TestNode, from: &str) -> Vec<String> {
    node.json(&["inbox", "--topic", "news"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["from"] == from)
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_replayed_topic_message_is_delivered_once() {
    let root = root();
    let mut a = founder(root.path(), "alice");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(a.client().subscribe("news", true)).unwrap();
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let keypair = Keypair::generate_ed25519();
    let member = keypair.public().to_peer_id().to_string();
    a.ok(&["members", "add", &member]);

    let topic = gossipsub::IdentTopic::new(format!("weft/{mesh}/t/news"));
    let sign = signer(&keypair, &mesh);
    let now_us = unix_us();
    let message = |text: &str, seq: u64| {
        sign(TopicMessage::new(
            "news".parse().unwrap(),
            seq,
            now_us + seq,
            text.into(),
        ))
    };
    let _runtime = rt.enter();
    let mut swarm = bare::swarm(keypair, &mesh, bare::gossip);
    swarm.behaviour_mut().subscribe(&topic).unwrap();
    rt.block_on(connect(&mut swarm, &a));
    rt.block_on(publish_to(
        &mut swarm,
        &a,
        &topic,
        message("once", 1),
        "once",
    ));

    // alice restarts: gossipsub's duplicate cache is gone. The member sends the very same
    // signed payload again, then a new message to know alice has processed both.
    a.stop();
    a.start();
    let delivered = rt.block_on(async {
        let mut events = Box::pin(a.client().events(Some("news")).await.unwrap());
        connect(&mut swarm, &a).await;
        publish_to(&mut swarm, &a, &topic, message("once", 1), "once").await;
        publish_to(&mut swarm, &a, &topic, message("after", 2), "after").await;
        let mut delivered = Vec::new();
        while delivered.last().map(String::as_str) != Some("after") {
            match tokio::time::timeout(PATIENCE, events.next()).await {
                Ok(Some(Ok(Event::Message(m)))) => delivered.push(m.text),
                Ok(Some(Ok(_))) => {}
                other => panic!("events ended: {other:?}"),
            }
        }
        delivered
    });
    assert_eq!(delivered, ["after"], "what alice's application was given");
    assert_eq!(texts_from(&a, &member), ["once", "after"]);
}

/// The first benchmark message on `news` that `node`'s benchmark event stream reports,
/// by its number, while `swarm` is driven; `None` if none came within [`PATIENCE`].
async fn first_bench(
    events: &mut (impl futures::Stream<Item = Result<Event, weft::ClientError>> + Unpin),
    swarm: &mut Swarm<gossipsub::Behaviour>,
) -> Option<u64> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Bench { seq, .. })) => return Some(seq),
                Some(Ok(_)) => {}
                other => panic!("events ended: {other:?}"),
            },
            _ = swarm.select_next_some() => {}
            _ = tokio::time::sleep_until(deadline) => return None,
        }
    }
}

#[test]
fn a_stale_or_misplaced_bench_topic_message_is_neither_believed_nor_forwarded() {
    // Never stored, a benchmark message cannot be recognised by its id once gossipsub's
    // duplicate cache forgot it: one whose clock is 30 s off either way is dropped
    // unforwarded, so a member cannot replay (or pre-date) one into a later benchmark. And
    // one on the gossip topic of stored messages is refused.
    let root = root();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = two_following(root.path(), "news", &rt);
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let keypair = Keypair::generate_ed25519();
    a.ok(&["members", "add", &keypair.public().to_peer_id().to_string()]);

    let topic = gossipsub::IdentTopic::new(format!("weft/{mesh}/b/news"));
    let stored = gossipsub::IdentTopic::new(format!("weft/{mesh}/t/news"));
    let sign = signer(&keypair, &mesh);
    let off = Duration::from_secs(30).as_micros() as u64;
    let bench = |seq: u64, ts: u64| {
        sign(TopicMessage::bench(
            "news".parse().unwrap(),
            seq,
            ts,
            "x".into(),
        ))
    };
    let _runtime = rt.enter();
    let mut swarm = bare::swarm(keypair, &mesh, bare::gossip);
    for topic in [&topic, &stored] {
        swarm.behaviour_mut().subscribe(topic).unwrap();
    }
    let (first_at_alice, first_at_bob) = rt.block_on(async {
        let mut at_a = Box::pin(a.client().bench_events("news").await.unwrap());
        let mut at_b = Box::pin(b.client().bench_events("news").await.unwrap());
        connect(&mut swarm, &a).await;
        let now_us = unix_us();
        // Sent in order on one connection (alice forwards in the order she accepts): the
        // first either node reports is the first one believed. Number 3, fresh, goes on
        // the topic of stored messages, where nodes that know no benchmark messages listen.
        for (seq, ts, on) in [
            (1, now_us - off, &topic),
            (2, now_us + off, &topic),
            (3, now_us, &stored),
            (4, now_us, &topic),
        ] {
            swarm
                .behaviour_mut()
                .publish(on.clone(), bench(seq, ts))
                .unwrap();
        }
        (
            first_bench(&mut at_a, &mut swarm).await,
            first_bench(&mut at_b, &mut swarm).await,
        )
    });
    assert_eq!(first_at_alice, Some(4), "what alice believed first");
    assert_eq!(first_at_bob, Some(4), "what alice forwarded to bob first");
    assert_eq!(
        a.status()["rejected"]["invalid"],
        1,
        "number 3, off its topic"
    );
}

/// This machine's clock, in microseconds since the Unix epoch.
fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Signs topic messages as weft does, for the bare member `keypair` of `mesh` (it holds its
/// own identity), and encodes them for the wire.
fn signer(keypair: &Keypair, mesh: &str) -> impl Fn(TopicMessage) -> Vec<u8> + use<> {
    let secret = keypair.clone().try_into_ed25519().unwrap().secret();
    let identity = Identity::from_secret_slice(secret.as_ref()).unwrap();
    let mesh: MeshId = mesh.parse().unwrap();
    move |unsigned| {
        sign_topic(&identity, &mesh, unsigned)
            .unwrap()
            .encode()
            .unwrap()
    }
}
