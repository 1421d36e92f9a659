//! Founding a mesh and issuing, listing and revoking invite keys through the CLI.

use weft::keys::invite::Invite;

use crate::support::{TestNode, founder, invite, member, member_ids, root};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn found_a_mesh_and_manage_invites() {
    let root = root();
    let mut a = TestNode::init(root.path(), "alice");
    a.start();

    let out = a.weft(&["members"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("weft mesh create"),
        "{}",
        stderr(&out)
    );

    let mesh = a.json(&["mesh", "create", "--name", "home"]);
    let mesh_id = mesh["id"].as_str().unwrap().to_string();
    assert_eq!(mesh_id.len(), 32);
    assert_eq!(mesh["role"], "admin");
    assert_eq!(
        a.status()["mesh"],
        mesh_id.as_str(),
        "status shows the mesh id"
    );
    let again = a.weft(&["mesh", "create"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already in mesh"),
        "{}",
        stderr(&again)
    );

    // Defaults: a member, one use, 24 hours, reachable at this node's address.
    let created = a.json(&["invite", "create", "--note", "for bob"]);
    let key = created["key"].as_str().unwrap();
    // Short enough to pass on by hand, and it names this node's mesh and the node itself.
    assert!(key.starts_with("WEFT2") && key.len() <= 200, "{key}");
    let invite = Invite::decode(key).expect("a valid invite");
    assert_eq!(invite.mesh.to_string(), mesh_id);
    let issuer = libp2p::identity::ed25519::PublicKey::try_from_bytes(&invite.issuer.0).unwrap();
    assert_eq!(
        libp2p::identity::PublicKey::from(issuer)
            .to_peer_id()
            .to_string(),
        a.peer_id
    );
    assert!(!invite.reach.is_empty());
    // What it admits to stays with the issuer.
    assert_eq!(created["role"], "member");
    assert_eq!(created["uses_left"], 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        created["expires"]
            .as_u64()
            .unwrap()
            .abs_diff(now + 24 * 3600)
            < 60
    );
    let human = a.ok(&[
        "invite", "create", "--role", "guest", "--uses", "3", "--ttl", "7d", "--qr",
    ]);
    let (key_line, code) = human.split_once('\n').expect("key, then the QR code");
    assert!(key_line.starts_with("WEFT2"), "{human}");
    assert!(code.contains('█'), "{human}");
    // The code fits an 80×24 terminal.
    let lines: Vec<&str> = code.lines().filter(|l| !l.is_empty()).collect();
    let widest = lines.iter().map(|l| l.chars().count()).max().unwrap();
    assert!(
        widest <= 80 && lines.len() <= 24,
        "{widest}×{}:\n{code}",
        lines.len()
    );

    for (args, says) in [
        (&["invite", "create", "--ttl", "91d"][..], "90 days"),
        (&["invite", "create", "--uses", "0"][..], "1 to"),
    ] {
        let out = a.weft(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    let out = a.weft(&["invite", "create", "--role", "owner"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("owner"));

    let list = a.json(&["invite", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let first = created["id"].as_str().unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == first && i["note"] == "for bob")
    );

    a.ok(&["invite", "revoke", first]);
    let out = a.weft(&["invite", "revoke", "000000000000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no invite"), "{}", stderr(&out));

    // Everything survives a restart, the revocation included.
    a.stop();
    a.start();
    let list = a.json(&["invite", "list"]);
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the revoked invite is gone: {list}"
    );
    assert_eq!(list[0]["role"], "guest");
    let members = a.json(&["members"]);
    assert_eq!(members.as_array().unwrap().len(), 1);
    assert_eq!(members[0]["peer_id"], a.peer_id.as_str());
    assert_eq!(members[0]["role"], "admin");
    assert_eq!(a.status()["mesh"], mesh_id.as_str());
}

#[test]
fn join_with_an_invite_key() {
    let root = root();
    let a = founder(root.path(), "alice");
    let mut b = TestNode::init(root.path(), "bob");
    b.start();
    // bob subscribes before joining; the topic moves into the mesh with him.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(b.client().subscribe("news", true)).unwrap();
    let key = invite(&a, &[]);
    let out = b.ok(&["join", &key]);
    assert!(out.starts_with("joined mesh"), "{out}");
    let mesh = a.status()["mesh"].clone();
    assert_eq!(b.status()["mesh"], mesh);
    rt.block_on(a.client().subscribe("news", true)).unwrap();
    crate::support::wait_for("alice to see bob on `news`", || {
        (a.status()["topics"][0]["peers"] == 1).then_some(())
    });
    a.ok(&["publish", "news", "welcome bob"]);
    crate::support::wait_for("bob to get the bulletin", || {
        let got = b.json(&["inbox", "--topic", "news"]);
        (got[0]["text"] == "welcome bob").then_some(())
    });

    let members = a.json(&["members"]);
    let bob = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["peer_id"] == b.peer_id.as_str())
        .expect("bob is listed on the founder's node");
    assert_eq!(bob["role"], "member");
    assert_eq!(bob["name"], "bob");
    assert_eq!(bob["added_by"], a.peer_id.as_str());
    assert_eq!(bob["connected"], true);
    assert_eq!(
        b.json(&["members"]).as_array().unwrap().len(),
        2,
        "bob holds the ACL log too"
    );
    assert_eq!(
        a.json(&["invite", "list"]).as_array().unwrap().len(),
        0,
        "used up"
    );

    // The membership survives a restart of the joiner.
    b.stop();
    b.start();
    assert_eq!(b.status()["mesh"], mesh);
}

#[test]
fn racing_for_a_single_use_invite_exactly_one_wins() {
    let root = root();
    let a = founder(root.path(), "alice");
    let mut racers: Vec<TestNode> = ["bob", "carol", "dave"]
        .iter()
        .map(|n| TestNode::init(root.path(), n))
        .collect();
    for r in &mut racers {
        r.start();
    }
    let key = invite(&a, &[]);
    let children: Vec<_> = racers
        .iter()
        .map(|r| {
            std::process::Command::new(crate::support::weft_bin())
                .arg("--data-dir")
                .arg(&r.dir)
                .args(["join", &key])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let winners = outcomes.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "exactly one redemption of a single-use invite");
    for lost in outcomes.iter().filter(|o| !o.status.success()) {
        assert!(
            stderr(lost).contains("used up"),
            "{}\n{}",
            stderr(lost),
            a.log()
        );
    }
    assert_eq!(a.json(&["members"]).as_array().unwrap().len(), 2);
}

#[test]
fn bad_invites_are_refused_in_one_line_and_change_nothing() {
    let root = root();
    let a = founder(root.path(), "alice");
    let mut b = TestNode::init(root.path(), "bob");
    b.start();

    let good = invite(&a, &["--uses", "1"]);
    let i = good.len() / 2;
    let swap = if &good[i..=i] == "A" { "B" } else { "A" };
    let garbled = format!("{}{swap}{}", &good[..i], &good[i + 1..]);
    let truncated = good[..good.len() - 5].to_string();

    let expired = invite(&a, &["--ttl", "1s"]);
    let revoked = invite(&a, &[]);
    let revoked_id = weft::keys::invite::Invite::decode(&revoked)
        .unwrap()
        .id()
        .to_string();
    a.ok(&["invite", "revoke", &revoked_id]);
    let used = invite(&a, &[]);
    let mut c = TestNode::init(root.path(), "carol");
    c.start();
    // As pasted from an 80-column terminal: broken into lines, with spaces.
    let wrapped: Vec<&str> = used
        .as_bytes()
        .chunks(40)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    c.ok(&["join", &format!("  {}\n", wrapped.join("\n  "))]);

    // A guess at the secret: the founder's mesh and node, any secret.
    let real = weft::keys::invite::Invite::decode(&good).unwrap();
    let forged = weft::keys::invite::Invite {
        secret: weft::keys::invite::InviteSecret::generate().unwrap(),
        ..real
    }
    .encode()
    .unwrap();
    // An invite in the format of an older weft.
    let old = "weft1vmfwgzloobzxg5lomfzgk3tdmvzxg5dpobzxe2lomvzg63dp".to_string();

    // An invite of another mesh, for a node that is in a mesh already.
    let mut other = TestNode::init(root.path(), "olga");
    other.start();
    other.json(&["mesh", "create"]);
    let foreign = invite(&other, &[]);

    std::thread::sleep(std::time::Duration::from_millis(1100)); // let the 1 s invite expire
    let members_before = a.json(&["members"]);
    for (key, node, says) in [
        (&garbled, &b, "damaged"),
        (&truncated, &b, "damaged"),
        (&"hello".to_string(), &b, "not a weft invite"),
        (&expired, &b, "expired"),
        (&revoked, &b, "revoked"),
        (&used, &b, "used up"),
        (&forged, &b, "not issued by this node"),
        (&old, &b, "ask its issuer for a new one"),
        (&foreign, &c, "already in mesh"),
    ] {
        let out = node.weft(&["join", key]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{says}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(says), "expected `{says}`: {err}");
    }
    assert_eq!(
        a.json(&["members"]),
        members_before,
        "the ACL did not change"
    );
    assert!(b.status()["mesh"].is_null(), "bob is still in no mesh");
    assert!(
        a.status()["rejected"]["join"].as_u64().unwrap() >= 3,
        "refusals are counted"
    );

    // A member that is not an admin cannot issue invites.
    let out = c.weft(&["invite", "create"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("only admins"), "{}", stderr(&out));
}

#[test]
fn admins_add_re_role_and_remove_members_and_set_topic_policy() {
    let root = root();
    let a = founder(root.path(), "alice");
    let mut b = TestNode::init(root.path(), "bob");
    b.start();

    let added = a.json(&[
        "members", "add", &b.peer_id, "--role", "guest", "--name", "bob",
    ]);
    assert_eq!(added["role"], "guest");
    assert_eq!(added["name"], "bob");
    assert_eq!(
        a.json(&["members", "role", &b.peer_id, "member"])["role"],
        "member"
    );

    a.ok(&["topic", "policy", "news", "--publish", "admin", &a.peer_id]);
    for (args, says) in [
        (
            &["topic", "policy", "news", "--publish", "guest"][..],
            "guests never publish",
        ),
        (
            &["topic", "policy", "news", "--publish", "nobody"][..],
            "neither a role nor a PeerId",
        ),
        (
            &["members", "remove", &a.peer_id][..],
            "founder cannot be removed",
        ),
        (&["members", "add", &a.peer_id][..], "member already"),
    ] {
        let out = a.weft(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }

    // A member that is not an admin may not remove anyone.
    let mut c = TestNode::init(root.path(), "carol");
    c.start();
    c.ok(&["join", &invite(&a, &[])]);
    let out = c.weft(&["members", "remove", &a.peer_id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("only admins"), "{}", stderr(&out));

    // Removal is permanent.
    a.ok(&["members", "remove", &b.peer_id]);
    let members = a.json(&["members"]);
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["peer_id"] != b.peer_id.as_str())
    );
    let out = a.weft(&["members", "add", &b.peer_id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("permanent"), "{}", stderr(&out));
}

#[test]
fn the_acl_reaches_every_member_also_one_that_was_offline() {
    let root = root();
    let a = founder(root.path(), "alice");
    let mut b = member(root.path(), &a, "bob");
    let c = member(root.path(), &a, "carol");

    // bob learns of carol's admission, which happened after he joined.
    crate::support::wait_for("bob to learn of carol", || {
        member_ids(&b).contains(&c.peer_id).then_some(())
    });

    // carol is connected to alice (as a member) when she is removed, so she hears of it.
    crate::support::wait_for("carol to be connected to alice", || {
        let peers = a.json(&["peers"]);
        let peers = peers.as_array().unwrap();
        peers
            .iter()
            .any(|p| p["peer_id"] == c.peer_id.as_str())
            .then_some(())
    });
    // bob is offline while carol is removed; he applies it when he comes back.
    b.stop();
    a.ok(&["members", "remove", &c.peer_id]);
    assert!(!member_ids(&a).contains(&c.peer_id));
    b.start();
    crate::support::wait_for("bob to sync carol's removal", || {
        (!member_ids(&b).contains(&c.peer_id)).then_some(())
    });
    assert_eq!(member_ids(&b).len(), 2);

    // carol learnt she was removed, and by whom; she no longer sends.
    let removed = crate::support::wait_for("carol to learn she was removed", || {
        let status = c.json(&["status"]);
        (!status["removed"].is_null()).then(|| status["removed"].clone())
    });
    assert_eq!(removed["by"], a.peer_id.as_str());
    let doctor = c.weft(&["doctor"]);
    assert!(!doctor.status.success());
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        said.contains("removed from its mesh by") && said.contains(&a.peer_id),
        "{said}"
    );
    let out = c.weft(&["send", "--no-wait", &b.peer_id, "still here?"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("removed"), "{}", stderr(&out));
    assert!(crate::support::received_from(&b, &c).is_empty());
}

#[test]
fn a_member_removed_while_offline_learns_it_when_it_comes_back() {
    let root = root();
    let a = founder(root.path(), "alice");
    let mut c = member(root.path(), &a, "carol");
    c.stop();
    a.ok(&["members", "remove", &c.peer_id]);
    c.start();
    let removed = crate::support::wait_for("carol to learn she was removed", || {
        let status = c.json(&["status"]);
        (!status["removed"].is_null()).then(|| status["removed"].clone())
    });
    assert_eq!(removed["by"], a.peer_id.as_str());
    // She hangs up, and says so after a restart too.
    crate::support::wait_for("carol to be gone from alice's peers", || {
        let peers = a.json(&["peers"]);
        let peers = peers.as_array().unwrap();
        (!peers.iter().any(|p| p["peer_id"] == c.peer_id.as_str())).then_some(())
    });
    c.stop();
    c.start();
    assert_eq!(c.json(&["status"])["removed"]["by"], a.peer_id.as_str());
}

#[test]
fn members_find_each_other_without_being_told_addresses() {
    let root = root();
    let a = founder(root.path(), "alice");
    let b = member(root.path(), &a, "bob");
    let c = member(root.path(), &a, "carol");
    // bob hears of carol's admission from alice (gossip, or his next sync).
    crate::support::wait_for("bob to learn of carol", || {
        member_ids(&b).contains(&c.peer_id).then_some(())
    });
    // Neither bob nor carol was ever given the other's address.
    let out = b.ok(&["send", &c.peer_id, "found you"]);
    assert!(out.starts_with("delivered"), "{out}");
    let got = crate::support::received_from(&c, &b);
    assert_eq!(got[0]["text"], "found you");
}

#[test]
fn a_spent_invite_stays_spent_across_a_crash_of_the_issuer() {
    let root = root();
    let mut a = founder(root.path(), "alice");
    let key = invite(&a, &[]);
    let mut b = TestNode::init(root.path(), "bob");
    b.start();
    b.ok(&["join", &key]);
    // The issuer dies without a chance to flush or clean up, and comes back.
    a.kill();
    a.start();
    let mut c = TestNode::init(root.path(), "carol");
    c.start();
    let out = c.weft(&["join", &key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("used up"), "{}", stderr(&out));
    assert_eq!(
        member_ids(&a).len(),
        2,
        "bob's admission survived the crash, carol was refused"
    );
}
