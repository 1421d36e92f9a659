//! The two binaries: `weft` is a client of a node's API and hands the commands that run a
//! node to `weft-node` beside it, by `exec` (the same process); a client loads none of the
//! node, and a `weft` without its `weft-node`, or with one from another build, says so in
//! one line.

use std::process::Command;

use crate::support::{founder, root, wait_for, weft_bin};

/// What process `pid` maps: its binary and every library.
fn maps(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default()
}

#[test]
fn a_node_runs_in_weft_node_and_a_client_maps_none_of_it() {
    let root = root();
    let node = founder(root.path(), "solo");
    // `weft node` became weft-node in the process the test started, which links libzmq for
    // the node's ZeroMQ endpoints.
    let exe = std::fs::read_link(format!("/proc/{}/exe", node.pid())).unwrap();
    assert!(
        exe.ends_with("weft-node"),
        "the node runs {}",
        exe.display()
    );
    assert!(maps(node.pid()).contains("libzmq"), "{}", maps(node.pid()));

    // A long-running client: once its subscription reached the node, its main has run and
    // everything it loads is mapped.
    let client = node.background(&["subscribe", "news"]);
    wait_for("the client's subscription", || {
        let status = node.status();
        let topics = status["topics"].as_array()?.clone();
        topics.iter().any(|t| t["name"] == "news").then_some(())
    });
    let client_maps = maps(client.0.id());
    assert!(client_maps.contains("/weft\n"), "{client_maps}");
    assert!(!client_maps.contains("libzmq"), "{client_maps}");
    assert!(!client_maps.contains("weft-node"), "{client_maps}");
}

#[test]
fn weft_without_weft_node_says_what_is_missing_and_changes_nothing() {
    let root = root();
    let alone = root.path().join("bin");
    std::fs::create_dir(&alone).unwrap();
    let weft = alone.join("weft");
    // A link, not a copy: a copy is a file open for writing, which a process that another
    // test forks meanwhile may hold, and running it would fail with "text file busy".
    if std::fs::hard_link(weft_bin(), &weft).is_err() {
        std::fs::copy(weft_bin(), &weft).unwrap();
    }
    let data_dir = root.path().join("data");
    for args in [&["init"][..], &["node"][..]] {
        let out = Command::new(&weft)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "weft {args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(&format!("{}", alone.join("weft-node").display())),
            "{err}"
        );
        assert!(err.contains("install it beside weft"), "{err}");
        assert!(
            !data_dir.exists(),
            "weft {args:?} made {}",
            data_dir.display()
        );
    }
}

#[test]
fn weft_run_through_a_link_hands_off_to_the_weft_node_beside_the_real_binary() {
    let root = root();
    let links = root.path().join("links");
    std::fs::create_dir(&links).unwrap();
    std::os::unix::fs::symlink(weft_bin(), links.join("weft")).unwrap();
    // A decoy beside the link: it would leave a mark if it ran.
    let mark = root.path().join("decoy-ran");
    let decoy = links.join("weft-node");
    std::fs::write(&decoy, format!("#!/bin/sh\ntouch {}\n", mark.display())).unwrap();
    std::fs::set_permissions(&decoy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let data_dir = root.path().join("data");
    let out = Command::new(links.join("weft"))
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--json", "init"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!mark.exists(), "the decoy beside the link ran");
    assert!(
        data_dir.join("db").exists(),
        "the real weft-node made the node"
    );
}

#[test]
fn a_weft_node_from_another_build_than_weft_refuses_in_one_line() {
    // What a `weft` rebuilt alone (`cargo run --bin weft`) hands the `weft-node` an older
    // build left beside it: the fingerprint of other sources.
    let root = root();
    let data_dir = root.path().join("data");
    let out = Command::new(std::path::Path::new(weft_bin()).with_file_name("weft-node"))
        .env("WEFT_HANDOFF_SOURCES", "0000000000000000")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("init")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("cargo build --bins"), "{err}");
    assert!(!data_dir.exists(), "it made {}", data_dir.display());
}
