//! [`PeerArg`]: a member as the CLI takes it: its name, its PeerId, or enough of its PeerId
//! to tell it from the others.

use libp2p::PeerId;
use weft_proto::api::MemberInfo;

use crate::api::client::Client;

/// Every PeerId of an Ed25519 key starts with this; what follows tells keys apart.
const PEER_ID_HEAD: &str = "12D3KooW";

/// Fewest characters of a PeerId (past [`PEER_ID_HEAD`], or at its end as weft prints it
/// short) that name a member.
const MIN_PART: usize = 6;

/// A member named on the command line: its PeerId, its name in the mesh's ACL, or a unique
/// part of its PeerId (at least 6 characters past `12D3KooW`, or its end as weft prints it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerArg(String);

impl std::str::FromStr for PeerArg {
    type Err = String;
    fn from_str(s: &str) -> Result<PeerArg, String> {
        if s.is_empty() || s.chars().any(char::is_control) {
            return Err("a member is named by its name or its PeerId".into());
        }
        Ok(PeerArg(s.to_string()))
    }
}

impl PeerArg {
    /// The member's PeerId: given whole, or looked up among the mesh's members.
    pub async fn resolve(&self, client: &Client) -> anyhow::Result<PeerId> {
        if let Ok(peer) = self.0.parse::<PeerId>() {
            return Ok(peer);
        }
        let members = client.members().await?;
        find(&self.0, &members)
    }
}

/// Resolves `peer`, when one was given.
pub async fn resolve_some(
    peer: Option<PeerArg>,
    client: &Client,
) -> anyhow::Result<Option<PeerId>> {
    match peer {
        Some(peer) => Ok(Some(peer.resolve(client).await?)),
        None => Ok(None),
    }
}

/// Resolves each of `peers`.
pub async fn resolve_all(peers: &[PeerArg], client: &Client) -> anyhow::Result<Vec<PeerId>> {
    let mut out = Vec::with_capacity(peers.len());
    for peer in peers {
        out.push(peer.resolve(client).await?);
    }
    Ok(out)
}

/// The member `text` names among `members`: by name (case aside) or by a part of its
/// PeerId; an error lists the candidates when it names several. Every way of matching
/// counts at once, so that no name (`Alice` beside `alice`, or one spelled like the end of
/// another's PeerId) can stand in for another member.
pub fn find(text: &str, members: &[MemberInfo]) -> anyhow::Result<PeerId> {
    let found: Vec<&MemberInfo> = members
        .iter()
        .filter(|m| {
            let named = m
                .name
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(text));
            named || id_part(text, &m.peer_id)
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.peer_id.parse()?),
        [] => anyhow::bail!(
            "no member is named `{text}` or has a PeerId that starts or ends with it (see `weft members`)"
        ),
        several => {
            let listed: Vec<String> = several
                .iter()
                .map(|m| match &m.name {
                    Some(name) => format!("{} ({name})", m.peer_id),
                    None => m.peer_id.clone(),
                })
                .collect();
            anyhow::bail!(
                "`{text}` names {} members: {}; give more of the PeerId",
                several.len(),
                listed.join(", ")
            )
        }
    }
}

/// Whether `text` is a part of `peer_id` that names it: its beginning (at least
/// [`MIN_PART`] characters past [`PEER_ID_HEAD`]), or its end (at least [`MIN_PART`]).
fn id_part(text: &str, peer_id: &str) -> bool {
    let head = text.len() >= PEER_ID_HEAD.len() + MIN_PART && peer_id.starts_with(text);
    let tail = text.len() >= MIN_PART && peer_id.ends_with(text);
    head || tail
}

#[cfg(test)]
mod tests {
    use weft_proto::mesh::Role;

    use super::*;

    fn member(name: Option<&str>) -> MemberInfo {
        MemberInfo {
            peer_id: PeerId::random().to_string(),
            role: Role::Member,
            name: name.map(str::to_string),
            display_name: None,
            added_by: String::new(),
            added_at: 0,
            connected: false,
        }
    }

    #[test]
    fn a_member_is_found_by_name_prefix_or_end_and_an_ambiguous_name_lists_both() {
        let members = vec![
            member(Some("alice")),
            member(Some("sam")),
            member(Some("sam")),
            member(None),
        ];
        let id = |i: usize| members[i].peer_id.parse::<PeerId>().unwrap();
        assert_eq!(find("alice", &members).unwrap(), id(0));
        assert_eq!(find("ALICE", &members).unwrap(), id(0), "case aside");
        let mut twins = members.clone();
        twins.push(member(Some("Alice")));
        assert!(find("alice", &twins).is_err(), "alice and Alice: neither");
        let head = &members[3].peer_id[..PEER_ID_HEAD.len() + MIN_PART + 2];
        assert_eq!(find(head, &members).unwrap(), id(3));
        let tail = &members[3].peer_id[members[3].peer_id.len() - 8..];
        assert_eq!(
            find(tail, &members).unwrap(),
            id(3),
            "as weft prints it short"
        );
        let both = find("sam", &members).unwrap_err().to_string();
        assert!(
            both.contains(&members[1].peer_id) && both.contains(&members[2].peer_id),
            "{both}"
        );
        assert!(find("bob", &members).is_err());
        let mut shadow = members.clone();
        shadow.push(member(Some(tail)));
        assert!(
            find(tail, &shadow).is_err(),
            "a name that is another's PeerId end names neither"
        );
        assert!(find("12D3KooW", &members).is_err(), "too little to tell");
        assert!("bo\u{1b}b".parse::<PeerArg>().is_err());
    }
}
