//! Synchronized: the before/after table, drawing only the rows on screen.

use super::{content_widths, fit, number, scroll_start, Theme};
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
        "filter (/)".to_string()
    } else {
        format!("/{}", results.filter.value())
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![Span::raw(format!(
            "{} updated · {} unchanged · {} not applied · {} shown · sort {} (o) · {filter}",
            results.count(RowStatus::Updated),
            results.count(RowStatus::Unchanged),
            results
                .rows
                .iter()
                .filter(|r| r.status.is_problem() || r.status == RowStatus::Ahead)
                .count(),
            results.visible.len(),
            results.sort.word(),
        ))])),
        info,
    );
    let height = table.height.saturating_sub(2) as usize;
    let start = scroll_start(results.selected, height);
    let shown: Vec<(usize, usize, [String; 4])> = results
        .visible
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(position, &i)| {
            let r = &results.rows[i];
            (
                position,
                i,
                [
                    number(r.source_value),
                    number(r.destination_before),
                    number(r.destination_after),
                    r.status.name().to_string(),
                ],
            )
        })
        .collect();
    let header = ["SOURCE", "BEFORE", "AFTER", "STATUS"];
    let widths = content_widths(
        &header,
        shown
            .iter()
            .map(|(_, _, c)| c.iter().map(String::as_str).collect()),
    );
    let name_width = table.width.saturating_sub(widths.iter().sum::<u16>() + 6) as usize;
    let body = shown.into_iter().map(|(position, i, cells)| {
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
        let [source, before, after, status] = cells;
        let row = Row::new(vec![
            Text::raw(format!("{marker} {}", fit(&r.names(), name_width.max(8)))),
            Text::raw(source).right_aligned(),
            Text::raw(before).right_aligned(),
            Text::raw(after).right_aligned(),
            Text::styled(status, status_style),
        ]);
        if position == results.selected {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let mut constraints = vec![Constraint::Min(10)];
    constraints.extend(widths.iter().map(|w| Constraint::Length(*w)));
    frame.render_widget(
        Table::new(body, constraints)
            .header(
                Row::new(vec![
                    Text::raw("  SEQUENCE"),
                    Text::raw("SOURCE").right_aligned(),
                    Text::raw("BEFORE").right_aligned(),
                    Text::raw("AFTER").right_aligned(),
                    Text::raw("STATUS"),
                ])
                .style(theme.title()),
            )
            .block(Block::default().borders(Borders::TOP)),
        table,
    );
}
