//! The local API: HTTP/1.1 + JSON on a Unix socket in the data dir (mode 0600), versioned
//! under `/v1/`. [`server::router`] is a plain function of a node handle, testable without a
//! socket; [`client::Client`] is the typed async client the CLI and examples use.
//!
//! | method | path | body / query | answer |
//! |---|---|---|---|
//! | GET | `/v1/status` | | `Status` |
//! | GET | `/v1/id` | | `IdResponse` |
//! | GET | `/v1/peers` | | `[PeerInfo]` |
//! | POST | `/v1/dial` | `DialRequest` | `DialResponse` |
//! | POST | `/v1/messages` | `SendRequest` | `SendResponse` (200 delivered, 202 queued) |
//! | GET | `/v1/messages` | `?from=&topic=&limit=` | `[Message]`, oldest first |
//! | POST | `/v1/topics/{topic}/messages` | `PublishRequest` | `PublishResponse` |
//! | PUT / DELETE | `/v1/topics/{topic}/subscription` | | `{"changed": bool}` |
//! | GET | `/v1/events` | `?topic=` | newline-delimited JSON `Event`s until closed |
//! | POST / GET | `/v1/mesh` | `CreateMeshRequest` | `MeshInfo` |
//! | POST / GET | `/v1/invites` | `CreateInviteRequest` | `InviteInfo` (with the key) / `[InviteInfo]` |
//! | DELETE | `/v1/invites/{id}` | | `InviteInfo` |
//! | GET / POST | `/v1/members` | `AddMemberRequest` | `[MemberInfo]` / `MemberInfo` |
//! | DELETE | `/v1/members/{peer}` | | `MemberInfo` (removed) |
//! | PUT | `/v1/members/{peer}/role` | `SetRoleRequest` | `MemberInfo` |
//! | PUT | `/v1/members/{peer}/name` | `NameRequest` | `MemberInfo` |
//! | PUT | `/v1/display-name` | `NameRequest` | `MemberInfo` (this node) |
//! | GET | `/v1/links` | | `[LinkInfo]`: connections between members, as far as known |
//! | PUT | `/v1/topics/{topic}/policy` | `TopicPolicyRequest` | `{"changed": true}` |
//! | POST | `/v1/join` | `JoinMeshRequest` | `MeshInfo` once admitted |
//! | POST | `/v1/blobs` | `ShareRequest` | `ShareResponse` (the file offer) |
//! | POST | `/v1/blobs/fetch` | `FetchRequest` | newline-delimited JSON `FetchEvent`s, ending `done` or `failed` |
//! | GET | `/v1/pipe` | `?peer=` or `?accept=true&from=`, with `Upgrade: weft-pipe` | 101, then the pipe's bytes both ways |
//! | GET | `/v1/services` | | `[ServiceInfo]` |
//! | POST | `/v1/services/{name}/call` | the request's bytes, `?timeout_ms=` | the reply's bytes (200); 502 failed, 503 no provider, 504 timed out, 403 not allowed |
//! | GET | `/v1/services/{name}/offer` | `?standby=&concurrency=&max_inflight=&max_cpu=`, with `Upgrade: weft-service` | 101, then `HandlerRequest` frames to the program and `HandlerReply` frames back |
//! | PUT | `/v1/services/{name}/policy` | `ServicePolicyRequest` | `{"changed": true}` |
//! | POST | `/v1/queues/{queue}/items` | the item's bytes, `?key=` | `Pushed`, once it is on disk |
//! | GET | `/v1/queues` | | `[QueueStatus]`: every queue held or worked here |
//! | GET | `/v1/queues/{queue}` | | `QueueStatus` |
//! | GET | `/v1/queues/{queue}/dead` | | `[DeadLetter]` |
//! | POST | `/v1/queues/{queue}/dead/{id}/retry` | | `{"retried": true}` |
//! | GET | `/v1/queues/{queue}/work` | `?concurrency=&prefetch=&max_deliver=`, with `Upgrade: weft-worker` | 101, then `WorkRequest` frames to the program and `HandlerReply` frames back (`Ok`: done) |
//! | PUT | `/v1/queues/{queue}/policy` | `QueuePolicyRequest` | `{"changed": true}` |
//! | GET | `/v1/transfers` | | `[Transfer]`: the fetches and pipes running here, with progress |
//! | GET | `/v1/doctor` | | `[DoctorCheck]`: what `weft doctor` prints |
//! | GET | `/v1/web` | | `WebInfo`: the web page's address and URL (404 when it is off) |
//! | POST | `/v1/web/token` | | `WebInfo` with a new token; the old one opens nothing more |
//! | POST | `/v1/qr` | the text | its QR code, `image/svg+xml` |
//!
//! Errors answer with a 4xx/5xx status and `{"error": "one line"}`.
//!
//! With `weft node --web ADDR` the same routes are also served on ADDR (TCP) for the web page,
//! behind the checks of [`crate::web::guard`]: a `Bearer` token on every call, Host and
//! Origin checked.

pub mod client;
pub mod doctor;
pub mod media;
pub mod queues;
pub mod server;
pub mod services;
pub mod transfers;
mod upgrade;
pub mod web;
