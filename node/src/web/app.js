// The weft node's web page. Every call goes to the node's local API routes on this page's
// own address with `Authorization: Bearer TOKEN`; the token comes from the URL fragment
// (`#token=…`, never sent to a server) and stays in sessionStorage. Text from peers is only
// ever set as textContent, never parsed as HTML.
"use strict";

const TOKEN_KEY = "weft-token";
const state = {
  token: null,
  me: null,          // Status
  mesh: null,        // MeshInfo, or null when in no mesh
  members: [],       // [MemberInfo]
  peers: [],         // [PeerInfo]
  links: [],         // [LinkInfo]: connections between members, as far as this node knows
  current: null,     // {kind: "dm"|"topic", key, title}
  shown: new Map(),  // message id -> its <li>, for delivery states
  states: new Map(), // message id -> delivery state heard before the message was shown
  unread: new Set(), // conversation keys with news
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "data") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fail(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

class Refused extends Error {}

// One API call: the parsed JSON answer, or an Error with the node's one line.
async function api(method, path, body, raw) {
  const headers = { Authorization: "Bearer " + state.token };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = raw ? "text/plain" : "application/json";
    init.body = raw ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    throw new Refused("the node refused this page's token: open the URL `weft web` prints (it changes with `weft web --rotate`)");
  }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  if (raw === "blob") return response.blob();
  return response.json();
}

const shortPeer = (id) => (id && id.length > 12 ? id.slice(0, 4) + "…" + id.slice(-6) : id || "");

function who(peerId) {
  if (state.me && peerId === state.me.peer_id) return state.me.name || "me";
  const m = state.members.find((m) => m.peer_id === peerId);
  return (m && m.name) || shortPeer(peerId);
}

// A member's names: the admins' name, and in quotes the one it calls itself (its own word).
function names(m) {
  const own = m.display_name && m.display_name !== m.name ? "\u201c" + m.display_name + "\u201d" : "";
  return [m.name || shortPeer(m.peer_id), own].filter(Boolean).join(" ");
}

const time = (tsUs) => new Date(tsUs / 1000).toLocaleTimeString();

// ---- conversations

function conversationOf(message) {
  if (message.kind === "topic") return "topic:" + message.topic;
  return "dm:" + (message.direction === "in" ? message.from : message.to);
}

function renderConversations() {
  const list = $("conversation-list");
  const items = [];
  for (const t of (state.me && state.me.topics) || []) {
    items.push({ kind: "topic", key: "topic:" + t.name, target: t.name, title: "# " + t.name, up: t.peers > 0 });
  }
  for (const m of state.members) {
    if (state.me && m.peer_id === state.me.peer_id) continue;
    items.push({ kind: "dm", key: "dm:" + m.peer_id, target: m.peer_id, title: m.name || shortPeer(m.peer_id), up: m.connected });
  }
  list.replaceChildren(...items.map((c) => el("li", {
    class: (state.current && state.current.key === c.key ? "active" : "") + (state.unread.has(c.key) ? " unread" : ""),
    data: { conversation: c.key, peer: c.kind === "dm" ? c.target : "" },
    onclick: () => open(c),
  }, el("span", { class: "dot" + (c.up ? " up" : "") }), c.title, state.unread.has(c.key) ? " •" : "")));
}

async function open(conversation) {
  state.current = conversation;
  state.unread.delete(conversation.key);
  renderConversations();
  $("conversation-title").textContent = conversation.title;
  $("conversation-title").className = "";
  $("send-text").disabled = false;
  $("send-button").disabled = false;
  await reloadMessages();
  $("send-text").focus();
}

async function reloadMessages() {
  const c = state.current;
  if (!c) return;
  const query = c.kind === "dm" ? "from=" + encodeURIComponent(c.target) : "topic=" + encodeURIComponent(c.target);
  const messages = await api("GET", "/v1/messages?limit=200&" + query);
  if (state.current !== c) return;
  state.shown.clear();
  $("messages").replaceChildren();
  messages.forEach(showMessage);
}

