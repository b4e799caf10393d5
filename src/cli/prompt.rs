//! Asking the operator on the terminal before anything changes.

use crate::engine::model::PlanRow;
use crate::engine::text::shown;
use crate::engine::Error;
use crate::report::render_table;
use std::io::{BufRead, Write};

/// Shows the plan on stderr and asks on /dev/tty (so it works with stdout in a pipe); without
/// a terminal, refuses.
pub fn confirm(rows: &[PlanRow], changes: usize, destination: &str) -> Result<(), Error> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty");
    let Ok(tty) = tty else {
        return Err(Error::usage(
            "refusing to apply without confirmation: no terminal to ask on; pass --yes",
        ));
    };
    let mut out = std::io::stderr();
    let _ = write!(out, "{}", render_table(rows));
    let _ = write!(
        out,
        "Apply {changes} change(s) to {}? Type 'yes' to continue: ",
        shown(destination)
    );
    let _ = out.flush();
    let mut answer = String::new();
    std::io::BufReader::new(tty)
        .read_line(&mut answer)
        .map_err(|e| Error::usage(format!("cannot read the answer: {e}")))?;
    let answer = answer.trim();
    if answer.eq_ignore_ascii_case("yes") || answer.eq_ignore_ascii_case("y") {
        Ok(())
    } else {
        Err(Error::usage("not confirmed; nothing was applied"))
    }
}
