//! The `dondoc` binary: parses the command line and hands over to [`dondoc::cli`].

fn main() -> std::process::ExitCode {
    dondoc::cli::main()
}
