//! The frames of `/weft/service/1` and `/weft/queue/1` and gossiped provider records, as a
//! peer sends them, and the local handlers' frames: decoding, its checks, signature
//! verification and re-encoding never panic, and what decodes encodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proto::codec::from_cbor;
use weft_proto::queue::{ProducerFrame, WorkRequest, WorkerFrame};
use weft_proto::service::{Call, HandlerReply, HandlerRequest, ProviderFrame, SignedRecord};

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = Call::decode(data) {
        let again = call.encode().expect("a decoded call encodes");
        assert_eq!(Call::decode(&again).expect("and decodes"), call);
    }
    if let Ok(frame) = ProviderFrame::decode(data) {
        let again = frame.encode().expect("a decoded frame encodes");
        assert_eq!(ProviderFrame::decode(&again).expect("and decodes"), frame);
    }
    if let Ok(record) = SignedRecord::decode(data) {
        let _ = weft_keys::service::verify_record(&record);
        let _ = record.encode();
    }
    if let Ok(frame) = WorkerFrame::decode(data) {
        let again = frame.encode().expect("a decoded frame encodes");
        assert_eq!(WorkerFrame::decode(&again).expect("and decodes"), frame);
    }
    if let Ok(frame) = ProducerFrame::decode(data) {
        let again = frame.encode().expect("a decoded frame encodes");
        assert_eq!(ProducerFrame::decode(&again).expect("and decodes"), frame);
    }
    let _ = from_cbor::<HandlerRequest>(data);
    let _ = from_cbor::<HandlerReply>(data);
    let _ = from_cbor::<WorkRequest>(data);
});
