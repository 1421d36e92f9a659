//! Files between members: a large transfer survives a killed sender and a restarted
//! receiver and resumes with only the missing chunks; a blob comes from two members at once;
//! nothing partial is ever left at the destination.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{TestNode, connected_pair, member, root, wait_peers, weft_bin};

/// Writes `mib` MiB of deterministic, incompressible bytes to `path`; returns their hash.
pub fn write_data(path: &Path, mib: usize, seed: u64) -> blake3::Hash {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = blake3::Hasher::new();
    let mut state = seed | 1;
    let mut block = vec![0u8; 1024 * 1024];
    for _ in 0..mib {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        hasher.update(&block);
        file.write_all(&block).unwrap();
    }
    file.flush().unwrap();
    hasher.finalize()
}

/// The BLAKE3 hash of the file at `path`.
pub fn hash_file(path: &Path) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(std::fs::File::open(path).unwrap())
        .unwrap();
    hasher.finalize()
}

/// How many chunk files `node` holds.
fn chunks_held(node: &TestNode) -> usize {
    let dir = node.dir.join("blobs").join("chunks");
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| std::fs::read_dir(e.path()).map_or(0, |f| f.count()))
                .sum()
        })
        .unwrap_or(0)
}

/// `weft --json fetch ARGS` on `node`: every event printed, and whether it succeeded.
fn fetch(node: &TestNode, args: &[&str]) -> (Vec<Value>, bool) {
    let mut all = vec!["--data-dir", node.dir.to_str().unwrap(), "--json", "fetch"];
    all.extend_from_slice(args);
    let out = Command::new(weft_bin()).args(&all).output().unwrap();
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (events, out.status.success())
}

fn event<'a>(events: &'a [Value], kind: &str) -> Option<&'a Value> {
    events.iter().find(|e| e["event"] == kind)
}

/// The bytes a finished fetch moved, over all its sources.
fn moved(events: &[Value]) -> u64 {
    let done = event(events, "done").expect("the fetch finished");
    done["from"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

/// Temporary files left beside `path` by a failed write.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".weft-part"))
        .collect()
}

#[test]
fn a_large_file_resumes_after_the_sender_is_killed_and_the_receiver_restarts() {
    let root = root();
    let (mut b, mut a) = connected_pair(root.path(), "b", "a");
    let src = root.path().join("big.bin");
    let want = write_data(&src, 200, 7);
    let offer = a.json(&["send-file", &b.peer_id, src.to_str().unwrap()]);
    let blob = offer["offer"]["blob"].as_str().unwrap().to_string();

    let out_dir = root.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let dest = out_dir.join("big.bin");
    let first = Command::new(weft_bin())
        .args(["--data-dir", b.dir.to_str().unwrap(), "fetch", &blob])
        .args(["--from", &a.peer_id, "-o", dest.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Half way: polled closely, the transfer is quick.
    let deadline = std::time::Instant::now() + crate::support::PATIENCE;
    while chunks_held(&b) < 100 {
        assert!(std::time::Instant::now() < deadline, "no chunks arrived");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    a.kill();
    let failed = first.wait_with_output().unwrap();
    assert!(
        !failed.status.success(),
        "the fetch cannot finish without its source"
    );
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(said.contains("fetch again"), "says how to resume: {said}");
    let partial = chunks_held(&b);
    assert!(
        partial < 200,
        "the sender was killed half way ({partial} chunks)"
    );
    assert!(!dest.exists(), "nothing partial at the destination");
    assert!(leftovers(&out_dir).is_empty(), "no temporary file left");

    // Both sides restart; the fetch moves only what is missing.
    b.stop();
    b.start();
    a.start();
    wait_peers(&b, 1);
    let (events, ok) = fetch(
        &b,
        &[&blob, "--from", &a.peer_id, "-o", dest.to_str().unwrap()],
    );
    assert!(ok, "the resumed fetch finished: {events:?}");
    let started = event(&events, "started").unwrap();
    let have = started["have"].as_u64().unwrap();
    assert!(
        have >= partial as u64 * 1024 * 1024,
        "resumed from {have} bytes"
    );
    let resumed = moved(&events);
    assert_eq!(
        resumed,
        200 * 1024 * 1024 - have,
        "only the missing chunks moved"
    );
    assert_eq!(hash_file(&dest), want, "the file arrived whole");
    println!(
        "blobs: 200 MiB, sender killed after {partial} chunks, resumed with {} MiB to go",
        resumed >> 20
    );

    // A chunk damaged on b's disk is found when the file is written again, deleted, and
    // fetched again: one chunk moves.
    let chunk = std::fs::read_dir(b.dir.join("blobs").join("chunks"))
        .unwrap()
        .filter_map(|d| std::fs::read_dir(d.ok()?.path()).ok()?.next()?.ok())
        .next()
        .unwrap()
        .path();
    std::fs::write(&chunk, b"bit rot").unwrap();
    let again = out_dir.join("again.bin");
    let (events, ok) = fetch(
        &b,
        &[&blob, "--from", &a.peer_id, "-o", again.to_str().unwrap()],
    );
    assert!(ok, "{events:?}");
    assert_eq!(moved(&events), 1024 * 1024, "only the damaged chunk moved");
    assert_eq!(hash_file(&again), want);
    assert!(b.status()["rejected"]["blob_chunk_damaged"].as_u64() >= Some(1));
}

#[test]
fn a_blob_comes_from_two_members_at_once() {
    let root = root();
    let a = crate::support::founder(root.path(), "a");
    let b = member(root.path(), &a, "b");
    let c = member(root.path(), &a, "c");
    wait_peers(&c, 2);
    let src = root.path().join("film.mp4");
    let want = write_data(&src, 64, 11);
    let shared = a.json(&["share", src.to_str().unwrap()]);
    let blob = shared["offer"]["blob"].as_str().unwrap().to_string();
    assert_eq!(shared["offer"]["type"], "video/mp4");
    let (_, ok) = fetch(
        &b,
        &[&blob, "-o", root.path().join("b.mp4").to_str().unwrap()],
    );
    assert!(ok, "b fetched from a");

    let dest = root.path().join("c.mp4");
    let (events, ok) = fetch(
        &c,
        &[
            &blob,
            "--from",
            &a.peer_id,
            "--from",
            &b.peer_id,
            "-o",
            dest.to_str().unwrap(),
        ],
    );
    assert!(ok, "{events:?}");
    assert_eq!(
        event(&events, "started").unwrap()["sources"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let from = event(&events, "done").unwrap()["from"].clone();
    for source in [&a, &b] {
        let given = from[&source.peer_id].as_u64().unwrap_or(0);
        assert!(given > 0, "{} gave nothing: {from}", source.name);
    }
    assert_eq!(hash_file(&dest), want);
    println!("blobs: 64 MiB from two members at once: {from}");

    // Without --from, every connected member is asked; an unknown blob is a clear error.
    let (events, ok) = fetch(&c, &["0".repeat(64).as_str(), "-o", "/tmp/never-written"]);
    assert!(!ok);
    let failed = event(&events, "failed").unwrap()["error"].as_str().unwrap();
    assert!(failed.contains("no member asked has blob"), "{failed}");
}
