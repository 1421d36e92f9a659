//! The node's web page (`weft node --web ADDR`): in a real headless Chromium (Debian's
//! `chromium` and `chromium-driver`, driven by selenium through tests/e2e/web/browser.py),
//! and its doors over plain HTTP: the token, the Host and the Origin.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::operate::{scrape, value};
use crate::support::{
    Background, PATIENCE, TestNode, member, received_from, root, wait_for, wait_peers, weft_bin,
};

/// A node that serves its page on a free loopback port (and takes `flags`) and founded a
/// mesh.
fn web_founder(root: &std::path::Path, name: &str, flags: &[&str]) -> TestNode {
    let mut node = TestNode::init(root, name);
    let mut all = vec!["--web", "127.0.0.1:0"];
    all.extend_from_slice(flags);
    node.start_with(&all);
    node.json(&["mesh", "create", "--name", "home"]);
    node
}

/// `weft web --json`: the page's address and URL.
fn web_info(node: &TestNode) -> (String, String) {
    let info = node.json(&["web"]);
    (
        info["addr"].as_str().unwrap().to_string(),
        info["url"].as_str().unwrap().to_string(),
    )
}

fn token_of(url: &str) -> String {
    url.split_once("#token=")
        .expect("a token in the URL")
        .1
        .into()
}

#[test]
fn the_page_sends_receives_and_invites_in_a_real_browser() {
    let mut browser = Browser::start();
    let root = root();
    let mut alice = web_founder(root.path(), "alice", &[]);
    let bob = member(root.path(), &alice, "bob");
    wait_peers(&alice, 1);
    let (_, url) = web_info(&alice);

    browser.open(&url);
    browser.wait_text("#me", "alice");
    browser.wait_text("#live", "live");
    // Members with role, presence and path; the mesh picture draws a direct edge to bob.
    browser.wait_text("#members", "bob");
    browser.wait_text(
        &format!("#members tr[data-peer='{}']", bob.peer_id),
        "online",
    );
    browser.wait_text(
        &format!("#members tr[data-peer='{}']", bob.peer_id),
        "direct",
    );
    browser.wait_js(&format!(
        "return document.querySelector(\"#mesh-picture line.direct[data-peer='{}']\") !== null",
        bob.peer_id
    ));

    // A message sent from the page reaches bob's CLI, and the page sees it delivered.
    let bob_item = format!("#conversation-list li[data-peer='{}']", bob.peer_id);
    browser.click(&bob_item);
    browser.type_into("#send-text", "hello from the page");
    browser.click("#send-button");
    wait_for("bob to receive the page's message", || {
        received_from(&bob, &alice)
            .iter()
            .any(|m| m["text"] == "hello from the page")
            .then_some(())
    });
    browser.wait_js(
        "return [...document.querySelectorAll('#messages .msg.out')].some(m => m.dataset.state === 'delivered' && m.textContent.includes('hello from the page'))",
    );

    // A message sent from bob's CLI appears on the page without a reload.
    bob.ok(&["send", "alice", "hi from bob's terminal"]);
    browser.wait_text("#messages", "hi from bob's terminal");

    // A topic joined on the page: a member's message on it appears live, and the page's
    // reaches the member.
    let _bob_news = bob.background(&["subscribe", "news"]);
    browser.type_into("#topic-name", "news");
    browser.click("#topic-join button");
    browser.wait_text("#conversation-title", "# news");
    wait_for("bob and alice to share the topic", || {
        let both = [&alice, &bob]
            .iter()
            .all(|n| n.status()["topics"][0]["peers"] == 1);
        both.then_some(())
    });
    bob.ok(&["publish", "news", "news from bob"]);
    browser.wait_text("#messages", "news from bob");
    browser.type_into("#send-text", "news from the page");
    browser.click("#send-button");
    wait_for("bob to receive the page's topic message", || {
        let seen = bob.json(&["inbox", "--topic", "news"]);
        let arrived = seen.as_array().unwrap().iter();
        arrived
            .map(|m| &m["text"])
            .any(|t| t == "news from the page")
            .then_some(())
    });

    // An invite created on the page, shown as text and QR code, is redeemed by `weft join`.
    browser.select("#invite-uses", "1");
    browser.type_into("#invite-note", "for carol");
    browser.click("#invite-button");
    let key = browser.wait_text("#invite-key", "WEFT2");
    browser.wait_js(
        "const img = document.getElementById('invite-qr'); return img.complete && img.naturalWidth > 0",
    );
    browser.wait_text("#invites", "for carol");
    let mut carol = TestNode::init(root.path(), "carol");
    carol.start();
    carol.ok(&["join", key.trim()]);
    browser.wait_text("#members", "carol");
    let carol_row = format!("#members tr[data-peer='{}']", carol.peer_id);
    browser.wait_text(&carol_row, "online");
    browser.wait_text("#doctor", "member of");
    // The picture also draws the link between bob and carol, which only they hold: they
    // report it when they sync with alice.
    browser.wait_js(&format!(
        "return [...document.querySelectorAll('#mesh-picture line.far')].some(l => l.dataset.link.includes('{}') && l.dataset.link.includes('{}'))",
        bob.peer_id, carol.peer_id
    ));

    // An admin revokes an invite from the page.
    browser.type_into("#invite-note", "to revoke");
    browser.click("#invite-button");
    browser.wait_text("#invites", "to revoke");
    let id = browser.eval(
        "return [...document.querySelectorAll('#invites tr')].find(r => r.textContent.includes('to revoke')).dataset.invite",
    );
    let id = id.as_str().unwrap().to_string();
    browser.click(&format!("#invites tr[data-invite='{id}'] button"));
    wait_for("the invite to be revoked", || {
        let invites = alice.json(&["invite", "list"]);
        let still = invites
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id.as_str() && i["revoked"] != true);
        (!still).then_some(())
    });

    // A pipe shows with its progress while it is open.
    let _bob_end = pipe_end(&bob, &["pipe", "--accept"]);
    let mut alice_end = pipe_end(&alice, &["pipe", "bob"]);
    let stdin = alice_end.0.stdin.as_mut().unwrap();
    stdin.write_all(b"hello\n").unwrap();
    stdin.flush().unwrap();
    browser.wait_text("#transfers li[data-kind='pipe']", "with bob: 6 B sent");
    browser.screenshot();

    // A wrong token gets nothing: the page says so and shows no data.
    let wrong = format!(
        "{}#token={}",
        url.split('#').next().unwrap(),
        "0".repeat(64)
    );
    browser.open(&wrong);
    browser.wait_text("#error", "refused");
    let shown = browser.eval("return document.getElementById('app').hidden");
    assert_eq!(shown, json!(true), "the page's data stays hidden");
    // And no token at all.
    browser.eval("sessionStorage.clear()");
    browser.open(url.split('#').next().unwrap());
    browser.wait_text("#error", "no access token");

    // With the page open and following events, the node still stops cleanly.
    browser.open(&url);
    browser.wait_text("#live", "live");
    alice.stop();
    browser.wait_text("#live", "offline");
}

