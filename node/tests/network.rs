//! In-process multi-node tests of the network layer: real swarms on loopback, real sled
//! databases in temporary dirs, driven through `NodeHandle` without the CLI.

use std::path::Path;
use std::time::Duration;

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use weft_node::config::Config;
use weft_node::mesh::join::admit;
use weft_node::network::NodeError;
use weft_node::network::handle::Delivery;
use weft_node::node::{self, Node};
use weft_proto::api::Event;
use weft_proto::mesh::Role;

const PATIENCE: Duration = Duration::from_secs(30);

async fn start(dir: &Path, listen: &str) -> Node {
    node::init(dir, None).unwrap();
    Node::start(Config::new(
        dir.to_path_buf(),
        vec![listen.parse().unwrap()],
    ))
    .await
    .unwrap()
}

/// A node in `dir` that founds a new mesh.
async fn founder(dir: &Path, listen: &str) -> Node {
    let node = start(dir, listen).await;
    node.handle.mesh_create(None).await.unwrap();
    node
}

/// A node in `dir` admitted to `founder`'s mesh by an invite; it is connected to `founder`.
async fn member(dir: &Path, listen: &str, founder: &Node) -> Node {
    let node = start(dir, listen).await;
    admit(&founder.handle, &node.handle, Role::Member)
        .await
        .unwrap();
    node
}

fn dialable(node: &Node) -> Multiaddr {
    node.listen_addrs[0]
        .clone()
        .with(Protocol::P2p(node.peer_id))
}

