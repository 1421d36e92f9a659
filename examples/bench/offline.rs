//! Delivery to members who were away: sealing and opening cost, durable outbox throughput,
//! a returning member collecting N messages held by a mailbox, and catch-up of missed topic
//! messages.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::RecvError;
use weft::keys::Identity;
use weft::keys::seal::{SealKey, open, seal};
use weft::proto::api::{DeliveryState, Direction, Event};
use weft::proto::limits::MAX_INBOX_LIMIT;
use weft::proto::mesh::{MeshId, Role};
use weft::{Client, Config, InboxQuery, Node};
use weft_node::mesh::join::admit;

use super::start;

/// Boxes sealed and opened for the per-message cost.
const SEALS: usize = 5000;

/// Topic messages a returning member catches up on.
const MISSED_TOPIC_MESSAGES: usize = 10_000;

/// Prints this part's figures; nodes live in `dir`.
pub async fn run(dir: &Path) -> anyhow::Result<()> {
    println!("\nsealed boxes (Noise X, 1 KiB plaintext), one core:");
    let (seal_us, open_us) = seal_cost()?;
    let (base_us, dh_us) = x25519_cost();
    println!("  {:<28} {base_us:.1} µs", "X25519 public key");
    println!("  {:<28} {dh_us:.1} µs", "X25519 shared secret");
    // A box to a member sealed to before costs a fresh ephemeral key and one DH, a box from
    // a member opened before one DH: the rest (the static-static DH) is kept.
    let (seal_floor, open_floor) = (base_us + dh_us, dh_us);
    println!(
        "  {:<28} {seal_us:.1} µs per message = {:.2}x (one ephemeral key + one DH: {seal_floor:.1} µs)",
        "seal",
        seal_us / seal_floor
    );
    println!(
        "  {:<28} {open_us:.1} µs per message = {:.2}x (one DH: {open_floor:.1} µs)",
        "open",
        open_us / open_floor
    );

    // alice sends, the mailbox holds, bob is away.
    let alice_dir = dir.join("alice");
    let alice = start(&alice_dir).await?;
    alice.handle.mesh_create(None).await?;
    let mailbox = start(&dir.join("mailbox")).await?;
    admit(&alice.handle, &mailbox.handle, Role::Mailbox).await?;
    let bob_dir = dir.join("bob");
    let mut bob = start(&bob_dir).await?;
    admit(&alice.handle, &bob.handle, Role::Member).await?;
    for node in [&alice, &mailbox, &bob] {
        node.handle.subscribe("bench".parse()?, true).await?;
    }
    wait_until("everyone connected", || async {
        Ok(bob.handle.status().await?.peers == 2)
    })
    .await?;

    println!("\noffline delivery through a mailbox (1 KiB messages):");
    let bob_id = bob.peer_id;
    for n in [1000, 10_000] {
        bob.stop().await?;
        let mut events = alice.handle.events();
        let t = Instant::now();
        let round = format!("round {n}:");
        for k in 0..n {
            alice
                .handle
                .send(bob_id, format!("{round} {k} {}", "x".repeat(1000)), false)
                .await?;
        }
        let queued = t.elapsed();
        // A mailbox answers `Held` once the box is on its disk: the last event is the
        // moment the last box is. The sender's history is checked after, not timed (reading
        // it back is no part of delivery, and competes with it).
        count(&mut events, n, |e| matches!(e, Event::Held { .. })).await?;
        let held = t.elapsed();
        let sent = InboxQuery {
            from: Some(bob_id.to_string()),
            ..InboxQuery::default()
        };
        settle(&alice_dir, &sent, &round, n, |m| {
            m.state == Some(DeliveryState::Held)
        })
        .await?;
        println!(
            "  {:<28} durable outbox {:.0} msg/s; all held by the mailbox after {:.2} s ({:.2} s after the last send)",
            format!("{n} sent while away"),
            n as f64 / queued.as_secs_f64(),
            held.as_secs_f64(),
            (held - queued).as_secs_f64()
        );
        let t = Instant::now();
        bob = Node::start(config(&bob_dir)?).await?;
        let mut events = bob.handle.events();
        // Shown once stored: the last event is the moment the last one is on disk.
        count(
            &mut events,
            n,
            |e| matches!(e, Event::Message(m) if m.topic.is_none()),
        )
        .await?;
        let collected = t.elapsed();
        let received = InboxQuery {
            from: Some(alice.peer_id.to_string()),
            ..InboxQuery::default()
        };
        settle(&bob_dir, &received, &round, n, |m| {
            m.direction == Direction::In
        })
        .await?;
        println!(
            "  {:<28} {:.2} s from start to the last one stored ({:.0} msg/s)",
            format!("{n} collected on return"),
            collected.as_secs_f64(),
            n as f64 / collected.as_secs_f64()
        );
        wait_until("alice's receipts", || async {
            Ok(alice.handle.status().await?.outbox == 0)
        })
        .await?;
    }

    println!("\ntopic catch-up (64 B messages):");
    // bob and the mailbox are away; alice publishes alone (each message is kept on her disk
    // and in her log), and bob, back, catches up from her.
    bob.stop().await?;
    mailbox.stop().await?;
    for k in 0..MISSED_TOPIC_MESSAGES {
        alice
            .handle
            .publish("bench".parse()?, format!("missed {k}"))
            .await?;
    }
    let t = Instant::now();
    bob = Node::start(config(&bob_dir)?).await?;
    let mut events = bob.handle.events();
    count(
        &mut events,
        MISSED_TOPIC_MESSAGES,
        |e| matches!(e, Event::Message(m) if m.topic.is_some()),
    )
    .await?;
    let topic = InboxQuery {
        topic: Some("bench".parse()?),
        ..InboxQuery::default()
    };
    settle(&bob_dir, &topic, "missed", MISSED_TOPIC_MESSAGES, |_| true).await?;
    println!(
        "  {:<28} {:.2} s from start to the last one stored ({:.0} msg/s)",
        format!("{MISSED_TOPIC_MESSAGES} missed"),
        t.elapsed().as_secs_f64(),
        MISSED_TOPIC_MESSAGES as f64 / t.elapsed().as_secs_f64()
    );

    for node in [alice, bob] {
        node.stop().await?;
    }
    Ok(())
}

