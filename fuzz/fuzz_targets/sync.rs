//! `/weft/sync/1` and `/weft/mailbox/1` bodies as a member sends them, and the checks a node
//! runs on what they carry (the log summary of heads, known ops and a page cursor; ACL ops;
//! sealing-key cards; handed-on topic messages). None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_keys::seal::verify_card;
use weft_keys::topic::verify_topic;
use weft_proto::codec::from_cbor;
use weft_proto::mailbox::{MailboxRequest, MailboxResponse};
use weft_proto::mesh::MemberKey;
use weft_proto::sync::{SyncRequest, SyncResponse};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = from_cbor::<SyncRequest>(data) {
        if let Some(card) = request.card {
            let _ = verify_card(&MemberKey([1; 32]), &card);
        }
    }
    if let Ok(SyncResponse::Ops {
        ops,
        peers,
        messages,
        ..
    }) = from_cbor::<SyncResponse>(data)
    {
        for op in &ops {
            let _ = op.check_shape();
            let _ = weft_keys::acl::verify_op(op);
        }
        for card in peers.iter().filter_map(|p| p.card) {
            let _ = verify_card(&MemberKey([1; 32]), &card);
        }
        for logged in &messages {
            let _ = logged.message.check();
            let _ = verify_topic(
                &logged.publisher,
                &weft_proto::mesh::MeshId([1; 20]),
                &logged.message,
            );
        }
    }
    let _ = from_cbor::<MailboxRequest>(data);
    let _ = from_cbor::<MailboxResponse>(data);
});
