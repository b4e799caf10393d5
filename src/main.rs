use clap::Parser;
use seqsync::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line a tired operator can act on, instead of clap's paragraph.
            let rendered = e.to_string();
            let first_paragraph: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let mut text = first_paragraph.join(" ");
            // clap quotes the offending value whole: a pasted 100 KB string is cut.
            for arg in std::env::args_os().map(|a| a.to_string_lossy().into_owned()) {
                if arg.len() > seqsync::engine::text::EXCERPT_CHARS {
                    let cut = seqsync::engine::text::excerpt(&arg, 40);
                    text = text.replace(&arg, &cut);
                }
            }
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprintln!(
                "seqsync: {} (see seqsync --help)",
                seqsync::engine::text::shown(text)
            );
            return ExitCode::from(cli::exit::USAGE);
        }
    };
    seqsync::log::init(
        cli.global
            .log_file
            .clone()
            .unwrap_or_else(seqsync::log::default_path),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("seqsync: cannot start the async runtime: {e}");
            return ExitCode::from(cli::exit::FAILED);
        }
    };
    let code = runtime.block_on(cli::dispatch(&cli));
    // Drop the runtime without waiting for background connection tasks.
    runtime.shutdown_background();
    ExitCode::from(code)
}
