//! `weft chat` in a real terminal: tmux runs it for two members of a mesh, the test types
//! into one (send-keys) and reads both screens (capture-pane) until they show what a user
//! would see: the message on the other side, its delivery state on this side, a joined
//! room and its message, a file offer with its fetch command, and the fetch done; then
//! line mode, with stdin and stdout piped; then a message to a member who went away,
//! queued, turning delivered when he is back (or held by a mailbox member first, when the
//! mesh has one).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{TestNode, founder, member, mesh, root, wait_peers, wait_until, weft_bin};

#[test]
fn two_members_chat_join_a_room_and_fetch_an_offered_file_on_real_terminals() {
    let root = root();
    let tmux = Tmux::new(root.path());
    let mut nodes = mesh(root.path(), &["alice", "bob"]);
    let (first, rest) = nodes.split_at_mut(1);
    let (alice, bob) = (&first[0], &mut rest[0]);
    let (alice_files, bob_files) = (
        root.path().join("alice-files"),
        root.path().join("bob-files"),
    );
    std::fs::create_dir(&alice_files).unwrap();
    std::fs::create_dir(&bob_files).unwrap();
    tmux.chat("alice", alice, &alice_files, "bob");
    tmux.chat("bob", &*bob, &bob_files, "alice");
    tmux.wait("alice", "to @bob");
    tmux.wait("bob", "to @alice");

    // A direct message: there on the other screen, and delivered on this one.
    tmux.type_line("alice", "hello from the chat");
    tmux.wait("bob", "alice: hello from the chat");
    tmux.wait("alice", "you: hello from the chat  [delivered]");

    // A smaller terminal: the chat redraws to fit it, the conversation's end still in sight.
    tmux.resize("alice", 90, 20);
    tmux.wait_until("alice", "a screen 90 wide with the message", |screen| {
        // Cut to the new width without a redraw, the top border would not end in a corner.
        let top = screen.lines().next().unwrap_or_default();
        screen.contains("you: hello from the chat  [delivered]")
            && top.chars().count() == 90
            && top.ends_with('┐')
            && screen.lines().any(|l| l.starts_with("┌ to @bob"))
    });

    // A room: bob joins first; alice joins once her node sees him subscribed, then says
    // something there.
    tmux.type_line("bob", "/join news");
    tmux.wait("bob", "to #news");
    tmux.type_line("alice", "/join news");
    tmux.wait("alice", "to #news");
    let seen = wait_until(|| (alice.status()["topics"][0]["peers"] == 1).then_some(()));
    assert!(seen.is_some(), "alice never saw bob on news");
    tmux.type_line("alice", "first bulletin");
    tmux.wait("bob", "alice: first bulletin");

    // A file: alice offers it to bob (a path relative to where her chat runs); bob is in
    // the room, so the offer counts as unread in the list; he opens it and fetches.
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(alice_files.join("report.bin"), &content).unwrap();
    tmux.type_line("alice", "/msg bob");
    tmux.wait("alice", "to @bob");
    tmux.type_line("alice", "/send-file report.bin");
    tmux.wait("alice", "you: offered file report.bin (293.0 KiB");
    tmux.wait("bob", "@alice (1)");
    tmux.type_line("bob", "/msg alice");
    tmux.wait(
        "bob",
        "alice: file report.bin (293.0 KiB, application/octet-stream)",
    );
    tmux.type_line("bob", "/fetch");
    let fetched = bob_files.join("report.bin");
    tmux.wait("bob", &format!("fetched to {}", fetched.display()));
    assert_eq!(std::fs::read(&fetched).unwrap(), content);

    // Invites are for admins: alice (the founder) gets a key, bob is told why not.
    tmux.type_line("alice", "/invite guest");
    tmux.wait("alice", "invite for a guest (one use, valid 24 h");
    tmux.type_line("bob", "/invite");
    tmux.wait("bob", "* no invite: ");

    // Line mode: stdout is a pipe, so the same commands come from stdin.
    let mut chat = Command::new(weft_bin())
        .arg("--data-dir")
        .arg(&alice.dir)
        .arg("chat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    chat.stdin
        .take()
        .unwrap()
        .write_all(b"/msg bob said in line mode\n")
        .unwrap();
    let out = chat.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "line mode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("[@bob] you: said in line mode"), "{stdout}");
    tmux.wait("bob", "alice: said in line mode");

    // /quit leaves and gives the terminal back.
    tmux.type_line("bob", "/quit");
    tmux.wait("bob", "[weft chat exited 0]");

    // A message to a member who is away stays queued, and turns delivered when he is back.
    bob.stop();
    tmux.wait("alice", "member · away");
    tmux.type_line("alice", "while you were away");
    tmux.wait("alice", "you: while you were away  [queued]");
    bob.start();
    tmux.wait("alice", "member · online direct");
    tmux.wait("alice", "you: while you were away  [delivered]");
}

#[test]
fn a_message_for_an_away_member_shows_held_by_a_mailbox_then_delivered() {
    let root = root();
    let tmux = Tmux::new(root.path());
    let alice = founder(root.path(), "alice");
    let mbox = crate::mailbox::mailbox(root.path(), &alice, "mbox", &[]);
    let mut bob = member(root.path(), &alice, "bob");
    for node in [&alice, &mbox, &bob] {
        wait_peers(node, 2);
    }
    tmux.chat("alice", &alice, root.path(), "bob");
    tmux.wait("alice", "to @bob");
    tmux.wait("alice", "mailbox · online direct");
    bob.stop();
    tmux.wait("alice", "member · away");
    tmux.type_line("alice", "kept for you");
    tmux.wait("alice", "you: kept for you  [held by a mailbox]");
    bob.start();
    tmux.wait("alice", "you: kept for you  [delivered]");
}

/// A private tmux server (its socket in the test's directory), killed when dropped.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// A server of our own; the test fails here, saying how to get tmux, when it is missing.
    fn new(dir: &Path) -> Tmux {
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "tmux is missing: install it (apt-get install tmux) to run this test"
        );
        Tmux {
            socket: dir.join("tmux"),
        }
    }

    /// Runs `weft chat TARGET` for `node` in a 120×40 terminal named `name`, in `cwd`. The
    /// pane says how the chat exited, and stays, so a failure shows what the chat said.
    fn chat(&self, name: &str, node: &TestNode, cwd: &Path, target: &str) {
        let script = format!(
            "{} chat {target}; echo \"[weft chat exited $?]\"; exec sleep 600",
            weft_bin()
        );
        let status = self
            .tmux()
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "120",
                "-y",
                "40",
                "-c",
            ])
            .arg(cwd)
            .arg("-e")
            .arg(format!("WEFT_DATA_DIR={}", node.dir.display()))
            .arg(script)
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session {name}");
    }

    /// Types `line` into the terminal `name`, then Enter.
    fn type_line(&self, name: &str, line: &str) {
        for keys in [&["-l", line][..], &["Enter"][..]] {
            let status = self
                .tmux()
                .args(["send-keys", "-t", name])
                .args(keys)
                .status()
                .unwrap();
            assert!(status.success(), "tmux send-keys {name}");
        }
    }

    /// What the terminal `name` shows now.
    fn screen(&self, name: &str) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Resizes the terminal `name`, as a user resizing the window would.
    fn resize(&self, name: &str, width: u16, height: u16) {
        let status = self
            .tmux()
            .args(["resize-window", "-t", name])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "tmux resize-window {name}");
    }

    /// Waits until the terminal `name` shows `text`; fails with the screen if it never does.
    fn wait(&self, name: &str, text: &str) {
        self.wait_until(name, &format!("{text:?}"), |screen| screen.contains(text));
    }

    /// Waits until the screen of terminal `name` passes `check`; fails with the screen,
    /// saying it never showed `what`, if it never does.
    fn wait_until(&self, name: &str, what: &str, check: impl Fn(&str) -> bool) {
        if wait_until(|| check(&self.screen(name)).then_some(())).is_none() {
            panic!(
                "{name}'s screen never showed {what}; it shows:\n{}",
                self.screen(name)
            );
        }
    }

    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .env("TERM", "xterm-256color");
        command
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}
