//! The chat's side of the node's local API: it loads the history and the roster, follows
//! the event stream, and carries out what the user asks, each call in a task of its own
//! whose results come back as [`Update`]s on one bounded channel. The loop in front (the
//! screen or line mode) applies them to the [`State`] in the order they come.

use std::path::PathBuf;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;
use weft_proto::api::{
    CreateInviteRequest, Direction, Event, InboxQuery, Kind, Message, SendRequest,
};
use weft_proto::blob::FileOffer;
use weft_proto::media::{FetchEvent, FetchRequest};
use weft_proto::mesh::Role;
use weft_proto::topic::TopicName;

use super::command::{self, Command, HELP};
use super::state::{Conv, State, Transfer, Update};
use crate::api::client::{Client, ClientError};

/// Updates waiting for the loop to apply them.
const UPDATES: usize = 256;

/// Messages and files waiting to be sent, in the order they were entered.
const OUTGOING: usize = 64;

/// How much history the chat loads at the start, and for a room when it is joined.
const HISTORY: usize = 1000;

/// How often the members and their paths are asked for again (names and roles change
/// without an event).
pub const ROSTER_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// How long an invite made with `/invite` stays valid.
const INVITE_TTL_SECS: u64 = 24 * 3600;

/// What the loop does after a line was entered.
#[derive(Debug)]
pub enum Flow {
    /// Go on, after applying these at once.
    Go(Vec<Update>),
    /// Leave the chat.
    Quit,
}

/// Something to send, in order.
enum Outgoing {
    /// Say this in that conversation.
    Say(Conv, String),
    /// Offer this file there.
    File(Conv, PathBuf),
}

/// The chat's connection to its node and the tasks working for it.
pub struct Session {
    client: Client,
    updates: mpsc::Sender<Update>,
    outgoing: Option<mpsc::Sender<Outgoing>>,
    /// What the user asked for: sends, joins, fetches, invites.
    work: JoinSet<()>,
    /// What runs for the whole chat: the event stream, roster refreshes.
    background: JoinSet<()>,
}

impl Session {
    /// Connects to the node: its identity, topics, members and history make the first
    /// state; the event stream is followed from before the history is read, so nothing
    /// falls between them. Returns the session, the state and the channel of updates.
    pub async fn start(client: Client) -> anyhow::Result<(Session, State, mpsc::Receiver<Update>)> {
        let status = client.status().await?;
        if status.mesh.is_none() {
            anyhow::bail!(
                "this node is in no mesh yet: join one with `weft join INVITE`, or found one with `weft mesh create`"
            );
        }
        let events = client.events(None).await?;
        let mut state = State::new(status.peer_id.clone());
        state.apply(Update::Roster {
            members: client.members().await?,
            peers: client.peers().await?,
        });
        for topic in status.topics {
            state.add_conversation(Conv::Room(topic.name));
        }
        let history = client
            .inbox(&InboxQuery {
                limit: Some(HISTORY),
                ..InboxQuery::default()
            })
            .await?;
        state.apply(Update::History(history));
        let (updates, receiver) = mpsc::channel(UPDATES);
        let (outgoing, queue) = mpsc::channel(OUTGOING);
        let mut session = Session {
            client: client.clone(),
            updates: updates.clone(),
            outgoing: Some(outgoing),
            work: JoinSet::new(),
            background: JoinSet::new(),
        };
        let follow = follow(events, updates.clone());
        session
            .background
            .spawn(follow.instrument(tracing::info_span!("chat events")));
        let sends = send_in_order(client, status.peer_id, queue, updates);
        session
            .work
            .spawn(sends.instrument(tracing::info_span!("chat sends")));
        Ok((session, state, receiver))
    }

