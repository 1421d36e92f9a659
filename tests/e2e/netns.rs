//! A small lab of network namespaces, for fault and reach tests: every node gets its own
//! namespace and an address on each network it is on (a bridge per network), and nftables
//! rules inside each namespace cut links (partitions) or drop packets at random (loss).
//! Needs root, `ip` and `nft`; [`Lab::new`] says loudly why it cannot run and returns
//! `None`, and the test then skips.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static LABS: AtomicUsize = AtomicUsize::new(0);

/// Namespaces `n0..n{len}`, on bridges in a hub namespace.
pub struct Lab {
    prefix: String,
    len: usize,
    /// The networks each node is on.
    attach: Vec<Vec<usize>>,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lab {
    /// A lab of `len` namespaces on one network, or `None` (with a loud line on stderr)
    /// where this machine cannot make one.
    pub fn new(test: &str, len: usize) -> Option<Lab> {
        Lab::networks(test, vec![vec![0]; len])
    }

    /// A lab where node `i` is on the networks `attach[i]` (numbered from 0), or `None`.
    pub fn networks(test: &str, attach: Vec<Vec<usize>>) -> Option<Lab> {
        let uid = Command::new("id").arg("-u").output().ok();
        if uid.is_none_or(|out| out.stdout.trim_ascii() != b"0") {
            eprintln!("SKIPPED {test}: needs root for network namespaces and nftables");
            return None;
        }
        for tool in ["ip", "nft"] {
            if Command::new(tool).arg("-V").output().is_err() {
                eprintln!("SKIPPED {test}: `{tool}` is not installed (.ci/run installs it)");
                return None;
            }
        }
        let lab = Lab {
            prefix: format!(
                "w{}x{}",
                std::process::id() % 100_000,
                LABS.fetch_add(1, Ordering::Relaxed)
            ),
            len: attach.len(),
            attach,
        };
        match lab.build() {
            Ok(()) => Some(lab),
            Err(e) => {
                eprintln!("SKIPPED {test}: cannot build network namespaces: {e}");
                None
            }
        }
    }

    fn hub(&self) -> String {
        format!("{}h", self.prefix)
    }

    /// The namespace of node `i`.
    pub fn ns(&self, i: usize) -> String {
        format!("{}n{i}", self.prefix)
    }

    /// The address of node `i` on its first network.
    pub fn ip(&self, i: usize) -> String {
        self.ip_on(i, self.attach[i][0])
    }

    /// The address of node `i` on network `net`.
    pub fn ip_on(&self, i: usize, net: usize) -> String {
        format!("10.77.{net}.{}", i + 1)
    }

    fn build(&self) -> Result<(), String> {
        let hub = self.hub();
        run(&["ip", "netns", "add", &hub])?;
        let mut nets: Vec<usize> = self.attach.iter().flatten().copied().collect();
        nets.sort_unstable();
        nets.dedup();
        for net in nets {
            let bridge = format!("br{net}");
            run(&["ip", "-n", &hub, "link", "add", &bridge, "type", "bridge"])?;
            run(&["ip", "-n", &hub, "link", "set", &bridge, "up"])?;
        }
        for i in 0..self.len {
            let ns = self.ns(i);
            run(&["ip", "netns", "add", &ns])?;
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
            for &net in &self.attach[i] {
                let (dev, port, bridge) = (
                    format!("eth{net}"),
                    format!("p{i}n{net}"),
                    format!("br{net}"),
                );
                run(&[
                    "ip", "link", "add", &dev, "netns", &ns, "type", "veth", "peer", "name", &port,
                    "netns", &hub,
                ])?;
                let addr = format!("{}/24", self.ip_on(i, net));
                run(&["ip", "-n", &ns, "addr", "add", &addr, "dev", &dev])?;
                run(&["ip", "-n", &ns, "link", "set", &dev, "up"])?;
                run(&["ip", "-n", &hub, "link", "set", &port, "master", &bridge])?;
                run(&["ip", "-n", &hub, "link", "set", &port, "up"])?;
            }
            self.nft(i, "add table inet weftlab")?;
            self.nft(
                i,
                "add chain inet weftlab input { type filter hook input priority 0; }",
            )?;
        }
        Ok(())
    }

    fn nft(&self, i: usize, rule: &str) -> Result<(), String> {
        let ns = self.ns(i);
        let mut args = vec!["ip", "netns", "exec", &ns, "nft"];
        args.extend(rule.split(' '));
        run(&args)
    }

    /// Cuts every link between `side` and the rest.
    pub fn partition(&self, side: &[usize]) {
        for i in 0..self.len {
            let others: Vec<String> = (0..self.len)
                .filter(|j| side.contains(j) != side.contains(&i))
                .map(|j| self.ip(j))
                .collect();
            let rule = format!(
                "add rule inet weftlab input ip saddr {{ {} }} drop",
                others.join(", ")
            );
            self.nft(i, &rule).expect("partition");
        }
    }

    /// Drops every UDP packet: nodes can speak TCP only (QUIC, with its own keep-alive,
    /// would hide what happens to a TCP link).
    pub fn tcp_only(&self) {
        for i in 0..self.len {
            self.nft(i, "add rule inet weftlab input meta l4proto udp drop")
                .expect("tcp only");
        }
    }

    /// Drops `percent` of the packets every namespace receives, at random.
    pub fn loss(&self, percent: u32) {
        for i in 0..self.len {
            let rule = format!(
                "add rule inet weftlab input meta l4proto {{ tcp, udp }} numgen random mod 100 < {percent} drop"
            );
            self.nft(i, &rule).expect("loss");
        }
    }

    /// Makes node `i` a NAT router: it forwards, and masquerades what leaves on network
    /// `public` behind its own address there.
    pub fn nat_router(&self, i: usize, public: usize) {
        let ns = self.ns(i);
        run(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])
        .expect("forwarding");
        self.nft(i, "add table ip weftnat").expect("nat table");
        self.nft(
            i,
            "add chain ip weftnat post { type nat hook postrouting priority 100 ; }",
        )
        .expect("nat chain");
        let rule = format!("add rule ip weftnat post oifname eth{public} masquerade");
        self.nft(i, &rule).expect("masquerade");
    }

    /// Sends everything node `i` does not reach directly through `gateway`.
    pub fn default_route(&self, i: usize, gateway: &str) {
        run(&[
            "ip",
            "-n",
            &self.ns(i),
            "route",
            "add",
            "default",
            "via",
            gateway,
        ])
        .expect("route");
    }

    /// Takes every rule away: all links work again.
    pub fn heal(&self) {
        for i in 0..self.len {
            self.nft(i, "flush chain inet weftlab input").expect("heal");
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 0..self.len {
            let _ = run(&["ip", "netns", "del", &self.ns(i)]);
        }
        let _ = run(&["ip", "netns", "del", &self.hub()]);
    }
}