#[test]
fn the_page_api_refuses_calls_without_the_token_or_from_another_host_or_origin() {
    let root = root();
    let alice = web_founder(root.path(), "alice", &["--metrics", "127.0.0.1:0"]);
    let metrics = alice.metrics();
    let (addr, url) = web_info(&alice);
    let token = token_of(&url);
    let host = format!("Host: {addr}");
    let bearer = format!("Authorization: Bearer {token}");

    // The token file is the owner's only.
    let file = alice.dir.join("web-token");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);

    // The page itself holds no data and needs no token; its calls do.
    let (status, body) = http(&addr, "GET", "/", &[&host]);
    assert_eq!(status, 200);
    assert!(body.contains("/app.js"), "{body}");
    assert_eq!(http(&addr, "GET", "/v1/status", &[&host]).0, 401);
    let wrong = format!("Authorization: Bearer {}", "f".repeat(64));
    assert_eq!(http(&addr, "GET", "/v1/status", &[&host, &wrong]).0, 401);
    let (status, body) = http(&addr, "GET", "/v1/members", &[&host, &bearer]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&alice.peer_id), "{body}");

    // DNS rebinding: a page on another name that resolves here is refused, token or not.
    for other in ["Host: rebound.example:80", "Host: 127.0.0.1:1"] {
        let (status, body) = http(&addr, "GET", "/v1/status", &[other, &bearer]);
        assert_eq!(status, 403, "{other}: {body}");
        assert_eq!(http(&addr, "GET", "/", &[other]).0, 403, "{other}");
    }
    // Cross-site: another origin is refused; the page's own passes.
    let foreign = "Origin: http://evil.example";
    let (status, body) = http(&addr, "POST", "/v1/invites", &[&host, &bearer, foreign]);
    assert_eq!(status, 403, "{body}");
    assert!(
        alice
            .json(&["invite", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let own = format!("Origin: http://{addr}");
    assert_eq!(
        http(&addr, "GET", "/v1/status", &[&host, &bearer, &own]).0,
        200
    );

    // Every refusal is counted, by reason.
    let refused = |reason| {
        value(
            &scrape(&metrics),
            "weft_messages_rejected_total",
            &[("kind", "web"), ("reason", reason)],
        )
    };
    assert_eq!(refused("token"), 2.0);
    assert_eq!(refused("host"), 4.0);
    assert_eq!(refused("origin"), 1.0);

    // Rotation: the running node takes the new token at once; the old one opens nothing.
    let (_, rotated) = {
        let info = alice.json(&["web", "--rotate"]);
        (
            info["addr"].clone(),
            info["url"].as_str().unwrap().to_string(),
        )
    };
    let fresh = format!("Authorization: Bearer {}", token_of(&rotated));
    assert_ne!(token_of(&rotated), token);
    assert_eq!(http(&addr, "GET", "/v1/status", &[&host, &bearer]).0, 401);
    assert_eq!(http(&addr, "GET", "/v1/status", &[&host, &fresh]).0, 200);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        token_of(&rotated)
    );
}

#[test]
fn the_page_is_off_by_default_and_beyond_loopback_only_when_the_config_says_so() {
    let root = root();
    let mut alice = TestNode::init(root.path(), "alice");
    alice.start();
    let out = alice.weft(&["web"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("--web 127.0.0.1:7480"), "{said}");
    alice.stop();

    let out = Command::new(weft_bin())
        .arg("--data-dir")
        .arg(&alice.dir)
        .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns", "off"])
        .args(["--web", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("web-allow-remote = true"), "{said}");
    assert_eq!(said.trim().lines().count(), 1, "{said}");

    std::fs::write(
        alice.dir.join("weft.toml"),
        "web = \"0.0.0.0:0\"\nweb-allow-remote = true\n",
    )
    .unwrap();
    alice.start();
    let (addr, url) = web_info(&alice);
    assert!(addr.starts_with("0.0.0.0:"), "{addr}");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
}

/// `weft ARGS` on `node` in the background, its stdin open for the test to write.
fn pipe_end(node: &TestNode, args: &[&str]) -> Background {
    let child = Command::new(weft_bin())
        .arg("--data-dir")
        .arg(&node.dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Background(child)
}

/// One HTTP/1.1 request to `addr` with `headers`; the status and the body.
fn http(addr: &str, method: &str, path: &str, headers: &[&str]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    let body = if method == "POST" { "{}" } else { "" };
    request.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Headless Chromium under selenium (tests/e2e/web/browser.py), one JSON command a line.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Browser {
    /// Starts the driver; fails with how to install what is missing.
    fn start() -> Browser {
        for (tool, path) in [
            ("chromium", "/usr/bin/chromium"),
            ("chromium-driver", "/usr/bin/chromedriver"),
        ] {
            assert!(
                std::path::Path::new(path).exists(),
                "{tool} is missing ({path}): install it with `apt-get install chromium chromium-driver`"
            );
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/web/browser.sh");
        let mut child = Command::new(script)
            .arg("--patience")
            .arg(PATIENCE.as_secs().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run tests/e2e/web/browser.sh (needs python3 with venv)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut browser = Browser {
            child,
            stdin,
            stdout,
        };
        browser.answer();
        browser
    }

    fn answer(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the browser driver did not answer: {line:?}"));
        assert_eq!(v["ok"], true, "browser: {}", v["error"]);
        v["value"].clone()
    }

    fn run(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        self.answer()
    }

    fn open(&mut self, url: &str) {
        self.run(json!({"do": "open", "url": url}));
    }

    fn click(&mut self, css: &str) {
        self.run(json!({"do": "click", "css": css}));
    }

    fn type_into(&mut self, css: &str, text: &str) {
        self.run(json!({"do": "type", "css": css, "text": text}));
    }

    fn select(&mut self, css: &str, value: &str) {
        self.run(json!({"do": "select", "css": css, "value": value}));
    }

    /// Waits until `css`'s text contains `text`; its whole text.
    fn wait_text(&mut self, css: &str, text: &str) -> String {
        let v = self.run(json!({"do": "wait_text", "css": css, "text": text}));
        v.as_str().unwrap_or_default().to_string()
    }

    fn wait_js(&mut self, js: &str) {
        self.run(json!({"do": "wait_js", "js": js}));
    }

    fn eval(&mut self, js: &str) -> Value {
        self.run(json!({"do": "eval", "js": js}))
    }

    /// Keeps a picture of the page as a test artifact: target/web-screenshot.png.
    fn screenshot(&mut self) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/web-screenshot.png");
        self.run(json!({"do": "screenshot", "path": path}));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"do": "quit"}));
        let _ = self.child.wait();
    }
}

/// How many descriptors process `pid` holds open.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn idle_connections_to_the_page_cannot_use_up_the_nodes_descriptors() {
    let root = root();
    let alice = web_founder(root.path(), "alice", &[]);
    let (addr, url) = web_info(&alice);
    let bearer = format!("Authorization: Bearer {}", token_of(&url));
    let host = format!("Host: {addr}");
    let before = open_files(alice.pid());
    // A local user opens more connections than the page serves, and says nothing. (Twice the
    // cap, within what the kernel's backlog of 128 takes beyond it.)
    let many = 2 * weft_node::web::capped::MAX_CONNECTIONS;
    let idle: Vec<TcpStream> = (0..many)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // The node accepts them up to its cap; let it take all it will.
    let held = wait_for("the node to accept what it will", || {
        let now = open_files(alice.pid());
        std::thread::sleep(std::time::Duration::from_millis(200));
        (open_files(alice.pid()) == now).then_some(now)
    });
    assert!(
        held - before <= weft_node::web::capped::MAX_CONNECTIONS + 8,
        "the node holds {} more descriptors for {many} idle connections",
        held - before
    );
    // The node itself goes on (its local API), and once they leave the page serves again.
    alice.ok(&["status"]);
    drop(idle);
    wait_for("the page to serve again", || {
        (http(&addr, "GET", "/v1/status", &[&host, &bearer]).0 == 200).then_some(())
    });
}