function showMessage(m) {
  if (state.shown.has(m.id)) return;
  const delivery = state.states.get(m.id) || m.state;
  const li = el("li", { class: "msg " + m.direction, data: { id: m.id, state: delivery || "" } },
    el("span", { class: "text" }, m.text),
    el("span", { class: "meta" }, who(m.from) + " · " + time(m.ts) + " ",
      el("span", { class: "state" }, delivery || "")));
  state.shown.set(m.id, li);
  const list = $("messages");
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function setDelivery(id, delivery) {
  const li = state.shown.get(id);
  if (!li) {
    state.states.set(id, delivery);
    return;
  }
  li.dataset.state = delivery;
  li.querySelector(".state").textContent = delivery;
}

async function send(event) {
  event.preventDefault();
  const input = $("send-text");
  const text = input.value;
  const c = state.current;
  if (!text || !c) return;
  input.value = "";
  try {
    if (c.kind === "dm") {
      const sent = await api("POST", "/v1/messages", { to: c.target, text, wait: false });
      showMessage({ id: sent.id, kind: "direct", direction: "out", from: state.me.peer_id, to: c.target, ts: Date.now() * 1000, text, state: sent.state });
    } else {
      const sent = await api("POST", "/v1/topics/" + encodeURIComponent(c.target) + "/messages", { text });
      showMessage({ id: sent.id, kind: "topic", direction: "out", from: state.me.peer_id, topic: c.target, ts: Date.now() * 1000, text });
    }
  } catch (e) {
    input.value = text;
    fail(e.message);
  }
}

async function joinTopic(event) {
  event.preventDefault();
  const name = $("topic-name").value.trim();
  if (!name) return;
  try {
    await api("PUT", "/v1/topics/" + encodeURIComponent(name) + "/subscription");
    $("topic-name").value = "";
    await refreshStatus();
    open({ kind: "topic", key: "topic:" + name, target: name, title: "# " + name });
  } catch (e) { fail(e.message); }
}

// ---- the live event stream

async function follow() {
  for (;;) {
    try {
      const response = await fetch("/v1/events", { headers: { Authorization: "Bearer " + state.token }, cache: "no-store" });
      if (response.status === 401) throw new Refused("the node refused this page's token: open the URL `weft web` prints");
      if (!response.ok) throw new Error("the event stream answered " + response.status);
      live(true);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        let newline;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim()) onEvent(JSON.parse(line));
        }
      }
    } catch (e) {
      if (e instanceof Refused) { live(false); fail(e.message); return; }
    }
    live(false);
    // The node restarted or the network blinked: try again shortly.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    reloadMessages().catch(() => {});
  }
}

function live(on) {
  const badge = $("live");
  badge.textContent = on ? "live" : "offline";
  badge.className = "badge " + (on ? "on" : "off");
}

function onEvent(event) {
  switch (event.type) {
    case "message": {
      const key = conversationOf(event);
      if (state.current && state.current.key === key) showMessage(event);
      else { state.unread.add(key); renderConversations(); }
      break;
    }
    case "delivered": setDelivery(event.id, "delivered"); break;
    case "held": setDelivery(event.id, "held"); break;
    case "peer_connected":
    case "peer_disconnected": refreshMembers().catch(() => {}); break;
    case "lagged": reloadMessages().catch(() => {}); break;
  }
}

// ---- members and the mesh picture

async function refreshStatus() {
  state.me = await api("GET", "/v1/status");
  $("me").textContent = (state.me.name || "this node") + " · " + shortPeer(state.me.peer_id);
  try {
    state.mesh = await api("GET", "/v1/mesh");
    $("mesh").textContent = "mesh " + (state.mesh.name || shortPeer(state.mesh.id)) + " · " + (state.mesh.role || "");
  } catch (_) {
    state.mesh = null;
    $("mesh").textContent = "in no mesh yet";
  }
}

