//! The `weft-node` binary: runs every `weft` command in this process, those that run a
//! node among them. `weft node`, `weft demo`, `weft init`, `weft config`, `weft doctor`
//! and `weft zmq` hand themselves to it (see `weft_node::cli::handoff`).

fn main() -> std::process::ExitCode {
    weft_node::cli::node_main()
}
