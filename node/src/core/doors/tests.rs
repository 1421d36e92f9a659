use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn ip(n: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))
}

fn stranger(doors: &mut Doors, address: Option<IpAddr>, now: Instant) -> (PeerId, Screened) {
    let peer = PeerId::random();
    let screened = doors.screen(peer, Standing::Stranger, Own::InMesh, false, address, now);
    (peer, screened)
}

#[test]
fn a_member_passes_and_a_stranger_is_cut_off_after_its_grace() {
    let (mut doors, t0) = (Doors::default(), Instant::now());
    let member = PeerId::random();
    let screened = doors.screen(member, Standing::Member, Own::InMesh, false, ip(1), t0);
    assert_eq!(screened, Screened::Member);
    let (peer, screened) = stranger(&mut doors, ip(2), t0);
    assert_eq!(screened, Screened::Stranger);
    let nobody = |_: &PeerId| false;
    assert!(doors.due(t0 + STRANGER_GRACE / 2, nobody).is_empty());
    assert_eq!(
        doors.due(t0 + STRANGER_GRACE, nobody),
        vec![Due::Stranger(peer)]
    );
    assert!(
        doors.due(t0 + STRANGER_GRACE * 2, nobody).is_empty(),
        "once"
    );
}

#[test]
fn a_failed_join_shortens_the_grace_and_an_admission_reconnects() {
    let (mut doors, t0) = (Doors::default(), Instant::now());
    let (failed, _) = stranger(&mut doors, ip(1), t0);
    let (joined, _) = stranger(&mut doors, ip(2), t0);
    doors.join_failed(&failed, t0);
    doors.admitted(&joined, JOINER_RECONNECT_AFTER, t0);
    let admits = |p: &PeerId| *p == joined;
    assert_eq!(
        doors.due(t0 + FAILED_JOIN_GRACE, admits),
        vec![Due::Stranger(failed)]
    );
    assert!(doors.due(t0 + STRANGER_GRACE, admits).is_empty());
    assert_eq!(
        doors.due(t0 + JOINER_RECONNECT_AFTER, admits),
        vec![Due::Reconnect(joined)]
    );
}

#[test]
fn a_joiner_back_as_a_member_is_not_disconnected_for_its_old_grace() {
    // A joiner's node dialled the issuer as a stranger; admitted, it reconnected as a
    // member before the old connection's close was reported (so no `disconnected`).
    let (mut doors, t0) = (Doors::default(), Instant::now());
    let issuer = PeerId::random();
    let screened = doors.screen(issuer, Standing::Stranger, Own::NoMesh, true, ip(1), t0);
    assert_eq!(screened, Screened::Stranger);
    let later = t0 + STRANGER_GRACE / 2;
    let screened = doors.screen(issuer, Standing::Member, Own::InMesh, true, ip(1), later);
    assert_eq!(screened, Screened::Member);
    assert!(
        doors.due(t0 + STRANGER_GRACE * 2, |_| true).is_empty(),
        "the member's new connection was closed for its old grace"
    );
}

#[test]
fn strangers_from_one_address_cannot_take_every_slot() {
    let (mut doors, t0) = (Doors::default(), Instant::now());
    for _ in 0..MAX_STRANGERS_PER_ADDRESS {
        assert_eq!(stranger(&mut doors, ip(1), t0).1, Screened::Stranger);
    }
    let refused = Screened::Refused(Refusal::StrangerSlots);
    assert_eq!(stranger(&mut doors, ip(1), t0).1, refused);
    // A joiner from elsewhere still gets in, up to the total.
    let mut n = 2;
    while doors.strangers.len() < MAX_STRANGERS {
        assert_eq!(stranger(&mut doors, ip(n), t0).1, Screened::Stranger);
        n += 1;
    }
    assert_eq!(stranger(&mut doors, ip(n), t0).1, refused);
    // A slot freed is a slot again.
    let gone = *doors.strangers.keys().next().unwrap();
    assert!(!doors.disconnected(&gone));
    assert_eq!(stranger(&mut doors, ip(n), t0).1, Screened::Stranger);
}

#[test]
fn a_removed_member_is_told_for_a_moment_then_walled() {
    let (mut doors, t0) = (Doors::default(), Instant::now());
    let away = PeerId::random();
    let screened = doors.screen(away, Standing::Removed, Own::InMesh, false, ip(1), t0);
    assert_eq!(screened, Screened::Told);
    assert!(doors.is_leaving(&away));
    let connected = PeerId::random();
    doors.removed(connected, t0);
    assert_eq!(doors.leaving().count(), 2);
    let mut due = doors.due(t0 + REMOVAL_LINGER, |_| false);
    due.sort_by_key(|d| format!("{d:?}"));
    let mut want = vec![Due::Wall(away), Due::Wall(connected)];
    want.sort_by_key(|d| format!("{d:?}"));
    assert_eq!(due, want);
    assert!(!doors.is_leaving(&away));
    // Gone before its moment was up: the wall closes at once.
    let quick = PeerId::random();
    doors.removed(quick, t0);
    assert!(doors.disconnected(&quick));
    assert!(doors.due(t0 + REMOVAL_LINGER, |_| false).is_empty());
}

#[test]
fn a_removed_node_keeps_no_one_and_a_node_in_no_mesh_only_whom_it_dialled() {
    let (mut doors, t0) = (Doors::default(), Instant::now());
    for standing in [Standing::Member, Standing::Stranger, Standing::Removed] {
        let screened = doors.screen(PeerId::random(), standing, Own::Removed, true, ip(1), t0);
        assert_eq!(screened, Screened::Refused(Refusal::Removed));
    }
    for (dialled, want) in [
        (false, Screened::Refused(Refusal::NotInMesh)),
        (true, Screened::Stranger),
    ] {
        let peer = PeerId::random();
        let screened = doors.screen(peer, Standing::Stranger, Own::NoMesh, dialled, ip(1), t0);
        assert_eq!(screened, want);
    }
}

#[test]
fn slots_are_counted_by_ipv4_address_and_ipv6_slash_64() {
    let v4: Multiaddr = "/ip4/10.1.2.3/tcp/1".parse().unwrap();
    assert_eq!(address_of(&v4), Some("10.1.2.3".parse().unwrap()));
    let a: Multiaddr = "/ip6/2001:db8:1:2:aaaa::1/udp/1/quic-v1".parse().unwrap();
    let b: Multiaddr = "/ip6/2001:db8:1:2:bbbb::9/tcp/1".parse().unwrap();
    assert_eq!(address_of(&a), address_of(&b));
    assert_eq!(
        address_of(&"/dns4/example.org/tcp/1".parse().unwrap()),
        None
    );
}
