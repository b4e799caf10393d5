//! Synchronized: the before/after table, drawing only the rows on screen.

use super::sequences;
use super::widgets::{fit, scroll_start, Theme};
use crate::app::state::State;
use crate::engine::model::RowStatus;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

/// Lines a failure's headline may take; the whole reason is in the journal and the log.
const MAX_HEADLINE: usize = 4;

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(results) = &state.results else {
        return;
    };
    let (headline, style) = match results.outcome.as_str() {
        "applied" => (
            format!(
                "{} · run {} · to undo it: H (History, then u)",
                if results.repair {
                    "Repaired"
                } else {
                    "Synchronized"
                },
                results.run_id
            ),
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
    // A failure's reason is what the operator acts on: it wraps (up to MAX_HEADLINE lines)
    // rather than being cut at the screen's edge.
    let mut lines = crate::engine::text::wrap(&headline, area.width as usize);
    if lines.len() > MAX_HEADLINE {
        lines.truncate(MAX_HEADLINE);
        let last = lines.pop().unwrap_or_default();
        lines.push(fit(&format!("{last} …"), area.width as usize));
    }
    let selected = results
        .visible
        .get(results.selected)
        .map(|&i| &results.rows[i]);
    let [title, info, table, detail] = Layout::vertical([
        Constraint::Length(lines.len().max(1) as u16),
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(sequences::detail_height(selected, area.width)),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(
            lines
                .into_iter()
                .map(|l| Line::from(Span::styled(l, style)))
                .collect::<Vec<_>>(),
        ),
        title,
    );
    // The counts come first and the rest only when it says something (the footer has the
    // keys), so that at 80 columns the reasons rows were left alone are not what is cut.
    let filter = if results.filtering {
        format!(" · /{}▏", results.filter.value())
    } else if results.filter.value().is_empty() {
        String::new()
    } else {
        format!(" · /{}", results.filter.value())
    };
    let sort = match results.sort {
        crate::app::state::SortKey::Name => String::new(),
        other => format!(" · sorted by {}", other.word()),
    };
    let excluded = match results.count(RowStatus::Excluded) {
        0 => String::new(),
        n => format!(" · {n} excluded"),
    };
    let shown = if results.visible.len() == results.rows.len() {
        String::new()
    } else {
        format!(
            " · {} of {} shown",
            results.visible.len(),
            results.rows.len()
        )
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![Span::raw(fit(
            &format!(
                "{} updated · {} unchanged{}{excluded}{shown}{sort}{filter}",
                results.count(RowStatus::Updated),
                results.count(RowStatus::Unchanged),
                left_alone(&results.rows, &results.outcome),
            ),
            info.width as usize,
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
    sequences::draw_detail(frame, detail, selected, theme);
}

/// The rows a run did not set, named by their reason (`1 left alone: missing-in-source`).
/// "Not applied" is kept for a run that failed, where every row was rolled back.
fn left_alone(rows: &[crate::engine::model::PlanRow], outcome: &str) -> String {
    if matches!(outcome, "rolled-back" | "rollback-incomplete") {
        return format!(" · {} not applied", rows.len());
    }
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for row in rows
        .iter()
        .filter(|r| r.status.is_problem() || r.status == RowStatus::Ahead)
    {
        *reasons.entry(row.status.to_string()).or_default() += 1;
    }
    if reasons.is_empty() {
        return String::new();
    }
    let total: usize = reasons.values().sum();
    let named: Vec<String> = reasons
        .iter()
        .map(|(reason, n)| {
            if reasons.len() == 1 {
                reason.clone()
            } else {
                format!("{n} {reason}")
            }
        })
        .collect();
    format!(" · {total} left alone: {}", named.join(", "))
}
