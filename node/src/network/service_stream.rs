//! `/weft/service/1`: calls and replies, pipelined on one long-lived session from each
//! caller to each provider (wire: `weft_proto::service`; the sessions:
//! [`super::session_stream`]). The caller writes [`Call`]s; the provider writes
//! [`ProviderFrame`]s back: a reply for each call as it completes, and a heartbeat every
//! half second.

use weft_proto::DecodeError;
use weft_proto::service::{Call, MAX_SERVICE_FRAME_BYTES, ProviderFrame};

use super::session_stream::{Protocol, SessionEvent, Sessions, Wire};

/// The protocol.
pub const PROTOCOL: Protocol = Protocol {
    id: "/weft/service/1",
    kind: "service",
    max_frame: MAX_SERVICE_FRAME_BYTES,
    not_member: "service_not_member",
    stream_cap: "service_stream_cap",
    frames: 1024,
};

/// The service sessions: calls one way, provider frames the other.
pub type ServiceSessions = Sessions<Call, ProviderFrame, ProviderFrame>;

/// What service session tasks report.
pub type ServiceEvent = SessionEvent<Call, ProviderFrame, ProviderFrame>;

impl Wire for Call {
    fn decode(bytes: &[u8]) -> Result<Call, DecodeError> {
        Call::decode(bytes)
    }

    fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        Call::encode(self)
    }
}

impl Wire for ProviderFrame {
    fn decode(bytes: &[u8]) -> Result<ProviderFrame, DecodeError> {
        ProviderFrame::decode(bytes)
    }

    fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        ProviderFrame::encode(self)
    }
}