async fn next_message(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
) -> weft_proto::api::Message {
    loop {
        match tokio::time::timeout(PATIENCE, events.recv()).await {
            Ok(Ok(Event::Message(m))) => return m,
            Ok(Ok(_)) => {}
            other => panic!("no message: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_over_tcp_and_quic() {
    let dir = tempfile::tempdir().unwrap();
    let b = founder(&dir.path().join("b"), "/ip4/127.0.0.1/udp/0/quic-v1").await;
    let a = member(&dir.path().join("a"), "/ip4/127.0.0.1/tcp/0", &b).await;
    assert_eq!(
        a.handle.dial(dialable(&b)).await.unwrap(),
        b.peer_id,
        "dial over QUIC"
    );

    let mut b_events = b.handle.events();
    let queued = a
        .handle
        .send(b.peer_id, "over quic".into(), true)
        .await
        .unwrap();
    let delivery = tokio::time::timeout(PATIENCE, queued.delivery.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(delivery, Delivery::Delivered { .. }));
    let got = next_message(&mut b_events).await;
    assert_eq!((got.id, got.text.as_str()), (queued.id, "over quic"));
    assert_eq!(got.from, a.peer_id.to_string());

    // The answer goes back on the same connection (b never dialled a).
    let reply = b
        .handle
        .send(a.peer_id, "and back".into(), true)
        .await
        .unwrap();
    let delivery = tokio::time::timeout(PATIENCE, reply.delivery.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(delivery, Delivery::Delivered { .. }));

    let peers = a.handle.peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].direction, "outbound");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_redials_and_the_outbox_drains() {
    let dir = tempfile::tempdir().unwrap();
    let a = founder(&dir.path().join("a"), "/ip4/127.0.0.1/tcp/0").await;
    let b_dir = dir.path().join("b");
    let b = member(&b_dir, "/ip4/127.0.0.1/tcp/0", &a).await;
    // Wait until b learnt a's listen address through identify, so b can redial a.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b_peer = b.peer_id;
    b.stop().await.unwrap();

    // b is gone: a queues. A burst larger than the in-flight cap must all get through.
    let mut ids = Vec::new();
    for n in 0..150 {
        ids.push(
            a.handle
                .send(b_peer, format!("queued {n}"), false)
                .await
                .unwrap()
                .id,
        );
    }
    assert_eq!(a.handle.status().await.unwrap().outbox, 150);

    // b comes back on a different port; a cannot know it, so b must redial a.
    let b = Node::start(Config::new(
        b_dir,
        vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
    ))
    .await
    .unwrap();
    let mut a_events = a.handle.events();
    let mut delivered = std::collections::HashSet::new();
    while delivered.len() < ids.len() {
        match tokio::time::timeout(PATIENCE, a_events.recv()).await {
            Ok(Ok(Event::Delivered { id, .. })) => {
                delivered.insert(id);
            }
            Ok(Ok(_)) => {}
            other => panic!("outbox stalled at {}: {other:?}", delivered.len()),
        }
    }
    assert_eq!(delivered, ids.into_iter().collect());
    assert_eq!(a.handle.status().await.unwrap().outbox, 0);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_fan_out_and_what_nobody_heard_is_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let a = founder(&dir.path().join("a"), "/ip4/127.0.0.1/tcp/0").await;
    let b = member(&dir.path().join("b"), "/ip4/127.0.0.1/tcp/0", &a).await;
    let c = member(&dir.path().join("c"), "/ip4/127.0.0.1/tcp/0", &a).await;
    let topic: weft_proto::topic::TopicName = "news".parse().unwrap();

    // Nobody subscribes yet: the message is kept (peers 0) and caught up on later.
    let (early, peers) = a
        .handle
        .publish(topic.clone(), "anyone?".into())
        .await
        .unwrap();
    assert_eq!(peers, 0);

    let mut b_events = b.handle.events();
    let mut c_events = c.handle.events();
    b.handle.subscribe(topic.clone(), true).await.unwrap();
    c.handle.subscribe(topic.clone(), true).await.unwrap();
    a.handle.subscribe(topic.clone(), true).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while a.handle.status().await.unwrap().topics[0].peers < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscriptions did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (id, peers) = a
        .handle
        .publish(topic.clone(), "hello all".into())
        .await
        .unwrap();
    assert_eq!(peers, 2);
    // "hello all" by gossip; "anyone?", which nobody heard, at the next sync (<= 10 s).
    for events in [&mut b_events, &mut c_events] {
        let mut got = std::collections::BTreeMap::new();
        while got.len() < 2 {
            let m = next_message(events).await;
            assert_eq!(m.topic.as_ref(), Some(&topic));
            assert!(got.insert(m.id, m.text).is_none(), "delivered twice");
        }
        assert_eq!(got[&id], "hello all");
        assert_eq!(got[&early], "anyone?");
    }
    for n in [a, b, c] {
        n.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir.path().join("a"), "/ip4/127.0.0.1/tcp/0").await;

    let nobody: Multiaddr = format!("/ip4/127.0.0.1/tcp/9/p2p/{}", libp2p::PeerId::random())
        .parse()
        .unwrap();
    assert!(matches!(
        a.handle.dial(nobody).await,
        Err(NodeError::Dial { .. })
    ));
    assert!(matches!(
        a.handle.dial(dialable(&a)).await,
        Err(NodeError::Invalid(_))
    ));
    assert!(matches!(
        a.handle.send(a.peer_id, "me".into(), false).await,
        Err(NodeError::Invalid(_))
    ));
    assert!(matches!(
        a.handle
            .send(libp2p::PeerId::random(), String::new(), false)
            .await,
        Err(NodeError::Invalid(_))
    ));
    assert!(matches!(
        a.handle
            .send(libp2p::PeerId::random(), "x".repeat(65_537), false)
            .await,
        Err(NodeError::TooLarge(_))
    ));
    assert_eq!(a.handle.status().await.unwrap().outbox, 0, "nothing queued");
    a.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_in_no_mesh_accepts_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let lonely = start(&dir.path().join("lonely"), "/ip4/127.0.0.1/udp/0/quic-v1").await;
    let other = start(&dir.path().join("other"), "/ip4/127.0.0.1/tcp/0").await;

    // The connection may come up, but the node in no mesh closes it at once.
    let _ = other.handle.dial(dialable(&lonely)).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = lonely.handle.status().await.unwrap();
        if status.peers == 0 && status.rejected.get("not_in_mesh") == Some(&1) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection was not refused: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    match other.handle.send(lonely.peer_id, "hi".into(), false).await {
        Err(NodeError::Invalid(why)) => assert!(why.contains("in no mesh"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    match other
        .handle
        .publish("news".parse().unwrap(), "hi".into())
        .await
    {
        Err(NodeError::Invalid(why)) => assert!(why.contains("in no mesh"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(other.handle.status().await.unwrap().outbox, 0);
    lonely.stop().await.unwrap();
    other.stop().await.unwrap();
}
