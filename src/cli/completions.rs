//! Shell completions and the manual page, generated from the same clap definitions as the
//! parser, so they cannot drift from it.

use super::exit::Done;
use crate::engine::Error;
use clap::Args;
use clap_complete::Shell;
use std::io::Write;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh or fish (also elvish, powershell)
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `command` is the whole CLI's definition.
pub fn run(args: &CompletionsArgs, mut command: clap::Command) -> Result<Done, Error> {
    clap_complete::generate(args.shell, &mut command, "seqsync", &mut std::io::stdout());
    Ok(Done::Complete)
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand's own page (seqsync-sync(1) is `seqsync man sync`)
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

pub fn man(args: &ManArgs, command: clap::Command) -> Result<Done, Error> {
    let version = command.get_version().unwrap_or_default().to_string();
    let page_of = match &args.subcommand {
        None => command,
        Some(name) => command
            .find_subcommand(name)
            .cloned()
            .map(|sub| sub.name(format!("seqsync-{name}")).version(version))
            .ok_or_else(|| Error::usage(format!("no subcommand {name}: see seqsync --help")))?,
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(page_of)
        .render(&mut page)
        .map_err(|e| Error::failed(format!("cannot render the manual page: {e}")))?;
    std::io::stdout()
        .write_all(&page)
        .map_err(|e| Error::failed(format!("cannot write the manual page: {e}")))?;
    Ok(Done::Complete)
}
