//! Nothing acknowledged is lost, nothing is delivered twice: outbox across restarts of
//! either side, and a receiver killed with SIGKILL in the middle of a stream.

use std::collections::HashSet;

use futures::StreamExt;
use weft::proto::api::{DeliveryState, Event, SendRequest};

use crate::support::{PATIENCE, connected_pair, received_from, root, wait_for, wait_peers};

#[test]
fn outbox_delivers_after_restarts_exactly_once() {
    let root = root();
    let (mut a, mut b) = connected_pair(root.path(), "a", "b");

    // b goes away; a queues messages for it, then a restarts too.
    b.stop();
    wait_peers(&a, 0);
    for n in 0..5 {
        let out = a.ok(&[
            "send",
            "--no-wait",
            &b.peer_id,
            &format!("while you were out {n}"),
        ]);
        assert!(out.starts_with("queued"), "{out}");
    }
    let out = a.weft(&["send", "--timeout", "1", &b.peer_id, "waiting one"]);
    assert_eq!(
        out.status.code(),
        Some(75),
        "still queued has its own status"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stays queued"));
    assert_eq!(a.status()["outbox"], 6);
    a.stop();

    // Both come back; a remembers b's address and redials it without being told.
    b.start();
    a.start();
    wait_for("a's outbox to drain", || {
        (a.status()["outbox"] == 0).then_some(())
    });
    let got = received_from(&b, &a);
    assert_eq!(got.len(), 6, "{got:?}");
    let texts: HashSet<_> = got
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 6, "no duplicates");
    let sent = a.json(&["inbox", "--from", &b.peer_id]);
    assert!(
        sent.as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "delivered"),
        "{sent}"
    );

    // Another round of restarts delivers nothing again.
    a.stop();
    b.stop();
    b.start();
    a.start();
    wait_peers(&a, 1);
    assert_eq!(received_from(&b, &a).len(), 6);
}

#[test]
fn receiver_killed_mid_stream_loses_nothing_acknowledged() {
    const TOTAL: usize = 400;
    let root = root();
    let (a, mut b) = connected_pair(root.path(), "a", "b");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = a.client();
    // Watch a's deliveries (acknowledgements from b) while queueing a stream of messages.
    let acked_before_kill = rt.block_on(async {
        let mut events = Box::pin(client.events(None).await.unwrap());
        let mut queued = Vec::new();
        for n in 0..TOTAL {
            let answer = client
                .send(&SendRequest {
                    to: b.peer_id.clone(),
                    text: format!("stream {n}"),
                    wait: false,
                    timeout_ms: None,
                    bench: false,
                })
                .await
                .unwrap();
            assert_eq!(answer.state, DeliveryState::Queued);
            queued.push(answer.id);
        }
        let mut acked = HashSet::new();
        while acked.len() < TOTAL / 4 {
            match tokio::time::timeout(PATIENCE, events.next()).await {
                Ok(Some(Ok(Event::Delivered { id, .. }))) => {
                    acked.insert(id);
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("event stream ended: {other:?}"),
            }
        }
        acked
    });
    b.kill();
    let acked: HashSet<String> = acked_before_kill.iter().map(|id| id.to_string()).collect();
    assert!(acked.len() >= TOTAL / 4);

    b.start();
    wait_for("a's outbox to drain", || {
        (a.status()["outbox"] == 0).then_some(())
    });
    let got = received_from(&b, &a);
    let ids: Vec<String> = got
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    let unique: HashSet<_> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "delivered twice");
    assert_eq!(unique.len(), TOTAL, "every message arrives in the end");
    assert!(
        acked.is_subset(&unique),
        "every acknowledged message survived SIGKILL"
    );
}
