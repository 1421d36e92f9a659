//! Service and queue doors against bare peers that know the wire: a stranger's
//! `/weft/service/1` and `/weft/queue/1` streams are not read; a member that a service's or
//! queue's policy does not name is refused a call and items, and cannot end an item it was
//! never given.

use std::time::Duration;

use libp2p::{PeerId, Stream, StreamProtocol, identity};
use weft_proto::codec::{from_cbor, to_cbor};
use weft_proto::queue::{ItemId, Lease, ProducerFrame, QUEUE_VERSION, QueueName, WorkerFrame};
use weft_proto::service::{Call, CallId, Outcome, ProviderFrame, Refusal, Reply, SERVICE_VERSION};

use crate::bare::{bare_peer, read_frame, write_frame};
use crate::support::*;

const SERVICE: StreamProtocol = StreamProtocol::new("/weft/service/1");
const QUEUE: StreamProtocol = StreamProtocol::new("/weft/queue/1");

fn call(service: &str) -> Call {
    Call {
        v: SERVICE_VERSION,
        id: CallId([7; 16]),
        service: service.parse().unwrap(),
        body: b"let me in".to_vec(),
        budget_ms: 5000,
    }
}

fn want(queue: &QueueName) -> WorkerFrame {
    WorkerFrame::Want {
        v: QUEUE_VERSION,
        queue: queue.clone(),
        credit: 8,
        max_deliver: 5,
    }
}

/// The next reply on a service stream, past heartbeats.
async fn reply(stream: &mut Stream) -> std::io::Result<Reply> {
    loop {
        let frame: ProviderFrame = from_cbor(&read_frame(stream).await?).unwrap();
        if let ProviderFrame::Reply(reply) = frame {
            return Ok(reply);
        }
    }
}

#[test]
fn a_stranger_gets_no_service_or_queue_stream_read() {
    let root = root();
    let a = founder(root.path(), "a");
    let _echo = a.background(&["service", "offer", "echo", "--", "cat"]);
    a.ok(&["queue", "push", "jobs", "secret work"]);
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let target: PeerId = a.peer_id.parse().unwrap();
    // Over QUIC (TCP refuses a stranger in the handshake), within its grace period.
    let quic = format!(
        "{}/p2p/{}",
        a.quic_addr().split("/p2p/").next().unwrap(),
        a.peer_id
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (called, pulled) = rt.block_on(async {
        let mut control = bare_peer(identity::Keypair::generate_ed25519(), &mesh, &quic).await;
        let ask = async {
            let mut stream = control.open_stream(target, SERVICE).await.unwrap();
            let _ = write_frame(&mut stream, &to_cbor(&call("echo")).unwrap()).await;
            let called = reply(&mut stream).await;
            let mut stream = control.open_stream(target, QUEUE).await.unwrap();
            let jobs = "jobs".parse().unwrap();
            let _ = write_frame(&mut stream, &to_cbor(&want(&jobs)).unwrap()).await;
            let pulled = read_frame(&mut stream).await;
            (called, pulled)
        };
        tokio::time::timeout(PATIENCE, ask)
            .await
            .expect("streams end")
    });
    assert!(
        called.is_err(),
        "a stranger's call was answered: {called:?}"
    );
    assert!(
        pulled.is_err(),
        "a stranger's pull was answered: {pulled:?}"
    );
    let rejected = wait_for("both refusals counted", || {
        let r = a.status()["rejected"].clone();
        (r["service_not_member"] == 1 && r["queue_not_member"] == 1).then_some(r)
    });
    assert_eq!(a.json(&["queue", "status", "jobs"])["pending"], 1);
    println!("work doors: a stranger's service and queue streams went unread ({rejected})");
}

#[test]
fn a_member_no_policy_names_is_refused_a_call_and_items_and_cannot_end_an_item() {
    let root = root();
    let a = founder(root.path(), "a");
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let bare = identity::Keypair::generate_ed25519();
    let bare_id = bare.public().to_peer_id().to_string();
    a.ok(&["members", "add", &bare_id]);
    a.ok(&["service", "policy", "echo", "--call", "admin"]);
    a.ok(&["queue", "policy", "jobs", "--work", "admin"]);
    let _echo = a.background(&["service", "offer", "echo", "--", "cat"]);
    let id: ItemId = a
        .ok(&["queue", "push", "jobs", "secret work"])
        .trim()
        .parse()
        .unwrap();
    let target: PeerId = a.peer_id.parse().unwrap();
    let jobs: QueueName = "jobs".parse().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (called, pulled) = rt.block_on(async {
        let mut control = bare_peer(bare, &mesh, &a.addr()).await;
        let ask = async {
            let mut stream = loop {
                // Until the connection is up.
                match control.open_stream(target, SERVICE).await {
                    Ok(stream) => break stream,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            write_frame(&mut stream, &to_cbor(&call("echo")).unwrap())
                .await
                .unwrap();
            let called = reply(&mut stream).await.unwrap();
            let mut stream = control.open_stream(target, QUEUE).await.unwrap();
            write_frame(&mut stream, &to_cbor(&want(&jobs)).unwrap())
                .await
                .unwrap();
            let pulled: ProducerFrame = from_cbor(&read_frame(&mut stream).await.unwrap()).unwrap();
            // It says it ran the item it was never given.
            let done = WorkerFrame::Done {
                queue: jobs.clone(),
                lease: Lease { id, attempt: 1 },
            };
            write_frame(&mut stream, &to_cbor(&done).unwrap())
                .await
                .unwrap();
            let settled: ProducerFrame =
                from_cbor(&read_frame(&mut stream).await.unwrap()).unwrap();
            assert!(
                matches!(settled, ProducerFrame::Settled { .. }),
                "{settled:?}"
            );
            (called, pulled)
        };
        tokio::time::timeout(PATIENCE, ask).await.expect("answers")
    });
    assert_eq!(called.outcome, Outcome::Refused(Refusal::NotAllowed));
    assert_eq!(pulled, ProducerFrame::NotAllowed { queue: jobs });
    let status = a.json(&["queue", "status", "jobs"]);
    assert_eq!(
        (status["pending"].as_u64(), status["done"].as_u64()),
        (Some(1), Some(0))
    );
    let rejected = wait_for("both refusals counted", || {
        let r = a.status()["rejected"].clone();
        (r["service_not_allowed"] == 1 && r["queue_not_allowed"] == 1).then_some(r)
    });
    println!("work doors: an unnamed member was refused a call and items ({rejected})");
}
