//! The chat's model: conversations (rooms and direct) with their messages and unread
//! counts, where each message sent from here stands, the members and their presence, and
//! file offers with their fetches. Pure: only [`Update`]s change it, and it knows nothing
//! of terminals or sockets, so the screen and line mode show the same thing and the tests
//! drive it directly.

use std::collections::{HashMap, VecDeque};

use weft_proto::api::{DeliveryState, Direction, Event, Kind, MemberInfo, Message, PeerInfo};
use weft_proto::blob::{BlobId, FileOffer};
use weft_proto::id::MessageId;
use weft_proto::topic::TopicName;

use super::text;

/// Most entries a conversation keeps (the oldest go first).
const MAX_ENTRIES: usize = 2000;

/// Most delivery states kept for messages not (yet) shown: a state can arrive on the event
/// stream before the answer that says the message was queued.
const MAX_EARLY_STATES: usize = 64;

/// A conversation: a topic's room, or the direct one with a member (by PeerId).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Conv {
    /// The room of a topic.
    Room(TopicName),
    /// The direct conversation with this PeerId.
    Direct(String),
}

/// A message in a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Said {
    /// Its id.
    pub id: MessageId,
    /// The sender's PeerId.
    pub from: String,
    /// The sender's clock, microseconds since the Unix epoch.
    pub ts: u64,
    /// The text.
    pub text: String,
    /// Whether this node sent it.
    pub outgoing: bool,
    /// For a direct message sent from here: where delivery stands.
    pub state: Option<DeliveryState>,
    /// The file it offers, if it is an offer.
    pub offer: Option<FileOffer>,
}

/// One line of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A message.
    Said(Said),
    /// Something the chat says to its user (an error, an invite key, help).
    Note(String),
}

/// A conversation and what it holds.
#[derive(Clone, Debug)]
pub struct Conversation {
    /// Which one.
    pub conv: Conv,
    /// Its lines, oldest first.
    pub entries: VecDeque<Entry>,
    /// Messages that arrived since it was last open.
    pub unread: usize,
}

/// Whether a member can be reached now, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Connected directly.
    Direct,
    /// Connected through another member's relay.
    Relayed,
    /// Not connected.
    Away,
}

/// A member of the mesh, as the chat shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// What the node says of it: PeerId, name, role.
    pub info: MemberInfo,
    /// Whether it is reachable.
    pub presence: Presence,
}

/// Where a fetch of an offered file stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// Under way: bytes here of the blob's size.
    Fetching {
        /// Bytes here.
        done: u64,
        /// The blob's size.
        size: u64,
    },
    /// Complete, checked and written to this path.
    Done(String),
    /// Stopped, and why.
    Failed(String),
}

/// What changes the model.
#[derive(Clone, Debug)]
pub enum Update {
    /// An event from the node's stream.
    Event(Event),
    /// Stored history (at the start, or to catch up after the stream lagged).
    History(Vec<Message>),
    /// A message this chat sent, as the node accepted it.
    Own(Message),
    /// The members, and the peers connected now.
    Roster {
        /// Every member.
        members: Vec<MemberInfo>,
        /// Connected peers.
        peers: Vec<PeerInfo>,
    },
    /// A fetch moved on.
    Transfer {
        /// The blob.
        blob: BlobId,
        /// Where it stands.
        transfer: Transfer,
    },
    /// Something to tell the user, in the open conversation.
    Note(String),
    /// Open a conversation (adding it if new).
    Open(Conv),
    /// The node went away; the chat ends with this reason.
    Closed(String),
}

/// The whole model.
#[derive(Debug)]
pub struct State {
    me: String,
    conversations: Vec<Conversation>,
    open: Option<Conv>,
    members: Vec<Member>,
    transfers: HashMap<BlobId, Transfer>,
    early: VecDeque<(MessageId, DeliveryState)>,
    /// Rows the open conversation is scrolled back from its end.
    pub scroll: usize,
    /// Set when the chat must end, with the reason.
    pub closed: Option<String>,
    /// The latest note given while no conversation was open (it has nowhere else to go).
    pub status: Option<String>,
}

