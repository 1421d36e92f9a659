//! The doors of the membership layer, tried by hostile peers: bare rust-libp2p swarms that
//! know the wire (docs/PROTOCOL.md) and sign what they like. Each test fails if its door is
//! left open.

use std::net::TcpListener;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol, gossipsub, identify};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use weft::keys::Identity;
use weft::proto::acl::{OP_VERSION, OpBody, OpId, OpKind, SignedOp};
use weft::proto::codec::{from_cbor, to_cbor};
use weft::proto::join::{JOIN_VERSION, JoinRequest, JoinResponse};
use weft::proto::mailbox::{
    Boxed, MAILBOX_VERSION, MailboxRequest, MailboxResponse, Op as MailboxOp, Outcome,
};
use weft::proto::mesh::{MemberKey, MeshId, Role};
use weft::proto::sync::{Logged, SYNC_VERSION, SyncRequest, SyncResponse};
use weft::proto::topic::TopicMessage;

use crate::bare;
use crate::support::{TestNode, founder, member, member_ids, root, wait_for, wait_peers};

/// Room in the channels between a test and its hostile peer's swarm.
const CAPACITY: usize = 4096;

const SYNC: StreamProtocol = StreamProtocol::new("/weft/sync/1");
const JOIN: StreamProtocol = StreamProtocol::new("/weft/join/1");
const MAILBOX: StreamProtocol = StreamProtocol::new("/weft/mailbox/1");

/// What a hostile peer speaks: weft's streams, gossipsub and identify, as any libp2p
/// implementation has them.
#[derive(NetworkBehaviour)]
struct Wire {
    stream: libp2p_stream::Behaviour,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
}

/// What the test hears from a hostile peer's swarm.
#[derive(Debug)]
enum Seen {
    Connected(PeerId),
    Closed(PeerId),
    DialFailed,
    Subscribed(PeerId),
    /// The peer sent its identify: what a member is told, never a stranger.
    Identified(PeerId),
}

/// What the test tells a hostile peer's swarm to do.
enum Do {
    Dial(Multiaddr),
    Subscribe(String),
    Publish(String, Vec<u8>),
}

/// A hostile peer: its key (as a weft identity too, to sign ops and messages), its swarm
/// running on the test's runtime, and a handle to open and accept streams.
struct Hostile {
    peer: PeerId,
    keypair: Keypair,
    identity: Identity,
    control: libp2p_stream::Control,
    commands: mpsc::Sender<Do>,
    seen: mpsc::Receiver<Seen>,
}

