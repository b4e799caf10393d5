//! `view(frame, state)`: pure drawing. Nothing here waits, reads a file or touches a database.
//! Meaning never rests on colour alone: selections carry a `>` marker, statuses are words and
//! checks are ✓/✗; colour only adds to that, and `NO_COLOR` turns it off.

mod dialogs;
mod instances;
mod results;
mod sequences;
mod task;

use crate::app::keymap::{self, KeyHelp};
use crate::app::state::{Screen, State};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set (https://no-color.org).
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }

    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn dim(self) -> Style {
        self.fg(Color::DarkGray)
    }

    pub fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    pub fn title(self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
}

/// Lines a message gets: as many as it needs to be read whole, up to four.
fn message_height(state: &State, width: u16) -> u16 {
    // Words wrap, not characters: a tenth more covers the ragged line ends.
    let chars = state
        .message
        .as_ref()
        .map_or(0, |m| (m.text.chars().count() + 2) * 11 / 10);
    (chars.div_ceil(width.max(1) as usize)).clamp(1, 4) as u16
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
                Span::raw(&m.text),
            ]))
            .wrap(Wrap { trim: false }),
            message,
        );
    }
    draw_hints(frame, footer, keymap::current(state), theme);
    if state.help {
        draw_help(frame, body, state, theme);
    }
}

fn draw_header(frame: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let place = match (state.screen, state.current()) {
        (Screen::Instances, _) => "Instances".to_string(),
        (Screen::Task, Some(row)) => format!("Instances › {} › Task Management", row.instance.id),
        (Screen::Results, Some(row)) => {
            format!("Instances › {} › Synchronize Sequence", row.instance.id)
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
    let mut spans = vec![];
    for key in keys.iter().chain(
        [KeyHelp {
            keys: "?",
            hint: "help",
            action: "",
        }]
        .iter(),
    ) {
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
    let section = |title: &'static str, keys: &[KeyHelp], lines: &mut Vec<Line>| {
        lines.push(Line::styled(title, theme.title()));
        for key in keys {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<16}", key.keys), theme.title()),
                Span::raw(key.action),
            ]));
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

/// A rectangle of at most `width`×`height`, centred in `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// `value` cut to `width` characters with an ellipsis, for narrow terminals.
pub fn fit(value: &str, width: usize) -> String {
    if value.chars().count() <= width {
        value.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let mut cut: String = value.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

/// The first row to draw so that `selected` stays on a screen of `height` rows.
pub fn scroll_start(selected: usize, height: usize) -> usize {
    if height == 0 {
        0
    } else {
        selected.saturating_sub(height - 1)
    }
}

pub fn number(v: Option<i64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

/// Widths for a table of numbers and a status: each as wide as its widest cell (and header),
/// so the name column gets the rest even at 80 columns.
pub fn content_widths<'a>(header: &[&str], cells: impl Iterator<Item = Vec<&'a str>>) -> Vec<u16> {
    let mut widths: Vec<u16> = header.iter().map(|h| h.chars().count() as u16).collect();
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count() as u16);
        }
    }
    widths
}
