//! [`Presence`]: how many programs are connected to an endpoint, from libzmq's socket
//! monitor. An endpoint that hands work to programs (`offer`, `work`) takes work from the
//! mesh only while one is there, and gives back what a program that left was handed.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use super::socket::Socket;

/// Tells each monitor apart inside the context.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A change in who is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A program connected.
    Came,
    /// A program's connection closed.
    Left,
}

/// The connections to one endpoint.
pub struct Presence {
    monitor: Socket,
    /// The descriptors of the connections open now (libzmq names each by it).
    open: BTreeSet<u32>,
}

impl Presence {
    /// Watches `socket`'s connections (before it has any).
    pub fn watch(context: &zmq::Context, socket: &zmq::Socket) -> Result<Presence, String> {
        let at = format!(
            "inproc://weft-presence-{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let events = zmq::SocketEvent::ACCEPTED as i32
            | zmq::SocketEvent::CONNECTED as i32
            | zmq::SocketEvent::DISCONNECTED as i32;
        socket.monitor(&at, events).map_err(|e| e.to_string())?;
        let monitor = context.socket(zmq::PAIR).map_err(|e| e.to_string())?;
        monitor.set_linger(0).map_err(|e| e.to_string())?;
        monitor.connect(&at).map_err(|e| e.to_string())?;
        let monitor = Socket::new(monitor).map_err(|e| e.to_string())?;
        Ok(Presence {
            monitor,
            open: BTreeSet::new(),
        })
    }

    /// How many programs are connected.
    pub fn connected(&self) -> usize {
        self.open.len()
    }

    /// The next change.
    pub async fn changed(&mut self) -> Result<Change, zmq::Error> {
        loop {
            let event = self.monitor.recv().await?;
            // `[event (u16, little-endian), value (u32: the descriptor)], [endpoint]`
            let Some(&[c0, c1, v0, v1, v2, v3]) = event.first().map(Vec::as_slice) else {
                continue;
            };
            let (code, fd) = (
                u16::from_le_bytes([c0, c1]),
                u32::from_le_bytes([v0, v1, v2, v3]),
            );
            if code == zmq::SocketEvent::ACCEPTED as u16
                || code == zmq::SocketEvent::CONNECTED as u16
            {
                self.open.insert(fd);
                return Ok(Change::Came);
            }
            // Only a connection that was counted leaves.
            if code == zmq::SocketEvent::DISCONNECTED as u16 && self.open.remove(&fd) {
                return Ok(Change::Left);
            }
        }
    }
}
