//! The simulated shell's services: `/weft/service/1` sessions over the simulated network
//! (one per caller and provider, behind the members' door), and local handlers that take
//! a set time to answer, or fail, as a test asks.

use libp2p::PeerId;
use weft_proto::service::{Call, Outcome, ProviderFrame, ServiceName};

use super::shell::Frame;
use super::{Due, Sim};
use crate::core::io::{HandlerId, Input, ServeId, SessionId};
use crate::core::services::serving::OfferOpts;

/// A simulated local handler of a service.
#[derive(Clone, Copy, Debug)]
pub struct Handler {
    /// How long it takes per call, at least and at most, in milliseconds.
    pub took_ms: (u64, u64),
    /// Whether it fails every call.
    pub fails: bool,
}

impl Sim {
    /// `node` offers `service` with `opts`, served by `handler`.
    pub fn offer(&mut self, node: usize, service: &str, opts: OfferOpts, handler: Handler) {
        let service: ServiceName = service.parse().expect("a service name");
        let id = self.command(node, |core, now| core.offer(service, opts, now));
        let id = id.expect("the node may offer it");
        self.nodes[node].shell.handlers.insert(id, handler);
    }

    /// `node` calls `service` with `body`, waiting at most `timeout_ms`: the call's id, or
    /// why not at once.
    pub fn call(
        &mut self,
        node: usize,
        service: &str,
        body: &[u8],
        timeout_ms: u64,
    ) -> Result<weft_proto::service::CallId, String> {
        let service: ServiceName = service.parse().expect("a service name");
        let timeout = std::time::Duration::from_millis(timeout_ms);
        self.command(node, |core, now| {
            core.call(service, body.to_vec(), timeout, now)
        })
        .map_err(|e| e.to_string())
    }

    /// Sends `call` on `node`'s session to provider `peer`, opening one if needed.
    pub(super) fn call_out(&mut self, node: usize, peer: PeerId, call: Call) {
        let target = self.index.get(&peer).copied();
        let Some(to) = target.filter(|&t| self.is_connected(node, t)) else {
            self.input(node, Input::ServiceLost { peer });
            return;
        };
        let shell = &mut self.nodes[node].shell;
        let session = match shell.service_out.get(&to) {
            Some(session) => *session,
            None => {
                let session = shell.new_session(node);
                shell.service_out.insert(to, session);
                session
            }
        };
        self.send(node, to, Frame::ServiceCall { session, call });
    }

    /// Sends `frame` on inbound session `session` of `node`, to its caller.
    pub(super) fn answer_caller(&mut self, node: usize, session: SessionId, frame: ProviderFrame) {
        if let Some(&caller) = self.nodes[node].shell.service_in.get(&session) {
            self.send(node, caller, Frame::ToCaller { session, frame });
        }
    }

    /// A call from `from` reached provider `to`: read only when the door lets `from` in.
    pub(super) fn service_call(&mut self, from: usize, to: usize, session: SessionId, call: Call) {
        let peer = self.nodes[from].peer;
        if !self.nodes[to].shell.admits(&peer) {
            let refused = &mut self.nodes[to].app.refused;
            let key = ("service".to_string(), "service_not_member".to_string());
            *refused.entry(key).or_default() += 1;
            return;
        }
        self.nodes[to].shell.service_in.insert(session, from);
        self.input(
            to,
            Input::ServiceCall {
                peer,
                session,
                call,
            },
        );
    }

    /// `node`'s handler runs call `serve`, and answers after its time.
    pub(super) fn serve(&mut self, node: usize, handler: HandlerId, serve: ServeId, body: Vec<u8>) {
        let Some(h) = self.nodes[node].shell.handlers.get(&handler).copied() else {
            return;
        };
        let took = self.rng.range(h.took_ms.0, h.took_ms.1);
        let outcome = if h.fails {
            Outcome::Failed("it always fails".into())
        } else {
            Outcome::Ok(body.clone())
        };
        self.nodes[node].app.ran.push(body);
        let epoch = self.nodes[node].epoch;
        let served = Due::Served {
            node,
            serve,
            outcome,
            epoch,
        };
        self.at(self.ms + took, served);
    }
}

/// How a simulated node offers a service: `concurrency` at once, active.
pub fn opts(concurrency: u32) -> OfferOpts {
    OfferOpts {
        standby: false,
        concurrency,
        max_inflight: None,
        max_cpu_permille: None,
    }
}