impl Hostile {
    /// A peer with a fresh key that uses `mesh`'s prologue over TCP and announces
    /// `announce` as its address.
    fn new(mesh: &str, announce: Option<Multiaddr>) -> Hostile {
        let secret: [u8; 32] = rand_bytes();
        let keypair = Keypair::ed25519_from_bytes(secret).unwrap();
        let identity = Identity::from_secret(&secret);
        let mut swarm = bare::swarm(keypair.clone(), mesh, |key| Wire {
            stream: libp2p_stream::Behaviour::new(),
            gossipsub: bare::gossip(key),
            identify: identify::Behaviour::new(identify::Config::new(
                "/weft/1.0.0".into(),
                key.public(),
            )),
        });
        if let Some(addr) = announce {
            swarm.add_external_address(addr);
        }
        let peer = *swarm.local_peer_id();
        let control = swarm.behaviour().stream.new_control();
        let (commands, mut todo) = mpsc::channel(CAPACITY);
        let (tell, seen) = mpsc::channel(CAPACITY);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    command = todo.recv() => match command {
                        Some(Do::Dial(addr)) => {
                            if swarm.dial(addr).is_err() {
                                let _ = tell.try_send(Seen::DialFailed);
                            }
                        }
                        Some(Do::Subscribe(topic)) => {
                            let topic = gossipsub::IdentTopic::new(topic);
                            swarm.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
                        }
                        Some(Do::Publish(topic, data)) => {
                            let topic = gossipsub::IdentTopic::new(topic);
                            let _ = swarm.behaviour_mut().gossipsub.publish(topic, data);
                        }
                        None => return,
                    },
                    event = swarm.select_next_some() => {
                        let seen = match event {
                            SwarmEvent::ConnectionEstablished { peer_id, .. } => Seen::Connected(peer_id),
                            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => Seen::Closed(peer_id),
                            SwarmEvent::OutgoingConnectionError { .. } => Seen::DialFailed,
                            SwarmEvent::Behaviour(WireEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, .. })) => Seen::Subscribed(peer_id),
                            SwarmEvent::Behaviour(WireEvent::Identify(identify::Event::Received { peer_id, .. })) => Seen::Identified(peer_id),
                            _ => continue,
                        };
                        let _ = tell.try_send(seen);
                    }
                }
            }
        });
        Hostile {
            peer,
            keypair,
            identity,
            control,
            commands,
            seen,
        }
    }

    /// Its member key.
    fn key(&self) -> MemberKey {
        self.identity.member_key()
    }

    fn dial(&self, addr: &str) {
        let _ = self.commands.try_send(Do::Dial(addr.parse().unwrap()));
    }

    /// Dials `peer` at `addr` again; whether a connection came up at all (the wall refuses
    /// it at establishment, which the dialler sees as a failed dial or a closed connection).
    async fn redial(&mut self, addr: &str, peer: PeerId) -> bool {
        self.dial(addr);
        self.wait("the dial to end", |s| match s {
            Seen::Connected(p) if *p == peer => Some(true),
            Seen::DialFailed | Seen::Closed(_) => Some(false),
            _ => None,
        })
        .await
    }

    /// Waits for what `want` picks out of what the swarm reports.
    async fn wait<T>(&mut self, what: &str, mut want: impl FnMut(&Seen) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(seen)) => {
                    if let Some(v) = want(&seen) {
                        return v;
                    }
                }
                _ => panic!("timed out waiting for {what}"),
            }
        }
    }

    /// Asks `peer` one `/weft/sync/1` question; the answer, or why there is none.
    async fn sync(&self, peer: PeerId, request: &SyncRequest) -> Result<SyncResponse, String> {
        let mut stream = self
            .control
            .clone()
            .open_stream(peer, SYNC)
            .await
            .map_err(|e| e.to_string())?;
        write_frame(&mut stream, request).await?;
        read_frame(&mut stream).await
    }

    /// Asks `peer` to redeem an invite it never issued: an answer (a refusal) comes to
    /// anyone who can open a stream at all.
    async fn join(&self, peer: PeerId) -> Result<JoinResponse, String> {
        let mut stream = self
            .control
            .clone()
            .open_stream(peer, JOIN)
            .await
            .map_err(|e| e.to_string())?;
        let request = JoinRequest {
            v: JOIN_VERSION,
            invite: [0; 16],
            key: self.key(),
            proof: [0; 32],
            name: None,
        };
        write_frame(&mut stream, &request).await?;
        read_frame(&mut stream).await
    }

    /// Deposits `sealed` for `to` at mailbox `peer`.
    async fn deposit(&self, peer: PeerId, to: MemberKey, sealed: Vec<u8>) -> MailboxResponse {
        let mut stream = self
            .control
            .clone()
            .open_stream(peer, MAILBOX)
            .await
            .unwrap();
        let request = MailboxRequest {
            v: MAILBOX_VERSION,
            op: MailboxOp::Deposit {
                boxes: vec![Boxed {
                    to,
                    expires: u64::MAX,
                    sealed,
                }],
            },
        };
        write_frame(&mut stream, &request).await.unwrap();
        read_frame(&mut stream).await.unwrap()
    }

    /// Answers every `/weft/sync/1` question with `answer`; the questions come out of the
    /// channel it returns.
    fn answer_syncs(&self, answer: SyncResponse) -> mpsc::Receiver<SyncRequest> {
        let mut incoming = self.control.clone().accept(SYNC).unwrap();
        let (asked, questions) = mpsc::channel(CAPACITY);
        tokio::spawn(async move {
            while let Some((_, mut stream)) = incoming.next().await {
                if let Ok(request) = read_frame::<SyncRequest>(&mut stream).await {
                    let _ = asked.try_send(request);
                    let _ = write_frame(&mut stream, &answer).await;
                    let _ = stream.close().await;
                }
            }
        });
        questions
    }

    /// Signs an op of `mesh` naming `prev` as seen.
    fn op(&self, mesh: MeshId, prev: Vec<OpId>, kind: OpKind) -> SignedOp {
        let body = OpBody {
            v: OP_VERSION,
            mesh,
            author: self.key(),
            prev,
            kind,
        };
        weft::keys::acl::sign_op(&self.identity, body).unwrap()
    }
}

