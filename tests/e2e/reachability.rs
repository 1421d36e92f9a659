//! AutoNAT between members: each member asks another to dial it back and learns it is
//! reachable. The dial-back is a connection of its own beside the one the pair already
//! has; it is closed once it has answered the probe, so the pair ends with one connection
//! however many probes they make (and a later dial-back is not refused by the cap of
//! connections per peer).

use crate::support::{connected_pair, root, wait_for};

/// The TCP connections process `pid` holds established.
fn tcp_connections(pid: u32) -> usize {
    let mut sockets = std::collections::HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        // A descriptor closed since the listing has no link any more.
        let Ok(target) = std::fs::read_link(fd.unwrap().path()) else {
            continue;
        };
        let inode = (target.to_str())
            .and_then(|t| t.strip_prefix("socket:["))
            .and_then(|t| t.strip_suffix(']'));
        if let Some(inode) = inode {
            sockets.insert(inode.to_string());
        }
    }
    // Columns: sl local remote state (01: established) ... inode (the tenth).
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap();
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(3) == Some(&"01") && f.get(9).is_some_and(|i| sockets.contains(*i)))
        .count()
}

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
        let held = [tcp_connections(a.pid()), tcp_connections(b.pid())];
        eprintln!("connections held: {held:?}");
        (held == [1, 1]).then_some(())
    });
}