    /// Opens what `weft chat TARGET` named: `#topic` is a room; otherwise a member (name,
    /// PeerId or a part of it) if one matches, else the room of the topic so named.
    pub fn open_target(&mut self, state: &State, target: &str) -> Vec<Update> {
        if let Some(topic) = target.strip_prefix('#') {
            return self.join(topic);
        }
        match (member(state, target), target.parse::<TopicName>()) {
            (Ok(peer), _) => vec![Update::Open(Conv::Direct(peer))],
            (Err(_), Ok(topic)) => self.join(topic.as_str()),
            (Err(e), Err(_)) => vec![Update::Note(e)],
        }
    }

    /// Carries out a line the user entered, in the conversation open in `state`.
    pub fn submit(&mut self, state: &State, line: &str) -> Flow {
        while self.work.try_join_next().is_some() {}
        let command = match command::parse(line) {
            Ok(Some(command)) => command,
            Ok(None) => return Flow::Go(Vec::new()),
            Err(e) => return Flow::Go(vec![Update::Note(e)]),
        };
        let open = state.open().map(|c| c.conv.clone());
        let needs_open = || {
            Flow::Go(vec![Update::Note(
                "open a conversation first: /join TOPIC or /msg NAME".into(),
            )])
        };
        Flow::Go(match command {
            Command::Quit => return Flow::Quit,
            Command::Help => vec![Update::Note(HELP.into())],
            Command::Say(text) => match open {
                Some(conv) => self.send(Outgoing::Say(conv, text)),
                None => return needs_open(),
            },
            Command::SendFile(path) => match open {
                Some(conv) => self.send(Outgoing::File(conv, path)),
                None => return needs_open(),
            },
            Command::Join(topic) => self.join(&topic),
            Command::Msg { who, text } => match member(state, &who) {
                Ok(peer) => {
                    let conv = Conv::Direct(peer);
                    let mut now = vec![Update::Open(conv.clone())];
                    if let Some(text) = text {
                        now.extend(self.send(Outgoing::Say(conv, text)));
                    }
                    now
                }
                Err(e) => vec![Update::Note(e)],
            },
            Command::Fetch(id) => match state.offer(id.as_deref()) {
                Ok((offer, from)) => self.fetch(offer, from),
                Err(e) => vec![Update::Note(e)],
            },
            Command::Invite(role) => self.invite(role),
        })
    }

    /// Starts what an update calls for: a fresh roster when a member comes or goes, the
    /// history again when the event stream fell behind.
    pub fn react(&mut self, update: &Update) {
        match update {
            Update::Event(Event::PeerConnected { .. } | Event::PeerDisconnected { .. }) => {
                self.refresh_roster()
            }
            Update::Event(Event::Lagged { .. }) => {
                let (client, updates) = (self.client.clone(), self.updates.clone());
                self.background.spawn(async move {
                    let query = InboxQuery {
                        limit: Some(HISTORY),
                        ..InboxQuery::default()
                    };
                    if let Ok(history) = client.inbox(&query).await {
                        let _ = updates.send(Update::History(history)).await;
                    }
                });
            }
            _ => {}
        }
    }

    /// Asks the node for the members and connected peers again (names, roles and paths
    /// change without an event).
    pub fn refresh_roster(&mut self) {
        while self.background.try_join_next().is_some() {}
        let (client, updates) = (self.client.clone(), self.updates.clone());
        self.background.spawn(async move {
            if let (Ok(members), Ok(peers)) = (client.members().await, client.peers().await) {
                let _ = updates.send(Update::Roster { members, peers }).await;
            }
        });
    }

    /// Stops taking input and waits for what was asked to be done, passing its updates to
    /// `apply` (line mode at the end of its input).
    pub async fn finish(
        &mut self,
        receiver: &mut mpsc::Receiver<Update>,
        mut apply: impl FnMut(Update),
    ) {
        self.outgoing = None;
        loop {
            tokio::select! {
                done = self.work.join_next() => if done.is_none() { break },
                Some(update) = receiver.recv() => apply(update),
            }
        }
        while let Ok(update) = receiver.try_recv() {
            apply(update);
        }
    }

