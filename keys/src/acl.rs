//! Signing and checking ACL ops (`weft_proto::acl`), under the context `acl-op`.

use weft_proto::acl::{OP_VERSION, OpBody, SignedOp};

use crate::Identity;
use crate::sign::{Context, PublicKey, Signature, SignatureError};

const CONTEXT: Context = Context::new("acl-op");

/// Signs `body` as `author` (whose public key must be `body.author`).
pub fn sign_op(author: &Identity, body: OpBody) -> Result<SignedOp, SignatureError> {
    let bytes = weft_proto::codec::to_cbor(&body).map_err(|_| SignatureError::BadSignature)?;
    let sig = author.sign(CONTEXT, &bytes).to_bytes();
    Ok(SignedOp { body, sig })
}

/// Checks an op's version and its author's signature, strictly.
pub fn verify_op(op: &SignedOp) -> Result<(), SignatureError> {
    if op.body.v != OP_VERSION {
        return Err(SignatureError::BadSignature);
    }
    let bytes = weft_proto::codec::to_cbor(&op.body).map_err(|_| SignatureError::BadSignature)?;
    PublicKey::from_member(&op.body.author)?.verify(
        CONTEXT,
        &bytes,
        &Signature::from_bytes(&op.sig),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use weft_proto::acl::{OpId, OpKind};
    use weft_proto::mesh::{MemberKey, MeshId, Role};

    fn body(author: &Identity, prev: [u8; 32]) -> OpBody {
        OpBody {
            v: OP_VERSION,
            mesh: MeshId::of_founder(&author.member_key()),
            author: author.member_key(),
            prev: vec![OpId(prev)],
            kind: OpKind::Add {
                member: MemberKey([7; 32]),
                role: Role::Member,
                name: Some("bob".into()),
            },
        }
    }

    proptest! {
        #[test]
        fn ops_verify_and_any_flipped_byte_is_refused(seed in any::<[u8; 32]>(), prev in any::<[u8; 32]>(), at in any::<prop::sample::Index>()) {
            let author = Identity::from_secret(&seed);
            let op = sign_op(&author, body(&author, prev)).unwrap();
            prop_assert!(verify_op(&op).is_ok());
            let bytes = weft_proto::codec::to_cbor(&op).unwrap();
            let back: SignedOp = weft_proto::codec::from_cbor(&bytes).unwrap();
            prop_assert_eq!(&back, &op);
            let mut flipped = bytes.clone();
            let i = at.index(flipped.len());
            flipped[i] ^= 0x01;
            if let Ok(tampered) = weft_proto::codec::from_cbor::<SignedOp>(&flipped) {
                prop_assert!(tampered == op || verify_op(&tampered).is_err());
            }
        }
    }

    #[test]
    fn an_op_claiming_another_author_is_refused() {
        let alice = Identity::from_secret(&[1; 32]);
        let mallory = Identity::from_secret(&[2; 32]);
        let op = sign_op(&mallory, body(&alice, [5; 32])).unwrap();
        assert!(verify_op(&op).is_err());
    }
}
