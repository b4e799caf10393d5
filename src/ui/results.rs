//! Synchronized: the before/after table, drawing only the rows on screen.

use super::sequences;
use super::widgets::{fit, scroll_start, Theme};
use crate::app::state::State;
use crate::engine::model::RowStatus;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(results) = &state.results else {
        return;
    };
    let [title, info, table, detail] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(2),
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
    let excluded = match results.count(RowStatus::Excluded) {
        0 => String::new(),
        n => format!("{n} excluded · "),
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![Span::raw(format!(
            "{} updated · {} unchanged · {} not applied · {excluded}{} shown · sort {} (o) · {filter}",
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
    sequences::draw(
        frame,
        table,
        results
            .visible
            .iter()
            .enumerate()
            .skip(start)
            .take(height)
            .map(|(position, &i)| (&results.rows[i], position == results.selected)),
        &sequences::Columns {
            headers: ["SOURCE", "BEFORE", "AFTER"],
            values: |r| [r.source_value, r.destination_before, r.destination_after],
            marker: true,
        },
        Block::default().borders(Borders::TOP),
        theme,
    );
    let selected = results
        .visible
        .get(results.selected)
        .map(|&i| &results.rows[i]);
    sequences::draw_detail(frame, detail, selected, theme);
}
