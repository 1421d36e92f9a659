//! Drawing the full-screen chat from the [`State`] and the [`Input`]: conversations with
//! their unread counts and the members with presence and role on the left, the open
//! conversation on the right, the input line and a line of help below. Drawing reads the
//! model and changes nothing, so any size of terminal (a resize) is just another draw.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, List, ListItem, Paragraph};
use unicode_width::UnicodeWidthChar;

use super::command::HELP;
use super::input::Input;
use super::state::{Conv, Entry, Presence, Said, State};
use super::text;

/// Columns of the left side (conversations and members), at most a third of the screen.
const SIDE: u16 = 30;

/// Draws the chat; returns how many rows the open conversation can scroll back.
pub fn draw(frame: &mut Frame, state: &State, input: &Input) -> usize {
    let [body, entry, help] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let [side, main] = Layout::horizontal([
        Constraint::Length(SIDE.min(body.width / 3)),
        Constraint::Min(10),
    ])
    .areas(body);
    let listed = state.conversations().len() as u16 + 2;
    let [convs, members] =
        Layout::vertical([Constraint::Length(listed.max(3)), Constraint::Min(3)]).areas(side);
    conversations(frame, convs, state);
    roster(frame, members, state);
    let scrollable = conversation(frame, main, state);
    input_line(frame, entry, state, input);
    let hint = if state.scroll > 0 {
        format!(
            "scrolled back {} rows (PgDn returns) · {HELP}",
            state.scroll
        )
    } else {
        HELP.to_string()
    };
    frame.render_widget(
        Paragraph::new(hint).style(Style::new().fg(Color::DarkGray)),
        help,
    );
    scrollable
}

