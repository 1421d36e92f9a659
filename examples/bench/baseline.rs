//! The baseline: a bare rust-libp2p request/response round trip on the same transport as weft
//! (TCP + Noise + Yamux), with the same framing (u32 length + bytes) and no disk, so weft's
//! own overhead shows as a ratio.

use std::io;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, Codec, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, StreamProtocol, Swarm, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};

use crate::Figures;

const PROTOCOL: StreamProtocol = StreamProtocol::new("/bench/echo/1");

/// Serial and pipelined figures.
pub struct Baseline {
    /// One request at a time.
    pub serial: Figures,
    /// Many requests in flight.
    pub parallel: Figures,
}

#[derive(Clone, Default)]
struct Framed;

async fn read_frame<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    io.read_exact(&mut body).await?;
    Ok(body)
}

async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, body: &[u8]) -> io::Result<()> {
    io.write_all(&(body.len() as u32).to_be_bytes()).await?;
    io.write_all(body).await?;
    io.flush().await
}

impl Codec for Framed {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_frame(io).await
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_frame(io).await
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        write_frame(io, &req).await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        write_frame(io, &res).await
    }
}

/// A swarm on weft's TCP transport (TCP with no delay, Noise, Yamux) with `behaviour`.
pub fn swarm_with<B: NetworkBehaviour>(
    behaviour: impl FnOnce(&libp2p::identity::Keypair) -> B,
) -> anyhow::Result<Swarm<B>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(behaviour)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

fn swarm() -> anyhow::Result<Swarm<request_response::Behaviour<Framed>>> {
    swarm_with(|_| {
        request_response::Behaviour::new(
            [(PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_max_concurrent_streams(128),
        )
    })
}

type Job = (Vec<u8>, oneshot::Sender<()>);

/// Runs `n` 1 KiB round trips one at a time, then `n` with `parallel` in flight.
pub async fn run(n: usize, parallel: usize) -> anyhow::Result<Baseline> {
    let mut server = swarm()?;
    server.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let addr: Multiaddr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_id = *server.local_peer_id();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            }) = server.select_next_some().await
            {
                let _ = server.behaviour_mut().send_response(channel, vec![0u8; 40]);
            }
        }
    });

    let mut client = swarm()?;
    client.dial(addr.with(libp2p::multiaddr::Protocol::P2p(server_id)))?;
    let (jobs_tx, mut jobs) = mpsc::channel::<Job>(1024);
    let (ready_tx, ready) = oneshot::channel();
    tokio::spawn(async move {
        let mut ready_tx = Some(ready_tx);
        let mut pending = std::collections::HashMap::new();
        loop {
            tokio::select! {
                Some((body, done)) = jobs.recv() => {
                    let id = client.behaviour_mut().send_request(&server_id, body);
                    pending.insert(id, done);
                }
                event = client.select_next_some() => match event {
                    SwarmEvent::ConnectionEstablished { .. } => {
                        if let Some(tx) = ready_tx.take() { let _ = tx.send(()); }
                    }
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message: request_response::Message::Response { request_id, .. }, ..
                    }) => {
                        if let Some(done) = pending.remove(&request_id) { let _ = done.send(()); }
                    }
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure { request_id, error, .. }) => {
                        eprintln!("baseline request failed: {error}");
                        pending.remove(&request_id);
                    }
                    _ => {}
                },
            }
        }
    });
    ready.await?;
    let serial = drive(&jobs_tx, n, 1).await?;
    let parallel = drive(&jobs_tx, n, parallel).await?;
    Ok(Baseline { serial, parallel })
}

async fn drive(jobs: &mpsc::Sender<Job>, n: usize, parallel: usize) -> anyhow::Result<Figures> {
    let jobs = jobs.clone();
    crate::timed(n, parallel, move || {
        let jobs = jobs.clone();
        async move {
            let (tx, rx) = oneshot::channel();
            jobs.send((vec![7u8; 1024], tx)).await?;
            rx.await?;
            Ok(())
        }
    })
    .await
}
