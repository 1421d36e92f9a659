//! The JSON bodies of the local HTTP API (`/v1/...` on the node's Unix socket) and of its
//! event stream (`GET /v1/events`, one JSON object per line).
//!
//! Peer ids and addresses travel as their usual string forms (base58 PeerId, multiaddr), so
//! this crate stays free of libp2p. Timestamps named `ts` are hybrid-logical-clock
//! microseconds since the Unix epoch; other times are named with their unit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::MessageId;
use crate::topic::TopicName;

/// Whether a stored message was direct or on a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A direct message between two peers.
    Direct,
    /// A message published on a topic.
    Topic,
}

/// Whether this node sent or received a stored message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Sent by this node.
    Out,
    /// Received from a peer.
    In,
}

/// Where a sent direct message is on its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Durably queued in this node's outbox; not yet acknowledged by the recipient.
    Queued,
    /// The recipient acknowledged it after storing it durably.
    Delivered,
    /// The recipient refused it; it will not be retried.
    Rejected,
    /// Sealed and durably held by a mailbox member until the recipient comes back; still
    /// in the outbox until the recipient's receipt arrives.
    Held,
    /// Its time ran out before the recipient received it; no longer tried.
    Expired,
}

/// One entry of the message history (`GET /v1/messages`) and of `message` events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Content hash naming the message.
    pub id: MessageId,
    /// Direct or topic.
    pub kind: Kind,
    /// Sent or received by this node.
    pub direction: Direction,
    /// The sender's PeerId.
    pub from: String,
    /// The recipient's PeerId, for direct messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The topic, for topic messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicName>,
    /// Sender's hybrid logical clock, microseconds since the Unix epoch.
    pub ts: u64,
    /// The text.
    pub text: String,
    /// For direct messages this node sent: where delivery stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DeliveryState>,
}

/// `POST /v1/messages`: send a direct message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    /// The recipient's PeerId.
    pub to: String,
    /// The text, at most [`crate::limits::MAX_TEXT_BYTES`].
    pub text: String,
    /// Answer only once the recipient acknowledged (true) or once durably queued (false).
    #[serde(default = "yes")]
    pub wait: bool,
    /// With `wait`: how long to wait for the acknowledgement, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// A benchmark message (`weft bench dm`): it travels as a direct message does, through
    /// the outbox, but neither side keeps it in history, no mailbox holds it, and only a
    /// recipient that takes benchmark messages acknowledges it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bench: bool,
}

fn yes() -> bool {
    true
}

/// The answer to [`SendRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendResponse {
    /// The message id.
    pub id: MessageId,
    /// `delivered` when acknowledged, `held` when a mailbox holds it for an offline
    /// recipient, `queued` when neither (yet).
    pub state: DeliveryState,
    /// Time from accepting the request to the recipient's acknowledgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// The mailbox holding it, when `held`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// Why it is still `queued`, when the node knows: `unreachable` when the recipient is
    /// not connected, could not be dialled and no mailbox could hold it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
}

/// Why a sent message is still queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiting {
    /// The recipient is not connected and could not be dialled.
    Unreachable,
}

/// `POST /v1/topics/{topic}/messages`: publish on a topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// The text, at most [`crate::limits::MAX_TEXT_BYTES`].
    pub text: String,
    /// A benchmark message (`weft bench topic`): gossiped as any, but stored nowhere; only
    /// event streams that ask for benchmark events hear of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bench: bool,
}

/// The answer to [`PublishRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// The message id.
    pub id: MessageId,
    /// How many connected peers subscribe to the topic (gossipsub fans out from them).
    pub peers: usize,
}

/// `POST /v1/dial`: connect to a peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialRequest {
    /// A multiaddr, ending in `/p2p/<PeerId>`.
    pub addr: String,
}

/// The answer to [`DialRequest`] once connected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialResponse {
    /// The PeerId now connected.
    pub peer_id: String,
}

/// `GET /v1/id`: who this node is and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdResponse {
    /// This node's PeerId.
    pub peer_id: String,
    /// Full dialable addresses, each ending in `/p2p/<peer_id>`.
    pub addrs: Vec<String>,
}

/// One connected peer in `GET /v1/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's PeerId.
    pub peer_id: String,
    /// The remote address of the connection.
    pub addr: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `direct`, or `relayed` (through another member's relay).
    #[serde(default = "direct")]
    pub path: String,
    /// The latest ping round trip, once measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// How far its clock is ahead of this node's, in milliseconds (negative: behind), once
    /// a sync measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_ms: Option<f64>,
    /// Seconds since the ACL log was last synced with it (members re-sync every 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_secs_ago: Option<u64>,
    /// When the connection was established, seconds since the Unix epoch.
    pub connected_since: u64,
}

