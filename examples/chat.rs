//! A small interactive chat on top of a running node.
//!
//! ```sh
//! cargo run --example chat -- /path/to/data-dir
//! ```
//!
//! Type a line to say it in the current room (a topic, `lobby` to start with). Commands:
//! `/join TOPIC` changes room, `/to PEER TEXT` sends a direct message, `/peers` lists
//! connected peers, `/quit` leaves. Incoming topic and direct messages print as they arrive.

use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use weft::proto::api::{Direction, Kind};
use weft::{Client, Event, SendRequest};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let data_dir = weft::resolve_data_dir(std::env::args_os().nth(1).map(Into::into))?;
    let node = Client::for_data_dir(&data_dir);
    let me = node.id().await?.peer_id;
    let mut room = "lobby".to_string();
    node.subscribe(&room, true).await?;
    let mut events = Box::pin(node.events(None).await?);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    println!("you are {me}, in #{room}. /join TOPIC, /to PEER TEXT, /peers, /quit");
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { return Ok(()) };
                if let Err(e) = handle_line(&node, &mut room, line.trim()).await {
                    println!("! {e}");
                }
                if line.trim() == "/quit" {
                    return Ok(());
                }
            }
            event = events.next() => match event {
                None => anyhow::bail!("the node stopped"),
                Some(event) => show(&event?, &room),
            },
        }
    }
}

async fn handle_line(node: &Client, room: &mut String, line: &str) -> anyhow::Result<()> {
    if line.is_empty() || line == "/quit" {
        return Ok(());
    }
    if let Some(topic) = line.strip_prefix("/join ") {
        node.subscribe(topic.trim(), true).await?;
        *room = topic.trim().to_string();
        println!("* now in #{room}");
    } else if let Some(rest) = line.strip_prefix("/to ") {
        let (peer, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let answer = node
            .send(&SendRequest {
                to: peer.to_string(),
                text: text.to_string(),
                wait: true,
                timeout_ms: Some(10_000),
                bench: false,
            })
            .await?;
        println!("* {:?} ({})", answer.state, answer.id.short());
    } else if line == "/peers" {
        for p in node.peers().await? {
            println!("* {} via {}", p.peer_id, p.addr);
        }
    } else {
        match node.publish(room, line).await {
            Ok(_) => {}
            Err(e) => println!("! {e}"),
        }
    }
    Ok(())
}

fn show(event: &Event, room: &str) {
    match event {
        Event::Message(m) if m.kind == Kind::Direct && m.direction == Direction::In => {
            println!("[dm from {}] {}", m.from, m.text);
        }
        Event::Message(m) if m.topic.as_ref().is_some_and(|t| t.as_str() == room) => {
            println!("[#{room}] {}: {}", m.from, m.text);
        }
        Event::PeerConnected { peer_id } => println!("* {peer_id} connected"),
        Event::PeerDisconnected { peer_id } => println!("* {peer_id} left"),
        _ => {}
    }
}