    fn send(&mut self, what: Outgoing) -> Vec<Update> {
        let Some(outgoing) = &self.outgoing else {
            return Vec::new();
        };
        match outgoing.try_send(what) {
            Ok(()) => Vec::new(),
            Err(_) => vec![Update::Note(
                "too much is waiting to be sent; try again in a moment".into(),
            )],
        }
    }

    fn join(&mut self, topic: &str) -> Vec<Update> {
        let topic: TopicName = match topic.parse() {
            Ok(topic) => topic,
            Err(e) => return vec![Update::Note(format!("{e}"))],
        };
        let (client, updates) = (self.client.clone(), self.updates.clone());
        self.work.spawn(join(client, topic.clone(), updates));
        // Open at once, so what is typed next goes there.
        vec![Update::Open(Conv::Room(topic))]
    }

    fn fetch(&mut self, offer: FileOffer, from: String) -> Vec<Update> {
        let name = crate::cli::media::safe_file_name(&offer.name)
            .unwrap_or_else(|| offer.blob.to_string());
        let out = match std::path::absolute(&name) {
            Ok(out) if !out.exists() => out,
            Ok(out) => {
                return vec![Update::Note(format!(
                    "{} already exists; move it away, or run `weft fetch {} -o PATH`",
                    out.display(),
                    offer.blob
                ))];
            }
            Err(e) => return vec![Update::Note(format!("cannot name a file here: {e}"))],
        };
        let request = FetchRequest {
            blob: offer.blob,
            from: vec![from],
            out: out.to_string_lossy().into_owned(),
        };
        let (client, updates) = (self.client.clone(), self.updates.clone());
        self.work.spawn(async move {
            let transfer = match fetch(&client, &request, &updates).await {
                Ok(transfer) => transfer,
                Err(e) => Transfer::Failed(e.to_string()),
            };
            let blob = request.blob;
            let _ = updates.send(Update::Transfer { blob, transfer }).await;
        });
        vec![Update::Transfer {
            blob: offer.blob,
            transfer: Transfer::Fetching {
                done: 0,
                size: offer.size,
            },
        }]
    }

    fn invite(&mut self, role: Role) -> Vec<Update> {
        let (client, updates) = (self.client.clone(), self.updates.clone());
        self.work.spawn(async move {
            let request = CreateInviteRequest {
                role,
                ttl_secs: INVITE_TTL_SECS,
                uses: 1,
                note: Some("weft chat".into()),
            };
            let note = match client.invite_create(&request).await {
                Ok(info) => format!(
                    "invite for a {role} (one use, valid 24 h; the newcomer runs `weft join -` and pastes it): {}",
                    info.key.unwrap_or_default()
                ),
                Err(e) => format!("no invite: {e}"),
            };
            let _ = updates.send(Update::Note(note)).await;
        });
        Vec::new()
    }
}

/// Passes the node's events on until its stream ends, then says the chat is over.
async fn follow(
    events: impl futures::Stream<Item = Result<Event, ClientError>>,
    updates: mpsc::Sender<Update>,
) {
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        let update = match event {
            Ok(event) => Update::Event(event),
            Err(e) => Update::Closed(format!("lost the node's event stream: {e}")),
        };
        let closed = matches!(update, Update::Closed(_));
        if updates.send(update).await.is_err() || closed {
            return;
        }
    }
    let _ = updates
        .send(Update::Closed("the node stopped".into()))
        .await;
}

/// Sends what was entered, one at a time so it arrives in order; each sent message comes
/// back as [`Update::Own`], each failure as a note.
async fn send_in_order(
    client: Client,
    me: String,
    mut queue: mpsc::Receiver<Outgoing>,
    updates: mpsc::Sender<Update>,
) {
    while let Some(what) = queue.recv().await {
        let sent = match what {
            Outgoing::Say(conv, text) => say(&client, &me, conv, text).await,
            Outgoing::File(conv, path) => offer_file(&client, &me, conv, &path).await,
        };
        let update = sent.unwrap_or_else(|e| Update::Note(crate::cli::output::one_line(&e)));
        if updates.send(update).await.is_err() {
            return;
        }
    }
}

