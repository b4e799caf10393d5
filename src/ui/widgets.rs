//! What every screen draws with: the theme (colour only adds to meaning, and `NO_COLOR` turns
//! it off) and the small layout helpers for narrow terminals.

use crate::engine::text;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};

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

/// `value` shown (control characters escaped) and cut to `width` terminal columns with an
/// ellipsis, for narrow terminals.
pub fn fit(value: &str, width: usize) -> String {
    text::fit(value, width)
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
    let mut widths: Vec<u16> = header.iter().map(|h| text::width(h) as u16).collect();
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(text::width(c) as u16);
        }
    }
    widths
}
