//! Service and queue doors against bare peers that know the wire: a stranger's
//! `/weft/service/1` and `/weft/queue/1` streams are not read; a member that a service's or
//! queue's policy does not name is refused a call and items, and cannot end an item it was
//! never given; a worker that does not read what it is sent has its session ended and its
//! items back at the producer.

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

#[test]
fn a_worker_that_does_not_read_has_its_session_ended_and_its_items_go_back() {
    let root = root();
    let a = founder(root.path(), "a");
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let bare = identity::Keypair::generate_ed25519();
    a.ok(&["members", "add", &bare.public().to_peer_id().to_string()]);
    a.ok(&["queue", "push", "jobs", "held hostage"]);
    let target: PeerId = a.peer_id.parse().unwrap();
    let jobs: QueueName = "jobs".parse().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let ended = rt.block_on(async {
        let mut control = bare_peer(bare, &mesh, &a.addr()).await;
        let mut stream = loop {
            match control.open_stream(target, QUEUE).await {
                Ok(stream) => break stream,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        // It takes the item, then asks for more while it reads nothing: every `Want` with
        // nothing ready is answered (credit given back), and those answers pile up.
        let one = WorkerFrame::Want {
            v: QUEUE_VERSION,
            queue: jobs.clone(),
            credit: 1,
            max_deliver: 5,
        };
        let one = to_cbor(&one).unwrap();
        let ask = async {
            for _ in 0..20_000 {
                write_frame(&mut stream, &one).await?;
            }
            // Then it reads: what the node had written before it ended the session.
            loop {
                read_frame(&mut stream).await?;
            }
        };
        let ended: std::io::Result<()> = tokio::time::timeout(PATIENCE, ask)
            .await
            .expect("the node ends the session");
        ended
    });
    assert!(ended.is_err());
    let status = wait_for("the item to be ready again", || {
        let s = a.json(&["queue", "status", "jobs"]);
        (s["pending"] == 1 && s["in_flight"] == 0).then_some(s)
    });
    assert_eq!(a.status()["rejected"]["session_unread"], 1);
    println!("work doors: a worker that did not read lost its session and its item ({status})");
}
