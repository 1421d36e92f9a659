//! The membership commands: `mesh create`, `invite create|list|revoke`, `members`.

use std::time::Duration;

use weft_proto::api::{AddMemberRequest, CreateInviteRequest};
use weft_proto::mesh::Role;

use super::MembersCommand;
use super::names::shown_name;
use super::output::{datetime, print_json, printable, short_peer};
use crate::api::client::Client;

/// `weft mesh create`.
pub async fn create(client: &Client, name: Option<String>, json: bool) -> anyhow::Result<()> {
    let mesh = client.mesh_create(name).await?;
    if json {
        return print_json(&mesh);
    }
    println!("founded mesh {}", mesh.id);
    eprintln!("you are its first admin; invite others with `weft invite create`");
    Ok(())
}

/// `weft join`.
pub async fn join(client: &Client, invite: &str, json: bool) -> anyhow::Result<()> {
    let from_stdin;
    let invite = if invite == "-" {
        from_stdin = read_invite(std::io::stdin().lock())?;
        from_stdin.as_str()
    } else {
        invite
    };
    let mesh = client.join(invite).await?;
    if json {
        return print_json(&mesh);
    }
    let role = mesh.role.map_or("member".to_string(), |r| r.to_string());
    let members = super::output::count(mesh.members as u64, "member");
    println!("joined mesh {} as {role} ({members})", mesh.id);
    Ok(())
}

/// What `weft invite create` asks for.
pub struct InviteArgs {
    /// The role the newcomer gets.
    pub role: Role,
    /// How long it stays valid.
    pub ttl: Duration,
    /// How many times it may be redeemed.
    pub uses: u32,
    /// A note for `weft invite list`.
    pub note: Option<String>,
    /// Also draw it as a QR code.
    pub qr: bool,
}

/// `weft invite create`.
/// Most bytes read from stdin for an invite key (one is well under 2 KiB).
const MAX_INVITE_INPUT: u64 = 16 * 1024;

/// The invite key on `input` (its first non-empty line), so it never has to be on a
/// command line, where other local users see it in the process list.
fn read_invite(input: impl std::io::Read) -> anyhow::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    input
        .take(MAX_INVITE_INPUT)
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("cannot read the invite key from stdin: {e}"))?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no invite key on stdin"))
}

pub async fn invite(client: &Client, args: InviteArgs, json: bool) -> anyhow::Result<()> {
    let info = client
        .invite_create(&CreateInviteRequest {
            role: args.role,
            ttl_secs: args.ttl.as_secs(),
            uses: args.uses,
            note: args.note,
        })
        .await?;
    if json {
        return print_json(&info);
    }
    let key = info.key.as_deref().unwrap_or_default();
    println!("{key}");
    if args.qr {
        println!("{}", qr(key)?);
    }
    eprintln!(
        "invite {} for a {}: {} use{}, valid until {} UTC",
        info.id,
        info.role,
        info.uses_left,
        if info.uses_left == 1 { "" } else { "s" },
        datetime(info.expires * 1_000_000)
    );
    Ok(())
}

/// `key` as a QR code in text, two modules a character high. A key is all upper case and
/// digits, which the code's alphanumeric mode packs densely; with the lowest error
/// correction (a screen is not a torn label) and a quiet zone of two modules, a fresh key's
/// code fits an 80×24 terminal.
fn qr(key: &str) -> anyhow::Result<String> {
    use qrcode::render::{Renderer, unicode::Dense1x2};
    let code = qrcode::QrCode::with_error_correction_level(key.as_bytes(), qrcode::EcLevel::L)?;
    let colors = code.to_colors();
    Ok(Renderer::<Dense1x2>::new(&colors, code.width(), 2).build())
}

/// `weft invite list`.
pub async fn invites(client: &Client, json: bool) -> anyhow::Result<()> {
    let invites = client.invites().await?;
    if json {
        return print_json(&invites);
    }
    if invites.is_empty() {
        println!("no outstanding invites");
        return Ok(());
    }
    println!(
        "{:<12}  {:<6}  {:>9}  {:<19}  NOTE",
        "ID", "ROLE", "USES LEFT", "EXPIRES (UTC)"
    );
    for i in invites {
        println!(
            "{:<12}  {:<6}  {:>9}  {:<19}  {}",
            i.id,
            i.role,
            i.uses_left,
            datetime(i.expires * 1_000_000),
            i.note.unwrap_or_default()
        );
    }
    Ok(())
}

