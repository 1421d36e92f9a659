//! Members on one LAN find each other without being told addresses (mDNS), in network
//! namespaces: two members restart on new ports, so what each remembers of the other is
//! stale, and they still connect.

use crate::netns::Lab;
use crate::support::{TestNode, invite, root, wait_peers};

#[test]
fn members_on_one_lan_find_each_other_after_their_addresses_changed() {
    let Some(lab) = Lab::new("mdns", 2) else {
        return;
    };
    let root = root();
    let mdns: &[&str] = &["--mdns", "on"];
    let mut a = TestNode::init_in(root.path(), "a", &lab.ns(0), &lab.ip(0));
    a.start_with(mdns);
    a.json(&["mesh", "create", "--name", "home"]);
    let mut b = TestNode::init_in(root.path(), "b", &lab.ns(1), &lab.ip(1));
    b.start_with(mdns);
    b.ok(&["join", &invite(&a, &[])]);
    wait_peers(&a, 1);

    for node in [&mut a, &mut b] {
        node.stop();
        node.new_port();
    }
    a.start_with(mdns);
    b.start_with(mdns);
    wait_peers(&a, 1);
    wait_peers(&b, 1);
    assert!(
        a.log().contains("found a member on the local network")
            || b.log().contains("found a member on the local network"),
        "the connection came from mDNS"
    );
    println!("mdns: two members on new ports found each other on the LAN");
    a.stop();
    b.stop();
}