impl State {
    /// An empty model for the node whose PeerId is `me`.
    pub fn new(me: String) -> State {
        State {
            me,
            conversations: Vec::new(),
            open: None,
            members: Vec::new(),
            transfers: HashMap::new(),
            early: VecDeque::new(),
            scroll: 0,
            closed: None,
            status: None,
        }
    }

    /// Applies `update`; returns what changed as lines of text, for line mode.
    pub fn apply(&mut self, update: Update) -> Vec<String> {
        match update {
            Update::Event(event) => self.event(event),
            Update::History(messages) => {
                let latest = messages.last().and_then(conv_of);
                for m in messages {
                    self.add(m, false);
                }
                // With nothing open yet, the conversation last spoken in.
                if let (None, Some(conv)) = (&self.open, latest) {
                    self.select(conv);
                }
                Vec::new()
            }
            Update::Own(m) => self.add(m, false).into_iter().collect(),
            Update::Roster { members, peers } => {
                self.roster(members, peers);
                Vec::new()
            }
            Update::Transfer { blob, transfer } => self.transfer(blob, transfer),
            Update::Note(note) => {
                // A note may carry a peer's words (a refusal): never raw to the terminal.
                let note = crate::cli::output::printable(&note).into_owned();
                let line = format!("* {note}");
                match self.open.clone() {
                    Some(conv) => self.push(&conv, Entry::Note(note)),
                    None => self.status = Some(note),
                }
                vec![line]
            }
            Update::Open(conv) => {
                self.conversation(&conv);
                let line = format!("* now in {}", self.label(&conv));
                self.select(conv);
                vec![line]
            }
            Update::Closed(reason) => {
                self.closed = Some(reason);
                Vec::new()
            }
        }
    }

    /// This node's PeerId.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Every conversation: rooms by name, then direct ones in the order they began.
    pub fn conversations(&self) -> &[Conversation] {
        &self.conversations
    }

    /// The open conversation.
    pub fn open(&self) -> Option<&Conversation> {
        let open = self.open.as_ref()?;
        self.conversations.iter().find(|c| &c.conv == open)
    }

    /// The members, in the order the mesh admitted them.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Where the fetch of `blob` stands, if one was started.
    pub fn transfer_of(&self, blob: &BlobId) -> Option<&Transfer> {
        self.transfers.get(blob)
    }

    /// Adds a conversation without opening it (a subscribed topic, say).
    pub fn add_conversation(&mut self, conv: Conv) {
        self.conversation(&conv);
        if self.open.is_none() {
            self.select(conv);
        }
    }

    /// Opens the next (`forward`) or previous conversation, round the list.
    pub fn cycle(&mut self, forward: bool) {
        let n = self.conversations.len();
        if n == 0 {
            return;
        }
        let at = self
            .open
            .as_ref()
            .and_then(|open| self.conversations.iter().position(|c| &c.conv == open));
        let next = match (at, forward) {
            (None, _) => 0,
            (Some(i), true) => (i + 1) % n,
            (Some(i), false) => (i + n - 1) % n,
        };
        self.select(self.conversations[next].conv.clone());
    }

    /// How a conversation is named: `#topic`, or `@name` (`@…` and the PeerId's end for a
    /// member without a name).
    pub fn label(&self, conv: &Conv) -> String {
        match conv {
            Conv::Room(topic) => format!("#{topic}"),
            Conv::Direct(peer) => format!("@{}", self.name_of(peer)),
        }
    }

    /// How a member is named: its name (made safe for a terminal), `you` for this node, or
    /// the end of its PeerId.
    pub fn name_of(&self, peer: &str) -> String {
        if peer == self.me {
            return "you".into();
        }
        match self.member(peer).and_then(|m| m.info.name.as_deref()) {
            Some(name) => text::printable(name).into_owned(),
            None => text::short_peer(peer),
        }
    }

    /// The PeerId of the member `who` names (name or PeerId part, as on the command line),
    /// among the members known now.
    pub fn resolve(&self, who: &str) -> Result<String, String> {
        let members: Vec<MemberInfo> = self.members.iter().map(|m| m.info.clone()).collect();
        crate::cli::peer_arg::find(who, &members)
            .map(|peer| peer.to_string())
            .map_err(|e| e.to_string())
    }

