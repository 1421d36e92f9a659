//! Sealed boxes as a mailbox hands them over, and what they open to: opening and decoding
//! never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_keys::Identity;
use weft_keys::seal::{SealKey, open};
use weft_proto::mesh::MeshId;
use weft_proto::seal::SealedMessage;

fuzz_target!(|data: &[u8]| {
    let me = SealKey::of(&Identity::from_secret(&[7; 32]));
    if let Ok(opened) = open(&me, &MeshId([1; 20]), data) {
        let _ = SealedMessage::decode(&opened.plaintext);
    }
    let _ = SealedMessage::decode(data);
});
