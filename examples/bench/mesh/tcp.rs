//! How many TCP connections a process holds, from `/proc`. Shared by the mesh bench and the
//! e2e tests (which include this file by path).

/// How many TCP connections process `pid` holds open: the established IPv4 sockets among
/// its descriptors. A member connected twice (both sides dialled at once) counts twice.
pub fn tcp_connections(pid: u32) -> std::io::Result<usize> {
    let mut sockets = std::collections::HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        // A descriptor closed since the listing has no link any more.
        let Ok(target) = std::fs::read_link(fd?.path()) else {
            continue;
        };
        let inode = (target.to_str())
            .and_then(|t| t.strip_prefix("socket:["))
            .and_then(|t| t.strip_suffix(']'));
        if let Some(inode) = inode {
            sockets.insert(inode.to_string());
        }
    }
    // Columns: sl local remote state(01 = established) ... inode (the tenth).
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp"))?;
    Ok(table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(3) == Some(&"01") && f.get(9).is_some_and(|i| sockets.contains(*i)))
        .count())
}