/// `GET /v1/services`: a service offered in the mesh, with its providers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// The service.
    pub name: crate::service::ServiceName,
    /// Who offers it.
    pub providers: Vec<ProviderInfo>,
}

/// One provider of a service, in [`ServiceInfo`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// Its PeerId.
    pub peer_id: String,
    /// Whether it is this node.
    pub local: bool,
    /// Whether it answers only while no active provider is reachable.
    pub standby: bool,
    /// Whether calls go to it now (heard from, reachable, not hung, not overloaded).
    pub healthy: bool,
    /// How many calls it runs at once.
    pub concurrency: u32,
    /// How loaded it is, as it last said.
    pub load: crate::service::Load,
}

/// A topic this node is subscribed to, in [`Status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicStatus {
    /// The topic.
    pub name: TopicName,
    /// Connected peers subscribed to it.
    pub peers: usize,
}

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// This node's PeerId.
    pub peer_id: String,
    /// The name given at `weft init`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The weft version running.
    pub version: String,
    /// Addresses the swarm listens on.
    pub listen_addrs: Vec<String>,
    /// Connected peers.
    pub peers: usize,
    /// Direct messages waiting for an acknowledgement.
    pub outbox: usize,
    /// Seconds since the node started.
    pub uptime_secs: u64,
    /// Subscribed topics.
    pub topics: Vec<TopicStatus>,
    /// Input refused from peers since start, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// The mesh this node belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh: Option<String>,
    /// What this node holds for other members, when it is a mailbox or holds anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<MailboxStatus>,
    /// Relaying: what this node relays for others, and the relays it holds slots on.
    #[serde(default)]
    pub relay: RelayStatus,
    /// Set when this node was removed from its mesh: it no longer dials the mesh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
}

/// How this node was removed from its mesh, in [`Status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// The PeerId of the admin that removed it.
    pub by: String,
    /// When this node learnt of it, Unix seconds (0: before this node kept the time).
    pub at: u64,
}

fn direct() -> String {
    "direct".into()
}

/// Relaying, in [`Status`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayStatus {
    /// The limits this node relays within; `None` when it does not relay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<RelayLimitsInfo>,
    /// Members holding a reservation here now.
    pub reservations: usize,
    /// Circuits relayed through this node now.
    pub circuits: usize,
    /// Relays this node holds a slot on (its relayed addresses go through them).
    pub reserved_on: Vec<String>,
    /// Whether peers can dial this node (AutoNAT): `public at ADDR`, `private` or
    /// `unknown` (not probed yet).
    #[serde(default)]
    pub reachability: String,
}

/// A relay's limits, in [`RelayStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayLimitsInfo {
    /// Most members holding a reservation.
    pub max_reservations: usize,
    /// Most circuits at once.
    pub max_circuits: usize,
    /// Most circuits one member has at once.
    pub max_circuits_per_peer: usize,
    /// Longest one circuit lasts, in seconds.
    pub max_circuit_secs: u64,
    /// Most bytes one circuit carries; 0 for no cap.
    pub max_circuit_bytes: u64,
}

/// What a mailbox node holds, and its limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxStatus {
    /// Sealed messages held.
    pub messages: usize,
    /// Their bytes.
    pub bytes: usize,
    /// For how many recipients.
    pub recipients: usize,
    /// Most messages held for one recipient.
    pub max_messages: usize,
    /// Most bytes held for one recipient.
    pub max_bytes: usize,
    /// Longest a message is held, in seconds.
    pub ttl_secs: u64,
}

/// `GET /v1/messages` query: filters of the stored history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxQuery {
    /// Only direct messages exchanged with this PeerId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Only messages on this topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicName>,
    /// At most this many, the newest (default 50, at most
    /// [`crate::limits::MAX_INBOX_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// One line of the event stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A message arrived (direct or on a subscribed topic) and is stored.
    Message(Message),
    /// A direct message this node sent was acknowledged by its recipient.
    Delivered {
        /// The message id.
        id: MessageId,
        /// The recipient.
        to: String,
        /// Time from queueing to acknowledgement, in milliseconds.
        latency_ms: f64,
    },
    /// A direct message this node sent is sealed and held by a mailbox member until its
    /// recipient comes back.
    Held {
        /// The message id.
        id: MessageId,
        /// The recipient.
        to: String,
        /// The mailbox.
        mailbox: String,
    },
    /// A connection to a peer opened (and it had none before).
    PeerConnected {
        /// The peer.
        peer_id: String,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer_id: String,
    },
    /// A benchmark message arrived on a followed topic (`weft bench topic`); only on
    /// streams that ask for them (`GET /v1/events?bench=true`).
    Bench {
        /// The topic.
        topic: TopicName,
        /// The publisher.
        from: String,
        /// Its number among the publisher's benchmark messages on the topic, from 1.
        seq: u64,
        /// The publisher's clock when it was published, microseconds since the Unix epoch.
        ts: u64,
        /// Bytes of text it carried.
        bytes: usize,
    },
    /// This stream fell behind and skipped events; query the history to catch up.
    Lagged {
        /// How many events were skipped.
        missed: u64,
    },
}

