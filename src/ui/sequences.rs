//! The sequence table shared by the plan preview and the results: name, three numbers and a
//! status, numbers right-aligned and as wide as their widest visible cell, and only the rows
//! on screen built at all (a run may hold 100,000).

use super::widgets::{content_widths, fit, number, Theme};
use crate::engine::model::{Matched, PlanRow, RowStatus};
use crate::engine::text::shown;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Block, Paragraph, Row, Table};
use ratatui::Frame;

pub struct Columns {
    /// Headers of the three number columns.
    pub headers: [&'static str; 3],
    pub values: fn(&PlanRow) -> [Option<i64>; 3],
    /// A `>` before the selected row's name (the results list is navigated row by row).
    pub marker: bool,
}

/// The selected row's story, under the table: its names, status, and why (the reason it is
/// refused or left out, or how the two sides were paired).
/// Lines the selected row's story may take under a table: a long refusal is read whole, and
/// the rows keep most of the screen.
const MOST_DETAIL_LINES: usize = 6;

/// The height `draw_detail` needs at `width` for `row`'s whole story (2 to 6 lines).
pub fn detail_height(row: Option<&PlanRow>, width: u16) -> u16 {
    let lines = row.map_or(0, |r| {
        crate::engine::text::wrap_shown(&story(r), width as usize).len()
    });
    lines.clamp(2, MOST_DETAIL_LINES) as u16
}

/// The selected row, told: its names, its status and why.
fn story(row: &PlanRow) -> String {
    let why = if row.message.is_empty() {
        match &row.matched {
            Matched::Column(column) => format!("matched through {column}"),
            Matched::Name => "matched by schema and name".to_string(),
        }
    } else if row.status == crate::engine::model::RowStatus::Ahead {
        format!(
            "{}; the TUI never lowers a sequence (the CLI's sync --allow-lower can, once no id \
             past the target is in use)",
            row.message
        )
    } else {
        row.message.clone()
    };
    shown(&format!("{}: {} — {why}", row.names(), row.status.name())).into_owned()
}

pub fn draw_detail(frame: &mut Frame, area: Rect, row: Option<&PlanRow>, theme: Theme) {
    let Some(row) = row else {
        return;
    };
    // Wrapped here, as detail_height counted, so the height given is the height needed.
    let mut lines = crate::engine::text::wrap_shown(&story(row), area.width as usize);
    let room = area.height as usize;
    if lines.len() > room {
        lines.truncate(room);
        if let Some(last) = lines.last_mut() {
            *last = super::widgets::fit(&format!("{last} …"), area.width as usize);
        }
    }
    frame.render_widget(
        Paragraph::new(
            lines
                .into_iter()
                .map(ratatui::text::Line::raw)
                .collect::<Vec<_>>(),
        )
        .style(theme.dim()),
        area,
    );
}

/// Draws `visible` (rows, each with whether it is selected) into `area` under `block`.
pub fn draw<'a>(
    frame: &mut Frame,
    area: Rect,
    visible: impl Iterator<Item = (&'a PlanRow, bool)>,
    columns: &Columns,
    block: Block,
    theme: Theme,
) {
    let shown: Vec<(&PlanRow, bool, [String; 4])> = visible
        .map(|(r, selected)| {
            let [a, b, c] = (columns.values)(r);
            (
                r,
                selected,
                [number(a), number(b), number(c), r.status.name().to_string()],
            )
        })
        .collect();
    let [h1, h2, h3] = columns.headers;
    let widths = content_widths(
        &[h1, h2, h3, "STATUS"],
        shown
            .iter()
            .map(|(_, _, c)| c.iter().map(String::as_str).collect()),
    );
    let prefix = if columns.marker { 2 } else { 0 };
    let name_width = block
        .inner(area)
        .width
        .saturating_sub(widths.iter().sum::<u16>() + 4 + prefix) as usize;
    let body = shown.into_iter().map(|(r, selected, cells)| {
        let status_style = if r.status.is_problem() {
            theme.bad()
        } else if r.status == RowStatus::Updated {
            theme.good()
        } else {
            ratatui::style::Style::default()
        };
        let name = fit(&r.names(), name_width.max(8));
        let name = match (columns.marker, selected) {
            (false, _) => name,
            (true, true) => format!("> {name}"),
            (true, false) => format!("  {name}"),
        };
        let [a, b, c, status] = cells;
        let row = Row::new(vec![
            Text::raw(name),
            Text::raw(a).right_aligned(),
            Text::raw(b).right_aligned(),
            Text::raw(c).right_aligned(),
            Text::styled(status, status_style),
        ]);
        if selected {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let mut constraints = vec![Constraint::Min(8)];
    constraints.extend(widths.iter().map(|w| Constraint::Length(*w)));
    let name_header = if columns.marker {
        "  SEQUENCE"
    } else {
        "SEQUENCE"
    };
    let header = Row::new(vec![
        Text::raw(name_header),
        Text::raw(h1).right_aligned(),
        Text::raw(h2).right_aligned(),
        Text::raw(h3).right_aligned(),
        Text::raw("STATUS"),
    ])
    .style(theme.title());
    frame.render_widget(
        Table::new(body, constraints).header(header).block(block),
        area,
    );
}
