//! A mailbox that tampers: it flips bytes, truncates, mislabels, duplicates and replays the
//! sealed box it was given. Every tampered copy is refused and counted; the message reaches
//! the recipient's application exactly once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol};
use tokio::sync::mpsc;
use weft::proto::codec::{from_cbor, to_cbor};
use weft::proto::mailbox::{Held, MailboxRequest, MailboxResponse, Op, Outcome, box_id};

use crate::bare;
use crate::support::{founder, member, received_from, root, wait_for, wait_peers};

/// What the bad mailbox saw.
#[derive(Default)]
struct Seen {
    deposits: Vec<Vec<u8>>,
    fetches: usize,
}

async fn read_request(stream: &mut Stream) -> Option<MailboxRequest> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await.ok()?;
    from_cbor(&body).ok()
}

async fn write_response(stream: &mut Stream, response: &MailboxResponse) {
    let body = to_cbor(response).unwrap();
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    let _ = stream.write_all(&frame).await;
    let _ = stream.close().await;
}

/// The first fetch after the deposit gets every kind of tampered copy of the first deposit, and the genuine
/// one twice; later fetches get the genuine one again (a replay).
fn answer(seen: &Mutex<Seen>, op: Op) -> MailboxResponse {
    let mut seen = seen.lock().unwrap();
    match op {
        Op::Deposit { boxes } => {
            let outcomes = boxes
                .into_iter()
                .map(|boxed| {
                    let id = box_id(&boxed.sealed);
                    seen.deposits.push(boxed.sealed);
                    Outcome::Held { id }
                })
                .collect();
            MailboxResponse::Deposited { outcomes }
        }
        Op::Fetch { .. } => {
            // Only bob is sent anything: alice fetched when nothing was deposited yet.
            let Some(genuine) = seen.deposits.first().cloned() else {
                return MailboxResponse::Items {
                    items: vec![],
                    more: false,
                };
            };
            seen.fetches += 1;
            let held = |sealed: Vec<u8>| Held {
                id: box_id(&sealed),
                sealed,
            };
            let mut flipped = genuine.clone();
            let middle = flipped.len() / 2;
            flipped[middle] ^= 0x20;
            let truncated = genuine[..genuine.len() - 7].to_vec();
            let mislabelled = Held {
                id: [0; 32],
                sealed: genuine.clone(),
            };
            let items = if seen.fetches == 1 {
                vec![
                    held(flipped),
                    held(truncated),
                    mislabelled,
                    held(genuine.clone()),
                    held(genuine),
                ]
            } else {
                vec![held(genuine)]
            };
            MailboxResponse::Items { items, more: false }
        }
        Op::Release { ids } => MailboxResponse::Released {
            count: ids.len() as u32,
        },
    }
}

#[test]
fn a_tampering_mailbox_delivers_nothing_tampered_and_nothing_twice() {
    let root = root();
    let mut a = founder(root.path(), "alice");
    let mut b = member(root.path(), &a, "bob");
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let keypair = Keypair::generate_ed25519();
    let bad = keypair.public().to_peer_id();
    a.ok(&["members", "add", &bad.to_string(), "--role", "mailbox"]);
    wait_for("bob to learn of the mailbox", || {
        let members = b.json(&["members"]);
        let ok = members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["peer_id"] == bad.to_string().as_str() && m["role"] == "mailbox");
        ok.then_some(())
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    let _runtime = rt.enter();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut swarm = bare::swarm(keypair, &mesh, |_| libp2p_stream::Behaviour::new());
    let mut incoming = swarm
        .behaviour()
        .new_control()
        .accept(StreamProtocol::new("/weft/mailbox/1"))
        .unwrap();
    let serving = seen.clone();
    rt.spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            let seen = serving.clone();
            tokio::spawn(async move {
                if let Some(request) = read_request(&mut stream).await {
                    let response = answer(&seen, request.op);
                    write_response(&mut stream, &response).await;
                }
            });
        }
    });
    let (dial, mut dials) = mpsc::channel::<(Multiaddr, Option<PeerId>)>(4);
    rt.spawn(async move {
        loop {
            tokio::select! {
                Some((addr, drop)) = dials.recv() => {
                    if let Some(peer) = drop {
                        let _ = swarm.disconnect_peer_id(peer);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    let _ = swarm.dial(addr);
                }
                _ = swarm.select_next_some() => {}
            }
        }
    });

    // bob is away; alice's message goes to the only mailbox there is.
    b.stop();
    dial.blocking_send((a.addr().parse().unwrap(), None))
        .unwrap();
    wait_peers(&a, 1);
    let out = a.ok(&["send", "--timeout", "20", &b.peer_id, "for bob only"]);
    assert!(out.starts_with("held"), "{out}");
    a.stop();

    // bob comes back and the bad mailbox reaches him: one fetch of tampered copies, then,
    // reconnected, a replay of what he already has.
    b.start();
    let bob: PeerId = b.peer_id.parse().unwrap();
    dial.blocking_send((b.addr().parse().unwrap(), None))
        .unwrap();
    wait_for("bob's first fetch", || {
        (seen.lock().unwrap().fetches >= 1).then_some(())
    });
    wait_for("bob to store the genuine copy", || {
        (!received_from(&b, &a).is_empty()).then_some(())
    });
    dial.blocking_send((b.addr().parse().unwrap(), Some(bob)))
        .unwrap();
    wait_for("bob's second fetch", || {
        (seen.lock().unwrap().fetches >= 2).then_some(())
    });
    let rejected = wait_for("three tampered copies refused", || {
        let r = b.status()["rejected"].clone();
        (r["sealed_tampered"].as_u64() >= Some(3)).then_some(r)
    });
    assert_eq!(rejected["sealed_tampered"], 3, "{rejected}");
    let got = received_from(&b, &a);
    assert_eq!(got.len(), 1, "exactly once: {got:?}");
    assert_eq!(got[0]["text"], "for bob only");
}
