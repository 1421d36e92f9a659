//! Services across simulated nodes: calls spread over providers and each answered once;
//! a provider that crashes or hangs loses its calls to another within the bounds; a standby
//! answers only while no active provider is reachable; no provider is a refusal at once;
//! a provider runs a call once however often it is sent.

use std::collections::BTreeMap;

use weft_proto::service::CallId;

use super::calls::{Handler, opts};
use super::*;
use crate::core::io::CallEnd;
use crate::core::services::serving::OfferOpts;

const FAST: Handler = Handler {
    took_ms: (2, 10),
    fails: false,
};

/// Four members, every pair linked, after their records spread.
fn four() -> Sim {
    let mut sim = Sim::mesh(0x5e7c, 4, 0, 3, Faults::steady(1));
    sim.run(2000);
    sim
}

/// Runs until every call of `node` in `ids` ended, for at most `max_ms`.
fn settle(sim: &mut Sim, node: usize, count: usize, max_ms: u64) -> bool {
    for _ in 0..max_ms / 10 {
        if sim.nodes[node].app.called.len() >= count {
            return true;
        }
        sim.run(10);
    }
    false
}

/// How many calls each node's handlers ran.
fn ran(sim: &Sim) -> Vec<usize> {
    sim.nodes.iter().map(|n| n.app.ran.len()).collect()
}

/// The calls of `node` that ended other than with their own body as reply.
fn wrong(sim: &Sim, node: usize, sent: &BTreeMap<CallId, Vec<u8>>) -> Vec<String> {
    sim.nodes[node]
        .app
        .called
        .iter()
        .filter(|(id, end, _)| *end != CallEnd::Replied(sent[id].clone()))
        .map(|(id, end, _)| format!("{id}: {end:?}"))
        .collect()
}

#[test]
fn calls_spread_over_two_providers_and_each_is_answered_once() {
    let mut sim = four();
    sim.offer(1, "echo", opts(4), FAST);
    sim.offer(2, "echo", opts(4), FAST);
    sim.run(1500);
    let mut sent = [BTreeMap::new(), BTreeMap::new()];
    for n in 0..200u32 {
        for (i, caller) in [0, 3].into_iter().enumerate() {
            let body = format!("{caller}:{n}").into_bytes();
            let id = sim.call(caller, "echo", &body, 5000).unwrap();
            sent[i].insert(id, body);
        }
        sim.run(2);
    }
    assert!(settle(&mut sim, 0, 200, 10_000) && settle(&mut sim, 3, 200, 10_000));
    for (i, caller) in [0, 3].into_iter().enumerate() {
        assert_eq!(wrong(&sim, caller, &sent[i]), Vec::<String>::new());
        assert_eq!(
            sim.nodes[caller].app.called.len(),
            200,
            "answered once each"
        );
    }
    let ran = ran(&sim);
    assert_eq!(ran[1] + ran[2], 400, "each call ran once: {ran:?}");
    assert!(ran[1] > 100 && ran[2] > 100, "both providers used: {ran:?}");
}

#[test]
fn calls_go_mostly_to_the_faster_provider() {
    let mut sim = four();
    // Room enough that neither is ever busy: only the choice decides.
    sim.offer(1, "echo", opts(50), FAST);
    let slow = Handler {
        took_ms: (80, 120),
        fails: false,
    };
    sim.offer(2, "echo", opts(50), slow);
    sim.run(1500);
    for n in 0..300u32 {
        sim.call(0, "echo", &n.to_be_bytes(), 10_000).unwrap();
        sim.run(5);
    }
    assert!(settle(&mut sim, 0, 300, 30_000));
    let ran = ran(&sim);
    assert!(ran[1] > 3 * ran[2], "the fast one did most: {ran:?}");
}

#[test]
fn a_provider_that_crashes_or_hangs_loses_its_calls_to_another_within_the_bounds() {
    for hang in [false, true] {
        let mut sim = four();
        let slow = Handler {
            took_ms: (3000, 3000),
            fails: false,
        };
        sim.offer(1, "echo", opts(50), slow);
        sim.offer(2, "echo", opts(50), slow);
        sim.run(1500);
        let mut sent = BTreeMap::new();
        for n in 0..40u32 {
            let body = n.to_be_bytes().to_vec();
            sent.insert(sim.call(0, "echo", &body, 30_000).unwrap(), body);
        }
        sim.run(100);
        let at = sim.ms;
        if hang {
            sim.freeze(1);
        } else {
            sim.crash(1);
        }
        assert!(
            settle(&mut sim, 0, 40, 20_000),
            "hang {hang}: not every call ended"
        );
        assert_eq!(wrong(&sim, 0, &sent), Vec::<String>::new(), "hang {hang}");
        // Moved at once on a crash, within the hang bound when it hangs: then 3 s to run.
        let bound = if hang { 1500 + 200 } else { 50 };
        let last = sim.nodes[0]
            .app
            .called
            .iter()
            .map(|(_, _, ms)| *ms)
            .max()
            .unwrap();
        assert!(
            last <= at + bound + 3000 + 50,
            "hang {hang}: the last call ended {} ms after the provider went",
            last - at
        );
        if hang {
            sim.thaw(1);
        }
    }
}