fn rand_bytes() -> [u8; 32] {
    let key = Keypair::generate_ed25519();
    let ed = key.try_into_ed25519().unwrap();
    ed.secret().as_ref().try_into().unwrap()
}

async fn write_frame<T: Serialize>(stream: &mut Stream, body: &T) -> Result<(), String> {
    let body = to_cbor(body).map_err(|e| e.to_string())?;
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await.map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())
}

async fn read_frame<T: DeserializeOwned>(stream: &mut Stream) -> Result<T, String> {
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| e.to_string())?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    from_cbor(&body).map_err(|e| e.to_string())
}

fn mesh_of(node: &TestNode) -> (String, MeshId) {
    let id = node.status()["mesh"].as_str().unwrap().to_string();
    let mesh = id.parse().unwrap();
    (id, mesh)
}

/// The whole log, as a member asking with an empty summary gets it.
fn everything(mesh: MeshId) -> SyncRequest {
    SyncRequest {
        v: SYNC_VERSION,
        mesh,
        heads: vec![],
        known: vec![],
        after: None,
        card: None,
        topics: vec![],
        name: None,
        directory: None,
    }
}

fn rejected(node: &TestNode, reason: &str) -> u64 {
    node.status()["rejected"][reason].as_u64().unwrap_or(0)
}

#[test]
fn a_stranger_is_not_asked_not_answered_and_not_remembered() {
    let root = root();
    let mut a = founder(root.path(), "alice");
    let b = member(root.path(), &a, "bob");
    let (mesh_id, mesh) = mesh_of(&a);
    // Where the stranger says it is: a socket of the test's, to see whether alice dials it.
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let trap_addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", trap.local_addr().unwrap().port())
        .parse()
        .unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let _enter = rt.enter();
    let mut stranger = Hostile::new(&mesh_id, Some(trap_addr.clone()));
    // Were it asked, it would answer with an admin it made up and members at its trap.
    let sock = Hostile::new(&mesh_id, None);
    let forged = stranger.op(
        mesh,
        vec![],
        OpKind::Found {
            name: None,
            founder: None,
        },
    );
    let made_up = stranger.op(
        mesh,
        vec![forged.id()],
        OpKind::Add {
            member: sock.key(),
            role: Role::Admin,
            name: None,
        },
    );
    let mut asked = stranger.answer_syncs(SyncResponse::Ops {
        ops: vec![forged, made_up],
        peers: vec![weft::proto::sync::PeerAddrs {
            peer: b.peer_id.parse::<PeerId>().unwrap().to_bytes(),
            addrs: vec![trap_addr.to_string()],
            card: None,
            name: None,
            topics: vec![],
        }],
        messages: vec![],
        more: false,
        now_us: 0,
        links: vec![],
        directory: None,
    });
    let alice: PeerId = a.peer_id.parse().unwrap();
    stranger.dial(&a.addr());
    rt.block_on(async {
        stranger
            .wait("the stranger to connect", |s| {
                matches!(s, Seen::Connected(p) if *p == alice).then_some(())
            })
            .await;
        // What it asks is not answered.
        let answer = stranger.sync(alice, &everything(mesh)).await;
        assert!(
            matches!(answer, Ok(SyncResponse::Refused { .. }) | Err(_)),
            "a stranger got a sync answer: {answer:?}"
        );
        stranger
            .wait("alice to disconnect the stranger", |s| {
                // Identify, AutoNAT and the rest are members' protocols: not one byte.
                assert!(
                    !matches!(s, Seen::Identified(p) if *p == alice),
                    "alice told a stranger who she is and where"
                );
                matches!(s, Seen::Closed(p) if *p == alice).then_some(())
            })
            .await;
    });
    assert!(asked.try_recv().is_err(), "alice asked a stranger to sync");
    // Counted once its wait for an admission that never comes is over.
    wait_for("the stranger's sync to be refused", || {
        (rejected(&a, "sync_not_member") >= 1).then_some(())
    });
    assert_eq!(member_ids(&a).len(), 2);

    // Restarted, alice redials whom she remembers: bob, never the stranger's address.
    a.stop();
    a.start();
    wait_peers(&a, 1);
    wait_for("bob and alice to sync", || {
        a.json(&["peers"])[0]["synced_secs_ago"].as_u64()
    });
    assert!(
        trap.accept().is_err(),
        "alice dialled an address a stranger announced"
    );
    assert_eq!(member_ids(&a).len(), 2);
    assert_eq!(member_ids(&b).len(), 2);
}

