//! [`Names`]: how human output shows a peer: the name the mesh's ACL gives it, with the end
//! of its PeerId beside it, or the end of its PeerId alone.

use std::collections::HashMap;

use super::output::{printable, short_peer};
use crate::api::client::Client;

/// The members' names, by PeerId, as this node's ACL has them.
#[derive(Debug, Default)]
pub struct Names(HashMap<String, String>);

impl Names {
    /// The names of the mesh's members; none on a node in no mesh.
    pub async fn load(client: &Client) -> Names {
        let members = client.members().await.unwrap_or_default();
        Names(
            members
                .into_iter()
                .filter_map(|m| Some((m.peer_id, m.name?)))
                .collect(),
        )
    }

    /// Whether `peer` has a name here.
    pub fn knows(&self, peer: &str) -> bool {
        self.0.contains_key(peer)
    }

    /// `peer` as a command line takes it: its name when that is one plain word, else its
    /// PeerId.
    pub fn arg(&self, peer: &str) -> String {
        let plain = |name: &str| {
            name.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match self.0.get(peer) {
            Some(name) if plain(name) => name.clone(),
            _ => peer.to_string(),
        }
    }

    /// `peer` for a person to read: `bob (…4kx6nXTN)`, or `…4kx6nXTN` when it has no name.
    pub fn show(&self, peer: &str) -> String {
        match self.0.get(peer) {
            Some(name) => format!("{} ({})", printable(name), short_peer(peer)),
            None => short_peer(peer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_peer_shows_its_name_and_the_end_of_its_peer_id() {
        let id = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
        let names = Names([(id.to_string(), "bob\u{1b}[2J".to_string())].into());
        assert_eq!(names.show(id), "bob\\u{1b}[2J (…4kx6nXTN)");
        assert_eq!(Names::default().show(id), "…4kx6nXTN");
        assert_eq!(names.arg(id), id, "not a plain word");
        let plain = Names([(id.to_string(), "bob".to_string())].into());
        assert_eq!(plain.arg(id), "bob");
    }
}