    /// The member with this PeerId, if it is one.
    pub fn member(&self, peer: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.info.peer_id == peer)
    }

    /// The offer `/fetch ID` means, with who offered it: the one whose blob id starts with
    /// `id` in any conversation, or without `id` the newest in the open conversation that
    /// was not fetched yet.
    pub fn offer(&self, id: Option<&str>) -> Result<(FileOffer, String), String> {
        match id {
            Some(id) => {
                let id = id.to_ascii_lowercase();
                let mut found: Vec<(FileOffer, String)> = self
                    .conversations
                    .iter()
                    .flat_map(offers)
                    .filter(|(o, _)| o.blob.to_string().starts_with(&id))
                    .collect();
                found.dedup_by(|a, b| a.0.blob == b.0.blob);
                match found.len() {
                    1 => Ok(found.remove(0)),
                    0 => Err(format!("no file offered here has an id starting with {id}")),
                    _ => Err(format!(
                        "several offered files start with {id}; give more of it"
                    )),
                }
            }
            None => self
                .open()
                .and_then(|c| {
                    offers(c).find(|(o, _)| {
                        !matches!(
                            self.transfers.get(&o.blob),
                            Some(Transfer::Done(_) | Transfer::Fetching { .. })
                        )
                    })
                })
                .ok_or_else(|| "no file offer to fetch in this conversation".to_string()),
        }
    }

    fn event(&mut self, event: Event) -> Vec<String> {
        match event {
            Event::Message(m) => self.add(m, true).into_iter().collect(),
            Event::Delivered { id, .. } => self.delivery(id, DeliveryState::Delivered),
            Event::Held { id, .. } => self.delivery(id, DeliveryState::Held),
            Event::PeerConnected { peer_id } => self.presence(&peer_id, Presence::Direct),
            Event::PeerDisconnected { peer_id } => self.presence(&peer_id, Presence::Away),
            Event::Lagged { missed } => {
                vec![format!("* fell behind by {missed} events; catching up")]
            }
            // Only on streams that ask for benchmark messages, which chat never does.
            Event::Bench { .. } => Vec::new(),
        }
    }

    /// Adds a message to its conversation, unless it is there already; the line it reads
    /// as, when added. A `live` one (not history, not sent from here) that arrives in a
    /// conversation not open counts as unread.
    fn add(&mut self, m: Message, live: bool) -> Option<String> {
        let conv = conv_of(&m)?;
        let index = self.conversation(&conv);
        let known = self.conversations[index]
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Said(s) if s.id == m.id));
        if known {
            return None;
        }
        let mut state = m.state;
        if let Some(at) = self.early.iter().position(|(id, _)| *id == m.id) {
            let (_, early) = self.early.remove(at)?;
            state = Some(later(state, early));
        }
        let said = Said {
            id: m.id,
            offer: FileOffer::from_text(&m.text),
            from: m.from,
            ts: m.ts,
            text: m.text,
            outgoing: m.direction == Direction::Out,
            state,
        };
        let line = text::line(self, &conv, &said);
        let live = live && !said.outgoing;
        self.push(&conv, Entry::Said(said));
        if live && self.open.as_ref() != Some(&conv) {
            self.conversations[index].unread += 1;
        }
        Some(line)
    }

    fn delivery(&mut self, id: MessageId, state: DeliveryState) -> Vec<String> {
        for c in &mut self.conversations {
            for e in c.entries.iter_mut().rev() {
                if let Entry::Said(s) = e
                    && s.id == id
                {
                    let before = s.state;
                    s.state = Some(later(before, state));
                    if s.state == before {
                        return Vec::new();
                    }
                    let conv = c.conv.clone();
                    return vec![format!(
                        "* {} {} in {}",
                        text::state_word(state),
                        id.short(),
                        self.label(&conv)
                    )];
                }
            }
        }
        if self.early.len() >= MAX_EARLY_STATES {
            self.early.pop_front();
        }
        self.early.push_back((id, state));
        Vec::new()
    }

    fn presence(&mut self, peer: &str, presence: Presence) -> Vec<String> {
        let Some(member) = self.members.iter_mut().find(|m| m.info.peer_id == peer) else {
            return Vec::new();
        };
        if member.presence == presence
            || (presence == Presence::Direct && member.presence == Presence::Relayed)
        {
            return Vec::new();
        }
        member.presence = presence;
        let name = self.name_of(peer);
        vec![format!("* {name} is {}", text::presence_word(presence))]
    }

    fn roster(&mut self, members: Vec<MemberInfo>, peers: Vec<PeerInfo>) {
        let mut members: Vec<MemberInfo> = members;
        members.sort_by_key(|m| m.added_at);
        self.members = members
            .into_iter()
            .map(|m| {
                let path = peers.iter().find(|p| p.peer_id == m.peer_id);
                let presence = match path {
                    Some(p) if p.path == "relayed" => Presence::Relayed,
                    Some(_) => Presence::Direct,
                    None if m.connected => Presence::Direct,
                    None => Presence::Away,
                };
                Member { info: m, presence }
            })
            .collect();
    }

    fn transfer(&mut self, blob: BlobId, transfer: Transfer) -> Vec<String> {
        let first = !self.transfers.contains_key(&blob);
        let line = match &transfer {
            Transfer::Fetching { size, .. } if first => Some(format!(
                "* fetching {} ({})",
                blob.short(),
                text::bytes(*size)
            )),
            Transfer::Fetching { .. } => None,
            Transfer::Done(path) => Some(format!("* fetched {} to {path}", blob.short())),
            Transfer::Failed(error) => Some(format!("* fetch of {} failed: {error}", blob.short())),
        };
        self.transfers.insert(blob, transfer);
        line.into_iter().collect()
    }

    /// The index of `conv`, added in its place if new.
    fn conversation(&mut self, conv: &Conv) -> usize {
        if let Some(i) = self.conversations.iter().position(|c| &c.conv == conv) {
            return i;
        }
        let at = match conv {
            Conv::Room(topic) => self
                .conversations
                .iter()
                .position(|c| match &c.conv {
                    Conv::Room(other) => other.as_str() > topic.as_str(),
                    Conv::Direct(_) => true,
                })
                .unwrap_or(self.conversations.len()),
            Conv::Direct(_) => self.conversations.len(),
        };
        self.conversations.insert(
            at,
            Conversation {
                conv: conv.clone(),
                entries: VecDeque::new(),
                unread: 0,
            },
        );
        at
    }

    fn push(&mut self, conv: &Conv, entry: Entry) {
        let i = self.conversation(conv);
        let entries = &mut self.conversations[i].entries;
        if entries.len() >= MAX_ENTRIES {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    fn select(&mut self, conv: Conv) {
        if let Some(c) = self.conversations.iter_mut().find(|c| c.conv == conv) {
            c.unread = 0;
        }
        self.open = Some(conv);
        self.scroll = 0;
    }
}

/// The conversation a message belongs to.
fn conv_of(m: &Message) -> Option<Conv> {
    match (m.kind, m.direction, &m.topic, &m.to) {
        (Kind::Topic, _, Some(topic), _) => Some(Conv::Room(topic.clone())),
        (Kind::Direct, Direction::Out, _, Some(to)) => Some(Conv::Direct(to.clone())),
        (Kind::Direct, Direction::In, _, _) => Some(Conv::Direct(m.from.clone())),
        _ => None,
    }
}

/// The files offered to this node in `c`, newest first, with who offered each.
fn offers(c: &Conversation) -> impl Iterator<Item = (FileOffer, String)> + '_ {
    c.entries.iter().rev().filter_map(|e| match e {
        Entry::Said(s) if !s.outgoing => s.offer.clone().map(|o| (o, s.from.clone())),
        _ => None,
    })
}

