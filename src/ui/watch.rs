//! Keep Sequences Ahead, live: the task's status as the rounds see it, the latest round, the
//! tightest headroom, and per sequence its source value, destination next value, headroom (ids
//! and minutes of writes), write rate and the round it last moved in.

use super::widgets::{content_widths, fit, number, scroll_start, Theme};
use crate::app::state::State;
use crate::engine::model::display_name;
use crate::engine::run::Watched;
use crate::engine::text::shown;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Span, Text};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use ratatui::Frame;

/// HEADROOM is in ids and in minutes of writes at the measured rate, both named so.
const HEADERS: [&str; 6] = ["SOURCE", "NEXT", "IDS AHEAD", "MIN AHEAD", "IDS/S", "MOVED"];
/// Widths the columns keep whatever a round holds, so that the table does not shift from one
/// round to the next (a wider value still widens its column).
const STEADY_WIDTHS: [u16; 6] = [10, 10, 9, 9, 7, 5];

fn minutes(m: Option<f64>) -> String {
    match m {
        None => "-".to_string(),
        Some(m) if m >= 10_000.0 => ">9999".to_string(),
        Some(m) => format!("{m:.1}"),
    }
}

fn cells(w: &Watched) -> [String; 6] {
    let next = w.row.destination_after.or(w.row.destination_before);
    [
        number(w.row.source_value),
        number(next),
        // A refused row has no headroom: its status says why, in words, not only in colour.
        if w.row.status.is_problem() {
            w.row.status.name().to_string()
        } else {
            number(w.headroom.as_ref().map(|h| h.ids))
        },
        minutes(w.headroom.as_ref().and_then(|h| h.minutes)),
        w.rate.map_or("-".to_string(), |r| format!("{r:.1}")),
        w.changed_in.map_or("-".to_string(), |n| format!("#{n}")),
    ]
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(watch) = &state.watch else {
        return;
    };
    let width = area.width as usize;
    let warning = match (&watch.trouble, watch.refusals.first()) {
        (Some(e), _) => Some(format!(
            "✗ round failed, nothing changed, retrying: {}",
            shown(e)
        )),
        (None, Some(refused)) => Some(format!("! {}", shown(refused))),
        (None, None) => None,
    };
    // A refusal or failure is read whole: up to four lines, wrapped under itself.
    let warning_lines: Vec<String> = warning
        .as_deref()
        .map(|w| {
            crate::engine::text::wrap_shown(w, width.saturating_sub(2))
                .into_iter()
                .take(4)
                .enumerate()
                .map(|(i, l)| if i == 0 { l } else { format!("  {l}") })
                .collect()
        })
        .unwrap_or_default();
    let [headline, status, last_round, tightest, alert, table] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(warning_lines.len().max(1) as u16),
        Constraint::Min(2),
    ])
    .areas(area);
    let every = humantime::format_duration(watch.interval);
    let head = match (&watch.last, watch.stopping) {
        (_, true) => "Stopping after the round under way…".to_string(),
        (None, false) => format!(
            "Keep Sequences Ahead: first round… (offset ≥ {})",
            watch.offset
        ),
        (Some(r), false) => format!(
            "Keeping ahead: round {} · every {every} · offset ≥ {}",
            r.number, watch.offset
        ),
    };
    frame.render_widget(
        Paragraph::new(Span::styled(fit(&head, width), theme.title())),
        headline,
    );
    let row = &state.instances[watch.index];
    let line = format!(
        "task {} / {} · {} change(s) set in {} round(s)",
        row.observed.status, row.observed.phase, watch.applied, watch.applying_rounds
    );
    frame.render_widget(Paragraph::new(fit(&line, width)), status);
    // "moved" is measured against the round before, so round 1 has none to compare with.
    let round_line = match &watch.last {
        None => String::new(),
        Some(r) if r.number == 1 => format!(
            "first round: {} read, {} set on the destination in {} ms",
            r.read,
            r.applied,
            r.took.as_millis()
        ),
        Some(r) => format!(
            "last round: {} read, {} moved at the source, {} set in {} ms",
            r.read,
            r.changed,
            r.applied,
            r.took.as_millis()
        ),
    };
    frame.render_widget(Paragraph::new(fit(&round_line, width)), last_round);
    let tight = watch
        .last
        .as_ref()
        .and_then(|r| r.smallest_headroom())
        .map_or(String::new(), |h| {
            format!(
                "smallest headroom: {} ids{} ({})",
                h.ids,
                h.minutes.map_or(String::new(), |m| format!(
                    " = {} min of writes",
                    minutes(Some(m))
                )),
                display_name(&h.schema, &h.name)
            )
        });
    frame.render_widget(Paragraph::new(fit(&tight, width)), tightest);
    if !warning_lines.is_empty() {
        let lines: Vec<ratatui::text::Line> = warning_lines
            .into_iter()
            .map(|l| ratatui::text::Line::styled(l, theme.bad()))
            .collect();
        frame.render_widget(Paragraph::new(lines), alert);
    }
    let Some(round) = &watch.last else {
        return;
    };
    let height = table.height.saturating_sub(2) as usize;
    let start = scroll_start(watch.scroll, height);
    let shown_rows: Vec<(&Watched, [String; 6])> = round
        .sequences
        .iter()
        .skip(start)
        .take(height)
        .map(|w| (w, cells(w)))
        .collect();
    let mut widths = content_widths(
        &HEADERS,
        shown_rows
            .iter()
            .map(|(_, c)| c.iter().map(String::as_str).collect()),
    );
    for (w, steady) in widths.iter_mut().zip(STEADY_WIDTHS) {
        *w = (*w).max(steady);
    }
    let name_width = table
        .width
        .saturating_sub(widths.iter().sum::<u16>() + widths.len() as u16)
        as usize;
    let body = shown_rows.iter().enumerate().map(|(i, (w, c))| {
        let mut cells = vec![Text::raw(fit(&w.row.names(), name_width.max(8)))];
        cells.extend(c.iter().map(|v| Text::raw(v.clone()).right_aligned()));
        let row = Row::new(cells);
        if w.row.status.is_problem() {
            row.style(theme.bad())
        } else if start + i == watch.scroll {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let mut constraints = vec![Constraint::Min(8)];
    constraints.extend(widths.iter().map(|w| Constraint::Length(*w)));
    let mut header = vec![Text::raw("SEQUENCE")];
    header.extend(HEADERS.iter().map(|h| Text::raw(*h).right_aligned()));
    frame.render_widget(
        Table::new(body, constraints)
            .header(Row::new(header).style(theme.title()))
            .block(Block::default().borders(Borders::TOP)),
        table,
    );
}
