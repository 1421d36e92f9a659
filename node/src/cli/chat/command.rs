//! What a line typed into the chat asks for: a message, or one of the `/` commands.

use std::path::PathBuf;

use weft_proto::mesh::Role;

/// The commands, as `/help` lists them.
pub const HELP: &str = "/join TOPIC · /msg NAME [TEXT] · /send-file PATH · /fetch [ID] · \
/invite [ROLE] · /quit · Tab switch · PgUp/PgDn scroll";

/// One line of input, understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Say this in the open conversation.
    Say(String),
    /// Join a topic and open its room.
    Join(String),
    /// Open the direct conversation with a member (name or PeerId part), and say `text`
    /// there when given.
    Msg {
        /// The member as typed.
        who: String,
        /// What to say, if anything.
        text: Option<String>,
    },
    /// Offer a file in the open conversation.
    SendFile(PathBuf),
    /// Fetch an offered file: the one whose id starts with this, else the newest offer in
    /// the open conversation.
    Fetch(Option<String>),
    /// Print a new one-use invite key for a newcomer with this role (admins).
    Invite(Role),
    /// Show the commands.
    Help,
    /// Leave the chat.
    Quit,
}

/// Reads one line of input; `Ok(None)` for a blank line, `Err` (one line, for the user)
/// for a command that is not one or lacks its argument. `//text` says `/text`.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Some(Command::Say(line.to_string())));
    };
    if rest.starts_with('/') {
        return Ok(Some(Command::Say(rest.to_string())));
    }
    let (name, arg) = match rest.split_once(char::is_whitespace) {
        Some((name, arg)) => (name, arg.trim()),
        None => (rest, ""),
    };
    let arg = (!arg.is_empty()).then_some(arg);
    let needs = |what: &str| format!("/{name} needs {what} (/help lists the commands)");
    let command = match name {
        "join" | "j" => Command::Join(arg.ok_or_else(|| needs("a topic"))?.to_string()),
        "msg" | "m" => {
            let arg = arg.ok_or_else(|| needs("a member's name"))?;
            let (who, text) = match arg.split_once(char::is_whitespace) {
                Some((who, text)) => (who, Some(text.trim_start().to_string())),
                None => (arg, None),
            };
            Command::Msg {
                who: who.to_string(),
                text: text.filter(|t| !t.is_empty()),
            }
        }
        "send-file" | "file" => Command::SendFile(expand_home(arg.ok_or_else(|| needs("a path"))?)),
        "fetch" => Command::Fetch(arg.map(str::to_string)),
        "invite" => Command::Invite(match arg {
            Some(role) => role
                .parse()
                .map_err(|_| format!("`{role}` is not a role: admin, member, guest or mailbox"))?,
            None => Role::Member,
        }),
        "help" | "h" | "?" => Command::Help,
        "quit" | "q" | "exit" => Command::Quit,
        _ => return Err(format!("/{name} is not a command; {HELP}")),
    };
    Ok(Some(command))
}

/// `~/x` as a path under `$HOME` (a shell would have done it on a command line).
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line).unwrap().unwrap()
    }

    #[test]
    fn lines_are_messages_or_commands() {
        assert_eq!(ok("hello there"), Command::Say("hello there".into()));
        assert_eq!(ok("//not a command"), Command::Say("/not a command".into()));
        assert_eq!(parse("   ").unwrap(), None);
        assert_eq!(ok("/join news"), Command::Join("news".into()));
        assert_eq!(
            ok("/msg bob  hi there"),
            Command::Msg {
                who: "bob".into(),
                text: Some("hi there".into())
            }
        );
        assert_eq!(
            ok("/msg bob"),
            Command::Msg {
                who: "bob".into(),
                text: None
            }
        );
        assert_eq!(
            ok("/send-file /tmp/a b.txt"),
            Command::SendFile("/tmp/a b.txt".into())
        );
        assert_eq!(ok("/fetch"), Command::Fetch(None));
        assert_eq!(ok("/fetch 5f1c"), Command::Fetch(Some("5f1c".into())));
        assert_eq!(ok("/invite"), Command::Invite(Role::Member));
        assert_eq!(ok("/invite guest"), Command::Invite(Role::Guest));
        assert_eq!(ok("/quit"), Command::Quit);
        assert_eq!(ok("/help"), Command::Help);
    }

    #[test]
    fn a_command_without_what_it_needs_says_so() {
        assert!(parse("/join").unwrap_err().contains("needs a topic"));
        assert!(parse("/msg ").unwrap_err().contains("needs a member"));
        assert!(parse("/send-file").unwrap_err().contains("needs a path"));
        assert!(parse("/invite king").unwrap_err().contains("not a role"));
        assert!(parse("/frobnicate").unwrap_err().contains("not a command"));
    }
}