/// The further on of two delivery states: a message held by a mailbox and then delivered
/// is delivered, whatever order the news came in.
fn later(now: Option<DeliveryState>, news: DeliveryState) -> DeliveryState {
    let rank = |s: DeliveryState| match s {
        DeliveryState::Queued => 0,
        DeliveryState::Held => 1,
        DeliveryState::Delivered | DeliveryState::Rejected | DeliveryState::Expired => 2,
    };
    match now {
        Some(now) if rank(now) >= rank(news) => now,
        _ => news,
    }
}

#[cfg(test)]
mod tests {
    use weft_proto::mesh::Role;

    use super::*;

    const ME: &str = "12D3KooWMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMeMe11";
    const BOB: &str = "12D3KooWBobBobBobBobBobBobBobBobBobBobBobBobBobBob22";

    fn id(n: u8) -> MessageId {
        MessageId([n; 32])
    }

    fn direct(n: u8, from: &str, to: &str, text: &str) -> Message {
        Message {
            id: id(n),
            kind: Kind::Direct,
            direction: if from == ME {
                Direction::Out
            } else {
                Direction::In
            },
            from: from.into(),
            to: Some(to.into()),
            topic: None,
            ts: 1,
            text: text.into(),
            state: (from == ME).then_some(DeliveryState::Queued),
        }
    }

