//! How the `weft` binary hands a command that runs a node to the `weft-node` binary beside
//! it, as `git` hands `git upload-pack` to `git-upload-pack`: by `exec`, so the process,
//! its id, its arguments, its signals and its exit status stay the ones its caller started.
//!
//! `weft` itself is only a client of a node's API. Leaving the node out of it (libp2p, sled,
//! libzmq and the libraries libzmq loads) is what makes a short command cheap to start: the
//! process maps a few megabytes and relocates a few thousand pointers, not forty megabytes
//! and fourteen more libraries. See docs/BENCHMARKS.md, "`weft send` as a process".

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

/// The file name of the binary that runs nodes. `cargo build` and `cargo install` make it
/// beside `weft`.
pub const NODE_BINARY: &str = "weft-node";

/// The fingerprint of the sources this build of the library came from (`node/build.rs`).
const SOURCES: &str = env!("WEFT_SOURCES");

/// How `weft` tells `weft-node` which sources it was built from.
const HANDOFF_SOURCES: &str = "WEFT_HANDOFF_SOURCES";

/// Replaces this process by `weft-node` with the same arguments. Returns only when that
/// cannot be done, after saying why in one line.
pub fn exec_node_binary() -> ExitCode {
    let path = match node_binary() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("error: cannot find {NODE_BINARY}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut args = std::env::args_os();
    let name = args.next().unwrap_or_else(|| OsString::from("weft"));
    let e = std::process::Command::new(&path)
        .arg0(name)
        .args(args)
        .env(HANDOFF_SOURCES, SOURCES)
        .exec();
    eprintln!(
        "error: cannot run {} ({e}): `weft node`, `demo`, `init`, `config`, `doctor` and `zmq` run in it; install it beside weft (`cargo install --path .` installs both)",
        path.display()
    );
    ExitCode::FAILURE
}

/// `weft-node` in the directory of the running `weft` (symbolic links resolved, so a link
/// to `weft` on the PATH finds the real pair).
fn node_binary() -> std::io::Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name(NODE_BINARY))
}

/// In `weft-node`: whether the `weft` that handed it this command (if one did) was built
/// from other sources, said in one line. A `weft` rebuilt alone (`cargo run --bin weft`)
/// would otherwise run the node an older build left beside it.
pub fn handed_by_another_build() -> Option<String> {
    let theirs = std::env::var_os(HANDOFF_SOURCES)?;
    (theirs != SOURCES).then(|| {
        format!(
            "{NODE_BINARY} was built from other sources than the weft that ran it (sources {SOURCES}, weft's {}): build both, `cargo build --bins` (or `cargo run --bin {NODE_BINARY} -- …`)",
            theirs.to_string_lossy()
        )
    })
}
