//! [`Names`]: how human output shows a peer: the name the mesh's ACL gives it and the one
//! it calls itself (quoted: its own word), with the end of its PeerId beside them, or the
//! end of its PeerId alone.

use std::collections::HashMap;

use super::output::{printable, short_peer};
use crate::api::client::Client;

/// A member's names as output shows them: the ACL's `name`, then the `display` name it
/// gave itself in quotes when that says something else (`bob "Bobby"`, `"Bobby"`); `None`
/// when it has neither. Both are made printable.
pub fn shown_name(name: Option<&str>, display: Option<&str>) -> Option<String> {
    let quoted = |d: &str| format!("\"{}\"", printable(d));
    match (name, display) {
        (Some(name), Some(display)) if display != name => {
            Some(format!("{} {}", printable(name), quoted(display)))
        }
        (Some(name), _) => Some(printable(name).into_owned()),
        (None, Some(display)) => Some(quoted(display)),
        (None, None) => None,
    }
}

/// A member's names, as the ACL and its own card have them.
#[derive(Debug, Default)]
struct Named {
    name: Option<String>,
    display: Option<String>,
}

/// The members' names, by PeerId, as this node has them.
#[derive(Debug, Default)]
pub struct Names(HashMap<String, Named>);

impl Names {
    /// The names of the mesh's members; none on a node in no mesh.
    pub async fn load(client: &Client) -> Names {
        let members = client.members().await.unwrap_or_default();
        Names(
            members
                .into_iter()
                .map(|m| {
                    let named = Named {
                        name: m.name,
                        display: m.display_name,
                    };
                    (m.peer_id, named)
                })
                .collect(),
        )
    }

    /// Whether `peer` has a name here (given by the admins).
    pub fn knows(&self, peer: &str) -> bool {
        self.0.get(peer).is_some_and(|n| n.name.is_some())
    }

    /// `peer` as a command line takes it: its name when that is one plain word, else its
    /// PeerId.
    pub fn arg(&self, peer: &str) -> String {
        let plain = |name: &str| {
            name.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match self.0.get(peer).and_then(|n| n.name.as_deref()) {
            Some(name) if plain(name) => name.to_string(),
            _ => peer.to_string(),
        }
    }

    /// `peer` for a person to read: `bob "Bobby" (…4kx6nXTN)`, or `…4kx6nXTN` when it has
    /// no name.
    pub fn show(&self, peer: &str) -> String {
        let shown = self
            .0
            .get(peer)
            .and_then(|n| shown_name(n.name.as_deref(), n.display.as_deref()));
        match shown {
            Some(shown) => format!("{shown} ({})", short_peer(peer)),
            None => short_peer(peer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(id: &str, name: Option<&str>, display: Option<&str>) -> Names {
        let named = Named {
            name: name.map(str::to_string),
            display: display.map(str::to_string),
        };
        Names([(id.to_string(), named)].into())
    }

    #[test]
    fn a_named_peer_shows_its_names_and_the_end_of_its_peer_id() {
        let id = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
        let hostile = names(id, Some("bob\u{1b}[2J"), None);
        assert_eq!(hostile.show(id), "bob\\u{1b}[2J (…4kx6nXTN)");
        assert_eq!(Names::default().show(id), "…4kx6nXTN");
        assert_eq!(hostile.arg(id), id, "not a plain word");
        let plain = names(id, Some("bob"), Some("Bobby T"));
        assert_eq!(plain.arg(id), "bob");
        assert_eq!(plain.show(id), "bob \"Bobby T\" (…4kx6nXTN)");
        let own_word = names(id, None, Some("alice"));
        assert_eq!(
            own_word.show(id),
            "\"alice\" (…4kx6nXTN)",
            "quoted: its own word"
        );
        assert_eq!(own_word.arg(id), id, "never taken by its display name");
        assert!(!own_word.knows(id));
        assert_eq!(
            names(id, Some("bob"), Some("bob")).show(id),
            "bob (…4kx6nXTN)"
        );
    }
}