#[test]
fn a_removed_admin_and_a_flooding_member_change_nothing() {
    let root = root();
    let a = founder(root.path(), "alice");
    let bob = member(root.path(), &a, "bob");
    let (mesh_id, mesh) = mesh_of(&a);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _enter = rt.enter();
    let mut mallory = Hostile::new(&mesh_id, None);
    let mut eve = Hostile::new(&mesh_id, None);
    let sock = Hostile::new(&mesh_id, None);
    a.ok(&[
        "members",
        "add",
        &mallory.peer.to_string(),
        "--role",
        "admin",
    ]);
    a.ok(&["members", "add", &eve.peer.to_string(), "--role", "guest"]);
    let alice: PeerId = a.peer_id.parse().unwrap();

    // Mallory, an admin, learns the log; then she is removed.
    mallory.dial(&a.addr());
    let log = rt.block_on(async {
        mallory
            .wait("mallory to connect", |s| {
                matches!(s, Seen::Connected(p) if *p == alice).then_some(())
            })
            .await;
        match mallory.sync(alice, &everything(mesh)).await {
            Ok(SyncResponse::Ops { ops, .. }) => ops,
            other => panic!("a member's sync was not answered: {other:?}\n{}", a.log()),
        }
    });
    let her_admission = log
        .iter()
        .find(|op| matches!(&op.body.kind, OpKind::Add { member, .. } if *member == mallory.key()))
        .expect("her admission is in the log")
        .id();
    a.ok(&["members", "remove", &mallory.peer.to_string()]);

    // She back-dates an admin grant to before her removal, at any height she likes; eve, a
    // guest, signs her own changes and floods the log. Eve hands them on by gossip and by
    // every sync answer.
    let sock_admin = OpKind::Add {
        member: sock.key(),
        role: Role::Admin,
        name: None,
    };
    let back_dated = mallory.op(mesh, vec![her_admission], sock_admin.clone());
    let heads: Vec<OpId> = vec![log.last().unwrap().id()];
    let mut bad = vec![back_dated.clone(), eve.op(mesh, heads.clone(), sock_admin)];
    for n in 0..200u32 {
        let mut invite = [0u8; 16];
        invite[..4].copy_from_slice(&n.to_be_bytes());
        bad.push(eve.op(mesh, heads.clone(), OpKind::RevokeInvite { invite }));
    }
    let _asked = eve.answer_syncs(SyncResponse::Ops {
        ops: bad.clone(),
        peers: vec![],
        messages: vec![],
        more: false,
        now_us: 0,
        links: vec![],
        directory: None,
    });
    let acl_topic = format!("weft/{mesh_id}/acl");
    let _ = eve.commands.try_send(Do::Subscribe(acl_topic.clone()));
    eve.dial(&a.addr());
    rt.block_on(async {
        eve.wait("alice to hear eve's subscription", |s| {
            matches!(s, Seen::Subscribed(p) if *p == alice).then_some(())
        })
        .await;
    });
    for op in &bad {
        let _ = eve
            .commands
            .try_send(Do::Publish(acl_topic.clone(), to_cbor(op).unwrap()));
    }
    wait_for("alice to refuse the ops", || {
        let r = a.status()["rejected"].clone();
        let refused: u64 = ["not_allowed", "removed_author"]
            .iter()
            .map(|k| r[k].as_u64().unwrap_or(0))
            .sum();
        (refused >= bad.len() as u64).then_some(())
    });
    let members = member_ids(&a);
    assert!(
        !members.contains(&sock.peer.to_string()),
        "a back-dated or guest op took effect"
    );
    assert!(!members.contains(&mallory.peer.to_string()));

    // Administration goes on: alice can still remove a member, and it takes effect.
    a.ok(&["members", "remove", &bob.peer_id]);
    assert!(!member_ids(&a).contains(&bob.peer_id));
    drop(mallory);
}

