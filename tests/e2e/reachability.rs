//! AutoNAT between members: each member asks another to dial it back and learns it is
//! reachable. The dial-back is a connection of its own beside the one the pair already
//! has; it is closed once it has answered the probe, so the pair ends with one connection
//! however many probes they make (and a later dial-back is not refused by the cap of
//! connections per peer).

use crate::support::{connected_pair, root, wait_for};

#[path = "../../examples/bench/mesh/tcp.rs"]
mod tcp;

#[test]
fn a_dial_back_is_closed_once_it_has_answered_the_probe() {
    let root = root();
    let (a, b) = connected_pair(root.path(), "a", "b");
    for node in [&a, &b] {
        wait_for(&format!("{} to learn it is reachable", node.name), || {
            let status = node.status();
            let reachability = status["relay"]["reachability"].as_str()?;
            reachability.starts_with("public").then_some(())
        });
    }
    wait_for("a and b to hold one connection between them", || {
        let held = [a.pid(), b.pid()].map(|pid| tcp::tcp_connections(pid).unwrap());
        eprintln!("connections held: {held:?}");
        (held == [1, 1]).then_some(())
    });
}
