//! `weft demo`: three real nodes (alice, bob, carol) on loopback in a temporary directory,
//! each with its own sled database and API socket, driven through the same API client the CLI
//! uses. alice founds a mesh and admits the others by invite key (over TCP and QUIC); they
//! find each other, exchange acknowledged direct messages and fan out topic messages; then a
//! file goes from alice to bob and from both to carol, and bob pipes bytes to carol
//! (`demo::media`). The demo prints what happened with measured figures, then stops the nodes and
//! removes the directory.

mod media;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use weft_proto::MessageId;
use weft_proto::api::{CreateInviteRequest, Event, InboxQuery, SendRequest};
use weft_proto::mesh::Role;

use crate::api::client::Client;
use crate::cli::output::short_peer;
use crate::config::Config;
use crate::node::{self, Node};

const NAMES: [&str; 3] = ["alice", "bob", "carol"];
const DIRECT_PER_PAIR: usize = 20;
const TOPIC_MESSAGES: usize = 20;
const TOPIC: &str = "lobby";
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

struct Member {
    name: &'static str,
    node: Node,
    client: Client,
}

/// Runs the demo and prints its account (one JSON object with `json`).
pub async fn run(json: bool) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("weft-demo-").tempdir()?;
    let mut members = Vec::new();
    for name in NAMES {
        let data_dir = dir.path().join(name);
        node::init(&data_dir, Some(name))?;
        let listen = ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"]
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        let node = Node::start(Config::new(data_dir.clone(), listen))
            .await
            .with_context(|| format!("starting {name}"))?;
        members.push(Member {
            name,
            client: Client::for_data_dir(&data_dir),
            node,
        });
    }
    let outcome = exercise(&members, dir.path(), json).await;
    for m in members {
        m.node.stop().await?;
    }
    let path = dir.path().display().to_string();
    dir.close()?;
    let report = outcome?;
    if !json {
        println!("\nstopped the nodes and removed {path}");
    } else {
        println!("{report}");
    }
    Ok(())
}

