//! Synchronized: the before/after table, drawing only the rows on screen.

use super::{fit, number, scroll_start, Theme};
use crate::app::state::State;
use crate::engine::model::RowStatus;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(results) = &state.results else {
        return;
    };
    let [title, info, table] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(2),
    ])
    .areas(area);
    let (headline, style) = match results.outcome.as_str() {
        "applied" => (
            "Synchronized".to_string(),
            theme.good().patch(theme.title()),
        ),
        "nothing-to-do" => ("Nothing to change".to_string(), theme.title()),
        "rolled-back" => (
            format!(
                "Rolled back, nothing applied: {}",
                results.error.as_deref().unwrap_or("")
            ),
            theme.bad(),
        ),
        _ => (
            format!(
                "ROLLBACK INCOMPLETE: {}",
                results.error.as_deref().unwrap_or("")
            ),
            theme.bad(),
        ),
    };
    frame.render_widget(
        Paragraph::new(Span::styled(fit(&headline, title.width as usize), style)),
        title,
    );
    let filter = if results.filtering {
        format!("/{}▏", results.filter.value())
    } else if results.filter.value().is_empty() {
        "none (/)".to_string()
    } else {
        format!("/{}", results.filter.value())
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw(format!(
                "{} updated, {} unchanged, {} not applied · showing {} · sort: {} (o) · filter: {filter}",
                results.count(RowStatus::Updated),
                results.count(RowStatus::Unchanged),
                results.rows.iter().filter(|r| r.status.is_problem() || r.status == RowStatus::Ahead).count(),
                results.visible.len(),
                results.sort.word(),
            )),
        ])),
        info,
    );
    let height = table.height.saturating_sub(2) as usize;
    let start = scroll_start(results.selected, height);
    let name_width = table.width.saturating_sub(12 * 3 + 24) as usize;
    let body = results
        .visible
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(position, &i)| {
            let r = &results.rows[i];
            let status_style = if r.status.is_problem() {
                theme.bad()
            } else if r.status == RowStatus::Updated {
                theme.good()
            } else {
                ratatui::style::Style::default()
            };
            let marker = if position == results.selected {
                ">"
            } else {
                " "
            };
            let row = Row::new(vec![
                Text::raw(format!(
                    "{marker} {}",
                    fit(&r.qualified_name(), name_width.max(8))
                )),
                Text::raw(number(r.source_value)),
                Text::raw(number(r.destination_before)),
                Text::raw(number(r.destination_after)),
                Text::styled(r.status.name(), status_style),
            ]);
            if position == results.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    frame.render_widget(
        Table::new(
            body,
            [
                Constraint::Min(10),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(22),
            ],
        )
        .header(
            Row::new(vec![
                "  SEQUENCE",
                "SOURCE",
                "DEST BEFORE",
                "DEST AFTER",
                "STATUS",
            ])
            .style(theme.title()),
        )
        .block(Block::default().borders(Borders::TOP)),
        table,
    );
}
