//! The local API's bodies for operating a node: `weft ping` and `weft doctor`.

use serde::{Deserialize, Serialize};

/// `POST /v1/ping`: round trips to a member over the standard libp2p ping protocol. The
/// answer is a stream of [`PingEvent`]s, one JSON object per line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingRequest {
    /// The member's PeerId.
    pub peer: String,
    /// How many round trips (at most 1000).
    pub count: u32,
    /// Pause between them, in milliseconds.
    pub interval_ms: u64,
}

/// One line of a ping's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PingEvent {
    /// The path the pings take.
    Path {
        /// `direct` or `relayed`.
        path: String,
        /// The connection's remote address.
        addr: String,
    },
    /// A round trip.
    Reply {
        /// Its number, from 1.
        seq: u32,
        /// Its time, in milliseconds.
        rtt_ms: f64,
    },
    /// A round trip that failed.
    Lost {
        /// Its number, from 1.
        seq: u32,
        /// Why.
        error: String,
    },
}

/// A doctor check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing to do.
    Ok,
    /// Works, but worth a look.
    Warn,
    /// Broken: the node cannot do its job until this is fixed.
    Fail,
}

/// `GET /v1/doctor` answers a list of these (`weft doctor` and the web page show them): one
/// check of what a node needs to talk to its mesh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorCheck {
    /// What was checked: `data dir`, `identity`, `node`, `listeners`, `mesh`, ...
    pub check: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found, one line.
    pub detail: String,
    /// For a problem: what to do, one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn doctor_checks_round_trip(detail in ".{0,80}", fix in proptest::option::of(".{0,80}"), v in 0u8..3) {
            let verdict = [Verdict::Ok, Verdict::Warn, Verdict::Fail][usize::from(v)];
            let check = DoctorCheck { check: "mesh".into(), verdict, detail, fix };
            let json = serde_json::to_string(&check).unwrap();
            prop_assert_eq!(serde_json::from_str::<DoctorCheck>(&json).unwrap(), check);
        }
    }
}
