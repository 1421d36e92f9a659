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

#[test]
fn chat_sends_direct_messages_from_stdin() {
    let root = root();
    let (alice, bob) = connected_pair(root.path(), "alice", "bob");
    let mut child = Command::new(example("chat"))
        .arg(&alice.dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the chat example is built by cargo test");
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(
        &mut stdin,
        format!("/to {} hi bob\n/quit\n", bob.peer_id).as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Delivered"), "{stdout}");
    let got = crate::support::received_from(&bob, &alice);
    assert_eq!(got[0]["text"], "hi bob");
}

#[test]
fn word_count_serves_a_service_through_the_client() {
    let root = root();
    let (a, provider) = connected_pair(root.path(), "a", "provider");
    let mut child = Command::new(example("word_count"))
        .arg(&provider.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the word_count example is built by cargo test");
    let reply = wait_for("wordcount to answer", || {
        let out = a.weft(&["call", "wordcount", "to be or not\nto be"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
    });
    assert_eq!(reply, "1 6 18");
    child.kill().unwrap();
    child.wait().unwrap();
}
