//! The `registry-mirror` binary: parse the command line, run, exit with the outcome's code.

fn main() -> std::process::ExitCode {
    registry_mirror::app::main()
}