/// Shares the file at `path` and says its offer in `conv`.
async fn offer_file(
    client: &Client,
    me: &str,
    conv: Conv,
    path: &std::path::Path,
) -> anyhow::Result<Update> {
    let path = std::path::absolute(path)?;
    let shared = client.share(&path.to_string_lossy()).await?;
    say(client, me, conv, shared.offer.to_text()).await
}

/// Publishes `text` in a room or sends it to a member (answered once durably queued: its
/// state then follows from the events), as the message the node stored.
async fn say(client: &Client, me: &str, conv: Conv, text: String) -> anyhow::Result<Update> {
    let ts = crate::delivery::clock::wall_us();
    let message = match conv {
        Conv::Room(topic) => {
            let answer = client.publish(topic.as_str(), &text).await?;
            Message {
                id: answer.id,
                kind: Kind::Topic,
                direction: Direction::Out,
                from: me.into(),
                to: None,
                topic: Some(topic),
                ts,
                text,
                state: None,
            }
        }
        Conv::Direct(peer) => {
            let request = SendRequest {
                to: peer.clone(),
                text: text.clone(),
                wait: false,
                timeout_ms: None,
                bench: false,
            };
            let answer = client.send(&request).await?;
            Message {
                id: answer.id,
                kind: Kind::Direct,
                direction: Direction::Out,
                from: me.into(),
                to: Some(peer),
                topic: None,
                ts,
                text,
                state: Some(answer.state),
            }
        }
    };
    Ok(Update::Own(message))
}

/// The PeerId of the member `who` names: by name or a part of its PeerId among the
/// members known now, or a whole PeerId.
fn member(state: &State, who: &str) -> Result<String, String> {
    state.resolve(who).or_else(|e| {
        who.parse::<libp2p::PeerId>()
            .map(|peer| peer.to_string())
            .map_err(|_| e)
    })
}

/// Joins `topic` and loads its history.
async fn join(client: Client, topic: TopicName, updates: mpsc::Sender<Update>) {
    if let Err(e) = client.subscribe(topic.as_str(), true).await {
        let _ = updates
            .send(Update::Note(format!("cannot join {topic}: {e}")))
            .await;
        return;
    }
    let query = InboxQuery {
        topic: Some(topic),
        limit: Some(HISTORY),
        ..InboxQuery::default()
    };
    if let Ok(history) = client.inbox(&query).await {
        let _ = updates.send(Update::History(history)).await;
    }
}

/// Runs a fetch to its end, passing its progress on; where it ended.
async fn fetch(
    client: &Client,
    request: &FetchRequest,
    updates: &mpsc::Sender<Update>,
) -> Result<Transfer, ClientError> {
    let mut events = client.fetch(request).await?;
    let blob = request.blob;
    while let Some(event) = events.next().await {
        let transfer = match event? {
            FetchEvent::Started { size, have, .. } => Transfer::Fetching { done: have, size },
            FetchEvent::Progress { done, size } => Transfer::Fetching { done, size },
            FetchEvent::SourceDropped { reason, .. } => {
                let note = format!("fetch of {}: a source dropped: {reason}", blob.short());
                let _ = updates.send(Update::Note(note)).await;
                continue;
            }
            FetchEvent::Done { path, .. } => return Ok(Transfer::Done(path)),
            FetchEvent::Failed { error } => return Ok(Transfer::Failed(error)),
        };
        let _ = updates.send(Update::Transfer { blob, transfer }).await;
    }
    Ok(Transfer::Failed(
        "the node stopped before the fetch ended; /fetch again resumes it".into(),
    ))
}
