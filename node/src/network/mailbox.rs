//! `/weft/mailbox/1`: depositing sealed boxes with a member and collecting one's own (wire:
//! `weft_proto::mailbox`), one exchange per stream (see [`super::exchange`]); a deposit of
//! more boxes than one request carries goes in several, one after another.

use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;
use weft_proto::mailbox::{
    Boxed, MAILBOX_VERSION, MAX_DEPOSIT_BOXES, MAX_DEPOSIT_BYTES, MAX_MAILBOX_REQUEST_BYTES,
    MAX_MAILBOX_RESPONSE_BYTES, MailboxRequest, MailboxResponse, Op, Outcome,
};
use weft_proto::queue::clip_reason;

use super::exchange::{self, Asked, Rules};

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/mailbox/1");

/// A mailbox request for the event loop to answer.
pub type MailboxEvent = Asked<MailboxRequest, MailboxResponse>;

/// How mailbox requests are read.
pub const RULES: Rules<MailboxResponse> = Rules {
    what: "mailbox request",
    kind: "mailbox",
    max_request: MAX_MAILBOX_REQUEST_BYTES,
    refuse: |reason| MailboxResponse::Refused { reason },
};

/// Asks `peer` to do `op`; its answer, or why there was none.
pub async fn ask(control: Control, peer: PeerId, op: Op) -> Result<MailboxResponse, String> {
    let request = MailboxRequest {
        v: MAILBOX_VERSION,
        op,
    };
    exchange::ask(
        control,
        peer,
        PROTOCOL,
        &request,
        MAX_MAILBOX_RESPONSE_BYTES,
    )
    .await
}

/// Deposits `boxes` with `peer` in as few requests as the caps allow, one after another:
/// one outcome per box, in order. When a later request gets no answer (or an answer that is
/// not a deposit's), its boxes and the rest are refused with why; when the first does, that
/// is the answer.
pub async fn deposit(
    control: Control,
    peer: PeerId,
    boxes: Vec<Boxed>,
) -> Result<MailboxResponse, String> {
    let mut outcomes = Vec::with_capacity(boxes.len());
    let requests = requests(boxes);
    let count = requests.len();
    let mut requests = requests.into_iter();
    while let Some(boxes) = requests.next() {
        let n = boxes.len();
        let first = outcomes.is_empty();
        let why = match ask(control.clone(), peer, Op::Deposit { boxes }).await {
            Ok(MailboxResponse::Deposited { outcomes: these }) if these.len() == n => {
                outcomes.extend(these);
                continue;
            }
            Ok(MailboxResponse::Refused { reason }) => {
                // Copied to each box: cut short first.
                let reason = clip_reason(&reason);
                outcomes.extend((0..n).map(|_| Outcome::Refused {
                    reason: reason.clone(),
                }));
                continue;
            }
            Ok(other) if first && count == 1 => return Ok(other),
            Err(e) if first => return Err(e),
            Ok(_) => "an answer to a deposit that is none, or not one outcome per box".into(),
            Err(e) => e,
        };
        let left = n + requests.by_ref().map(|r| r.len()).sum::<usize>();
        let why = clip_reason(&why);
        outcomes.extend((0..left).map(|_| Outcome::Refused {
            reason: why.clone(),
        }));
    }
    Ok(MailboxResponse::Deposited { outcomes })
}

/// `boxes` in requests of at most [`MAX_DEPOSIT_BOXES`] boxes and [`MAX_DEPOSIT_BYTES`] of
/// them, in order.
fn requests(boxes: Vec<Boxed>) -> Vec<Vec<Boxed>> {
    let mut requests: Vec<Vec<Boxed>> = Vec::new();
    let mut bytes = 0;
    for boxed in boxes {
        let full = requests.last().is_none_or(|last| {
            last.len() >= MAX_DEPOSIT_BOXES || bytes + boxed.sealed.len() > MAX_DEPOSIT_BYTES
        });
        if full {
            requests.push(Vec::new());
            bytes = 0;
        }
        bytes += boxed.sealed.len();
        if let Some(last) = requests.last_mut() {
            last.push(boxed);
        }
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_proto::mesh::MemberKey;
    use weft_proto::seal::MAX_SEALED_BYTES;

    fn boxed(size: usize) -> Boxed {
        Boxed {
            to: MemberKey([1; 32]),
            expires: 1,
            sealed: vec![0; size],
        }
    }

    #[test]
    fn boxes_go_in_requests_within_both_caps_in_order() {
        let small: Vec<Boxed> = (0..MAX_DEPOSIT_BOXES + 1).map(|_| boxed(100)).collect();
        let sizes: Vec<usize> = requests(small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [MAX_DEPOSIT_BOXES, 1]);
        let large: Vec<Boxed> = (0..30).map(|n| boxed(MAX_SEALED_BYTES - n)).collect();
        let split = requests(large);
        assert!(split.len() > 1);
        for request in &split {
            let bytes: usize = request.iter().map(|b| b.sealed.len()).sum();
            assert!(bytes <= MAX_DEPOSIT_BYTES);
        }
        let order: Vec<usize> = split.iter().flatten().map(|b| b.sealed.len()).collect();
        let expected: Vec<usize> = (0..30).map(|n| MAX_SEALED_BYTES - n).collect();
        assert_eq!(order, expected);
        assert!(requests(Vec::new()).is_empty());
    }
}