#[test]
fn a_removed_member_is_refused_before_any_protocol() {
    let root = root();
    let a = founder(root.path(), "alice");
    let (mesh_id, mesh) = mesh_of(&a);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _enter = rt.enter();
    let mut removed = Hostile::new(&mesh_id, None);
    a.ok(&["members", "add", &removed.peer.to_string()]);
    let alice: PeerId = a.peer_id.parse().unwrap();
    removed.dial(&a.addr());
    rt.block_on(async {
        removed
            .wait("the member to connect", |s| {
                matches!(s, Seen::Connected(p) if *p == alice).then_some(())
            })
            .await;
        assert!(matches!(
            removed.sync(alice, &everything(mesh)).await,
            Ok(SyncResponse::Ops { .. })
        ));
    });
    a.ok(&["members", "remove", &removed.peer.to_string()]);
    rt.block_on(async {
        removed
            .wait("alice to close the connection", |s| {
                matches!(s, Seen::Closed(p) if *p == alice).then_some(())
            })
            .await;
        // Each time it comes back, no stream opens: the wall stands at establishment.
        for _ in 0..3 {
            if removed.redial(&a.addr(), alice).await {
                // `/weft/join/1` answers anyone it lets in at all, a stranger too.
                let answer = removed.join(alice).await;
                assert!(
                    answer.is_err(),
                    "a removed member got an answer: {answer:?}"
                );
            }
        }
    });
    assert!(rejected(&a, "revoked") >= 1, "{}", a.status()["rejected"]);
    assert!(
        a.json(&["peers"]).as_array().unwrap().is_empty(),
        "the removed member is still connected"
    );
}

