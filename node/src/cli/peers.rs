//! The commands about this node and its connections: `id`, `dial`, `peers`, `status`.

use libp2p::Multiaddr;

use super::output::{count, print_json, short_peer, uptime};
use crate::api::client::Client;

/// `weft id`.
pub async fn id(client: &Client, json: bool) -> anyhow::Result<()> {
    let id = client.id().await?;
    if json {
        return print_json(&id);
    }
    println!("{}", id.peer_id);
    for addr in &id.addrs {
        println!("{addr}");
    }
    Ok(())
}

/// `weft dial`.
pub async fn dial(client: &Client, addr: &Multiaddr, json: bool) -> anyhow::Result<()> {
    let peer = client.dial(&addr.to_string()).await?;
    if json {
        print_json(&serde_json::json!({ "peer_id": peer }))
    } else {
        println!("connected to {peer}");
        Ok(())
    }
}

/// `weft peers`.
pub async fn peers(client: &Client, json: bool) -> anyhow::Result<()> {
    let peers = client.peers().await?;
    if json {
        return print_json(&peers);
    }
    if peers.is_empty() {
        println!("no peers connected");
        return Ok(());
    }
    let now = crate::delivery::clock::wall_us() / 1_000_000;
    let names = super::names::Names::load(client).await;
    let header = ["PEER", "DIRECTION", "PATH", "RTT", "CONNECTED", "ADDRESS"].map(String::from);
    let rows: Vec<[String; 6]> = peers
        .iter()
        .map(|p| {
            [
                names.show(&p.peer_id),
                p.direction.to_string(),
                p.path.to_string(),
                p.rtt_ms.map_or("-".to_string(), |ms| format!("{ms:.2}ms")),
                uptime(now.saturating_sub(p.connected_since)),
                p.addr.clone(),
            ]
        })
        .collect();
    super::output::table(&header, &rows);
    Ok(())
}

/// `weft status`.
pub async fn status(client: &Client, json: bool) -> anyhow::Result<()> {
    let s = client.status().await?;
    if json {
        return print_json(&s);
    }
    match &s.name {
        Some(name) => println!("node     {} ({name})", s.peer_id),
        None => println!("node     {}", s.peer_id),
    }
    match (&s.mesh, &s.removed) {
        (Some(mesh), Some(removed)) => println!(
            "mesh     {mesh}: REMOVED by {} (learnt {}); this node no longer connects to it",
            removed.by,
            super::output::datetime(removed.at * 1_000_000)
        ),
        (Some(mesh), None) => println!("mesh     {mesh}"),
        (None, _) => println!(
            "mesh     none (join one with `weft join INVITE`, or found one with `weft mesh create`)"
        ),
    }
    println!("version  {}", s.version);
    println!("uptime   {}", uptime(s.uptime_secs));
    println!("peers    {}", s.peers);
    println!("outbox   {} waiting for acknowledgement", s.outbox);
    if let Some(m) = &s.mailbox {
        println!(
            "mailbox  holds {} ({} bytes) for {}; limits per member {} messages, {} bytes, {} days",
            count(m.messages as u64, "message"),
            m.bytes,
            count(m.recipients as u64, "member"),
            m.max_messages,
            m.max_bytes,
            m.ttl_secs / 86_400
        );
    }
    match &s.relay.serving {
        Some(l) => println!(
            "relay    serving members: {} reservations, {} circuits now; limits {} reservations, {} circuits ({} per member), {} s and {} per circuit",
            s.relay.reservations,
            s.relay.circuits,
            l.max_reservations,
            l.max_circuits,
            l.max_circuits_per_peer,
            l.max_circuit_secs,
            match l.max_circuit_bytes {
                0 => "no byte cap".to_string(),
                n => format!("{n} bytes"),
            }
        ),
        None => println!("relay    off"),
    }
    println!("reach    {} (AutoNAT)", s.relay.reachability);
    for relay in &s.relay.reserved_on {
        println!("slot     on relay {relay}");
    }
    for addr in &s.listen_addrs {
        println!("listen   {addr}");
    }
    for t in &s.topics {
        println!("topic    {} ({})", t.name, count(t.peers as u64, "peer"));
    }
    for (reason, n) in &s.rejected {
        println!("refused  {n} from peers: {reason}");
    }
    Ok(())
}

/// `weft ping`: one line per round trip, then the statistics, as ping(8) prints them.
pub async fn ping(
    client: &Client,
    peer: libp2p::PeerId,
    count: u32,
    interval_secs: f64,
    json: bool,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    use weft_proto::operate::{PingEvent, PingRequest};
    let request = PingRequest {
        peer: peer.to_string(),
        count,
        interval_ms: (interval_secs.max(0.0) * 1000.0) as u64,
    };
    let mut events = client.ping(&request).await?;
    let who = short_peer(&peer.to_string());
    let mut rtts = Vec::new();
    let mut sent = 0u32;
    while let Some(event) = events.next().await {
        let event = event?;
        if json {
            print_json(&event)?;
        }
        match event {
            PingEvent::Path { path, addr } if !json => println!("PING {peer} ({path}, {addr})"),
            PingEvent::Reply { seq, rtt_ms } => {
                sent += 1;
                rtts.push(rtt_ms);
                if !json {
                    println!("32 bytes from {who}: seq={seq} time={rtt_ms:.2} ms");
                }
            }
            PingEvent::Lost { seq, error } => {
                sent += 1;
                if !json {
                    println!("no answer from {who}: seq={seq} ({error})");
                }
            }
            PingEvent::Path { .. } => {}
        }
    }
    let received = rtts.len() as u32;
    if !json {
        let loss = 100 * sent.saturating_sub(received) / sent.max(1);
        println!("\n--- {who} ping statistics ---");
        println!("{sent} sent, {received} received, {loss}% loss");
        if received > 0 {
            let min = rtts.iter().copied().fold(f64::MAX, f64::min);
            let max = rtts.iter().copied().fold(0.0, f64::max);
            let avg = rtts.iter().sum::<f64>() / f64::from(received);
            println!("rtt min/avg/max = {min:.2}/{avg:.2}/{max:.2} ms");
        }
    }
    anyhow::ensure!(received > 0, "no answer from {peer}");
    Ok(())
}
