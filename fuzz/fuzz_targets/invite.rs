//! Invite keys as a newcomer pastes them: any string must be refused cleanly or decode to an
//! invite that encodes back to an equivalent key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_keys::invite::Invite;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(invite) = Invite::decode(&text) {
        let again = invite.encode().expect("a decoded invite encodes");
        assert_eq!(
            Invite::decode(&again).expect("re-encoded invite decodes"),
            invite
        );
    }
});