#[test]
fn a_member_removed_while_away_is_told_once_and_only_of_its_removal() {
    let root = root();
    let a = founder(root.path(), "alice");
    let b = member(root.path(), &a, "bob");
    let (mesh_id, mesh) = mesh_of(&a);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _enter = rt.enter();
    let mut gone = Hostile::new(&mesh_id, None);
    // Admitted and removed while it was away; then the mesh goes on without it.
    a.ok(&["members", "add", &gone.peer.to_string()]);
    a.ok(&["members", "remove", &gone.peer.to_string()]);
    let later = Hostile::new(&mesh_id, None);
    a.ok(&["members", "add", &later.peer.to_string()]);
    wait_peers(&a, 1);
    let alice: PeerId = a.peer_id.parse().unwrap();
    rt.block_on(async {
        gone.dial(&a.addr());
        gone.wait("the first connection since the removal", |s| {
            matches!(s, Seen::Connected(p) if *p == alice).then_some(())
        })
        .await;
        let answer = gone.sync(alice, &everything(mesh)).await;
        let Ok(SyncResponse::Ops {
            ops,
            peers,
            messages,
            ..
        }) = answer
        else {
            panic!("a removed member was not told of its removal: {answer:?}");
        };
        assert!(
            ops.iter()
                .any(|op| op.body.kind == OpKind::Revoke { member: gone.key() }),
            "the answer lacks the removal"
        );
        assert!(
            !ops.iter().any(|op| matches!(
                op.body.kind,
                OpKind::Add { member, .. } if member == later.key()
            )),
            "a removed member was told what came after its removal"
        );
        assert!(
            peers.is_empty(),
            "a removed member was told where members are"
        );
        assert!(messages.is_empty());
        gone.wait("alice to close the connection", |s| {
            matches!(s, Seen::Closed(p) if *p == alice).then_some(())
        })
        .await;
        // Told once: from now on, the wall.
        if gone.redial(&a.addr(), alice).await {
            let answer = gone.sync(alice, &everything(mesh)).await;
            assert!(answer.is_err(), "told twice: {answer:?}");
        }
    });
    assert!(rejected(&a, "revoked") >= 1, "{}", a.status()["rejected"]);
    drop(b);
}

#[test]
fn catch_up_refuses_what_gossip_would() {
    let root = root();
    let a = founder(root.path(), "alice");
    let (mesh_id, mesh) = mesh_of(&a);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _enter = rt.enter();
    rt.block_on(a.client().subscribe("news", true)).unwrap();
    let mut eve = Hostile::new(&mesh_id, None);
    a.ok(&["members", "add", &eve.peer.to_string()]);
    let signed = |seq: u64, text: String| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let message = TopicMessage::new("news".parse().unwrap(), seq, now, text);
        Logged {
            publisher: eve.key(),
            message: weft::keys::topic::sign_topic(&eve.identity, &mesh, message).unwrap(),
        }
    };
    // A 3 MiB message (gossip caps one at 64 KiB), one numbered 0, and one that is fine.
    let messages = vec![
        signed(1, "x".repeat(3 * 1024 * 1024)),
        signed(0, "zero".into()),
        signed(2, "fine".into()),
    ];
    let mut asked = eve.answer_syncs(SyncResponse::Ops {
        ops: vec![],
        peers: vec![],
        messages,
        more: false,
        now_us: 0,
        links: vec![],
        directory: None,
    });
    let alice: PeerId = a.peer_id.parse().unwrap();
    eve.dial(&a.addr());
    rt.block_on(async {
        eve.wait("eve to connect", |s| {
            matches!(s, Seen::Connected(p) if *p == alice).then_some(())
        })
        .await;
        tokio::time::timeout(crate::support::PATIENCE, asked.recv())
            .await
            .expect("alice asks a member to sync");
    });
    let from_eve = || {
        let inbox = a.json(&["inbox", "--topic", "news"]);
        let eve = eve.peer.to_string();
        let inbox = inbox.as_array().unwrap().iter();
        inbox
            .filter(|m| m["from"] == eve.as_str())
            .cloned()
            .collect::<Vec<_>>()
    };
    let got = wait_for("alice to take eve's good message", || {
        let got = from_eve();
        (!got.is_empty()).then_some(got)
    });
    assert_eq!(got.len(), 1, "catch-up took a message gossip would refuse");
    assert_eq!(got[0]["text"], "fine");
    let r = a.status()["rejected"].clone();
    assert!(
        rejected(&a, "oversize") >= 1 && rejected(&a, "invalid") >= 1,
        "{r}"
    );
}

