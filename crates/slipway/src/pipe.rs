//! A closed output pipe ends a command quietly, as it ends `ls` or `git log`: `slipway releases
//! prod | head -3` prints three lines and no panic, no backtrace and no error.
//!
//! The signal itself stays ignored (Rust's default): `slipway serve` and every engine or registry
//! connection must see a closed socket as an error to handle, never as a signal that kills the
//! process. So only a write to stdout or stderr that finds its reader gone ends the command, the
//! way the signal would have: the shell sees 128 + SIGPIPE, and `set -o pipefail` scripts see
//! the same status they get from coreutils.

use std::io;

/// Installs the panic hook that turns "failed printing to stdout: Broken pipe" into a quiet exit.
pub fn end_quietly_when_the_reader_goes_away() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_closed_output_pipe(message) {
            exit_as_if_signalled();
        }
        default_hook(info);
    }));
}

/// Whether a panic message is the standard library's report of a print to a closed pipe.
fn is_closed_output_pipe(message: &str) -> bool {
    let epipe = format!("(os error {})", libc::EPIPE);
    (message.starts_with("failed printing to stdout")
        || message.starts_with("failed printing to stderr"))
        && message.contains(&epipe)
}

/// Whether an error that ended a command is a write to a reader that went away.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Ends the process with the status a shell reports for a command killed by SIGPIPE.
pub fn exit_as_if_signalled() -> ! {
    std::process::exit(128 + libc::SIGPIPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_print_to_a_closed_pipe_is_quiet() {
        assert!(is_closed_output_pipe(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(is_closed_output_pipe(
            "failed printing to stderr: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_output_pipe(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_closed_output_pipe("index out of bounds: Broken pipe"));
    }

    #[test]
    fn a_broken_pipe_anywhere_in_an_error_chain_is_recognised() {
        let error = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("writing the release list");
        assert!(is_broken_pipe(&error));
        let other = anyhow::Error::from(io::Error::from(io::ErrorKind::NotFound));
        assert!(!is_broken_pipe(&other));
    }
}