async function refreshMembers() {
  const [members, peers, links] = await Promise.all([
    state.mesh ? api("GET", "/v1/members") : Promise.resolve([]),
    api("GET", "/v1/peers"),
    state.mesh ? api("GET", "/v1/links") : Promise.resolve([]),
  ]);
  state.members = members;
  state.peers = peers;
  state.links = links;
  renderConversations();
  renderMembers();
  renderMesh();
}

function renderMembers() {
  $("members").replaceChildren(...state.members.map((m) => {
    const self = state.me && m.peer_id === state.me.peer_id;
    const peer = state.peers.find((p) => p.peer_id === m.peer_id);
    const presence = self ? "this node" : m.connected ? "online" : "offline";
    return el("tr", { data: { peer: m.peer_id } },
      el("td", { title: m.peer_id }, names(m)),
      el("td", {}, m.role),
      el("td", { class: self || m.connected ? "up" : "down" }, presence),
      el("td", {}, peer ? peer.path : ""),
      el("td", {}, peer && peer.rtt_ms != null ? peer.rtt_ms.toFixed(1) + " ms" : ""));
  }));
}

// Members on a circle, this node in the middle; an edge for every connection between
// members this node knows of (its own, and those the others reported when they last synced
// with it), relayed ones dashed.
function renderMesh() {
  const picture = $("mesh-picture");
  const w = 400, h = 300, cx = w / 2, cy = h / 2, r = 110;
  const me = state.me ? state.me.peer_id : null;
  const others = state.members.filter((m) => m.peer_id !== me);
  const at = new Map();
  if (me) at.set(me, { x: cx, y: cy });
  others.forEach((m, i) => {
    const angle = (2 * Math.PI * i) / Math.max(others.length, 1) - Math.PI / 2;
    at.set(m.peer_id, { x: cx + r * Math.cos(angle), y: cy + r * Math.sin(angle) });
  });
  const edges = [];
  for (const link of state.links || []) {
    const a = at.get(link.a), b = at.get(link.b);
    if (!a || !b) continue;
    const mine = link.a === me || link.b === me;
    const other = link.a === me ? link.b : link.a;
    edges.push(svg("line", {
      x1: a.x, y1: a.y, x2: b.x, y2: b.y,
      class: "edge " + (link.relayed ? "relayed" : "direct") + (mine ? "" : " far"),
      "data-link": link.a + " " + link.b,
      "data-peer": mine ? other : "",
    }));
    const peer = mine && state.peers.find((p) => p.peer_id === other);
    if (peer && peer.rtt_ms != null) {
      edges.push(svg("text", { x: (a.x + b.x) / 2 + 22, y: (a.y + b.y) / 2 - 4, class: "rtt" }, peer.rtt_ms.toFixed(1) + " ms"));
    }
  }
  const nodes = [svg("circle", { cx, cy, r: 18, class: "self" }), svg("text", { x: cx, y: cy + 32 }, (state.me && state.me.name) || "me")];
  for (const m of others) {
    const p = at.get(m.peer_id);
    const up = m.connected;
    nodes.push(svg("circle", { cx: p.x, cy: p.y, r: 14, class: up ? "up" : "" }), svg("text", { x: p.x, y: p.y + 27 }, m.name || shortPeer(m.peer_id)));
  }
  picture.replaceChildren(...edges, ...nodes);
}

// ---- invites

async function createInvite(event) {
  event.preventDefault();
  try {
    const invite = await api("POST", "/v1/invites", {
      role: $("invite-role").value,
      ttl_secs: Number($("invite-ttl").value),
      uses: Number($("invite-uses").value),
      note: $("invite-note").value || null,
    });
    $("invite-key").textContent = invite.key;
    const qr = await api("POST", "/v1/qr", invite.key, "blob");
    const img = $("invite-qr");
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(qr);
    $("invite-new").hidden = false;
    await refreshInvites();
  } catch (e) { fail(e.message); }
}