#[test]
fn one_depositor_cannot_fill_every_recipients_mailbox_quota() {
    let root = root();
    let a = founder(root.path(), "alice");
    // m holds boxes: 4 per recipient.
    let m = crate::mailbox::mailbox(root.path(), &a, "mbox", &["--mailbox-max-messages", "4"]);
    let (mesh_id, _) = mesh_of(&a);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _enter = rt.enter();
    let mut eve = Hostile::new(&mesh_id, None);
    let honest = Hostile::new(&mesh_id, None);
    let (bob, carol) = (Hostile::new(&mesh_id, None), Hostile::new(&mesh_id, None));
    for who in [&eve, &honest, &bob, &carol] {
        a.ok(&["members", "add", &who.peer.to_string()]);
    }
    wait_for("the mailbox to know every member", || {
        (member_ids(&m).len() == 6).then_some(())
    });
    let mailbox: PeerId = m.peer_id.parse().unwrap();
    eve.dial(&m.addr());
    let held = |r: &MailboxResponse| matches!(r, MailboxResponse::Deposited { outcomes } if matches!(outcomes[..], [Outcome::Held { .. }]));
    rt.block_on(async {
        eve.wait("eve to connect", |s| {
            matches!(s, Seen::Connected(p) if *p == mailbox).then_some(())
        })
        .await;
        // Garbage boxes (a mailbox cannot tell): the first 4 for bob are held, then eve's
        // share is used up, for carol too.
        let mut answers = Vec::new();
        for (n, to) in [bob.key(); 4]
            .into_iter()
            .chain([carol.key(); 2])
            .enumerate()
        {
            answers.push(eve.deposit(mailbox, to, vec![n as u8; 100]).await);
        }
        let outcomes: Vec<bool> = answers.iter().map(held).collect();
        assert_eq!(
            outcomes,
            [true, true, true, true, false, false],
            "{answers:?}"
        );
    });
    // Carol's quota is still hers: another member deposits for her.
    let mut honest = honest;
    honest.dial(&m.addr());
    rt.block_on(async {
        honest
            .wait("the other member to connect", |s| {
                matches!(s, Seen::Connected(p) if *p == mailbox).then_some(())
            })
            .await;
        assert!(held(
            &honest.deposit(mailbox, carol.key(), vec![9; 100]).await
        ));
    });
    assert!(rejected(&m, "mailbox_full") >= 2);
}

