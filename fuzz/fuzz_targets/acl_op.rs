//! ACL ops as they arrive by sync or gossip: decoding and verification never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proto::acl::SignedOp;

fuzz_target!(|data: &[u8]| {
    if let Ok(op) = weft_proto::codec::from_cbor::<SignedOp>(data) {
        let _ = weft_keys::acl::verify_op(&op);
        let _ = op.id();
    }
});
