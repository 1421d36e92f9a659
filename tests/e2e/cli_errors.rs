//! Bad input from a user: a clear one-line error, the right exit code, nothing changed.

use crate::support::{TestNode, founder, root, weft_raw};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_command_or_flag_is_usage_exit_2() {
    for args in [&["frobnicate"][..], &["status", "--bogus"][..], &[][..]] {
        let out = weft_raw(args);
        assert_eq!(out.status.code(), Some(2), "weft {args:?}");
        assert!(
            stderr(&out).contains("Usage"),
            "weft {args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn node_not_running_says_how_to_start_it() {
    let root = root();
    let node = TestNode::init(root.path(), "idle");
    for args in [
        &["status"][..],
        &["peers"][..],
        &["send", &node.peer_id, "hi"][..],
    ] {
        let out = node.weft(args);
        assert_eq!(out.status.code(), Some(1), "weft {args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("no weft node is running"), "{err}");
        assert!(err.contains("weft node --data-dir"), "{err}");
    }
}

#[test]
fn a_malformed_multiaddr_and_an_unknown_member_are_named() {
    let out = weft_raw(&["dial", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not-an-address"), "{}", stderr(&out));

    // A member may be named by its name: what no member is called is said so.
    let root = root();
    let node = founder(root.path(), "a");
    for args in [
        &["send", "12D3KooWnotapeer", "hello"][..],
        &["inbox", "--from", "bogus-peer"],
    ] {
        let out = node.weft(args);
        assert_eq!(out.status.code(), Some(1), "weft {args:?}");
        let named = args.iter().find(|a| a.contains("peer")).unwrap();
        assert!(
            stderr(&out).contains(&format!("no member is named `{named}`")),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn init_twice_refuses_and_keeps_the_identity() {
    let root = root();
    let node = TestNode::init(root.path(), "once");
    let out = node.weft(&["init"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("already initialised") && err.contains(&node.peer_id),
        "{err}"
    );
    let mut node = node;
    node.start();
    assert_eq!(
        node.json(&["id"])["peer_id"],
        node.peer_id.as_str(),
        "identity unchanged"
    );
}

#[test]
fn second_node_on_one_data_dir_exits_at_once() {
    let root = root();
    let mut node = TestNode::init(root.path(), "single");
    node.start();
    let out = node.weft(&["node", "--listen", "/ip4/127.0.0.1/tcp/0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("another weft process is using"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    node.status(); // the first one still serves
}

#[test]
fn node_without_init_says_to_init() {
    let root = root();
    let dir = root.path().join("fresh");
    let out = weft_raw(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "node",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("weft init"), "{}", stderr(&out));
}

#[test]
fn oversize_message_is_refused_not_truncated() {
    let root = root();
    let mut a = TestNode::init(root.path(), "a");
    let b = TestNode::init(root.path(), "b");
    a.start();
    let big = "x".repeat(64 * 1024 + 1);
    for args in [
        &["send", &b.peer_id, &big][..],
        &["publish", "news", &big][..],
    ] {
        let out = a.weft(args);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains("65537 bytes") && err.contains("65536"),
            "{err}"
        );
    }
    let history = a.json(&["inbox"]);
    assert_eq!(history.as_array().unwrap().len(), 0, "nothing stored");
    assert_eq!(a.status()["outbox"], 0);
}
