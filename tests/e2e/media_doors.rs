//! Blob and pipe doors against bad peers: a member that serves tampered chunks is dropped
//! and the file completes from an honest member; a stranger gets neither blobs nor pipes.
//! And a fetch asks ahead, checked with a bare source that answers only an asker that does.

use std::path::Path;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol, identity};
use weft_proto::blob::{BlobReply, BlobRequest, CHUNK_BYTES, Manifest, Want};
use weft_proto::codec::{from_cbor, to_cbor};
use weft_proto::pipe::{PIPE_VERSION, PipeAnswer, PipeOpen};

use crate::bare::{bare_peer, read_frame, write_frame};
use crate::blobs::{hash_file, write_data};
use crate::support::{PATIENCE, TestNode, founder, member, root, wait_for, wait_peers};

const BLOB: StreamProtocol = StreamProtocol::new("/weft/blob/1");
const PIPE: StreamProtocol = StreamProtocol::new("/weft/pipe/1");
const PING: StreamProtocol = StreamProtocol::new("/weft/ping/1");

/// The honest manifest of the file at `path`, and its chunks.
fn manifest_of(path: &Path) -> (Manifest, Vec<Vec<u8>>) {
    let data = std::fs::read(path).unwrap();
    let chunks: Vec<Vec<u8>> = data
        .chunks(CHUNK_BYTES as usize)
        .map(<[u8]>::to_vec)
        .collect();
    let hashes = chunks.iter().map(|c| *blake3::hash(c).as_bytes()).collect();
    (Manifest::new(data.len() as u64, hashes), chunks)
}

/// How a bare source serves `/weft/blob/1`.
#[derive(Clone, Copy)]
enum Serving {
    /// The true manifest, every chunk with a byte flipped.
    Tampered,
    /// The true manifest and chunks, but the first request for chunks is answered only once
    /// the next request has come: an asker that waits for each answer before it asks again
    /// stalls until it gives up on the source.
    OnlyWhenAskedAhead,
}

async fn serve(mut stream: Stream, manifest: Manifest, chunks: Vec<Vec<u8>>, serving: Serving) {
    let mut waiting = matches!(serving, Serving::OnlyWhenAskedAhead);
    // A request read before the one before it was answered.
    let mut ahead = None;
    loop {
        let body = match ahead.take() {
            Some(body) => body,
            None => match read_frame(&mut stream).await {
                Ok(body) => body,
                Err(_) => return,
            },
        };
        let request: BlobRequest = from_cbor(&body).unwrap();
        let Want::Chunks(indices) = request.want else {
            let reply = BlobReply::Manifest(manifest.encode().unwrap());
            let _ = write_frame(&mut stream, &to_cbor(&reply).unwrap()).await;
            continue;
        };
        if waiting {
            waiting = false;
            ahead = read_frame(&mut stream).await.ok();
        }
        for i in indices {
            let mut chunk = chunks[i as usize].clone();
            if let Serving::Tampered = serving {
                let middle = chunk.len() / 2;
                chunk[middle] ^= 0x01;
            }
            let header = BlobReply::Chunk {
                index: i,
                len: chunk.len() as u32,
            };
            if write_frame(&mut stream, &to_cbor(&header).unwrap())
                .await
                .is_err()
                || stream.write_all(&chunk).await.is_err()
            {
                return;
            }
        }
    }
}

/// Shares the file at `src` from `a`, and admits a bare member that serves it to `b` as
/// `serving` says, connected to `b`: the blob's id, the bare member's PeerId, and the
/// runtime it runs on.
fn bare_source(
    a: &TestNode,
    b: &TestNode,
    src: &Path,
    serving: Serving,
) -> (String, PeerId, tokio::runtime::Runtime) {
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let blob = a.json(&["share", src.to_str().unwrap()])["offer"]["blob"]
        .as_str()
        .unwrap()
        .to_string();
    let keypair = identity::Keypair::generate_ed25519();
    let peer = keypair.public().to_peer_id();
    a.ok(&["members", "add", &peer.to_string()]);
    wait_for("b to hear of the new member", || {
        let members = b.json(&["members"]);
        members
            .as_array()?
            .iter()
            .any(|m| m["peer_id"] == peer.to_string().as_str())
            .then_some(())
    });
    let (manifest, chunks) = manifest_of(src);
    assert_eq!(manifest.id().to_string(), blob);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut control = rt.block_on(bare_peer(keypair, &mesh, &b.addr()));
    let mut incoming = control.accept(BLOB).unwrap();
    rt.spawn(async move {
        while let Some((_, stream)) = incoming.next().await {
            tokio::spawn(serve(stream, manifest.clone(), chunks.clone(), serving));
        }
    });
    wait_peers(b, 2);
    (blob, peer, rt)
}

