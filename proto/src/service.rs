//! Services: named request/reply endpoints that members offer and call, with no broker.
//!
//! **Calls** travel on `/weft/service/1`: one long-lived stream from each caller to each
//! provider, frames as everywhere (`u32` BE length + CBOR, see [`crate::codec`]), calls
//! pipelined and answered in completion order:
//!
//! ```text
//! caller -> provider   Call  { v: 1, id: bytes(16), service: string, body: bytes, budget_ms: u32 }
//! provider -> caller   { "Reply": { v: 1, id: bytes(16), outcome: Outcome } }
//!                    | { "Alive": { offers: [Offer] } }          every ALIVE_EVERY_MS
//! Outcome  = { "Ok": bytes } | { "Failed": string } | { "Refused": Refusal }
//! Refusal  = "NotOffered" | "NotAllowed" | "Busy" | "TooLarge"
//! ```
//!
//! `id` names the call for its caller: a provider runs one id of one caller at most once
//! within its dedup window and answers a retry from its cache; a caller whose provider died
//! or hung sends the same id to another provider (at least once across providers, once per
//! provider), and takes the first reply. `budget_ms` is how long the caller still waits.
//! `Alive` is the provider's heartbeat on every stream: its offers and their load. A caller
//! that hears nothing from a provider it has calls at for [`HANG_AFTER_MS`] takes it for
//! hung and calls elsewhere.
//!
//! **Records** tell the mesh who offers what: each provider gossips a [`SignedRecord`] on
//! `weft/<mesh>/svc` every [`ANNOUNCE_EVERY_MS`] while it offers anything (and once with no
//! offers when it stops), signed by its member key under the context `service-record`;
//! receivers check the signature, that the provider is a member the ACL lets offer, and keep
//! the newest record per provider (by `seq`), forgetting it after [`RECORD_TTL_MS`] without
//! news:
//!
//! ```text
//! SignedRecord   = { record: ProviderRecord, sig: bytes(64) }     <= MAX_RECORD_BYTES
//! ProviderRecord = { v: 1, mesh: bytes(20), provider: bytes(32), seq: u64, offers: [Offer],
//!                    queues: [Holding] }
//! Holding        = { queue: string, pending: u32 }         queues it holds items of
//! Offer          = { service: string, standby: bool, concurrency: u32, load: Load }
//! Load           = { in_flight: u32, queued: u32, overloaded: bool, served: u64,
//!                    errors: u64, mean_us: u32, p99_us: u32, cpu_permille: u16,
//!                    mem_permille: u16 }
//! ```
//!
//! **Local handlers** serve a service through the local API: after an HTTP upgrade
//! (`weft-service`), the node writes [`HandlerRequest`]s and the program writes
//! [`HandlerReply`]s back, in any order, on the same connection.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, from_cbor, to_cbor};
use crate::mesh::{MemberKey, MeshId};
use crate::queue::{Holding, MAX_HELD_QUEUES, MAX_REASON_BYTES};

/// The version of `/weft/service/1` frames and of records this crate writes and reads.
pub const SERVICE_VERSION: u8 = 1;

/// Largest request or reply body: larger ones are refused (send a blob instead).
pub const MAX_SERVICE_BODY_BYTES: usize = 1024 * 1024;

/// Largest frame on `/weft/service/1`: a body and its envelope.
pub const MAX_SERVICE_FRAME_BYTES: usize = MAX_SERVICE_BODY_BYTES + 4096;

/// Most services one provider offers (and one record names).
pub const MAX_OFFERS: usize = 64;

/// Largest signed record.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// How often a provider gossips its record.
pub const ANNOUNCE_EVERY_MS: u64 = 1000;

/// How long a record is believed without news.
pub const RECORD_TTL_MS: u64 = 3 * ANNOUNCE_EVERY_MS + 500;

/// How often a provider says it is alive on each stream of calls to it.
pub const ALIVE_EVERY_MS: u64 = 500;

/// How long a caller with calls at a provider waits to hear from it before it takes the
/// provider for hung.
pub const HANG_AFTER_MS: u64 = 3 * ALIVE_EVERY_MS;

name_type! {
    /// A valid service name: 1 to 64 bytes of ASCII letters, digits, `-`, `_`, `.`.
    ServiceName, ParseServiceError, "service"
}

/// The name of one call, for its caller.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(#[serde(with = "crate::codec::byte_array")] pub [u8; 16]);

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({})", self)
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A call, from caller to provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// Frame version, [`SERVICE_VERSION`].
    pub v: u8,
    /// The call's id for its caller.
    pub id: CallId,
    /// The service called.
    pub service: ServiceName,
    /// The request, at most [`MAX_SERVICE_BODY_BYTES`].
    #[serde(with = "crate::codec::byte_vec")]
    pub body: Vec<u8>,
    /// How long the caller still waits, in milliseconds.
    pub budget_ms: u32,
}

/// What a provider sends a caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderFrame {
    /// The answer to a call.
    Reply(Reply),
    /// The provider is alive; what it offers, and how loaded.
    Alive {
        /// Its offers.
        offers: Vec<Offer>,
    },
}