async fn exercise(
    m: &[Member],
    dir: &std::path::Path,
    json: bool,
) -> anyhow::Result<serde_json::Value> {
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    say(
        "weft demo: three nodes on loopback, each with its own database and API socket\n"
            .to_string(),
    );
    for member in m {
        say(format!("  {:<6} {}", member.name, member.node.peer_id));
    }

    // alice founds a mesh and invites the others; carol reaches alice over QUIC, bob over
    // TCP; bob and carol then find each other through the mesh.
    let mesh = m[0].client.mesh_create(Some("demo".into())).await?;
    say(format!(
        "\n  alice founded mesh {} and is its first admin",
        mesh.id
    ));
    m[2].client
        .dial(&address(&m[0].node, "quic-v1")?.to_string())
        .await?;
    for (k, transport) in [(1, "TCP"), (2, "QUIC")] {
        let invite = m[0]
            .client
            .invite_create(&CreateInviteRequest {
                role: Role::Member,
                ttl_secs: 600,
                uses: 1,
                note: Some(m[k].name.to_string()),
            })
            .await?;
        let key = invite.key.context("the new invite carries its key")?;
        let joined = m[k].client.join(&key).await?;
        say(format!(
            "  alice issued a single-use invite ({}…, {} characters); {} redeemed it over {transport} and joined as {}",
            &key[..12],
            key.len(),
            m[k].name,
            joined.role.map_or("member".into(), |r| r.to_string())
        ));
    }
    wait_for_members_connected(m).await?;
    say("  bob and carol found each other through the mesh, without being told addresses".into());

    for member in m {
        member.client.subscribe(TOPIC, true).await?;
    }
    wait_for_topic_mesh(m).await?;
    say(format!("  all three joined topic `{TOPIC}`"));

    // Direct messages, one at a time around the ring, each waiting for the durable ack.
    let mut rtts = Vec::new();
    for i in 0..3 {
        let (from, to) = (&m[i], &m[(i + 1) % 3]);
        for n in 0..DIRECT_PER_PAIR {
            let t = Instant::now();
            let answer = from
                .client
                .send(&SendRequest {
                    to: to.node.peer_id.to_string(),
                    text: format!("hello {} #{n} from {}", to.name, from.name),
                    wait: true,
                    timeout_ms: Some(10_000),
                    bench: false,
                })
                .await?;
            anyhow::ensure!(
                answer.latency_ms.is_some(),
                "{} -> {}: not acknowledged",
                from.name,
                to.name
            );
            rtts.push(t.elapsed());
        }
    }
    say(format!(
        "\ndirect messages: {} sent around the ring alice -> bob -> carol -> alice, {} acknowledged after the recipient flushed them to disk",
        rtts.len(),
        rtts.len()
    ));
    say(format!(
        "  send-to-durable-ack through the local API: {}",
        summary(&mut rtts)
    ));

    // Topic fan-out: alice publishes, bob and carol listen; each arrival is timed as it
    // happens, by a reader running beside the publisher.
    let mut readers = Vec::new();
    for member in &m[1..] {
        let mut stream = Box::pin(member.client.events(Some(TOPIC)).await?);
        let name = member.name;
        readers.push(tokio::spawn(async move {
            let mut arrivals = Vec::new();
            while arrivals.len() < TOPIC_MESSAGES {
                match tokio::time::timeout(SETTLE_TIMEOUT, stream.next()).await {
                    Ok(Some(Ok(Event::Message(msg)))) => arrivals.push((msg.id, Instant::now())),
                    Ok(Some(Ok(_))) => {}
                    _ => anyhow::bail!("{name} stopped receiving topic messages"),
                }
            }
            Ok(arrivals)
        }));
    }
    let mut published: HashMap<MessageId, Instant> = HashMap::new();
    for n in 0..TOPIC_MESSAGES {
        let t = Instant::now();
        let answer = m[0]
            .client
            .publish(TOPIC, &format!("news #{n} from alice"))
            .await?;
        published.insert(answer.id, t);
    }
    let mut fanout = Vec::new();
    for reader in readers {
        for (id, at) in reader.await?? {
            let sent = published
                .get(&id)
                .context("received a message nobody published")?;
            fanout.push(at.saturating_duration_since(*sent));
        }
    }
    say(format!(
        "\ntopic `{TOPIC}`: alice published {TOPIC_MESSAGES}; bob and carol each received all {TOPIC_MESSAGES}"
    ));
    say(format!(
        "  publish-to-delivery (as the receiver's event stream saw it): {}",
        summary(&mut fanout)
    ));

    let inbox = m[2]
        .client
        .inbox(&InboxQuery {
            limit: Some(4),
            ..Default::default()
        })
        .await?;
    say("\ncarol's `weft inbox --limit 4`:".to_string());
    for msg in &inbox {
        say(format!(
            "  {} {}: {}",
            if msg.topic.is_some() { "#" } else { "←" },
            short_peer(&msg.from),
            msg.text
        ));
    }
    let media = media::act(m, dir, &say).await?;
    let status = m[0].client.status().await?;
    say(format!(
        "\nalice's status: {} peers, outbox {} (everything acknowledged)",
        status.peers, status.outbox
    ));
    Ok(serde_json::json!({
        "media": media,
        "nodes": m.iter().map(|x| serde_json::json!({"name": x.name, "peer_id": x.node.peer_id.to_string()})).collect::<Vec<_>>(),
        "direct": { "sent": rtts.len(), "acknowledged": rtts.len(), "p50_ms": ms(percentile(&rtts, 50)), "p99_ms": ms(percentile(&rtts, 99)) },
        "topic": { "published": TOPIC_MESSAGES, "received": fanout.len(), "p50_ms": ms(percentile(&fanout, 50)), "p99_ms": ms(percentile(&fanout, 99)) },
    }))
}

/// The node's listen address for `transport` (`tcp` or `quic-v1`), with its PeerId.
fn address(node: &Node, transport: &str) -> anyhow::Result<Multiaddr> {
    let addr = node
        .listen_addrs
        .iter()
        .find(|a| {
            a.iter().any(|p| match p {
                Protocol::Tcp(_) => transport == "tcp",
                Protocol::QuicV1 => transport == "quic-v1",
                _ => false,
            })
        })
        .with_context(|| format!("no {transport} listener"))?;
    Ok(addr.clone().with(Protocol::P2p(node.peer_id)))
}

/// Waits until every member knows of every admission and is connected to the others (a
/// node sends only to members it has learnt of).
async fn wait_for_members_connected(m: &[Member]) -> anyhow::Result<()> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let mut ready = true;
        for member in m {
            ready &= member.client.members().await?.len() >= m.len()
                && member.client.status().await?.peers >= m.len() - 1;
        }
        if ready {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the members did not all connect within {SETTLE_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every member sees the other two subscribed to the topic.
async fn wait_for_topic_mesh(m: &[Member]) -> anyhow::Result<()> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let mut ready = true;
        for member in m {
            let status = member.client.status().await?;
            ready &= status
                .topics
                .iter()
                .any(|t| t.name.as_str() == TOPIC && t.peers >= m.len() - 1);
        }
        if ready {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the topic mesh did not form within {SETTLE_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(samples: &[Duration], p: usize) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    format!(
        "min {:.2} ms, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(samples.first().copied().unwrap_or_default()),
        ms(percentile(samples, 50)),
        ms(percentile(samples, 99)),
        ms(samples.last().copied().unwrap_or_default()),
    )
}