async function refreshInvites() {
  if (!state.mesh) { $("invites").replaceChildren(); return; }
  const admin = state.mesh.role === "admin";
  $("invite-create").hidden = !admin;
  if (!admin) { $("invites").replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "only admins issue and revoke invites"))); return; }
  const invites = await api("GET", "/v1/invites");
  $("invites").replaceChildren(...invites.map((i) => el("tr", { data: { invite: i.id } },
    el("td", {}, i.id), el("td", {}, i.role), el("td", {}, i.uses_left),
    el("td", {}, new Date(i.expires * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "short" })), el("td", {}, i.note || ""),
    el("td", {}, el("button", { class: "small", onclick: () => revoke(i.id) }, "revoke")))));
}

async function revoke(id) {
  try { await api("DELETE", "/v1/invites/" + encodeURIComponent(id)); await refreshInvites(); }
  catch (e) { fail(e.message); }
}

// ---- doctor, services and queues

async function refreshDoctor() {
  const checks = await api("GET", "/v1/doctor");
  $("doctor").replaceChildren(...checks.map((c) => el("li", { data: { verdict: c.verdict } },
    el("span", { class: "verdict " + c.verdict }, c.verdict), el("b", {}, c.check), " " + c.detail,
    c.fix ? el("span", { class: "fix" }, "→ " + c.fix) : "")));
}

async function refreshWork() {
  const [services, queues] = await Promise.all([api("GET", "/v1/services"), api("GET", "/v1/queues")]);
  $("services").replaceChildren(...(services.length ? services.map((s) => el("li", {},
    el("b", {}, s.name), " " + s.providers.length + " provider(s): ",
    s.providers.map((p) => who(p.peer_id) + (p.standby ? " (standby)" : "") + (p.healthy ? "" : " (unhealthy)") + ", " + p.load.served + " served").join("; ")))
    : [el("li", { class: "muted" }, "no services offered")]));
  $("queues").replaceChildren(...(queues.length ? queues.map((q) => el("li", {},
    el("b", {}, q.queue), " " + q.pending + " pending, " + q.in_flight + " in flight, " + q.done + " done, " + q.dead + " dead, " + q.workers + " worker(s)"))
    : [el("li", { class: "muted" }, "no queues here")]));
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

async function refreshTransfers() {
  const transfers = await api("GET", "/v1/transfers");
  $("transfers").replaceChildren(...(transfers.length ? transfers.map((t) => {
    const since = new Date(t.since_ms).toLocaleTimeString();
    if (t.kind === "pipe") {
      return el("li", { data: { kind: "pipe", peer: t.peer } }, el("b", {}, "pipe"), " with " + who(t.peer) + ": " +
        bytes(t.sent) + " sent, " + bytes(t.received) + " received, open since " + since);
    }
    const from = t.sources.length ? " from " + t.sources.map(who).join(", ") : "";
    return el("li", { data: { kind: "fetch" } }, el("b", {}, "fetch"), " " + t.blob.slice(0, 12) + "…" + from + ": " +
      bytes(t.done) + " of " + bytes(t.size) + " ", el("progress", { max: t.size || 1, value: t.done }));
  }) : [el("li", { class: "muted" }, "no transfer running")]));
}

// Polls `refresh` every `ms` until the token is refused.
function every(ms, refresh) {
  const tick = () => refresh().then(() => setTimeout(tick, ms), (e) => {
    if (e instanceof Refused) fail(e.message);
    else setTimeout(tick, ms);
  });
  tick();
}

async function start() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has("token")) {
    sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname);
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
  if (!state.token) {
    fail("no access token: open the URL `weft web` prints");
    return;
  }
  try {
    await refreshStatus();
  } catch (e) {
    fail(e.message);
    return;
  }
  $("app").hidden = false;
  $("send").addEventListener("submit", send);
  $("topic-join").addEventListener("submit", joinTopic);
  $("invite-create").addEventListener("submit", createInvite);
  follow();
  every(3000, () => refreshStatus().then(refreshMembers));
  every(5000, refreshInvites);
  every(10000, refreshDoctor);
  every(10000, refreshWork);
  every(2000, refreshTransfers);
}

document.addEventListener("DOMContentLoaded", start);
// A new URL from `weft web` pasted over this one changes only the fragment: start afresh.
window.addEventListener("hashchange", () => location.reload());
