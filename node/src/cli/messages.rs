//! The messaging commands: `send`, `publish`, `subscribe`, `unsubscribe`, `inbox`.

use futures::StreamExt;
use libp2p::PeerId;
use weft_proto::api::{
    DeliveryState, Direction, Event, InboxQuery, Kind, Message, SendRequest, Waiting,
};
use weft_proto::blob::FileOffer;

use super::StillQueued;
use super::names::Names;
use super::output::{datetime, print_json, printable, short_peer, time_of_day};
use crate::api::client::Client;

/// `weft send`, and the message of `weft send-file` (then `offer` is what it offers, and
/// `--json` prints `{"offer": …, "message": …}`).
pub async fn send(
    client: &Client,
    peer: PeerId,
    text: String,
    wait: bool,
    timeout_secs: u64,
    json: bool,
    offer: Option<&FileOffer>,
) -> anyhow::Result<()> {
    let request = SendRequest {
        to: peer.to_string(),
        text,
        wait,
        timeout_ms: Some(timeout_secs.saturating_mul(1000)),
        bench: false,
    };
    // Human output names the recipient: its names are asked for while the message is on its
    // way, not after (a second round trip to the node would be a fifth of the command).
    let names = async {
        match json {
            true => None,
            false => Some(Names::load(client).await),
        }
    };
    let (answer, names) = tokio::join!(client.send(&request), names);
    let answer = answer?;
    match (json, offer) {
        (true, Some(offer)) => {
            print_json(&serde_json::json!({ "offer": offer, "message": &answer }))?
        }
        (true, None) => print_json(&answer)?,
        (false, _) => {}
    }
    let who = match names {
        None => peer.to_string(),
        Some(names) => names.show(&peer.to_string()),
    };
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    let id = answer.id.short();
    match (answer.state, wait) {
        (DeliveryState::Delivered, _) => {
            let ms = answer.latency_ms.unwrap_or_default();
            say(format!("delivered {id} to {who} in {ms:.2} ms"));
            Ok(())
        }
        (DeliveryState::Held, _) => {
            say(format!(
                "held {id} for {who} by mailbox {}; it is delivered when {who} comes back",
                answer.mailbox.as_deref().map_or("?".into(), short_peer)
            ));
            Ok(())
        }
        (_, false) => {
            say(format!("queued {id} for {who}"));
            Ok(())
        }
        _ => {
            let why = match answer.waiting {
                Some(Waiting::Unreachable) => {
                    format!("{who} is not connected and cannot be reached now")
                }
                None => format!("not acknowledged within {timeout_secs}s"),
            };
            Err(StillQueued(format!(
                "{why}; message {id} stays queued and is delivered when {who} is reachable"
            ))
            .into())
        }
    }
}

/// `weft publish`.
pub async fn publish(client: &Client, topic: &str, text: &str, json: bool) -> anyhow::Result<()> {
    let answer = client.publish(topic, text).await?;
    if json {
        return print_json(&answer);
    }
    println!(
        "published {} on {topic} ({} subscribed peer{})",
        answer.id.short(),
        answer.peers,
        if answer.peers == 1 { "" } else { "s" }
    );
    Ok(())
}

/// `weft subscribe`: joins, then prints messages until interrupted or the node stops.
pub async fn subscribe(client: &Client, topic: &str, json: bool) -> anyhow::Result<()> {
    // Open the stream first so nothing published right after joining is missed.
    let mut events = Box::pin(client.events(Some(topic)).await?);
    client.subscribe(topic, true).await?;
    if !json {
        eprintln!("subscribed to {topic}; printing messages until interrupted");
    }
    let mut names = Names::load(client).await;
    let mut looked_up = std::collections::HashSet::new();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            event = events.next() => match event {
                None => anyhow::bail!("the node stopped"),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Event::Message(m))) => {
                    if !names.knows(&m.from) && looked_up.insert(m.from.clone()) {
                        // A member admitted since: its name is in the ACL by now.
                        names = Names::load(client).await;
                    }
                    print_topic_message(&m, &names, json)?
                }
                Some(Ok(Event::Lagged { missed })) => {
                    eprintln!("warning: fell behind and skipped {missed} events; see `weft inbox --topic {topic}`");
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

fn print_topic_message(m: &Message, names: &Names, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::json!({
            "id": m.id,
            "topic": m.topic,
            "from": m.from,
            "ts": m.ts,
            "text": m.text,
        }));
    }
    println!(
        "[{}] {}: {}",
        time_of_day(m.ts),
        names.show(&m.from),
        printable(&m.text)
    );
    Ok(())
}

/// `weft unsubscribe`.
pub async fn unsubscribe(client: &Client, topic: &str, json: bool) -> anyhow::Result<()> {
    let changed = client.subscribe(topic, false).await?;
    if json {
        return print_json(&serde_json::json!({ "changed": changed }));
    }
    if changed {
        println!("left {topic}");
    } else {
        println!("was not subscribed to {topic}");
    }
    Ok(())
}

/// `weft inbox`.
pub async fn inbox(
    client: &Client,
    from: Option<PeerId>,
    topic: Option<String>,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    let topic = topic
        .map(|t| t.parse())
        .transpose()
        .map_err(|e: weft_proto::topic::ParseTopicError| anyhow::anyhow!(e))?;
    let messages = client
        .inbox(&InboxQuery {
            from: from.map(|p| p.to_string()),
            topic,
            limit: Some(limit),
        })
        .await?;
    if json {
        return print_json(&messages);
    }
    if messages.is_empty() {
        println!("no messages");
    }
    let names = Names::load(client).await;
    for m in &messages {
        let (arrow, who) = match (m.kind, m.direction) {
            (Kind::Topic, _) => (
                "#",
                format!(
                    "{} {}",
                    m.topic.as_ref().map_or("", |t| t.as_str()),
                    names.show(&m.from)
                ),
            ),
            (Kind::Direct, Direction::Out) => ("→", names.show(m.to.as_deref().unwrap_or(""))),
            (Kind::Direct, Direction::In) => ("←", names.show(&m.from)),
        };
        let state = match m.state {
            Some(DeliveryState::Queued) => "  [queued]",
            Some(DeliveryState::Delivered) => "  [delivered]",
            Some(DeliveryState::Rejected) => "  [refused]",
            Some(DeliveryState::Held) => "  [held by a mailbox]",
            Some(DeliveryState::Expired) => "  [expired]",
            None => "",
        };
        let text = match FileOffer::from_text(&m.text) {
            Some(o) => format!(
                "file {} ({}, {}): weft fetch {} --from {}",
                printable(&o.name),
                super::media::bytes(o.size),
                o.media_type,
                o.blob.short(),
                names.arg(&m.from)
            ),
            None => printable(&m.text).into_owned(),
        };
        println!("{} {arrow} {who}: {text}{state}", datetime(m.ts));
    }
    Ok(())
}
