use clap::{CommandFactory, Parser};

use mqctl::{ExitCode, cli::Cli};

fn main() -> std::process::ExitCode {
    // When a completion script calls us (COMPLETE=bash mqctl -- …), answer
    // and exit before anything else.
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(mqctl::cmd::completions::VAR)
        .complete();
    // Files and folders mqctl creates carry exactly the modes it asks for
    // (0600 / 0700): no group or other bits can leak in from the umask.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = Cli::parse();
    let code = match mqctl::cmd::run(cli) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => ExitCode::Success,
        Err(e) => {
            eprintln!("mqctl: {e}");
            e.exit_code()
        }
    };
    code.into()
}
