//! The input line of the full-screen chat and what each key does: editing keys change the
//! line, the others become an [`Action`].

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Most characters the input line holds (a message is at most 64 KiB anyway).
const MAX_INPUT_CHARS: usize = 16 * 1024;

/// What a key asks of the chat, beyond editing the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The line was entered.
    Submit(String),
    /// Open the next conversation.
    Next,
    /// Open the previous conversation.
    Previous,
    /// Scroll back one page.
    PageUp,
    /// Scroll forward one page.
    PageDown,
    /// Leave the chat.
    Quit,
}

/// The line being typed and the cursor in it (a character index).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Input {
    chars: Vec<char>,
    cursor: usize,
}

impl Input {
    /// The line as typed.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// Where the cursor is, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Inserts pasted text at the cursor (line breaks become spaces: Enter sends).
    pub fn paste(&mut self, text: &str) {
        for c in text.chars() {
            self.insert(if c == '\n' || c == '\r' { ' ' } else { c });
        }
    }

    /// Applies a key: edits the line, or says what else it asks for.
    pub fn key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c' | 'd') if ctrl => return Some(Action::Quit),
            KeyCode::Char('u') if ctrl => {
                self.chars.drain(..self.cursor);
                self.cursor = 0;
            }
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.chars.len(),
            KeyCode::Char('n') if ctrl => return Some(Action::Next),
            KeyCode::Char('p') if ctrl => return Some(Action::Previous),
            KeyCode::Char(c) if !ctrl => self.insert(c),
            KeyCode::Enter => {
                let line = self.text();
                *self = Input::default();
                return Some(Action::Submit(line));
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.chars.remove(self.cursor);
            }
            KeyCode::Delete if self.cursor < self.chars.len() => {
                self.chars.remove(self.cursor);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.chars.len()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.chars.len(),
            KeyCode::Tab => return Some(Action::Next),
            KeyCode::BackTab => return Some(Action::Previous),
            KeyCode::PageUp => return Some(Action::PageUp),
            KeyCode::PageDown => return Some(Action::PageDown),
            _ => {}
        }
        None
    }

    fn insert(&mut self, c: char) {
        if self.chars.len() < MAX_INPUT_CHARS && !c.is_control() {
            self.chars.insert(self.cursor, c);
            self.cursor += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(input: &mut Input, code: KeyCode) -> Option<Action> {
        input.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn typing_edits_the_line_and_enter_submits_it() {
        let mut input = Input::default();
        for c in "helo".chars() {
            press(&mut input, KeyCode::Char(c));
        }
        press(&mut input, KeyCode::Left);
        press(&mut input, KeyCode::Char('l'));
        assert_eq!((input.text().as_str(), input.cursor()), ("hello", 4));
        press(&mut input, KeyCode::End);
        press(&mut input, KeyCode::Backspace);
        input.paste("p\nme");
        assert_eq!(
            press(&mut input, KeyCode::Enter),
            Some(Action::Submit("hellp me".into()))
        );
        assert_eq!(input, Input::default());
        assert_eq!(press(&mut input, KeyCode::Tab), Some(Action::Next));
        assert_eq!(
            input.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        input.paste("\u{1b}[2Jx");
        assert_eq!(input.text(), "[2Jx", "no control characters");
    }
}
