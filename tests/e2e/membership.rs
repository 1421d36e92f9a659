//! Founding a mesh and issuing, listing and revoking invite keys through the CLI.

use weft::keys::invite::Invite;

use crate::support::{TestNode, root};

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
    assert!(key.starts_with("weft1"));
    let invite = Invite::decode(key).expect("a valid invite");
    assert_eq!(invite.body.mesh.to_string(), mesh_id);
    assert_eq!(invite.body.role.to_string(), "member");
    assert_eq!(invite.body.uses, 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(invite.body.expires.abs_diff(now + 24 * 3600) < 60);
    assert!(
        invite
            .body
            .addrs
            .iter()
            .any(|addr| addr.ends_with(&a.peer_id))
    );
    let human = a.ok(&[
        "invite", "create", "--role", "guest", "--uses", "3", "--ttl", "7d", "--qr",
    ]);
    assert!(
        human.starts_with("weft1") && human.contains('█'),
        "key and QR code"
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
