//! The full-screen chat: the terminal in raw mode on the alternate screen, given back as
//! it was on every way out (return, error, panic, SIGTERM, SIGHUP when an SSH session
//! drops); one loop driven by keys, resizes, the node's updates and a roster tick.

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, EventStream};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::Stdout;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::input::{Action, Input};
use super::session::{Flow, ROSTER_EVERY, Session};
use super::state::{State, Update};
use super::view;

/// Runs the chat on the terminal until the user leaves, the node stops or a signal ends it.
pub async fn run(
    mut session: Session,
    mut state: State,
    mut updates: mpsc::Receiver<Update>,
) -> anyhow::Result<()> {
    let mut screen = Screen::enter()?;
    let mut keys = EventStream::new();
    let mut input = Input::default();
    let mut roster = tokio::time::interval(ROSTER_EVERY);
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        if let Some(reason) = state.closed.take() {
            anyhow::bail!("{reason}");
        }
        let mut scrollable = 0;
        screen
            .terminal
            .draw(|frame| scrollable = view::draw(frame, &state, &input))?;
        state.scroll = state.scroll.min(scrollable);
        let page = usize::from(screen.terminal.size()?.height / 2).max(1);
        tokio::select! {
            key = keys.next() => match key {
                Some(Ok(crossterm::event::Event::Key(key))) => match input.key(key) {
                    Some(Action::Submit(line)) => match session.submit(&state, &line) {
                        Flow::Quit => return Ok(()),
                        Flow::Go(now) => {
                            for update in now {
                                session.react(&update);
                                state.apply(update);
                            }
                        }
                    },
                    Some(Action::Next) => state.cycle(true),
                    Some(Action::Previous) => state.cycle(false),
                    Some(Action::PageUp) => state.scroll += page,
                    Some(Action::PageDown) => state.scroll = state.scroll.saturating_sub(page),
                    Some(Action::Quit) => return Ok(()),
                    None => {}
                },
                Some(Ok(crossterm::event::Event::Paste(text))) => input.paste(&text),
                // A resize needs nothing but the next draw, which fits the new size.
                Some(Ok(_)) => {}
                Some(Err(e)) => anyhow::bail!("cannot read the terminal: {e}"),
                None => return Ok(()),
            },
            Some(update) = updates.recv() => {
                session.react(&update);
                state.apply(update);
                // Take what else is waiting before drawing again (a fetch reports often).
                while let Ok(update) = updates.try_recv() {
                    session.react(&update);
                    state.apply(update);
                }
            }
            _ = roster.tick() => session.refresh_roster(),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
        }
    }
}

/// The terminal while the chat owns it; dropping it gives the terminal back.
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    /// Raw mode, the alternate screen, bracketed paste; and a panic hook that gives the
    /// terminal back before the panic is reported (else the report is lost on the
    /// alternate screen and the shell is left in raw mode).
    fn enter() -> anyhow::Result<Screen> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        let entered = crossterm::terminal::enable_raw_mode().and_then(|()| {
            crossterm::execute!(
                std::io::stdout(),
                EnterAlternateScreen,
                EnableBracketedPaste
            )
        });
        let terminal =
            entered.and_then(|()| Terminal::new(CrosstermBackend::new(std::io::stdout())));
        match terminal {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                restore();
                anyhow::bail!("cannot take over the terminal: {e}")
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back as the chat found it. Safe to call more than once.
fn restore() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}