#[test]
fn a_standby_answers_only_while_no_active_provider_is_reachable() {
    let mut sim = four();
    sim.offer(1, "echo", opts(4), FAST);
    let standby = OfferOpts {
        standby: true,
        ..opts(4)
    };
    sim.offer(2, "echo", standby, FAST);
    sim.run(1500);
    let calls = |sim: &mut Sim, count: u32| {
        for n in 0..count {
            sim.call(0, "echo", &n.to_be_bytes(), 5000).unwrap();
        }
        sim.run(500);
    };
    calls(&mut sim, 20);
    assert_eq!(ran(&sim)[1..3], [20, 0], "the active one only");
    sim.crash(1);
    sim.run(100);
    calls(&mut sim, 20);
    assert_eq!(ran(&sim)[1..3], [20, 20], "the standby takes over");
    sim.restart(1);
    sim.offer(1, "echo", opts(4), FAST);
    sim.run(3000);
    calls(&mut sim, 20);
    assert_eq!(ran(&sim)[1..3], [40, 20], "and steps back");
}

#[test]
fn with_no_provider_reachable_a_call_is_refused_at_once() {
    let mut sim = four();
    let refused = sim.call(0, "nobody", b"x", 5000).unwrap_err();
    assert!(refused.contains("no provider of `nobody`"), "{refused}");
    sim.offer(1, "echo", opts(1), FAST);
    sim.run(1500);
    sim.partition(&[1]);
    let refused = sim.call(0, "echo", b"x", 5000).unwrap_err();
    assert!(
        refused.contains("no provider of `echo` is reachable"),
        "{refused}"
    );
}

#[test]
fn a_call_sent_twice_runs_once_at_its_provider_and_is_answered_from_what_was_kept() {
    let mut sim = four();
    let slow = Handler {
        took_ms: (300, 300),
        fails: false,
    };
    sim.offer(1, "echo", opts(4), slow);
    sim.run(1500);
    // A caller sends the same call on its session three times: while it runs, and after.
    let call = weft_proto::service::Call {
        v: weft_proto::service::SERVICE_VERSION,
        id: CallId([9; 16]),
        service: "echo".parse().unwrap(),
        body: b"once".to_vec(),
        budget_ms: 5000,
    };
    let session = 77;
    sim.nodes[0].shell.service_out.insert(1, session);
    for wait in [50, 1000, 0] {
        let frame = shell::Frame::ServiceCall {
            session,
            call: call.clone(),
        };
        sim.send(0, 1, frame);
        sim.run(wait);
    }
    sim.run(100);
    assert_eq!(ran(&sim)[1], 1, "run once");
    let load = sim.nodes[1].core().services(sim.now())[0].providers[0].load;
    assert_eq!(load.served, 1);
}

#[test]
fn a_failing_handler_ends_the_call_with_its_reason() {
    let mut sim = four();
    let failing = Handler {
        took_ms: (1, 1),
        fails: true,
    };
    sim.offer(1, "echo", opts(1), failing);
    sim.run(1500);
    sim.call(0, "echo", b"x", 5000).unwrap();
    assert!(settle(&mut sim, 0, 1, 2000));
    let (_, end, _) = &sim.nodes[0].app.called[0];
    assert_eq!(*end, CallEnd::Failed("it always fails".into()));
}

#[test]
fn a_service_policy_keeps_unlisted_providers_out_of_rotation_and_refuses_unlisted_callers() {
    let mut sim = four();
    // Node 1 offers before the policy: its records and heartbeats go on, and must not count.
    sim.offer(1, "echo", opts(8), FAST);
    sim.offer(2, "echo", opts(8), FAST);
    let (provider, caller) = (sim.nodes[2].peer.to_string(), sim.nodes[0].peer.to_string());
    let set = sim.command(0, |core, now| {
        let policy = crate::core::Policy::Service {
            service: "echo".parse().unwrap(),
            offer: vec![provider],
            call: vec![caller],
        };
        core.policy(policy, now)
    });
    assert!(set.is_ok(), "{set:?}");
    sim.run(3000);

    let mut sent = BTreeMap::new();
    for n in 0..60u32 {
        let body = n.to_be_bytes().to_vec();
        sent.insert(sim.call(0, "echo", &body, 5000).unwrap(), body);
        sim.run(5);
    }
    assert!(settle(&mut sim, 0, 60, 5000));
    assert_eq!(wrong(&sim, 0, &sent), Vec::<String>::new());
    assert_eq!(ran(&sim)[1], 0, "the unlisted provider got no call");

    let refused = sim.call(3, "echo", b"x", 5000).unwrap_err();
    assert!(refused.contains("policy of service `echo`"), "{refused}");
    // An unlisted caller that sends a call anyway is refused at the provider, and counted.
    let call = weft_proto::service::Call {
        v: weft_proto::service::SERVICE_VERSION,
        id: CallId([7; 16]),
        service: "echo".parse().unwrap(),
        body: b"sneak".to_vec(),
        budget_ms: 5000,
    };
    sim.nodes[3].shell.service_out.insert(2, 99);
    sim.send(3, 2, shell::Frame::ServiceCall { session: 99, call });
    sim.run(200);
    assert_eq!(ran(&sim)[2], 60, "the sneaked call did not run");
    assert_eq!(sim.refused(2, "service_not_allowed"), 1);
}