/// The answer to a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Frame version, [`SERVICE_VERSION`].
    pub v: u8,
    /// The call answered.
    pub id: CallId,
    /// How it ended.
    pub outcome: Outcome,
}

/// How a call ended at its provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The service's reply.
    Ok(#[serde(with = "crate::codec::byte_vec")] Vec<u8>),
    /// The service ran and failed; why, in one line (a command's last line of stderr).
    Failed(String),
    /// The provider did not run it.
    Refused(Refusal),
}

/// Why a provider did not run a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// It does not offer the service (any more).
    #[error("the provider does not offer it")]
    NotOffered,
    /// The service's policy does not let the caller call it.
    #[error("the service's policy does not let this node call it")]
    NotAllowed,
    /// It is past its limits; call another.
    #[error("the provider is busy")]
    Busy,
    /// The request is over the size cap.
    #[error("the request is over {MAX_SERVICE_BODY_BYTES} bytes")]
    TooLarge,
}

/// One service a provider offers, and its load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The service.
    pub service: ServiceName,
    /// Whether it answers only while no active provider is reachable.
    pub standby: bool,
    /// How many calls it runs at once.
    pub concurrency: u32,
    /// How loaded it is.
    pub load: Load,
}

/// How loaded a provider's offer is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Load {
    /// Calls running.
    pub in_flight: u32,
    /// Calls waiting for a slot.
    pub queued: u32,
    /// Past its limits: it takes no new calls until it recovers.
    pub overloaded: bool,
    /// Calls answered so far.
    pub served: u64,
    /// Calls that failed so far.
    pub errors: u64,
    /// Mean service time of recent calls, microseconds.
    pub mean_us: u32,
    /// 99th percentile service time of recent calls, microseconds.
    pub p99_us: u32,
    /// The provider machine's CPU load (one-minute load average per core), per mille.
    pub cpu_permille: u16,
    /// The provider machine's memory in use, per mille.
    pub mem_permille: u16,
}

/// Who offers what: a provider's announcement, signed (see [`SignedRecord`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRecord {
    /// Record version, [`SERVICE_VERSION`].
    pub v: u8,
    /// The mesh.
    pub mesh: MeshId,
    /// The provider.
    pub provider: MemberKey,
    /// Increases with each record of this provider (its wall clock, milliseconds).
    pub seq: u64,
    /// What it offers now (none: it stopped), at most [`MAX_OFFERS`].
    pub offers: Vec<Offer>,
    /// The queues it holds items of, at most [`crate::queue::MAX_HELD_QUEUES`].
    pub queues: Vec<Holding>,
}

/// A call for a local handler, on the local API's upgraded connection (node to program),
/// framed like everything else (`u32` BE length + CBOR).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerRequest {
    /// The call, for the answer.
    pub serve: u64,
    /// The request.
    #[serde(with = "crate::codec::byte_vec")]
    pub body: Vec<u8>,
}

/// A local handler's answer to a [`HandlerRequest`] (program to node).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerReply {
    /// The call answered.
    pub serve: u64,
    /// How it ended: `Ok` with the reply, or `Failed` with why.
    pub outcome: Outcome,
}

impl ProviderRecord {
    /// What the provider signs: the record's CBOR.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, DecodeError> {
        to_cbor(self)
    }
}

/// A provider record with its provider's signature (context `service-record`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    /// The record.
    pub record: ProviderRecord,
    /// The provider's signature over [`ProviderRecord::signed_bytes`].
    #[serde(with = "crate::codec::byte_array")]
    pub sig: [u8; 64],
}

impl SignedRecord {
    /// Decodes a gossiped record, checking its size, version and offers.
    pub fn decode(bytes: &[u8]) -> Result<SignedRecord, DecodeError> {
        crate::codec::check_frame_len("service record", bytes.len(), MAX_RECORD_BYTES)?;
        let signed: SignedRecord = from_cbor(bytes)?;
        let record = &signed.record;
        if record.v != SERVICE_VERSION {
            return Err(DecodeError::Version(record.v));
        }
        if record.offers.len() > MAX_OFFERS {
            return Err(DecodeError::Invalid(format!(
                "more than {MAX_OFFERS} offers in one record"
            )));
        }
        if record.queues.len() > MAX_HELD_QUEUES {
            return Err(DecodeError::Invalid(format!(
                "more than {MAX_HELD_QUEUES} queues in one record"
            )));
        }
        Ok(signed)
    }

    /// Encodes it for gossip.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let bytes = to_cbor(self)?;
        crate::codec::check_frame_len("service record", bytes.len(), MAX_RECORD_BYTES)?;
        Ok(bytes)
    }
}

impl Call {
    /// Decodes a call frame's body, checking its version and body size.
    pub fn decode(bytes: &[u8]) -> Result<Call, DecodeError> {
        let call: Call = from_cbor(bytes)?;
        if call.v != SERVICE_VERSION {
            return Err(DecodeError::Version(call.v));
        }
        if call.body.len() > MAX_SERVICE_BODY_BYTES {
            return Err(DecodeError::TooLarge {
                what: "service request",
                len: call.body.len(),
                max: MAX_SERVICE_BODY_BYTES,
            });
        }
        Ok(call)
    }

