//! [`Spec`]: one ZeroMQ endpoint as `--zmq` and the config file name it: what it maps onto
//! the mesh (`pub`, `sub/TOPIC`, `call/NAME`, ...) and where:
//!
//! - nothing more: weft binds an ipc socket at `DATA_DIR/zmq/KIND[/NAME]`;
//! - `=ENDPOINT`: weft binds there (`ipc://PATH`, or `tcp://127.0.0.1:PORT` with CURVE);
//! - `@ipc://PATH`: weft connects to a program that binds there, as a ZeroMQ server such as
//!   the guide's `hwserver` does (over ipc only: another user could take a TCP port first).

use std::fmt;
use std::path::{Path, PathBuf};

use weft_proto::queue::QueueName;
use weft_proto::service::ServiceName;
use weft_proto::topic::TopicName;

/// What an endpoint maps onto the mesh. The program's socket type is in each variant's
/// doc; weft binds the matching socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A PUB publishes: `[topic, body]` on topic `topic`, or, with a topic named here,
    /// each one-frame message on it.
    Pub(Option<TopicName>),
    /// A SUB receives topic messages: `[topic, body]`, or, with a topic named here, its
    /// messages as one frame each.
    Sub(Option<TopicName>),
    /// A REQ or DEALER calls the service.
    Call(ServiceName),
    /// A REP or ROUTER serves the service.
    Offer(ServiceName),
    /// A PUSH pushes items on the queue.
    Queue(QueueName),
    /// A PULL works the queue.
    Work(QueueName),
    /// A DEALER works the queue and acknowledges each item.
    WorkAck(QueueName),
}

impl Kind {
    /// The path under `DATA_DIR/zmq` (and the name in logs and metrics): `pub`,
    /// `sub/TOPIC`, `call/NAME`, ...
    pub fn path(&self) -> String {
        let (kind, name) = match self {
            Kind::Pub(topic) => ("pub", topic.as_ref().map(|t| t.to_string())),
            Kind::Sub(topic) => ("sub", topic.as_ref().map(|t| t.to_string())),
            Kind::Call(name) => ("call", Some(name.to_string())),
            Kind::Offer(name) => ("offer", Some(name.to_string())),
            Kind::Queue(name) => ("queue", Some(name.to_string())),
            Kind::Work(name) => ("work", Some(name.to_string())),
            Kind::WorkAck(name) => ("work-ack", Some(name.to_string())),
        };
        match name {
            Some(name) => format!("{kind}/{name}"),
            None => kind.to_string(),
        }
    }
}

/// Where an endpoint listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A Unix socket at this path: owner only (0600).
    Ipc(PathBuf),
    /// A loopback TCP address (`127.0.0.1:PORT`, `[::1]:PORT`), CURVE required.
    Tcp(std::net::SocketAddr),
}

/// One endpoint, as `--zmq` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// What it maps.
    pub kind: Kind,
    /// Where it listens, if not the default ipc path.
    pub at: Option<Transport>,
    /// Whether weft connects to a program bound at `at` instead of binding.
    pub connect: bool,
}

/// The longest path an ipc endpoint can have (a Unix socket address holds 107 bytes).
const MAX_IPC_PATH: usize = 107;

impl Spec {
    /// Where it listens for a node on `data_dir` (an absolute `data_dir`; a relative ipc
    /// path is taken from the working directory: programs connect from wherever they run).
    pub fn transport(&self, data_dir: &Path) -> Transport {
        match &self.at {
            Some(Transport::Ipc(path)) => {
                Transport::Ipc(std::path::absolute(path).unwrap_or_else(|_| path.clone()))
            }
            Some(tcp) => tcp.clone(),
            None => Transport::Ipc(data_dir.join("zmq").join(self.kind.path())),
        }
    }
}

impl Transport {
    /// The endpoint string a program connects to.
    pub fn endpoint(&self) -> String {
        match self {
            Transport::Ipc(path) => format!("ipc://{}", path.display()),
            Transport::Tcp(addr) => format!("tcp://{addr}"),
        }
    }

    /// Refuses what cannot be bound, before anything is: too long a path.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Transport::Ipc(path) if path.as_os_str().len() > MAX_IPC_PATH => Err(format!(
                "the ipc path {} is longer than a Unix socket address holds ({MAX_IPC_PATH} bytes); use a shorter data dir or name the path with `KIND=ipc://PATH`",
                path.display()
            )),
            _ => Ok(()),
        }
    }
}

impl std::str::FromStr for Spec {
    type Err = String;

