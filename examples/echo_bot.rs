//! An echo bot: answers every direct message its node receives with `echo: <text>`.
//!
//! Start a node, then point the bot at its data dir:
//!
//! ```sh
//! weft --data-dir /tmp/bot init && weft --data-dir /tmp/bot node &
//! cargo run --example echo_bot -- /tmp/bot
//! ```
//!
//! The bot is a client of the node's local API, like the `weft` CLI: it follows the event
//! stream and sends replies with `wait: false`, so the node's outbox delivers them even to a
//! sender that has gone away in the meantime.

use futures::StreamExt;
use weft::proto::api::{Direction, Kind};
use weft::proto::limits::MAX_TEXT_BYTES;
use weft::{Client, Event, SendRequest};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let data_dir = weft::resolve_data_dir(std::env::args_os().nth(1).map(Into::into))?;
    let node = Client::for_data_dir(&data_dir);
    let me = node.id().await?.peer_id;
    let mut events = Box::pin(node.events(None).await?);
    eprintln!("echo bot on {me}; waiting for direct messages");
    while let Some(event) = events.next().await {
        let Event::Message(message) = event? else {
            continue;
        };
        if message.kind != Kind::Direct || message.direction != Direction::In {
            continue;
        }
        let reply = echo(&message.text);
        let answer = node
            .send(&SendRequest {
                to: message.from.clone(),
                text: reply,
                wait: false,
                timeout_ms: None,
                bench: false,
            })
            .await?;
        eprintln!("echoed {} to {}", answer.id.short(), message.from);
    }
    anyhow::bail!("the node stopped")
}

/// The reply to `text`, kept within the message size cap.
fn echo(text: &str) -> String {
    let reply = format!("echo: {text}");
    if reply.len() <= MAX_TEXT_BYTES {
        reply
    } else {
        format!("echo: ({} bytes)", text.len())
    }
}
