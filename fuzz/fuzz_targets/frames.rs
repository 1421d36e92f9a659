//! Direct messages and their acknowledgements, topic payloads, join requests and responses
//! (sync and mailbox bodies have their own target). None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proto::codec::from_cbor;
use weft_proto::dm::{DirectMessage, DmAck};
use weft_proto::join::{JoinRequest, JoinResponse};
use weft_proto::topic::TopicMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = DirectMessage::decode(data) {
        let _ = m.validate(b"from", b"to");
    }
    let _ = DmAck::decode(data);
    let _ = TopicMessage::decode(data);
    let _ = from_cbor::<JoinRequest>(data);
    let _ = from_cbor::<JoinResponse>(data);
});
