//! The stranger: whoever is not a member of the mesh gets nothing from any member, has
//! nothing it says taken, and is disconnected within a few seconds.

use std::collections::HashSet;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, gossipsub};
use weft::proto::topic::TopicMessage;

use crate::bare;
use crate::support::{TestNode, root, two_following};

/// How long the bare stranger keeps trying; strangers are given 5 seconds to join.
const ATTEMPT: Duration = Duration::from_secs(12);

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_stranger_gets_nothing_and_is_disconnected() {
    let root = root();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = two_following(root.path(), "news", &rt);
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();

    // Over TCP a node in no mesh cannot even complete a handshake: the Noise prologue names
    // the mesh. Nor can a node of another mesh.
    let mut lonely = TestNode::init(root.path(), "lonely");
    lonely.start();
    let out = lonely.weft(&["dial", &a.addr()]);
    assert_eq!(out.status.code(), Some(1), "TCP handshake must fail");
    let mut olga = TestNode::init(root.path(), "olga");
    olga.start();
    olga.json(&["mesh", "create"]);
    let out = olga.weft(&["dial", &a.addr()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "another mesh's TCP handshake must fail"
    );

    // QUIC has no prologue: there the door is the membership check. Olga counts alice as a
    // member of her own mesh, so she sends; alice refuses and stores nothing.
    olga.ok(&["members", "add", &a.peer_id]);
    olga.ok(&["dial", &a.quic_addr()]);
    let out = olga.weft(&["send", "--timeout", "5", &a.peer_id, "let me in"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a member"), "{}", stderr(&out));

    // A bare libp2p peer that knows the mesh id and the topic names (neither is secret)
    // reaches alice over TCP and bob over QUIC, subscribes, and publishes while bob does.
    let topic = gossipsub::IdentTopic::new(format!("weft/{mesh}/t/news"));
    let spam = TopicMessage::new("news".parse().unwrap(), 1, 1, "spam".into())
        .encode()
        .unwrap();
    let _runtime = rt.enter();
    let mut swarm = bare::swarm(Keypair::generate_ed25519(), &mesh, bare::gossip);
    let stranger = swarm.local_peer_id().to_string();
    swarm.behaviour_mut().subscribe(&topic).unwrap();
    for addr in [a.addr(), b.quic_addr()] {
        swarm.dial(addr.parse::<Multiaddr>().unwrap()).unwrap();
    }
    let bob = b.client();
    let mut heard = 0;
    let mut connected = HashSet::new();
    let mut ever = HashSet::new();
    let left = rt.block_on(async {
        let chatter = tokio::spawn(async move {
            for n in 0..20 {
                let _ = bob.publish("news", &format!("members only {n}")).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        let left = bare::drive(&mut swarm, ATTEMPT, |swarm, event| {
            match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    connected.insert(peer_id);
                    ever.insert(peer_id);
                }
                SwarmEvent::ConnectionClosed {
                    peer_id,
                    num_established: 0,
                    ..
                } => {
                    connected.remove(&peer_id);
                }
                SwarmEvent::Behaviour(gossipsub::Event::Message { .. }) => heard += 1,
                SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) => {
                    let _ = swarm.behaviour_mut().publish(topic.clone(), spam.clone());
                }
                _ => {}
            }
            ever.len() == 2 && connected.is_empty()
        })
        .await;
        chatter.abort();
        left
    });
    assert_eq!(ever.len(), 2, "the stranger reached both members");
    assert!(left, "the stranger was not disconnected: {connected:?}");
    assert_eq!(heard, 0, "the stranger heard members' topic traffic");

    for node in [&a, &b] {
        let history = node.json(&["inbox"]);
        assert!(
            history
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["from"] != stranger.as_str() && m["from"] != olga.peer_id.as_str()),
            "{} stored what a stranger sent: {history}",
            node.name
        );
        let rejected = node.status()["rejected"].clone();
        assert!(
            rejected["stranger"].as_u64().unwrap_or(0) >= 1,
            "{}: {rejected}",
            node.name
        );
    }
    let rejected = a.status()["rejected"].clone();
    assert!(rejected["acl"].as_u64().unwrap_or(0) >= 1, "{rejected}");
}