    fn from_str(s: &str) -> Result<Spec, String> {
        let (what, at, connect) = match s.find(['=', '@']) {
            Some(i) => (
                &s[..i],
                Some(parse_transport(&s[i + 1..])?),
                &s[i..=i] == "@",
            ),
            None => (s, None, false),
        };
        if connect && matches!(at, Some(Transport::Tcp(_))) {
            return Err(format!(
                "`{s}`: weft connects to a program only over ipc (another user could take a TCP port before the program binds it); bind the program at ipc://PATH"
            ));
        }
        let (kind, name) = match what.split_once('/') {
            Some((kind, name)) => (kind, Some(name)),
            None => (what, None),
        };
        let bad = |e: &dyn fmt::Display| format!("`{s}`: {e}");
        let named =
            || name.ok_or_else(|| format!("`{s}`: `{kind}` needs a name, as in `{kind}/NAME`"));
        let topic = |name: Option<&str>| {
            name.map(|n| n.parse::<TopicName>().map_err(|e| bad(&e)))
                .transpose()
        };
        let kind = match kind {
            "pub" => Kind::Pub(topic(name)?),
            "sub" => Kind::Sub(topic(name)?),
            "call" => Kind::Call(named()?.parse().map_err(|e| bad(&e))?),
            "offer" => Kind::Offer(named()?.parse().map_err(|e| bad(&e))?),
            "queue" => Kind::Queue(named()?.parse().map_err(|e| bad(&e))?),
            "work" => Kind::Work(named()?.parse().map_err(|e| bad(&e))?),
            "work-ack" => Kind::WorkAck(named()?.parse().map_err(|e| bad(&e))?),
            other => {
                return Err(format!(
                    "`{s}`: `{other}` is not an endpoint kind (pub, sub, call, offer, queue, work, work-ack)"
                ));
            }
        };
        Ok(Spec { kind, at, connect })
    }
}

/// `ipc://PATH` or a loopback `tcp://ADDRESS:PORT`.
fn parse_transport(at: &str) -> Result<Transport, String> {
    if let Some(path) = at.strip_prefix("ipc://") {
        if path.is_empty() {
            return Err(format!("`{at}` names no path"));
        }
        return Ok(Transport::Ipc(PathBuf::from(path)));
    }
    let Some(addr) = at.strip_prefix("tcp://") else {
        return Err(format!(
            "`{at}` is neither ipc://PATH nor tcp://127.0.0.1:PORT"
        ));
    };
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| format!("`{at}` is not tcp://ADDRESS:PORT: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "`{at}`: a ZeroMQ endpoint is for programs on this machine; bind it to 127.0.0.1 or [::1]"
        ));
    }
    Ok(Transport::Tcp(addr))
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.path())?;
        match &self.at {
            Some(at) => write!(
                f,
                "{}{}",
                if self.connect { '@' } else { '=' },
                at.endpoint()
            ),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_as_written() {
        for s in [
            "pub",
            "sub",
            "pub/weather",
            "sub/weather",
            "call/hello",
            "offer/hello",
            "queue/jobs",
            "work/jobs",
            "work-ack/jobs",
            "call/hello=tcp://127.0.0.1:5555",
            "sub=tcp://[::1]:5556",
            "offer/hello=ipc:///run/hello.sock",
            "offer/hello@ipc:///tmp/hello.sock",
        ] {
            assert_eq!(s.parse::<Spec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn the_default_place_is_in_the_data_dir() {
        let spec: Spec = "call/hello".parse().unwrap();
        assert_eq!(
            spec.transport(Path::new("/d")).endpoint(),
            "ipc:///d/zmq/call/hello"
        );
    }

    #[test]
    fn what_cannot_work_is_refused_with_why() {
        for (s, says) in [
            ("call", "needs a name"),
            ("rep/hello", "not an endpoint kind"),
            ("pub/Not A Topic", "pub/Not A Topic"),
            ("call/x=tcp://0.0.0.0:5555", "127.0.0.1"),
            ("call/x=tcp://192.168.1.2:5555", "127.0.0.1"),
            ("call/x=udp://127.0.0.1:5555", "neither"),
            ("call/x=ipc://", "no path"),
            ("pub@tcp://10.0.0.1:5556", "127.0.0.1"),
            ("pub@tcp://127.0.0.1:5556", "only over ipc"),
        ] {
            let e = s.parse::<Spec>().unwrap_err();
            assert!(e.contains(says), "{s}: {e}");
        }
        let long = Transport::Ipc(PathBuf::from("/".repeat(200)));
        assert!(long.check().unwrap_err().contains("longer"));
    }
}
