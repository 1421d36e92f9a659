use super::*;
use crate::delivery::backoff;

fn path(addr: &'static str, relayed: bool) -> Path<&'static str> {
    Path {
        addr,
        outbound: true,
        relayed,
    }
}

#[test]
fn a_peer_is_connected_from_its_first_connection_to_the_close_of_its_last() {
    let t0 = Instant::now();
    let mut peers: Peers<&str, &str> = Peers::default();
    assert!(peers.connected("a", path("relay", true), 10));
    // A direct connection beside the relayed one is the path shown; a second relayed one
    // is not.
    assert!(!peers.connected("a", path("direct", false), 11));
    assert!(!peers.connected("a", path("relay-2", true), 12));
    let a = peers.get(&"a").unwrap();
    assert_eq!(a.path, path("direct", false));
    assert_eq!(a.since_unix, 10);
    peers.measured(&"a", Duration::from_millis(7));
    peers.synced(&"a", Some(-40), t0);
    peers.synced(&"a", None, t0);
    let a = peers.get(&"a").unwrap();
    assert_eq!(
        (a.rtt, a.skew_us),
        (Some(Duration::from_millis(7)), Some(-40))
    );
    assert!(peers.disconnected(&"a", false, t0));
    assert!(!peers.is_connected(&"a"));
    assert!(peers.is_empty());
    assert!(!peers.disconnected(&"a", false, t0), "it was not connected");
    assert!(
        peers.due(t0 + Duration::from_secs(3600)).is_empty(),
        "not to be redialled"
    );
}

#[test]
fn a_lost_member_is_redialled_with_backoff_until_it_connects() {
    let t0 = Instant::now();
    let mut peers: Peers<&str, &str> = Peers::default();
    peers.connected("a", path("x", false), 0);
    peers.disconnected(&"a", true, t0);
    assert!(peers.due(t0).is_empty(), "after a backoff, not at once");
    assert_eq!(peers.due(t0 + backoff::BASE), vec!["a"]);
    assert!(peers.dial_failed("a", t0 + backoff::BASE).is_some());
    assert!(
        peers.due(t0 + backoff::BASE * 2).is_empty(),
        "a second failure waits longer"
    );
    let later = t0 + Duration::from_secs(3600);
    peers.connected("a", path("x", false), 1);
    assert!(peers.due(later).is_empty(), "connected: no redial");
    assert!(
        peers.dial_failed("a", later).is_none(),
        "a failed dial of a connected peer"
    );
    assert!(peers.due(later).is_empty());
}

#[test]
fn a_peer_found_connected_when_due_leaves_the_schedule_and_forgotten_ones_are_not_dialled() {
    let t0 = Instant::now();
    let mut peers: Peers<&str, &str> = Peers::default();
    peers.dial_soon("a", t0);
    peers.dial_soon("b", t0);
    peers.dial_soon("c", t0);
    peers.forget(&"c");
    // Connected meanwhile (it dialled), and scheduled again while connected (to reconnect
    // once disconnected): due, but not dialled while connected, and then not again.
    peers.connected("a", path("x", false), 0);
    peers.dial_soon("a", t0);
    assert_eq!(peers.due(t0), vec!["b"]);
    peers.disconnected(&"a", false, t0);
    let later = t0 + Duration::from_secs(3600);
    assert_eq!(peers.due(later), vec!["b"]);
    // Scheduled while connected, and still when the connection closes: dialled then.
    peers.connected("d", path("x", false), 0);
    peers.dial_soon("d", later);
    peers.disconnected(&"d", false, later);
    let mut due = peers.due(later + Duration::from_secs(3600));
    due.sort();
    assert_eq!(due, vec!["b", "d"]);
    peers.forget_all();
    assert!(peers.due(later + Duration::from_secs(3600)).is_empty());
}