#[test]
fn a_tampering_source_is_dropped_and_the_file_completes_from_an_honest_one() {
    let root = root();
    let a = founder(root.path(), "a");
    let b = member(root.path(), &a, "b");
    let src = root.path().join("report.pdf");
    let want = write_data(&src, 24, 5);
    // The tamperer: an admitted member that holds the blob's true manifest.
    let (blob, tamperer_id, _rt) = bare_source(&a, &b, &src, Serving::Tampered);

    let dest = root.path().join("got.pdf");
    let said = fetch_from(&b, &blob, &[&tamperer_id.to_string(), &a.peer_id], &dest);
    assert!(
        said.contains("fails its hash"),
        "the tamperer was dropped: {said}"
    );
    assert_eq!(
        hash_file(&dest),
        want,
        "the file completed from the honest member"
    );
    let rejected = b.status()["rejected"].clone();
    assert!(rejected["blob_tampered"].as_u64() >= Some(1), "{rejected}");
    println!("media doors: tampered chunks refused, file completed ({rejected})");
}

/// A fetch asks a source for its next chunks before it has read the answer to the last
/// request, so a source never waits a round trip between requests (docs/PROTOCOL.md).
#[test]
fn a_fetch_asks_for_the_next_chunks_before_the_last_ones_came() {
    let root = root();
    let a = founder(root.path(), "a");
    let b = member(root.path(), &a, "b");
    let src = root.path().join("film.mp4");
    let want = write_data(&src, 20, 9);
    let (blob, source, _rt) = bare_source(&a, &b, &src, Serving::OnlyWhenAskedAhead);

    let dest = root.path().join("got.mp4");
    fetch_from(&b, &blob, &[&source.to_string()], &dest);
    assert_eq!(hash_file(&dest), want);
}

/// `weft --json fetch BLOB --from SOURCE... -o DEST` on `node`, which must succeed: what it
/// printed.
fn fetch_from(node: &TestNode, blob: &str, sources: &[&str], dest: &Path) -> String {
    let mut args = vec!["--json", "fetch", blob];
    for source in sources {
        args.extend(["--from", source]);
    }
    args.extend(["-o", dest.to_str().unwrap()]);
    let out = node.weft(&args);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "the fetch failed: {said}");
    said
}

#[test]
fn a_stranger_gets_no_blob_no_pipe_and_no_ping() {
    let root = root();
    let a = founder(root.path(), "a");
    let mesh = a.status()["mesh"].as_str().unwrap().to_string();
    let src = root.path().join("secret.txt");
    std::fs::write(&src, "members only").unwrap();
    let blob = a.json(&["share", src.to_str().unwrap()])["offer"]["blob"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let target: PeerId = a.peer_id.parse().unwrap();

    // Over QUIC (TCP refuses a stranger in the handshake), within its grace period.
    let quic = format!(
        "{}/p2p/{}",
        a.quic_addr().split("/p2p/").next().unwrap(),
        a.peer_id
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (blob_answer, pipe_answer) = rt.block_on(async {
        let stranger = identity::Keypair::generate_ed25519();
        let mut control = bare_peer(stranger, &mesh, &quic).await;
        let ask = async {
            let mut stream = control.open_stream(target, BLOB).await.unwrap();
            let request = BlobRequest {
                v: 1,
                blob,
                want: Want::Manifest,
            };
            write_frame(&mut stream, &to_cbor(&request).unwrap())
                .await
                .unwrap();
            let blob_answer: BlobReply =
                from_cbor(&read_frame(&mut stream).await.unwrap()).unwrap();
            let mut stream = control.open_stream(target, PIPE).await.unwrap();
            let open = to_cbor(&PipeOpen { v: PIPE_VERSION }).unwrap();
            write_frame(&mut stream, &open).await.unwrap();
            let pipe_answer: PipeAnswer =
                from_cbor(&read_frame(&mut stream).await.unwrap()).unwrap();
            // A ping is not echoed: the stream ends without a byte back.
            let mut stream = control.open_stream(target, PING).await.unwrap();
            let _ = stream.write_all(&[7u8; 32]).await;
            let _ = stream.flush().await;
            let mut echo = Vec::new();
            let _ = stream.read_to_end(&mut echo).await;
            assert!(echo.is_empty(), "a stranger's ping was echoed");
            (blob_answer, pipe_answer)
        };
        tokio::time::timeout(PATIENCE, ask).await.expect("answers")
    });
    assert_eq!(
        blob_answer,
        BlobReply::Refused("not a member of this mesh".into())
    );
    assert_eq!(
        pipe_answer,
        PipeAnswer::Refused("not a member of this mesh".into())
    );
    let rejected = wait_for("both refusals counted", || {
        let r = a.status()["rejected"].clone();
        let ping = r["ping_not_member"] == 1;
        (r["blob_not_member"] == 1 && r["pipe_not_member"] == 1 && ping).then_some(r)
    });
    println!("media doors: a stranger got no blob, no pipe and no ping ({rejected})");
}
