//! Direct messages and their acknowledgements, topic payloads, join requests and responses,
//! blob requests, replies and manifests, pipe frames and file offers (sync and mailbox
//! bodies have their own target). None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proto::blob::{BlobId, BlobReply, BlobRequest, FileOffer, Manifest};
use weft_proto::codec::from_cbor;
use weft_proto::dm::{DirectMessage, DmAck};
use weft_proto::join::{JoinRequest, JoinResponse};
use weft_proto::pipe::{PipeAnswer, PipeOpen};
use weft_proto::topic::TopicMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = DirectMessage::decode(data) {
        let _ = m.validate(b"from", b"to");
    }
    let _ = DmAck::decode(data);
    let _ = TopicMessage::decode(data);
    let _ = from_cbor::<JoinRequest>(data);
    let _ = from_cbor::<JoinResponse>(data);
    let _ = BlobRequest::decode(data);
    if let Ok(BlobReply::Manifest(bytes)) = from_cbor::<BlobReply>(data)
        && let Ok(m) = from_cbor::<Manifest>(&bytes)
    {
        let _ = Manifest::decode_for(&m.id(), &bytes);
        let _ = m.chunk_len(m.chunks.len());
    }
    let _ = Manifest::decode_for(&BlobId([0; 32]), data);
    let _ = from_cbor::<PipeOpen>(data);
    let _ = from_cbor::<PipeAnswer>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = FileOffer::from_text(text);
    }
});