    fn topic(n: u8, name: &str, from: &str) -> Message {
        Message {
            id: id(n),
            kind: Kind::Topic,
            direction: Direction::In,
            from: from.into(),
            to: None,
            topic: Some(name.parse().unwrap()),
            ts: 1,
            text: format!("on {name}"),
            state: None,
        }
    }

    fn room(name: &str) -> Conv {
        Conv::Room(name.parse().unwrap())
    }

    fn member(peer: &str, name: &str, connected: bool) -> MemberInfo {
        MemberInfo {
            peer_id: peer.into(),
            role: Role::Member,
            name: Some(name.into()),
            display_name: None,
            added_by: ME.into(),
            added_at: 1,
            connected,
        }
    }

    fn said(state: &State, conv: &Conv) -> Vec<Said> {
        let c = state
            .conversations()
            .iter()
            .find(|c| &c.conv == conv)
            .unwrap();
        c.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Said(s) => Some(s.clone()),
                Entry::Note(_) => None,
            })
            .collect()
    }

    #[test]
    fn messages_land_in_their_conversations_and_count_unread_until_opened() {
        let mut s = State::new(ME.into());
        s.add_conversation(room("news"));
        s.apply(Update::Event(Event::Message(topic(1, "zoo", BOB))));
        s.apply(Update::Event(Event::Message(topic(2, "news", BOB))));
        s.apply(Update::Event(Event::Message(direct(3, BOB, ME, "hi"))));
        s.apply(Update::Event(Event::Message(direct(3, BOB, ME, "hi"))));
        let order: Vec<Conv> = s.conversations().iter().map(|c| c.conv.clone()).collect();
        assert_eq!(order, [room("news"), room("zoo"), Conv::Direct(BOB.into())]);
        let unread: Vec<usize> = s.conversations().iter().map(|c| c.unread).collect();
        assert_eq!(
            unread,
            [0, 1, 1],
            "the open room counts nothing; a repeat once"
        );
        s.cycle(true);
        s.cycle(true);
        assert_eq!(s.open().unwrap().conv, Conv::Direct(BOB.into()));
        assert_eq!(s.open().unwrap().unread, 0);
        s.cycle(true);
        assert_eq!(s.open().unwrap().conv, room("news"), "round the list");
        s.apply(Update::History(vec![direct(4, BOB, ME, "old")]));
        assert_eq!(s.conversations()[2].unread, 0, "history is not unread");
        let mut empty = State::new(ME.into());
        empty.apply(Update::Note("no member is named dave".into()));
        assert_eq!(empty.status.as_deref(), Some("no member is named dave"));
        empty.apply(Update::History(vec![
            topic(5, "news", BOB),
            direct(6, BOB, ME, "latest"),
        ]));
        assert_eq!(
            empty.open().unwrap().conv,
            Conv::Direct(BOB.into()),
            "opens where the latest message was"
        );
    }

    #[test]
    fn a_sent_message_moves_forward_through_its_states_whatever_the_order_of_news() {
        let mut s = State::new(ME.into());
        let bob = Conv::Direct(BOB.into());
        s.apply(Update::Open(bob.clone()));
        // Delivered before the send's answer said it was queued.
        s.apply(Update::Event(Event::Delivered {
            id: id(1),
            to: BOB.into(),
            latency_ms: 1.0,
        }));
        s.apply(Update::Own(direct(1, ME, BOB, "first")));
        s.apply(Update::Own(direct(2, ME, BOB, "second")));
        let lines = s.apply(Update::Event(Event::Held {
            id: id(2),
            to: BOB.into(),
            mailbox: BOB.into(),
        }));
        assert_eq!(lines.len(), 1, "{lines:?}");
        let states: Vec<_> = said(&s, &bob).iter().map(|m| m.state).collect();
        assert_eq!(
            states,
            [Some(DeliveryState::Delivered), Some(DeliveryState::Held)]
        );
        s.apply(Update::Event(Event::Delivered {
            id: id(2),
            to: BOB.into(),
            latency_ms: 1.0,
        }));
        let lines = s.apply(Update::Event(Event::Held {
            id: id(2),
            to: BOB.into(),
            mailbox: BOB.into(),
        }));
        assert!(lines.is_empty(), "held after delivered changes nothing");
        assert_eq!(said(&s, &bob)[1].state, Some(DeliveryState::Delivered));
        assert_eq!(s.conversations()[0].unread, 0, "own messages are read");
    }

    #[test]
    fn members_show_presence_by_path_and_follow_connections() {
        let mut s = State::new(ME.into());
        let carol = "12D3KooWCarolCarolCarolCarolCarolCarolCarolCarol33";
        let relayed = PeerInfo {
            peer_id: carol.into(),
            addr: String::new(),
            direction: "outbound".into(),
            path: "relayed".into(),
            rtt_ms: None,
            clock_skew_ms: None,
            synced_secs_ago: None,
            connected_since: 0,
        };
        s.apply(Update::Roster {
            members: vec![member(BOB, "bob", false), member(carol, "carol", true)],
            peers: vec![relayed],
        });
        let presence: Vec<Presence> = s.members().iter().map(|m| m.presence).collect();
        assert_eq!(presence, [Presence::Away, Presence::Relayed]);
        let lines = s.apply(Update::Event(Event::PeerConnected {
            peer_id: BOB.into(),
        }));
        assert_eq!(lines, ["* bob is online direct"]);
        assert_eq!(s.label(&Conv::Direct(BOB.into())), "@bob");
        assert_eq!(s.name_of(ME), "you");
        assert_eq!(s.resolve("BOB"), Ok(BOB.to_string()));
        assert!(s.resolve("dave").is_err());
        s.apply(Update::Event(Event::PeerDisconnected {
            peer_id: carol.into(),
        }));
        assert_eq!(s.members()[1].presence, Presence::Away);
    }

    #[test]
    fn fetch_finds_the_offer_meant_and_skips_those_fetched() {
        let mut s = State::new(ME.into());
        let offer = |n: u8, name: &str| FileOffer {
            blob: BlobId([n; 32]),
            name: name.into(),
            size: 10,
            media_type: "text/plain".into(),
        };
        s.apply(Update::Open(Conv::Direct(BOB.into())));
        assert!(s.offer(None).is_err());
        s.apply(Update::Event(Event::Message(direct(
            1,
            BOB,
            ME,
            &offer(0xaa, "a.txt").to_text(),
        ))));
        s.apply(Update::Event(Event::Message(direct(
            2,
            BOB,
            ME,
            &offer(0xbb, "b.txt").to_text(),
        ))));
        assert_eq!(s.offer(None).unwrap(), (offer(0xbb, "b.txt"), BOB.into()));
        assert_eq!(s.offer(Some("AAAA")).unwrap().0, offer(0xaa, "a.txt"));
        assert!(s.offer(Some("cc")).is_err());
        let lines = s.apply(Update::Transfer {
            blob: BlobId([0xbb; 32]),
            transfer: Transfer::Fetching { done: 0, size: 10 },
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(
            s.offer(None).unwrap().0,
            offer(0xaa, "a.txt"),
            "b is under way"
        );
        s.apply(Update::Transfer {
            blob: BlobId([0xbb; 32]),
            transfer: Transfer::Done("/tmp/b.txt".into()),
        });
        assert_eq!(
            s.transfer_of(&BlobId([0xbb; 32])),
            Some(&Transfer::Done("/tmp/b.txt".into()))
        );
    }

    #[test]
    fn a_conversation_keeps_at_most_its_cap() {
        let mut s = State::new(ME.into());
        let bob = Conv::Direct(BOB.into());
        s.apply(Update::Open(bob.clone()));
        for _ in 0..MAX_ENTRIES + 5 {
            s.apply(Update::Note("x".into()));
        }
        assert_eq!(s.open().unwrap().entries.len(), MAX_ENTRIES);
    }
}
