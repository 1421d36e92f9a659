//! The `weft` binary: a client of a node's local API, a thin main over `weft_node::cli`.
//! The commands that run a node are handed to `weft-node` beside it.

fn main() -> std::process::ExitCode {
    weft_node::cli::main()
}
