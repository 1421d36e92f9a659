//! How the chat's things read as text: a message as a line, a delivery state, a presence,
//! a file offer with the command that fetches it and its progress. The screen and line
//! mode both say things this way. Everything a peer wrote goes through
//! [`printable`] first.

use weft_proto::api::DeliveryState;

use super::state::{Conv, Presence, Said, State, Transfer};
pub use crate::cli::media::bytes;
pub use crate::cli::output::{printable, short_peer};

/// Cells of a text progress bar.
const BAR_CELLS: u64 = 20;

/// A message as one line: `12:00:01 [#news] alice: text  [delivered]`.
pub fn line(state: &State, conv: &Conv, said: &Said) -> String {
    format!(
        "{} [{}] {}: {}{}",
        clock(said.ts),
        state.label(conv),
        state.name_of(&said.from),
        body(said),
        tag(said.state)
    )
}

/// `HH:MM:SS` (UTC) of a message's time.
pub fn clock(ts: u64) -> String {
    let mut t = crate::cli::output::time_of_day(ts);
    t.truncate(8);
    t
}

/// What a message says: its text, or for a file offer its name, size and type and the
/// command that fetches it.
pub fn body(said: &Said) -> String {
    let Some(offer) = &said.offer else {
        return printable(&said.text).into_owned();
    };
    let what = format!(
        "{} ({}, {})",
        printable(&offer.name),
        bytes(offer.size),
        printable(&offer.media_type)
    );
    if said.outgoing {
        format!("offered file {what}")
    } else {
        format!("file {what}: /fetch {}", offer.blob.short())
    }
}

/// How the fetch of the file a message offers stands, once one was started.
pub fn transfer(said: &Said, state: &State) -> Option<String> {
    let offer = said.offer.as_ref().filter(|_| !said.outgoing)?;
    Some(match state.transfer_of(&offer.blob)? {
        Transfer::Fetching { done, size } => progress(*done, *size),
        Transfer::Done(path) => format!("fetched to {}", printable(path)),
        Transfer::Failed(error) => format!("fetch failed: {}", printable(error)),
    })
}

/// A fetch's progress: `[#########-----------] 45% 1.1 KiB/2.5 KiB`.
pub fn progress(done: u64, size: u64) -> String {
    let done = done.min(size);
    let filled = (done * BAR_CELLS).checked_div(size).unwrap_or(BAR_CELLS);
    let percent = (done * 100).checked_div(size).unwrap_or(100);
    format!(
        "[{}{}] {percent}% {}/{}",
        "#".repeat(filled as usize),
        "-".repeat((BAR_CELLS - filled) as usize),
        bytes(done),
        bytes(size)
    )
}

/// A sent message's state in a word or three.
pub fn state_word(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Queued => "queued",
        DeliveryState::Held => "held by a mailbox",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Rejected => "refused",
        DeliveryState::Expired => "expired",
    }
}

/// `  [delivered]` after a sent message, nothing after others.
pub fn tag(state: Option<DeliveryState>) -> String {
    state.map_or_else(String::new, |s| format!("  [{}]", state_word(s)))
}

/// A member's presence in words.
pub fn presence_word(presence: Presence) -> &'static str {
    match presence {
        Presence::Direct => "online direct",
        Presence::Relayed => "online relayed",
        Presence::Away => "away",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_as_a_bar() {
        assert_eq!(progress(0, 2048), "[--------------------] 0% 0 B/2.0 KiB");
        assert_eq!(
            progress(1024, 2048),
            "[##########----------] 50% 1.0 KiB/2.0 KiB"
        );
        assert_eq!(progress(0, 0), "[####################] 100% 0 B/0 B");
    }
}
