//! Line mode, for when stdout is not a terminal (a pipe, a file, a script): the same
//! commands read a line at a time from stdin, and whatever happens is printed as a line.
//! At the end of stdin it waits for what was asked to be done, then leaves.

use std::io::Write;

use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::session::{Flow, ROSTER_EVERY, Session};
use super::state::{Entry, State, Update};
use super::text;

/// How many lines of its history are printed when a conversation opens.
const SCROLLBACK: usize = 20;

/// Runs the chat on stdin and stdout until stdin ends, `/quit`, the node stops or a signal.
pub async fn run(
    mut session: Session,
    mut state: State,
    mut updates: mpsc::Receiver<Update>,
) -> anyhow::Result<()> {
    eprintln!("weft chat (line mode): type a message, or a command (/help lists them)");
    scrollback(&state);
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut terminate = signal(SignalKind::terminate())?;
    let mut roster = tokio::time::interval(ROSTER_EVERY);
    loop {
        if let Some(reason) = state.closed.take() {
            anyhow::bail!("{reason}");
        }
        tokio::select! {
            line = stdin.next_line() => match line? {
                Some(line) => match session.submit(&state, &line) {
                    Flow::Quit => return Ok(()),
                    Flow::Go(now) => {
                        for update in now {
                            apply(&mut session, &mut state, update);
                        }
                    }
                },
                None => {
                    session.finish(&mut updates, |update| print(&state.apply(update))).await;
                    return Ok(());
                }
            },
            Some(update) = updates.recv() => apply(&mut session, &mut state, update),
            _ = roster.tick() => session.refresh_roster(),
            _ = terminate.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn apply(session: &mut Session, state: &mut State, update: Update) {
    session.react(&update);
    let opens = matches!(update, Update::Open(_));
    print(&state.apply(update));
    if opens {
        scrollback(state);
    }
}

/// The end of the open conversation.
fn scrollback(state: &State) {
    let Some(open) = state.open() else {
        return;
    };
    let skip = open.entries.len().saturating_sub(SCROLLBACK);
    let lines: Vec<String> = open
        .entries
        .iter()
        .skip(skip)
        .map(|e| match e {
            Entry::Said(said) => text::line(state, &open.conv, said),
            Entry::Note(note) => format!("* {note}"),
        })
        .collect();
    print(&lines);
}

/// Prints lines; a reader that went away is not an error worth stopping for.
fn print(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}
