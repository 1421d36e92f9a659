//! The local doors: the data dir, the invite on the command line, and what peers' text does
//! to a terminal.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::support::{TestNode, founder, invite, root, weft_bin};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_data_dir_open_to_other_users_is_refused_with_the_fix() {
    let root = root();
    let node = TestNode::init(root.path(), "alice");
    std::fs::set_permissions(&node.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Neither the node nor a second init uses it.
    let out = Command::new(weft_bin())
        .arg("--data-dir")
        .arg(&node.dir)
        .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns", "off"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 700"), "{}", stderr(&out));
    let out = node.weft(&["init"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("open to other users"),
        "{}",
        stderr(&out)
    );
    // Fixed as it says, it runs.
    std::fs::set_permissions(&node.dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut node = node;
    node.start();
    assert_eq!(node.status()["peer_id"], node.peer_id.as_str());
}

#[test]
fn join_takes_the_invite_from_stdin() {
    let root = root();
    let a = founder(root.path(), "alice");
    let mut b = TestNode::init(root.path(), "bob");
    b.start();
    let key = invite(&a, &[]);
    let mut join = Command::new(weft_bin())
        .arg("--data-dir")
        .arg(&b.dir)
        .args(["join", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(join.stdin.take().unwrap(), "{key}").unwrap();
    let out = join.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("joined mesh"));
}

#[test]
fn text_from_peers_reaches_the_terminal_with_control_characters_escaped() {
    let root = root();
    let a = founder(root.path(), "alice");
    let b = crate::support::member(root.path(), &a, "bob");
    crate::support::wait_for("alice to know bob", || {
        let members = a.json(&["members"]);
        (members.as_array().unwrap().len() == 2).then_some(())
    });
    // Clear the screen, retitle the terminal, and fake a line of output.
    let nasty = "hi\u{1b}[2J\u{1b}]0;owned\u{7}\ndelivered everything";
    a.ok(&["send", &b.peer_id, nasty]);
    let shown = b.ok(&["inbox"]);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    assert!(shown.contains("\\u{1b}[2J"), "{shown:?}");
    assert_eq!(
        shown.lines().count(),
        1,
        "a peer's text made a line of its own: {shown:?}"
    );
    // The text itself is kept as sent (JSON carries it escaped by JSON's own rules).
    let got = crate::support::received_from(&b, &a);
    assert_eq!(got[0]["text"], nasty);
}