/// `GET /v1/mesh` and the answer to `POST /v1/mesh`: the mesh this node belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshInfo {
    /// The mesh id.
    pub id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// This node's role in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::mesh::Role>,
    /// Members, this node included.
    pub members: usize,
}

/// `POST /v1/mesh`: found a mesh.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateMeshRequest {
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /v1/join`: redeem an invite key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinMeshRequest {
    /// The invite key (`WEFT2…`).
    pub invite: String,
}

/// `POST /v1/invites`: issue an invite key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateInviteRequest {
    /// The role the newcomer gets.
    pub role: crate::mesh::Role,
    /// How long it stays valid, in seconds (at most 90 days).
    pub ttl_secs: u64,
    /// How many times it may be redeemed.
    pub uses: u32,
    /// A note for `weft invite list` (stays on this node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One invite in `GET /v1/invites`, and the answer to `POST /v1/invites` (with the key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteInfo {
    /// Its id (12 hex digits).
    pub id: String,
    /// The role it grants.
    pub role: crate::mesh::Role,
    /// Redemptions left.
    pub uses_left: u32,
    /// When it expires, Unix seconds.
    pub expires: u64,
    /// The note given at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// The invite key itself (only when just created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One member in `GET /v1/members`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Its PeerId.
    pub peer_id: String,
    /// Its role.
    pub role: crate::mesh::Role,
    /// Its name, as the admins gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The name it calls itself (its own word: shown beside it, never taken for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The PeerId of the admin that admitted it.
    pub added_by: String,
    /// The height of its admission in the ACL log (how many ops deep it is): admissions
    /// sort by it.
    pub added_at: u64,
    /// Whether it is connected to this node now.
    pub connected: bool,
}

/// `GET /v1/links`: a connection between two members, as this node knows of it (its own,
/// and those members reported in their last sync answers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    /// One end's PeerId.
    pub a: String,
    /// The other end's PeerId.
    pub b: String,
    /// Whether it goes through a relay.
    pub relayed: bool,
}

/// `PUT /v1/members/{peer}/name`: name a member (admins); `PUT /v1/display-name`: the name
/// this node calls itself. `None` takes the name away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRequest {
    /// The name, at most [`crate::acl::MAX_MEMBER_NAME_BYTES`].
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /v1/members`: admit a known key without an invite (admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddMemberRequest {
    /// The newcomer's PeerId.
    pub peer_id: String,
    /// Its role.
    pub role: crate::mesh::Role,
    /// A name for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `PUT /v1/members/{peer}/role`: change a member's role (admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRoleRequest {
    /// The new role.
    pub role: crate::mesh::Role,
}

/// `PUT /v1/topics/{topic}/policy`: restrict who may publish on a topic (admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPolicyRequest {
    /// Roles (`admin`, `member`) and PeerIds allowed to publish; empty lifts the restriction.
    pub publish: Vec<String>,
}

/// `PUT /v1/services/{name}/policy`: restrict who may offer and who may call a service
/// (admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePolicyRequest {
    /// Roles (`admin`, `member`, `mailbox`, `guest`) and PeerIds allowed to offer it; empty:
    /// every member but guests.
    pub offer: Vec<String>,
    /// Roles and PeerIds allowed to call it; empty: everyone in the mesh.
    pub call: Vec<String>,
}

/// `PUT /v1/queues/{name}/policy`: restrict who may push to and who may work a queue
/// (admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePolicyRequest {
    /// Roles and PeerIds allowed to push; empty: everyone in the mesh.
    pub push: Vec<String>,
    /// Roles and PeerIds allowed to work its items; empty: every member but guests.
    pub work: Vec<String>,
}