/// `weft invite revoke`.
pub async fn revoke(client: &Client, id: &str, json: bool) -> anyhow::Result<()> {
    let info = client.invite_revoke(id).await?;
    if json {
        return print_json(&info);
    }
    println!("revoked invite {}", info.id);
    Ok(())
}

/// `weft members [add|remove|role]`.
pub async fn members(
    client: &Client,
    command: Option<MembersCommand>,
    json: bool,
) -> anyhow::Result<()> {
    let changed = match command {
        None => None,
        Some(MembersCommand::Add { peer, role, name }) => {
            let request = AddMemberRequest {
                peer_id: peer.to_string(),
                role,
                name,
            };
            Some(("admitted", client.member_add(&request).await?))
        }
        Some(MembersCommand::Remove { peer }) => {
            let peer = peer.resolve(client).await?;
            Some(("removed", client.member_remove(&peer.to_string()).await?))
        }
        Some(MembersCommand::Role { peer, role }) => Some((
            "changed the role of",
            client
                .member_role(&peer.resolve(client).await?.to_string(), role)
                .await?,
        )),
        Some(MembersCommand::Name { peer, name }) => Some((
            "named",
            client
                .member_name(&peer.resolve(client).await?.to_string(), name)
                .await?,
        )),
        Some(MembersCommand::DisplayName { name }) => {
            Some(("you are now", client.display_name(name).await?))
        }
    };
    if let Some((done, member)) = changed {
        if json {
            return print_json(&member);
        }
        match shown_name(member.name.as_deref(), member.display_name.as_deref()) {
            Some(name) => println!("{done} {name} {} ({})", member.peer_id, member.role),
            None => println!("{done} {} ({})", member.peer_id, member.role),
        }
        return Ok(());
    }
    let members = client.members().await?;
    if json {
        return print_json(&members);
    }
    let name_of = |peer_id: &str| -> String {
        members
            .iter()
            .find(|m| m.peer_id == peer_id)
            .and_then(|m| m.name.as_deref())
            .map_or_else(|| short_peer(peer_id), |n| printable(n).into_owned())
    };
    let rows: Vec<[String; 5]> = members
        .iter()
        .map(|m| {
            [
                shown_name(m.name.as_deref(), m.display_name.as_deref())
                    .unwrap_or_else(|| "-".into()),
                m.peer_id.clone(),
                m.role.to_string(),
                if m.connected { "yes" } else { "no" }.to_string(),
                if m.added_by == m.peer_id {
                    "(founder)".to_string()
                } else {
                    name_of(&m.added_by)
                },
            ]
        })
        .collect();
    let header = ["NAME", "PEER", "ROLE", "CONNECTED", "ADDED BY"].map(str::to_string);
    super::output::table(&header, &rows);
    Ok(())
}

/// `weft topic policy`.
pub async fn topic_policy(
    client: &Client,
    topic: &str,
    publish: Vec<String>,
    json: bool,
) -> anyhow::Result<()> {
    let open = publish.is_empty();
    client.topic_policy(topic, publish.clone()).await?;
    if json {
        return print_json(&serde_json::json!({ "topic": topic, "publish": publish }));
    }
    if open {
        println!("anyone but guests may publish on {topic}");
    } else {
        println!("only {} may publish on {topic}", publish.join(", "));
    }
    Ok(())
}

/// Parses a lifetime such as `90s`, `30m`, `24h` or `7d`.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a lifetime (e.g. 30m, 24h, 7d)");
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = number.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!("`{s}`: a lifetime must be more than zero"));
    }
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse() {
        assert_eq!(parse_ttl("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_ttl("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_ttl("45s"), Ok(Duration::from_secs(45)));
        for bad in ["", "h", "24", "24x", "-1h", "0d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
