//! Signing and checking providers' service records (`weft_proto::service`), under the
//! context `service-record`: a record names its mesh and its provider, so it cannot be
//! replayed into another mesh or passed off as another member's.

use weft_proto::service::{ProviderRecord, SignedRecord};

use crate::Identity;
use crate::sign::{Context, PublicKey, Signature, SignatureError};

const CONTEXT: Context = Context::new("service-record");

/// Signs `record` as `provider` (whose key the record must name).
pub fn sign_record(
    provider: &Identity,
    record: ProviderRecord,
) -> Result<SignedRecord, SignatureError> {
    let bytes = record
        .signed_bytes()
        .map_err(|_| SignatureError::BadSignature)?;
    let sig = provider.sign(CONTEXT, &bytes).to_bytes();
    Ok(SignedRecord { record, sig })
}

/// Checks that the provider the record names signed it, strictly.
pub fn verify_record(signed: &SignedRecord) -> Result<(), SignatureError> {
    let bytes = signed
        .record
        .signed_bytes()
        .map_err(|_| SignatureError::BadSignature)?;
    PublicKey::from_member(&signed.record.provider)?.verify(
        CONTEXT,
        &bytes,
        &Signature::from_bytes(&signed.sig),
    )
}

#[cfg(test)]
mod tests {
    use weft_proto::mesh::MeshId;
    use weft_proto::service::SERVICE_VERSION;

    use super::*;

    #[test]
    fn only_the_provider_named_verifies_and_nothing_can_change() {
        let alice = Identity::generate().unwrap();
        let record = ProviderRecord {
            v: SERVICE_VERSION,
            mesh: MeshId([1; 20]),
            provider: alice.member_key(),
            seq: 7,
            offers: Vec::new(),
            queues: Vec::new(),
        };
        let signed = sign_record(&alice, record).unwrap();
        assert!(verify_record(&signed).is_ok());
        let mut other = signed.clone();
        other.record.provider = Identity::generate().unwrap().member_key();
        assert!(verify_record(&other).is_err(), "passed off as another's");
        let mut later = signed;
        later.record.seq += 1;
        assert!(verify_record(&later).is_err(), "changed");
    }
}
