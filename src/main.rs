//! The `weft` binary: a thin main over `weft_node::cli`.

fn main() -> std::process::ExitCode {
    weft_node::cli::main()
}