#[test]
fn a_card_claiming_another_members_sealing_key_gains_nothing() {
    let root = root();
    let mut a = founder(root.path(), "alice");
    let m = crate::mailbox::mailbox(root.path(), &a, "mbox", &[]);
    let mut b = member(root.path(), &a, "bob");
    let (mesh_id, mesh) = mesh_of(&a);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _enter = rt.enter();
    let mut eve = Hostile::new(&mesh_id, None);
    a.ok(&["members", "add", &eve.peer.to_string()]);
    for node in [&m, &b] {
        wait_for("everyone to know eve", || {
            (member_ids(node).len() == 4).then_some(())
        });
    }
    crate::support::wait_peers(&b, 2);
    let (alice, bob, mailbox): (PeerId, PeerId, PeerId) = (
        a.peer_id.parse().unwrap(),
        b.peer_id.parse().unwrap(),
        m.peer_id.parse().unwrap(),
    );
    // Eve learns alice's sealing key from a sync answer, signs a card claiming it as her
    // own, and hands it to bob and to the mailbox in her sync requests.
    eve.dial(&a.addr());
    eve.dial(&b.addr());
    eve.dial(&m.addr());
    rt.block_on(async {
        let mut up = std::collections::HashSet::new();
        eve.wait("eve to reach everyone", |s| {
            if let Seen::Connected(p) = s {
                up.insert(*p);
            }
            (up.len() == 3).then_some(())
        })
        .await;
        let Ok(SyncResponse::Ops { peers, .. }) = eve.sync(bob, &everything(mesh)).await else {
            panic!("bob answers a member");
        };
        let theirs = peers
            .iter()
            .find(|p| p.peer == alice.to_bytes())
            .and_then(|p| p.card)
            .expect("bob knows alice's card");
        let mut signed = b"weft/v1/seal-key\0".to_vec();
        signed.extend_from_slice(&theirs.key.0);
        let claim = weft::proto::seal::SealCard {
            key: theirs.key,
            sig: eve.keypair.sign(&signed).unwrap().try_into().unwrap(),
        };
        for peer in [bob, mailbox] {
            let mut request = everything(mesh);
            request.card = Some(claim);
            assert!(matches!(
                eve.sync(peer, &request).await,
                Ok(SyncResponse::Ops { .. })
            ));
        }
    });

    // bob is away; alice's message waits at the mailbox, sealed with her key; bob comes
    // back and it is alice's, not eve's.
    b.stop();
    wait_for("alice to see bob gone", || {
        let peers = a.json(&["peers"]);
        let peers = peers.as_array().unwrap();
        (!peers
            .iter()
            .any(|p| p["peer_id"] == bob.to_string().as_str()))
        .then_some(())
    });
    let out = a.ok(&["send", "--timeout", "20", &b.peer_id, "still mine"]);
    assert!(out.starts_with("held"), "{out}");
    a.stop();
    b.start();
    let got = wait_for("bob to receive alice's held message", || {
        let got = crate::support::received_from(&b, &a);
        (!got.is_empty()).then_some(got)
    });
    assert_eq!(got[0]["text"], "still mine");
    assert_eq!(got[0]["from"], a.peer_id.as_str());
}

#[test]
fn strangers_from_one_address_take_a_few_slots_and_members_few_streams() {
    let root = root();
    let a = founder(root.path(), "alice");
    let (mesh_id, mesh) = mesh_of(&a);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _enter = rt.enter();
    let alice: PeerId = a.peer_id.parse().unwrap();

    // Strangers rotating keys from one address: a few get their moment to join, the rest
    // are turned away at once, so they cannot take the slots of joiners elsewhere.
    let mut strangers: Vec<Hostile> = (0..6).map(|_| Hostile::new(&mesh_id, None)).collect();
    for s in &strangers {
        s.dial(&a.addr());
    }
    rt.block_on(async {
        for s in &mut strangers {
            s.wait("the stranger to connect", |e| {
                matches!(e, Seen::Connected(p) if *p == alice).then_some(())
            })
            .await;
        }
    });
    wait_for("alice to turn the extra strangers away", || {
        (rejected(&a, "stranger_slots") >= 2).then_some(())
    });
    drop(strangers);

    // A member holding streams open without a word gets a few served at once; the rest are
    // dropped unread.
    let mut eve = Hostile::new(&mesh_id, None);
    a.ok(&["members", "add", &eve.peer.to_string()]);
    eve.dial(&a.addr());
    rt.block_on(async {
        eve.wait("eve to connect", |e| {
            matches!(e, Seen::Connected(p) if *p == alice).then_some(())
        })
        .await;
        let mut held = Vec::new();
        for _ in 0..8 {
            if let Ok(stream) = eve.control.clone().open_stream(alice, SYNC).await {
                held.push(stream);
            }
        }
        wait_for("alice to cap eve's streams", || {
            (rejected(&a, "sync_stream_cap") >= 1).then_some(())
        });
        // Eve's own streams held no one else up: a sync of hers on a fresh stream is
        // answered once she lets the idle ones go.
        drop(held);
        let mut answer = Err("not asked".to_string());
        for _ in 0..200 {
            answer = eve.sync(alice, &everything(mesh)).await;
            if answer.is_ok() {
                break;
            }
            // Polling a condition (the idle streams' slots coming free), not a timing.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(matches!(answer, Ok(SyncResponse::Ops { .. })), "{answer:?}");
    });
}