    /// Encodes it for the wire.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        to_cbor(self)
    }
}

impl ProviderFrame {
    /// Decodes a provider's frame body, checking versions, sizes and counts.
    pub fn decode(bytes: &[u8]) -> Result<ProviderFrame, DecodeError> {
        let frame: ProviderFrame = from_cbor(bytes)?;
        match &frame {
            ProviderFrame::Reply(reply) if reply.v != SERVICE_VERSION => {
                Err(DecodeError::Version(reply.v))
            }
            ProviderFrame::Reply(Reply {
                outcome: Outcome::Ok(body),
                ..
            }) if body.len() > MAX_SERVICE_BODY_BYTES => Err(DecodeError::TooLarge {
                what: "service reply",
                len: body.len(),
                max: MAX_SERVICE_BODY_BYTES,
            }),
            ProviderFrame::Reply(Reply {
                outcome: Outcome::Failed(reason),
                ..
            }) if reason.len() > MAX_REASON_BYTES => Err(DecodeError::TooLarge {
                what: "failure reason",
                len: reason.len(),
                max: MAX_REASON_BYTES,
            }),
            ProviderFrame::Alive { offers } if offers.len() > MAX_OFFERS => Err(
                DecodeError::Invalid(format!("more than {MAX_OFFERS} offers")),
            ),
            _ => Ok(frame),
        }
    }

    /// Encodes it for the wire.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        to_cbor(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn load() -> impl Strategy<Value = Load> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            any::<u64>(),
            any::<u32>(),
        )
            .prop_map(|(in_flight, queued, overloaded, served, mean_us)| Load {
                in_flight,
                queued,
                overloaded,
                served,
                errors: served / 2,
                mean_us,
                p99_us: mean_us,
                cpu_permille: 3,
                mem_permille: 4,
            })
    }

    proptest! {
        #[test]
        fn frames_and_records_round_trip(
            id in any::<[u8; 16]>(),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            budget_ms in any::<u32>(),
            load in load(),
            reason in ".{0,40}",
            seq in any::<u64>(),
            standby in any::<bool>(),
        ) {
            let service: ServiceName = "echo.v2".parse().unwrap();
            let call = Call { v: SERVICE_VERSION, id: CallId(id), service: service.clone(), body: body.clone(), budget_ms };
            prop_assert_eq!(Call::decode(&call.encode().unwrap()).unwrap(), call);
            for outcome in [Outcome::Ok(body), Outcome::Failed(reason), Outcome::Refused(Refusal::Busy)] {
                let reply = ProviderFrame::Reply(Reply { v: SERVICE_VERSION, id: CallId(id), outcome });
                prop_assert_eq!(ProviderFrame::decode(&reply.encode().unwrap()).unwrap(), reply);
            }
            let offer = Offer { service, standby, concurrency: 4, load };
            let alive = ProviderFrame::Alive { offers: vec![offer.clone()] };
            prop_assert_eq!(ProviderFrame::decode(&alive.encode().unwrap()).unwrap(), alive);
            let record = ProviderRecord { v: SERVICE_VERSION, mesh: MeshId([1; 20]), provider: MemberKey([2; 32]), seq, offers: vec![offer], queues: vec![Holding { queue: "jobs".parse().unwrap(), pending: 3 }] };
            let signed = SignedRecord { record, sig: [3; 64] };
            prop_assert_eq!(SignedRecord::decode(&signed.encode().unwrap()).unwrap(), signed);
        }
    }

    #[test]
    fn names_other_versions_and_oversize_bodies_are_refused() {
        assert!("a/b".parse::<ServiceName>().is_err());
        assert!("".parse::<ServiceName>().is_err());
        let mut call = Call {
            v: SERVICE_VERSION + 1,
            id: CallId([0; 16]),
            service: "x".parse().unwrap(),
            body: Vec::new(),
            budget_ms: 1,
        };
        let version = Call::decode(&call.encode().unwrap()).map_err(|e| e.reason());
        assert_eq!(version, Err("version"));
        call.v = SERVICE_VERSION;
        call.body = vec![0; MAX_SERVICE_BODY_BYTES + 1];
        let size = Call::decode(&call.encode().unwrap()).map_err(|e| e.reason());
        assert_eq!(size, Err("oversize"));
        let failed = ProviderFrame::Reply(Reply {
            v: SERVICE_VERSION,
            id: CallId([0; 16]),
            outcome: Outcome::Failed("x".repeat(MAX_REASON_BYTES + 1)),
        });
        let reason = ProviderFrame::decode(&failed.encode().unwrap()).map_err(|e| e.reason());
        assert_eq!(reason, Err("oversize"));
        let offers = (0..=MAX_OFFERS)
            .map(|n| Offer {
                service: format!("s{n}").parse().unwrap(),
                standby: false,
                concurrency: 1,
                load: Load::default(),
            })
            .collect();
        let alive = ProviderFrame::Alive { offers };
        let many = ProviderFrame::decode(&alive.encode().unwrap()).map_err(|e| e.reason());
        assert_eq!(many, Err("invalid"));
    }
}
