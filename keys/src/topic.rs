//! Signing and checking topic messages (`weft_proto::topic`), under the context
//! `topic-message`: the signature binds the mesh, the topic, the publisher's sequence number,
//! time and text, so any member can hand a message on and it stays the publisher's.

use weft_proto::mesh::{MemberKey, MeshId};
use weft_proto::topic::TopicMessage;

use crate::Identity;
use crate::sign::{Context, PublicKey, Signature, SignatureError};

const CONTEXT: Context = Context::new("topic-message");

/// Signs `message` as `publisher` for `mesh`.
pub fn sign_topic(
    publisher: &Identity,
    mesh: &MeshId,
    mut message: TopicMessage,
) -> Result<TopicMessage, SignatureError> {
    let bytes = message
        .signed_bytes(mesh)
        .map_err(|_| SignatureError::BadSignature)?;
    message.sig = publisher.sign(CONTEXT, &bytes).to_bytes();
    Ok(message)
}

/// Checks that `publisher` signed `message` for `mesh`, strictly.
pub fn verify_topic(
    publisher: &MemberKey,
    mesh: &MeshId,
    message: &TopicMessage,
) -> Result<(), SignatureError> {
    let bytes = message
        .signed_bytes(mesh)
        .map_err(|_| SignatureError::BadSignature)?;
    PublicKey::from_member(publisher)?.verify(CONTEXT, &bytes, &Signature::from_bytes(&message.sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn only_the_publisher_in_its_mesh_verifies(seq in 1u64..1000, text in ".{1,64}") {
            let alice = Identity::generate().unwrap();
            let key = alice.member_key();
            let mesh = MeshId([1; 20]);
            let message = TopicMessage::new("news".parse().unwrap(), seq, 5, text);
            let signed = sign_topic(&alice, &mesh, message).unwrap();
            prop_assert!(verify_topic(&key, &mesh, &signed).is_ok());
            prop_assert!(verify_topic(&key, &MeshId([2; 20]), &signed).is_err());
            let bob = Identity::generate().unwrap().member_key();
            prop_assert!(verify_topic(&bob, &mesh, &signed).is_err());
            let mut later = signed.clone();
            later.seq += 1;
            prop_assert!(verify_topic(&key, &mesh, &later).is_err());
        }
    }
}
