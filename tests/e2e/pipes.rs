//! Pipes between members: 1 GiB one way and 1 MiB the other through real `weft pipe`
//! processes, checked by hash at both ends; a pipe nobody accepts is refused clearly.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

use crate::support::{TestNode, connected_pair, root, weft_bin};

/// `weft pipe ARGS` on `node` with stdin and stdout piped.
fn pipe(node: &TestNode, args: &[&str]) -> Child {
    Command::new(weft_bin())
        .args(["--data-dir", node.dir.to_str().unwrap(), "pipe"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Writes `mib` MiB of deterministic bytes to `sink`, closes it, returns their hash.
fn feed(mut sink: impl Write, mib: usize, seed: u8) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    let mut block = vec![0u8; 1024 * 1024];
    for n in 0..mib {
        for (i, byte) in block.iter_mut().enumerate() {
            *byte = (i as u8)
                .wrapping_mul(31)
                .wrapping_add(n as u8)
                .wrapping_add(seed);
        }
        hasher.update(&block);
        sink.write_all(&block).unwrap();
    }
    hasher.finalize()
}

/// Reads `source` to its end: the hash and the count of what came.
fn drain(mut source: impl Read) -> (blake3::Hash, u64) {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = source.read(&mut buf).unwrap();
        if n == 0 {
            return (hasher.finalize(), total);
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
}

#[test]
fn a_pipe_carries_a_gib_one_way_and_a_mib_back() {
    let root = root();
    let (a, b) = connected_pair(root.path(), "a", "b");
    let refused = a.weft(&["pipe", &b.peer_id]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("nobody is accepting"),
        "{said}"
    );

    // Opened first, accepted a moment later: an arriving pipe waits for its acceptor.
    let mut open = pipe(&a, &[&b.peer_id]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut accept = pipe(&b, &["--accept", "--from", &a.peer_id]);
    let (to_b, from_a) = (open.stdin.take().unwrap(), accept.stdout.take().unwrap());
    let (to_a, from_b) = (accept.stdin.take().unwrap(), open.stdout.take().unwrap());
    let sent = std::thread::spawn(move || feed(to_b, 1024, 1));
    let back = std::thread::spawn(move || feed(to_a, 1, 2));
    let got_at_b = std::thread::spawn(move || drain(from_a));
    let got_at_a = std::thread::spawn(move || drain(from_b));
    let (sent, back) = (sent.join().unwrap(), back.join().unwrap());
    let (at_b, at_a) = (got_at_b.join().unwrap(), got_at_a.join().unwrap());
    assert!(open.wait().unwrap().success() && accept.wait().unwrap().success());
    assert_eq!(at_b, (sent, 1 << 30), "1 GiB arrived intact at b");
    assert_eq!(at_a, (back, 1 << 20), "1 MiB arrived intact at a");
    println!("pipes: 1 GiB a->b and 1 MiB b->a, hashes equal at both ends");
}
