//! ACL ops (v3, naming the ops their author had seen) as they arrive by sync or gossip:
//! the capped decoding, the shape and name checks, verification and the id never panic,
//! and an op that decodes encodes back to the same id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proto::acl::SignedOp;

fuzz_target!(|data: &[u8]| {
    if let Ok(op) = SignedOp::decode(data) {
        let _ = op.check_shape();
        let _ = weft_keys::acl::verify_op(&op);
        let id = op.id();
        let again = weft_proto::codec::to_cbor(&op).expect("a decoded op encodes");
        let back = weft_proto::codec::from_cbor::<SignedOp>(&again).expect("and decodes");
        assert_eq!(back.id(), id);
    }
});
