//! The `prospectus` binary. Deliberately thin: everything lives in `prospectus-cli`.

fn main() -> std::process::ExitCode {
    prospectus_cli::main()
}
