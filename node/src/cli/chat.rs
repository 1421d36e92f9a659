//! `weft chat [TOPIC|PEER]`: a terminal chat over the node's local API, like every other
//! command. Rooms (topics) and direct conversations with unread counts, members with
//! presence and role, history from the inbox, live messages, delivery states and peers
//! from the event stream, and `/join`, `/msg`, `/send-file`, `/fetch`, `/invite`, `/quit`.
//! Full-screen when stdout is a terminal, line by line otherwise.
//!
//! The parts: [`state`] is the pure model every change goes through (unit-tested);
//! [`command`] reads a typed line; [`session`] makes the API calls and turns their results
//! into updates; [`view`] and [`input`] are the screen and its keys, run by [`screen`];
//! [`lines`] is line mode; [`text`] is how things read in either.

mod command;
mod input;
mod lines;
mod screen;
mod session;
mod state;
mod text;
mod view;

use std::io::IsTerminal;

use crate::api::client::Client;

/// Runs the chat, opening `target` first when given: `#topic` for a room, or a member (name
/// or PeerId part), else the topic so named.
pub async fn chat(client: &Client, target: Option<String>) -> anyhow::Result<()> {
    let (mut session, mut state, updates) = session::Session::start(client.clone()).await?;
    if let Some(target) = target {
        for update in session.open_target(&state, &target) {
            state.apply(update);
        }
    }
    if std::io::stdout().is_terminal() {
        screen::run(session, state, updates).await
    } else {
        lines::run(session, state, updates).await
    }
}