fn conversations(frame: &mut Frame, area: Rect, state: &State) {
    let open = state.open().map(|c| &c.conv);
    let items: Vec<ListItem> = state
        .conversations()
        .iter()
        .map(|c| {
            let mut style = Style::new();
            if Some(&c.conv) == open {
                style = style.add_modifier(Modifier::REVERSED);
            }
            let mut spans = vec![Span::styled(state.label(&c.conv), style)];
            if c.unread > 0 {
                spans.push(Span::styled(
                    format!(" ({})", c.unread),
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                ));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    frame.render_widget(
        List::new(items).block(Block::bordered().title(" conversations ")),
        area,
    );
}

fn roster(frame: &mut Frame, area: Rect, state: &State) {
    let items: Vec<ListItem> = state
        .members()
        .iter()
        .map(|m| {
            let (dot, colour) = match m.presence {
                Presence::Direct => ("●", Color::Green),
                Presence::Relayed => ("●", Color::Yellow),
                Presence::Away => ("○", Color::DarkGray),
            };
            let me = m.info.peer_id == state.me();
            let name = crate::cli::names::shown_name(
                m.info.name.as_deref(),
                m.info.display_name.as_deref(),
            )
            .unwrap_or_else(|| "-".into());
            let first = Line::from(vec![
                Span::styled(format!("{dot} "), Style::new().fg(colour)),
                Span::styled(name, Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(format!(" {}", text::short_peer(&m.info.peer_id))),
            ]);
            let how = if me {
                "you".to_string()
            } else {
                text::presence_word(m.presence).to_string()
            };
            let second = Line::styled(
                format!("  {} · {how}", m.info.role),
                Style::new().fg(Color::DarkGray),
            );
            ListItem::new(vec![first, second])
        })
        .collect();
    frame.render_widget(
        List::new(items).block(Block::bordered().title(" members ")),
        area,
    );
}

/// The open conversation, its end at the bottom (or scrolled back); the rows it can
/// scroll back.
fn conversation(frame: &mut Frame, area: Rect, state: &State) -> usize {
    let Some(open) = state.open() else {
        let block = Block::bordered().title(" weft chat ");
        let mut lines = vec![
            Line::raw("No conversation yet."),
            Line::raw("/join TOPIC opens a room, /msg NAME a conversation with a member."),
        ];
        if let Some(status) = &state.status {
            lines.push(Line::styled(
                format!("* {status}"),
                Style::new().fg(Color::Yellow),
            ));
        }
        let hello = Paragraph::new(lines).block(block);
        frame.render_widget(hello, area);
        return 0;
    };
    let block = Block::bordered().title(format!(" {} ", title(state, &open.conv)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width).max(1);
    let height = usize::from(inner.height);
    let rows: Vec<Line> = open
        .entries
        .iter()
        .flat_map(|e| entry(state, e))
        .flat_map(|spans| wrap(spans, width))
        .collect();
    let scrollable = rows.len().saturating_sub(height);
    let end = rows.len() - state.scroll.min(scrollable);
    let start = end.saturating_sub(height);
    frame.render_widget(Paragraph::new(rows[start..end].to_vec()), inner);
    scrollable
}

/// `#news`, or `@bob …XYZ12345 · member · online relayed`.
fn title(state: &State, conv: &Conv) -> String {
    match conv {
        Conv::Room(_) => state.label(conv),
        Conv::Direct(peer) => match state.member(peer) {
            Some(m) => format!(
                "{} {} · {} · {}",
                state.label(conv),
                text::short_peer(peer),
                m.info.role,
                text::presence_word(m.presence)
            ),
            None => format!("{} (not a member)", state.label(conv)),
        },
    }
}

/// An entry as its lines (before wrapping): a note; a message, and under a file offer how
/// its fetch stands.
fn entry(state: &State, entry: &Entry) -> Vec<Vec<Span<'static>>> {
    match entry {
        Entry::Note(note) => vec![vec![Span::styled(
            format!("* {note}"),
            Style::new().fg(Color::Yellow),
        )]],
        Entry::Said(said) => {
            let mut lines = vec![message(state, said)];
            if let Some(transfer) = text::transfer(said, state) {
                lines.push(vec![Span::styled(
                    format!("         {transfer}"),
                    Style::new().fg(Color::Magenta),
                )]);
            }
            lines
        }
    }
}

fn message(state: &State, said: &Said) -> Vec<Span<'static>> {
    let who = if said.outgoing {
        Color::Cyan
    } else {
        Color::Green
    };
    let mut spans = vec![
        Span::styled(
            format!("{} ", text::clock(said.ts)),
            Style::new().fg(Color::DarkGray),
        ),
        Span::styled(
            state.name_of(&said.from),
            Style::new().fg(who).add_modifier(Modifier::BOLD),
        ),
        Span::raw(": "),
        Span::raw(text::body(said)),
    ];
    if let Some(delivery) = said.state {
        let colour = match delivery {
            weft_proto::api::DeliveryState::Delivered => Color::Green,
            weft_proto::api::DeliveryState::Queued | weft_proto::api::DeliveryState::Held => {
                Color::Yellow
            }
            _ => Color::Red,
        };
        spans.push(Span::styled(
            text::tag(Some(delivery)),
            Style::new().fg(colour),
        ));
    }
    spans
}

/// The spans cut into rows of at most `width` columns, after a space where there is one.
fn wrap(spans: Vec<Span<'static>>, width: usize) -> Vec<Line<'static>> {
    let cells: Vec<(char, Style)> = spans
        .iter()
        .flat_map(|span| span.content.chars().map(move |c| (c, span.style)))
        .collect();
    let mut rows = Vec::new();
    let mut start = 0;
    while start < cells.len() {
        let (mut end, mut used, mut space) = (start, 0, None);
        while end < cells.len() {
            let w = cells[end].0.width().unwrap_or(0);
            if used + w > width && end > start {
                break;
            }
            used += w;
            end += 1;
            if cells[end - 1].0 == ' ' {
                space = Some(end);
            }
        }
        if end < cells.len()
            && let Some(cut) = space
        {
            end = cut;
        }
        rows.push(row(&cells[start..end]));
        start = end;
    }
    if rows.is_empty() {
        rows.push(Line::default());
    }
    rows
}

/// One row of styled characters as spans, a span per run of one style.
fn row(cells: &[(char, Style)]) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    for &(c, style) in cells {
        match spans.last_mut() {
            Some(last) if last.style == style => last.content.to_mut().push(c),
            _ => spans.push(Span::styled(c.to_string(), style)),
        }
    }
    Line::from(spans)
}

fn input_line(frame: &mut Frame, area: Rect, state: &State, input: &Input) {
    let title = match state.open() {
        Some(c) => format!(" to {} ", state.label(&c.conv)),
        None => " /join TOPIC or /msg NAME to start ".into(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    let width = usize::from(inner.width).max(1);
    // Past the right edge, the line scrolls so the cursor stays in sight.
    let skip = (input.cursor() + 1).saturating_sub(width);
    let shown: String = input.text().chars().skip(skip).collect();
    let before: usize = input
        .text()
        .chars()
        .skip(skip)
        .take(input.cursor() - skip)
        .map(|c| c.width().unwrap_or(0))
        .sum();
    frame.render_widget(Paragraph::new(shown).block(block), area);
    let x = inner.x + (before as u16).min(inner.width.saturating_sub(1));
    frame.set_cursor_position((x, inner.y));
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use weft_proto::api::{DeliveryState, Direction, Event, Kind, MemberInfo, Message};
    use weft_proto::id::MessageId;
    use weft_proto::mesh::Role;

    use super::*;
    use crate::cli::chat::state::Update;

    const ME: &str = "12D3KooWMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMe11";
    const BOB: &str = "12D3KooWBobBobBobBobBobBobBobBobBobBobBobBobBobBob22";

    fn screen(state: &State, width: u16, height: u16) -> (String, usize) {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        let mut scrollable = 0;
        terminal
            .draw(|f| scrollable = draw(f, state, &Input::default()))
            .unwrap();
        let buffer = terminal.backend().buffer();
        let text = buffer
            .content()
            .chunks(usize::from(width))
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n");
        (text, scrollable)
    }

    fn message(n: u8, out: bool, text: &str) -> Message {
        Message {
            id: MessageId([n; 32]),
            kind: Kind::Direct,
            direction: if out { Direction::Out } else { Direction::In },
            from: if out { ME } else { BOB }.into(),
            to: Some(if out { BOB } else { ME }.into()),
            topic: None,
            ts: 0,
            text: text.into(),
            state: out.then_some(DeliveryState::Queued),
        }
    }

    #[test]
    fn the_screen_shows_messages_states_unread_counts_and_members() {
        let mut state = State::new(ME.into());
        state.apply(Update::Roster {
            members: vec![MemberInfo {
                peer_id: BOB.into(),
                role: Role::Admin,
                name: Some("bob".into()),
                display_name: Some("Bobby".into()),
                added_by: BOB.into(),
                added_at: 0,
                connected: true,
            }],
            peers: Vec::new(),
        });
        state.apply(Update::Open(Conv::Room("news".parse().unwrap())));
        state.apply(Update::Event(Event::Message(message(1, false, "hi there"))));
        let (text, _) = screen(&state, 100, 20);
        assert!(text.contains("@bob (1)"), "{text}");
        assert!(text.contains("bob \"Bobby\" …BobBob22"), "{text}");
        assert!(text.contains("admin · online direct"), "{text}");
        state.cycle(true);
        state.apply(Update::Own(message(2, true, "hello bob")));
        state.apply(Update::Event(Event::Delivered {
            id: MessageId([2; 32]),
            to: BOB.into(),
            latency_ms: 1.0,
        }));
        let (text, _) = screen(&state, 100, 20);
        assert!(text.contains("bob: hi there"), "{text}");
        assert!(text.contains("you: hello bob  [delivered]"), "{text}");
        assert!(!text.contains("@bob (1)"), "read once open: {text}");
    }

    #[test]
    fn a_long_conversation_shows_its_end_and_wraps_to_a_narrow_screen() {
        let mut state = State::new(ME.into());
        state.apply(Update::Open(Conv::Direct(BOB.into())));
        for n in 0..50u8 {
            state.apply(Update::Event(Event::Message(message(
                n,
                false,
                &format!("line {n}"),
            ))));
        }
        let long = format!("{} [delivered]", "x".repeat(400));
        state.apply(Update::Event(Event::Message(message(99, false, &long))));
        let (text, scrollable) = screen(&state, 90, 20);
        assert!(text.contains("line 49"), "{text}");
        assert!(!text.contains("line 10 "), "{text}");
        assert!(scrollable > 40, "{scrollable}");
        assert!(text.matches("xxxxxxxxxx").count() >= 8, "wrapped: {text}");
        assert!(text.contains("[delivered]"), "a word stays whole: {text}");
        state.scroll = scrollable;
        let (text, _) = screen(&state, 90, 20);
        assert!(text.contains("line 0"), "scrolled to the start: {text}");
    }
}