/// `GET /v1/web` and the answer to `POST /v1/web/token`: where the node's web page is, and
/// the URL that opens it (the access token in its fragment, so it never reaches a server log
/// or a Referer header).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebInfo {
    /// The address the page is served on, `IP:PORT`.
    pub addr: String,
    /// `http://IP:PORT/#token=…`.
    pub url: String,
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What happened and what to do, in one line.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message() -> impl Strategy<Value = Message> {
        (
            any::<[u8; 32]>(),
            any::<bool>(),
            any::<bool>(),
            "[a-zA-Z0-9]{1,52}",
            any::<u64>(),
            ".{0,100}",
        )
            .prop_map(|(id, direct, out, peer, ts, text)| Message {
                id: MessageId(id),
                kind: if direct { Kind::Direct } else { Kind::Topic },
                direction: if out { Direction::Out } else { Direction::In },
                from: peer.clone(),
                to: direct.then(|| peer.clone()),
                topic: (!direct).then(|| "news".parse().unwrap()),
                ts,
                text,
                state: (direct && out).then_some(DeliveryState::Queued),
            })
    }

    fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        value: &T,
    ) {
        let json = serde_json::to_string(value).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), value, "{json}");
    }

    proptest! {
        #[test]
        fn message_and_events_round_trip(m in message(), latency in 0.0f64..1e6, missed in any::<u64>()) {
            round_trip(&m);
            round_trip(&Event::Message(m.clone()));
            round_trip(&Event::Delivered { id: m.id, to: m.from.clone(), latency_ms: latency });
            round_trip(&Event::PeerConnected { peer_id: m.from.clone() });
            round_trip(&Event::PeerDisconnected { peer_id: m.from.clone() });
            round_trip(&Event::Lagged { missed });
            if let Some(topic) = m.topic.clone() {
                round_trip(&Event::Bench { topic, from: m.from.clone(), seq: missed, ts: m.ts, bytes: m.text.len() });
            }
        }

        #[test]
        fn requests_round_trip(to in "[a-zA-Z0-9]{1,52}", text in ".{0,100}", wait in any::<bool>(), limit in proptest::option::of(0usize..100)) {
            round_trip(&SendRequest { to: to.clone(), text: text.clone(), wait, timeout_ms: Some(5), bench: wait });
            round_trip(&PublishRequest { text: text.clone(), bench: wait });
            round_trip(&DialRequest { addr: to.clone() });
            round_trip(&DialResponse { peer_id: to.clone() });
            round_trip(&InboxQuery { from: Some(to.clone()), topic: None, limit });
            round_trip(&ApiError { error: text });
        }

        #[test]
        fn responses_round_trip(id in any::<[u8; 32]>(), peers in 0usize..1000, n in any::<u64>(), addr in "[a-z0-9/.]{1,40}") {
            round_trip(&SendResponse { id: MessageId(id), state: DeliveryState::Delivered, latency_ms: Some(0.25), mailbox: None, waiting: Some(Waiting::Unreachable) });
            round_trip(&PublishResponse { id: MessageId(id), peers });
            round_trip(&IdResponse { peer_id: addr.clone(), addrs: vec![addr.clone()] });
            round_trip(&PeerInfo { peer_id: addr.clone(), addr: addr.clone(), direction: "inbound".into(), path: "direct".into(), rtt_ms: Some(1.5), clock_skew_ms: None, synced_secs_ago: Some(3), connected_since: n });
            round_trip(&Status {
                peer_id: addr.clone(),
                name: Some("alice".into()),
                version: "0.1.0".into(),
                listen_addrs: vec![addr.clone()],
                peers,
                outbox: peers,
                uptime_secs: n,
                topics: vec![TopicStatus { name: "chat".parse().unwrap(), peers }],
                rejected: [("malformed".to_string(), n)].into(),
                mesh: Some(addr.clone()),
                mailbox: Some(MailboxStatus { messages: peers, bytes: peers, recipients: 1, max_messages: peers, max_bytes: peers, ttl_secs: n }),
                relay: RelayStatus { serving: None, reservations: peers, circuits: 1, reserved_on: vec![addr.clone()], reachability: "unknown".into() },
                removed: Some(Removed { by: addr.clone(), at: n }),
            });
            round_trip(&MeshInfo { id: addr.clone(), name: Some("home".into()), role: Some(crate::mesh::Role::Admin), members: peers });
            round_trip(&CreateMeshRequest { name: Some(addr.clone()) });
            round_trip(&JoinMeshRequest { invite: addr.clone() });
            round_trip(&AddMemberRequest { peer_id: addr.clone(), role: crate::mesh::Role::Guest, name: Some(addr.clone()) });
            round_trip(&SetRoleRequest { role: crate::mesh::Role::Admin });
            round_trip(&TopicPolicyRequest { publish: vec![addr.clone(), "admin".into()] });
            round_trip(&CreateInviteRequest { role: crate::mesh::Role::Guest, ttl_secs: n, uses: 3, note: Some(addr.clone()) });
            round_trip(&InviteInfo { id: addr.clone(), role: crate::mesh::Role::Member, uses_left: 1, expires: n, note: None, revoked: false, key: Some(addr.clone()) });
            round_trip(&MemberInfo { peer_id: addr.clone(), role: crate::mesh::Role::Admin, name: None, display_name: Some("Bobby".into()), added_by: addr.clone(), added_at: n, connected: true });
            round_trip(&WebInfo { addr: addr.clone(), url: format!("http://{addr}/#token={n:x}") });
        }
    }

    #[test]
    fn send_waits_by_default() {
        let r: SendRequest = serde_json::from_str(r#"{"to":"p","text":"t"}"#).unwrap();
        assert!(r.wait);
    }
}
