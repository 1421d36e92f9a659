//! `/weft/mailbox/1`: depositing sealed boxes with a member and collecting one's own (wire:
//! `weft_proto::mailbox`), one exchange per stream (see [`super::exchange`]).

use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;
use weft_proto::mailbox::{
    MAILBOX_VERSION, MAX_MAILBOX_REQUEST_BYTES, MAX_MAILBOX_RESPONSE_BYTES, MailboxRequest,
    MailboxResponse, Op,
};

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
