//! [`Socket`]: a libzmq socket driven by tokio. libzmq says that the socket's state may have
//! changed by making one file descriptor (`ZMQ_FD`) readable, edge-triggered; what it can do
//! now is in `ZMQ_EVENTS`, which is read again before every wait, so no edge is missed.

use std::os::fd::{AsRawFd, RawFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// One message: its frames.
pub type Frames = Vec<Vec<u8>>;

/// The descriptor libzmq signals on; libzmq owns it and closes it with the socket.
struct Signal(RawFd);

impl AsRawFd for Signal {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A libzmq socket whose waits are tokio futures. Its methods take `&mut self`: a libzmq
/// socket is used by one task at a time.
pub struct Socket {
    // Declared first: the registration is dropped before the socket closes the descriptor.
    signal: AsyncFd<Signal>,
    socket: zmq::Socket,
}

impl Socket {
    /// Wraps `socket`, registering its signal with tokio's reactor.
    pub fn new(socket: zmq::Socket) -> std::io::Result<Socket> {
        let fd = socket.get_fd().map_err(std::io::Error::other)?;
        // Deprecated because tokio cannot check that a raw descriptor outlives its
        // registration. Here it does: libzmq closes it only when the socket closes, and the
        // registration (`signal`, declared first) is dropped before the socket.
        #[allow(deprecated)]
        let signal = AsyncFd::with_interest(Signal(fd), Interest::READABLE)?;
        Ok(Socket { signal, socket })
    }

    /// Waits until the socket can do any of `what` (`zmq::POLLIN`, `zmq::POLLOUT`): what
    /// it can do now.
    pub async fn ready(&mut self, what: zmq::PollEvents) -> Result<zmq::PollEvents, zmq::Error> {
        loop {
            let now = match self.socket.get_events() {
                Err(zmq::Error::EINTR) => continue,
                other => other?,
            };
            if now.intersects(what) {
                return Ok(now);
            }
            let mut guard = self
                .signal
                .readable()
                .await
                .map_err(|_| zmq::Error::ETERM)?;
            guard.clear_ready();
        }
    }

    /// The next message if one is here (`None` if not).
    pub fn try_recv(&mut self) -> Result<Option<Frames>, zmq::Error> {
        match self.socket.recv_multipart(zmq::DONTWAIT) {
            Err(zmq::Error::EAGAIN) => Ok(None),
            got => got.map(Some),
        }
    }

    /// The next message, waiting for one.
    pub async fn recv(&mut self) -> Result<Frames, zmq::Error> {
        loop {
            if let Some(frames) = self.try_recv()? {
                return Ok(frames);
            }
            self.ready(zmq::POLLIN).await?;
        }
    }

    /// Sends `frames` as one message, waiting while the socket's queue is full.
    pub async fn send(&mut self, frames: &[Vec<u8>]) -> Result<(), zmq::Error> {
        loop {
            match self.try_send(frames) {
                Err(zmq::Error::EAGAIN) => {
                    self.ready(zmq::POLLOUT).await?;
                }
                done => return done,
            }
        }
    }

    /// Sends `frames` as one message if the socket can take it now (`EAGAIN` if not).
    pub fn try_send(&mut self, frames: &[Vec<u8>]) -> Result<(), zmq::Error> {
        self.socket.send_multipart(frames, zmq::DONTWAIT)
    }
}
