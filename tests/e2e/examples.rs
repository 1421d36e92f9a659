//! The examples run against real nodes.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::{connected_pair, root, wait_for, weft_bin};

/// An example binary built by `cargo test` beside the `weft` binary.
fn example(name: &str) -> PathBuf {
    let bin = PathBuf::from(weft_bin());
    bin.parent().unwrap().join("examples").join(name)
}

#[test]
fn echo_bot_answers_direct_messages() {
    let root = root();
    let (a, bot) = connected_pair(root.path(), "a", "bot");
    let mut child = Command::new(example("echo_bot"))
        .arg(&bot.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the echo_bot example is built by cargo test");
    // The bot prints its greeting once it follows the event stream.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert!(line.contains("echo bot on"), "{line}");

    a.ok(&["send", &bot.peer_id, "marco"]);
    let reply = wait_for("the echo", || {
        crate::support::received_from(&a, &bot).first().cloned()
    });
    assert_eq!(reply["text"], "echo: marco");
    child.kill().unwrap();
    child.wait().unwrap();
}
