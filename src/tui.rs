//! The terminal: raw mode and the alternate screen (restored on exit, error and panic), and the
//! event loop: keys, worker answers and a tick, each turned into a `Msg` for `update`.

use crate::app::msg::Msg;
use crate::app::state::State;
use crate::app::update::{init, update};
use crate::ui::{view, Theme};
use crate::worker::{self, WorkerConfig};
use crossterm::event::{Event, EventStream};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::Stdout;

pub use crate::app::state::TICK;

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, cursor::Show);
}

/// Puts the terminal back before any panic message is printed.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

fn open_terminal() -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
    enable_raw_mode()?;
    execute!(std::io::stdout(), EnterAlternateScreen)?;
    Terminal::new(CrosstermBackend::new(std::io::stdout()))
}

/// Runs the TUI until the operator quits. Errors are only terminal errors: database errors are
/// messages on screen.
pub async fn run(mut state: State, config: WorkerConfig) -> std::io::Result<()> {
    install_panic_hook();
    let mut terminal = match open_terminal() {
        Ok(t) => t,
        Err(e) => {
            restore_terminal();
            return Err(e);
        }
    };
    let result = event_loop(&mut terminal, &mut state, config).await;
    restore_terminal();
    result
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    state: &mut State,
    config: WorkerConfig,
) -> std::io::Result<()> {
    let theme = Theme::from_env();
    let (requests, mut responses) = worker::spawn(config);
    // The first frame is drawn before any database answers.
    terminal.draw(|f| view(f, state, theme))?;
    for effect in init(state) {
        let _ = requests.send(effect);
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    while !state.quit {
        let msg = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => Msg::Key(key),
                Some(Ok(_)) => {
                    // A resize or focus change: just draw again.
                    terminal.draw(|f| view(f, state, theme))?;
                    continue;
                }
                Some(Err(e)) => return Err(e),
                None => break,
            },
            Some(response) = responses.recv() => Msg::Worker(response),
            _ = tick.tick() => Msg::Tick,
        };
        for effect in update(state, msg) {
            let _ = requests.send(effect);
        }
        terminal.draw(|f| view(f, state, theme))?;
    }
    Ok(())
}
