//! Shell completions and the manual page, generated from the same clap definitions as the
//! parser, so they cannot drift from it.

use super::exit::Done;
use super::Cli;
use crate::engine::Error;
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::io::Write;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh or fish (also elvish, powershell)
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &CompletionsArgs) -> Result<Done, Error> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "seqsync", &mut std::io::stdout());
    Ok(Done::Complete)
}

pub fn man() -> Result<Done, Error> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| Error::failed(format!("cannot render the manual page: {e}")))?;
    std::io::stdout()
        .write_all(&page)
        .map_err(|e| Error::failed(format!("cannot write the manual page: {e}")))?;
    Ok(Done::Complete)
}
