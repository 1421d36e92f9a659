//! Members by name: every command that takes a member takes its name (given at admission)
//! or a unique part of its PeerId; a name two members share is refused with both listed,
//! and a name with control characters is refused at admission. Members give themselves
//! display names, shown beside the admins' names and never taken for a member.

use libp2p::identity::Keypair;

use crate::support::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether `node` lists a member whose `field` is `value`.
fn lists(node: &TestNode, field: &str, value: &str) -> bool {
    let members = node.json(&["members"]);
    members
        .as_array()
        .is_some_and(|all| all.iter().any(|m| m[field] == value))
}

#[test]
fn members_are_named_by_name_or_part_of_their_peer_id() {
    let root = root();
    let nodes = mesh(root.path(), &["alice", "bob", "carol"]);
    let (alice, bob, carol) = (&nodes[0], &nodes[1], &nodes[2]);

    let sent = alice.ok(&["send", "bob", "hello bob"]);
    assert!(sent.contains("delivered"), "{sent}");
    let inbox = bob.json(&["inbox", "--from", "alice"]);
    assert_eq!(inbox[0]["text"], "hello bob", "{inbox}");
    let pinged = alice.ok(&["ping", "Carol", "--count", "1", "--interval", "0.1"]);
    assert!(pinged.contains("1 received"), "{pinged}");
    // A part of a PeerId: its beginning past `12D3KooW`, or its end as weft prints it.
    let head = &carol.peer_id[..16];
    let sent = alice.ok(&["send", head, "by the head"]);
    assert!(sent.contains("delivered"), "{sent}");
    let tail = &bob.peer_id[bob.peer_id.len() - 8..];
    let sent = carol.ok(&["send", tail, "by the tail"]);
    assert!(sent.contains("delivered"), "{sent}");

    // Two members named sam: refused, with both listed.
    let sams: Vec<String> = (0..2)
        .map(|_| {
            Keypair::generate_ed25519()
                .public()
                .to_peer_id()
                .to_string()
        })
        .collect();
    for sam in &sams {
        alice.ok(&["members", "add", sam, "--name", "sam"]);
    }
    let out = alice.weft(&["send", "sam", "which one?"]);
    assert_eq!(out.status.code(), Some(1));
    let said = stderr(&out);
    assert!(
        said.contains(&sams[0]) && said.contains(&sams[1]),
        "both listed: {said}"
    );
    let out = alice.weft(&["send", "nobody", "hi"]);
    assert!(
        stderr(&out).contains("no member is named `nobody`"),
        "{}",
        stderr(&out)
    );

    // A name with an escape sequence in it is refused at admission.
    let other = Keypair::generate_ed25519()
        .public()
        .to_peer_id()
        .to_string();
    let out = alice.weft(&["members", "add", &other, "--name", "eve\u{1b}[2J"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // So is one that would pass for a PeerId.
    let out = alice.weft(&["members", "add", &other, "--name", &carol.peer_id[..16]]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    alice.ok(&["members", "remove", "bob"]);
    assert!(!lists(alice, "name", "bob"));
    println!("names: sent, pinged and removed by name and by part of a PeerId");
}

#[test]
fn files_are_sent_to_a_name_and_fetched_by_the_short_id_weft_printed() {
    let root = root();
    let nodes = mesh(root.path(), &["alice", "bob"]);
    let (alice, bob) = (&nodes[0], &nodes[1]);
    let file = root.path().join("notes.txt");
    std::fs::write(&file, "minutes of the meeting").unwrap();
    let offer = alice.json(&["send-file", "bob", file.to_str().unwrap()]);
    let blob = offer["offer"]["blob"].as_str().unwrap();
    // The id as weft prints it short, from the member by name.
    let out = root.path().join("got.txt");
    let fetched = bob.ok(&[
        "fetch",
        &blob[..8],
        "--from",
        "alice",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(fetched.contains(&blob[..8]), "{fetched}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "minutes of the meeting"
    );
    // Too short to name a blob, or naming none this node was offered.
    for (short, says) in [
        (&blob[..7], "8 to 64 hex digits"),
        ("00000000", "no file offer"),
    ] {
        let out = bob.weft(&["fetch", short, "--from", "alice"]);
        assert_ne!(out.status.code(), Some(0));
        assert!(stderr(&out).contains(says), "{short}: {}", stderr(&out));
    }
}

#[test]
fn admins_rename_members_and_members_rename_nobody() {
    let root = root();
    let nodes = mesh(root.path(), &["alice", "bob", "carol"]);
    let (alice, bob, carol) = (&nodes[0], &nodes[1], &nodes[2]);
    alice.ok(&["members", "name", "bob", "robert"]);
    // Every member hears of it, and commands take the new name.
    wait_for("carol to know robert", || {
        lists(carol, "name", "robert").then_some(())
    });
    let sent = carol.ok(&["send", "robert", "hi robert"]);
    assert!(
        sent.contains("delivered") && sent.contains("robert"),
        "{sent}"
    );
    let inbox = bob.json(&["inbox", "--from", "carol"]);
    assert_eq!(inbox[0]["text"], "hi robert");
    // A member names nobody, itself included.
    let out = bob.weft(&["members", "name", "robert", "bob"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Names are checked like admissions.
    let out = alice.weft(&["members", "name", "carol", "bad\u{7}name"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn members_give_themselves_display_names_shown_beside_the_admins_names() {
    let root = root();
    let mut nodes = mesh(root.path(), &["alice", "bob", "carol"]);
    // A clean join raises no alarm: a newcomer's first sync with a member that had not yet
    // heard of its admission waits for it instead of being refused.
    for node in &nodes {
        assert_eq!(
            node.status()["rejected"]["sync_not_member"]
                .as_u64()
                .unwrap_or(0),
            0,
            "{}",
            node.status()["rejected"]
        );
    }
    let (alice, bob, carol) = (&nodes[0], &nodes[1], &nodes[2]);
    let said = bob.ok(&["members", "display-name", "Bob Tables"]);
    assert!(said.contains("bob \"Bob Tables\""), "{said}");
    for node in [alice, carol] {
        wait_for("the display name to reach every member", || {
            lists(node, "display_name", "Bob Tables").then_some(())
        });
    }
    let listed = carol.ok(&["members"]);
    assert!(listed.contains("bob \"Bob Tables\""), "{listed}");
    // It is bob's own word: no command takes him by it, and it may not pass for a PeerId.
    let out = carol.weft(&["send", "Bob Tables", "hi"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = carol.weft(&["members", "display-name", &bob.peer_id[..20]]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Kept across a restart.
    nodes[0].stop();
    nodes[0].start();
    let (alice, bob) = (&nodes[0], &nodes[1]);
    assert!(lists(alice, "display_name", "Bob Tables"));
    // Taken back, it goes from every list.
    bob.ok(&["members", "display-name"]);
    wait_for("the display name to be taken back", || {
        (!lists(alice, "display_name", "Bob Tables")).then_some(())
    });
}
