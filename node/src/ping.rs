//! `weft ping`: round trips to a member over `/weft/ping/1` (32 random bytes, echoed, as the
//! standard `/ipfs/ping/1.0.0` does), on the connection the node already has, so the time
//! is the mesh's path to that member, direct or relayed. Not the standard protocol itself:
//! a libp2p node keeps one inbound ping stream per connection, so a user's pings and the
//! keep-alive pings every connection carries would each cut the other off. The standard
//! protocol stays as it is, for the keep-alive and for other implementations.

use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, StreamProtocol};
use tokio::sync::mpsc;

pub mod echo;
use weft_proto::operate::PingEvent;

/// weft's echo protocol for `weft ping` (see [`echo`] for the side that answers).
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/ping/1");

/// The size of a ping payload.
const PAYLOAD: usize = 32;

/// How long one round trip may take before it counts as lost.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Most round trips one `weft ping` asks for.
pub const MAX_COUNT: u32 = 1000;

/// Pings `peer` `count` times, `interval` apart, reporting each on `events`.
pub async fn ping(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    count: u32,
    interval: Duration,
    events: mpsc::Sender<PingEvent>,
) {
    let mut stream = match tokio::time::timeout(TIMEOUT, control.open_stream(peer, PROTOCOL)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return lost_all(&events, count, &e.to_string()).await,
        Err(_) => return lost_all(&events, count, "no stream within 5 s").await,
    };
    for seq in 1..=count.min(MAX_COUNT) {
        if seq > 1 {
            tokio::time::sleep(interval).await;
        }
        let payload: [u8; PAYLOAD] = rand_payload();
        let begun = Instant::now();
        let round = async {
            stream.write_all(&payload).await?;
            stream.flush().await?;
            let mut echo = [0u8; PAYLOAD];
            stream.read_exact(&mut echo).await?;
            if echo == payload {
                Ok(())
            } else {
                Err(std::io::Error::other("the echo differs from what was sent"))
            }
        };
        let event = match tokio::time::timeout(TIMEOUT, round).await {
            Ok(Ok(())) => PingEvent::Reply {
                seq,
                rtt_ms: begun.elapsed().as_secs_f64() * 1000.0,
            },
            Ok(Err(e)) => PingEvent::Lost {
                seq,
                error: e.to_string(),
            },
            Err(_) => PingEvent::Lost {
                seq,
                error: "no answer within 5 s".into(),
            },
        };
        let broken = matches!(event, PingEvent::Lost { .. });
        if events.send(event).await.is_err() {
            return;
        }
        if broken {
            // The stream is no longer in step; the rest are lost with it.
            let rest = count.min(MAX_COUNT) - seq;
            for later in 1..=rest {
                let error = "the ping stream broke".to_string();
                let _ = events
                    .send(PingEvent::Lost {
                        seq: seq + later,
                        error,
                    })
                    .await;
            }
            return;
        }
    }
}

async fn lost_all(events: &mpsc::Sender<PingEvent>, count: u32, error: &str) {
    for seq in 1..=count.min(MAX_COUNT) {
        let lost = PingEvent::Lost {
            seq,
            error: error.to_string(),
        };
        if events.send(lost).await.is_err() {
            return;
        }
    }
}

/// 32 unpredictable bytes, so a stale echo cannot pass for a new one.
fn rand_payload() -> [u8; PAYLOAD] {
    let mut bytes = [0u8; PAYLOAD];
    let _ = getrandom::fill(&mut bytes);
    bytes
}
