//! `view(frame, state)`: pure drawing. Nothing here waits, reads a file or touches a database.
//! Meaning never rests on colour alone: selections carry a `>` marker, statuses are words and
//! checks are ✓/✗; colour only adds to that, and `NO_COLOR` turns it off.

mod dialogs;
mod instances;
mod results;
mod sequences;
mod task;
mod watch;
mod widgets;

use widgets::centered;
pub use widgets::Theme;

use crate::app::keymap::{self, KeyHelp};
use crate::app::state::{Screen, State};
use crate::engine::text;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};

use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

fn message_height(state: &State, width: u16) -> u16 {
    // Words wrap, not characters: a tenth more covers the ragged line ends.
    let chars = state
        .message
        .as_ref()
        .map_or(0, |m| (text::width(&m.text) + 2) * 11 / 10);
    // Up to six lines: a refusal with its next step must be readable whole at 80×24.
    (chars.div_ceil(width.max(1) as usize)).clamp(1, 6) as u16
}

pub fn view(frame: &mut Frame, state: &State, theme: Theme) {
    let [header, body, message, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(message_height(state, frame.area().width)),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, state, theme);
    match state.screen {
        Screen::Instances => instances::draw(frame, body, state, theme),
        Screen::Task => task::draw(frame, body, state, theme),
        Screen::Results => results::draw(frame, body, state, theme),
        Screen::Watch => watch::draw(frame, body, state, theme),
    }
    dialogs::draw(frame, body, state, theme);
    if let Some(m) = &state.message {
        let (mark, style) = if m.error {
            ("✗ ", theme.bad())
        } else {
            ("• ", Style::default())
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(mark, style),
                Span::raw(text::shown(&m.text)),
            ]))
            .wrap(Wrap { trim: false }),
            message,
        );
    }
    draw_hints(frame, footer, keymap::current(state), theme);
    if state.help {
        draw_help(frame, body, state, theme);
    }
    // Every text from outside is escaped where it is drawn; this is the net under that: no
    // control character in any cell ever reaches the terminal.
    for cell in frame.buffer_mut().content.iter_mut() {
        if cell.symbol().chars().any(text::is_control) {
            cell.set_symbol("\u{fffd}");
        }
    }
}

fn draw_header(frame: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let place = match (state.screen, state.current()) {
        (Screen::Instances, _) => "Instances".to_string(),
        (Screen::Task, Some(row)) => format!(
            "Instances › {} › Task Management",
            text::shown(&row.instance.id)
        ),
        (Screen::Watch, Some(row)) => format!(
            "Instances › {} › Keep Sequences Ahead",
            text::shown(&row.instance.id)
        ),
        (Screen::Results, Some(row)) => {
            format!(
                "Instances › {} › Synchronize Sequence",
                text::shown(&row.instance.id)
            )
        }
        _ => String::new(),
    };
    let line = Line::from(vec![
        Span::styled(" seqsync ", theme.title().add_modifier(Modifier::REVERSED)),
        Span::raw(" "),
        Span::styled(place, theme.title()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_hints(frame: &mut Frame, area: Rect, keys: &[KeyHelp], theme: Theme) {
    const HELP: KeyHelp = KeyHelp {
        keys: "?",
        hint: "help",
        action: "",
    };
    let width = |key: &KeyHelp| key.keys.chars().count() + key.hint.chars().count() + 3;
    // Hints that do not fit whole are dropped, so "? help" (which lists them all) always shows.
    let mut room = (area.width as usize).saturating_sub(width(&HELP));
    let mut spans = vec![];
    for key in keys
        .iter()
        .take_while(|key| {
            let fits = width(key) <= room;
            room = room.saturating_sub(width(key));
            fits
        })
        .chain([&HELP])
    {
        spans.push(Span::styled(key.keys, theme.title()));
        spans.push(Span::raw(" "));
        spans.push(Span::styled(key.hint, theme.dim()));
        spans.push(Span::raw("  "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_help(frame: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let popup = centered(area, 72, 20);
    frame.render_widget(Clear, popup);
    let mut lines = vec![];
    // A long description wraps under itself, not under the keys.
    let width = (popup.width as usize).saturating_sub(2 + 18);
    let section = |title: &'static str, keys: &[KeyHelp], lines: &mut Vec<Line>| {
        lines.push(Line::styled(title, theme.title()));
        for key in keys {
            for (i, part) in text::wrap(key.action, width).into_iter().enumerate() {
                let keys = if i == 0 { key.keys } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {keys:<16}"), theme.title()),
                    Span::raw(part),
                ]));
            }
        }
    };
    section("This screen", keymap::current(state), &mut lines);
    section("Everywhere", keymap::GLOBAL, &mut lines);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Keys (? or Esc closes) "),
        ),
        popup,
    );
}