fn config(dir: &Path) -> anyhow::Result<Config> {
    Ok(Config::new(
        dir.to_path_buf(),
        vec!["/ip4/127.0.0.1/tcp/0".parse()?],
    ))
}

/// Microseconds to seal, and to open, one 1 KiB message.
fn seal_cost() -> anyhow::Result<(f64, f64)> {
    let (a, b) = (Identity::generate()?, Identity::generate()?);
    let (a, b) = (SealKey::of(&a), SealKey::of(&b));
    let mesh = MeshId([7; 20]);
    let text = vec![0x61u8; 1024];
    let t = Instant::now();
    let boxes: Vec<Vec<u8>> = (0..SEALS)
        .map(|_| seal(&a, &b.public(), &mesh, &text))
        .collect::<Result<_, _>>()?;
    let sealing = t.elapsed();
    let t = Instant::now();
    for sealed in &boxes {
        open(&b, &mesh, sealed)?;
    }
    let opening = t.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / SEALS as f64;
    Ok((per(sealing), per(opening)))
}

/// Microseconds for one X25519 public key from a secret (fixed base), and for one shared
/// secret (variable base): the physical floor of sealing and opening.
fn x25519_cost() -> (f64, f64) {
    use curve25519_dalek::montgomery::MontgomeryPoint;
    let mut secret = [7u8; 32];
    let t = Instant::now();
    let mut point = MontgomeryPoint([9; 32]);
    for n in 0..SEALS {
        secret[0] = n as u8;
        point = MontgomeryPoint::mul_base_clamped(secret);
    }
    let base = t.elapsed();
    let t = Instant::now();
    for n in 0..SEALS {
        secret[0] = n as u8;
        point = point.mul_clamped(secret);
    }
    let dh = t.elapsed();
    std::hint::black_box(point);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / SEALS as f64;
    (per(base), per(dh))
}

/// Waits for `n` events that `matches`, counting any the receiver lagged behind on as seen
/// (the broadcast dropped them; [`settle`] then checks the history).
async fn count(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    n: usize,
    matches: impl Fn(&Event) -> bool,
) -> anyhow::Result<()> {
    let mut seen = 0;
    while seen < n {
        match tokio::time::timeout(Duration::from_secs(120), events.recv()).await {
            Ok(Ok(e)) if matches(&e) => seen += 1,
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Lagged(missed))) => seen += missed as usize,
            Ok(Err(RecvError::Closed)) => anyhow::bail!("the node stopped"),
            Err(_) => anyhow::bail!("stalled at {seen} of {n}"),
        }
    }
    Ok(())
}

/// Waits until the history of the node in `dir` holds `n` messages matching `query` whose
/// text starts with `prefix` and that pass `check`.
async fn settle(
    dir: &Path,
    query: &InboxQuery,
    prefix: &str,
    n: usize,
    check: impl Fn(&weft::Message) -> bool,
) -> anyhow::Result<()> {
    let client = Client::for_data_dir(dir);
    let query = InboxQuery {
        limit: Some(MAX_INBOX_LIMIT),
        ..query.clone()
    };
    wait_until("the history to hold them all", || async {
        let found = client.inbox(&query).await?;
        let matching = found
            .iter()
            .filter(|m| m.text.starts_with(prefix) && check(m))
            .count();
        Ok(matching >= n)
    })
    .await
}

/// Polls `check` until it holds (at most two minutes).
async fn wait_until<F, Fut>(what: &str, check: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    while !check().await? {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
