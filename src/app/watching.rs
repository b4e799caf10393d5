//! Keep Sequences Ahead in the TUI: the offset dialog's two purposes and its measured
//! suggestion, the live screen's keys, and the worker's answers about rounds and rates.

use super::keys::navigate;
use super::msg::{Effect, Response};
use super::state::{Dialog, OffsetPurpose, Screen, State, Suggestion, TaskTab, INCREMENTAL_WRITE};
use crate::engine::offset::Offset;
use crate::engine::text::shown;
use crossterm::event::{KeyCode, KeyEvent};
use tui_input::Input;

/// Opens the offset dialog for Synchronize Sequence or Keep Sequences Ahead, when the task
/// allows it, and starts measuring the source's write rates for the suggestion.
pub fn open_offset(state: &mut State, purpose: OffsetPurpose) -> Vec<Effect> {
    let action = match purpose {
        OffsetPurpose::Sync => "Synchronize Sequence",
        OffsetPurpose::Watch => "Keep Sequences Ahead",
        OffsetPurpose::Repair => return open_margin(state),
    };
    let Some(task) = state.task.as_ref() else {
        return vec![];
    };
    if task.step != INCREMENTAL_WRITE {
        state.alert(format!(
            "{action} is on the Incremental Write step: select it first"
        ));
        return vec![];
    }
    let row = &state.instances[task.index];
    if let Some(reason) = row.refusal() {
        state.alert(format!("{action} is unavailable: {reason}"));
        return vec![];
    }
    let instance = Box::new(row.instance.clone());
    let prefill = state
        .default_offset
        .map(|o| o.to_string())
        .unwrap_or_default();
    let request = state.take_request_id();
    state.dialog = Dialog::Offset {
        input: Input::new(prefill),
        error: None,
        purpose,
        suggestion: Suggestion::Measuring {
            request,
            since: state.ticks,
        },
    };
    state.message = None;
    vec![Effect::Rates { request, instance }]
}

/// `r` on the task: the margin dialog of Repair from Data, prefilled. No prerequisite gates
/// it: a repair is for the tasks Synchronize Sequence refuses (finished, failed, not started).
pub fn open_margin(state: &mut State) -> Vec<Effect> {
    if state.task.is_none() {
        return vec![];
    }
    state.dialog = Dialog::Offset {
        input: Input::new(crate::engine::repair::DEFAULT_MARGIN.to_string()),
        error: None,
        purpose: OffsetPurpose::Repair,
        suggestion: Suggestion::Unavailable(String::new()),
    };
    state.message = None;
    vec![]
}

/// Enter in the offset dialog of Keep Sequences Ahead: the live screen, and the first round.
pub fn start_watch(state: &mut State, offset: Offset) -> Vec<Effect> {
    let Some(index) = state.task.as_ref().map(|t| t.index) else {
        return vec![];
    };
    let request = state.take_request_id();
    let interval = state.watch_interval;
    state.dialog = Dialog::None;
    state.watch = Some(super::state::WatchView::new(
        request, index, offset, interval,
    ));
    state.screen = Screen::Watch;
    state.message = None;
    vec![Effect::Watch {
        request,
        instance: Box::new(state.instances[index].instance.clone()),
        offset,
        interval,
    }]
}

pub fn on_watch_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(watch) = state.watch.as_mut() else {
        return vec![];
    };
    let rows = watch.last.as_ref().map_or(0, |r| r.sequences.len());
    if navigate(&mut watch.scroll, rows, &key, 10) {
        return vec![];
    }
    // Stopping a guard asks first, as quitting during an apply does: a stray Esc at 3 a.m.
    // must not leave the destination unguarded.
    if let Some(quit) = watch.confirming_stop {
        match key.code {
            KeyCode::Char('y') | KeyCode::Enter => {
                watch.confirming_stop = None;
                watch.quit_when_stopped |= quit;
                if !watch.stopping {
                    watch.stopping = true;
                    let request = watch.request;
                    state.inform("stopping after the round under way…".to_string());
                    return vec![Effect::StopWatch { request }];
                }
            }
            KeyCode::Char('n') | KeyCode::Esc => {
                watch.confirming_stop = None;
                state.message = None;
            }
            _ => {}
        }
        return vec![];
    }
    if matches!(key.code, KeyCode::Esc | KeyCode::Char('q')) && !watch.stopping {
        let quit = key.code == KeyCode::Char('q');
        watch.confirming_stop = Some(quit);
        state.inform(format!(
            "Stop keeping sequences ahead{}? y: stop after the round under way   n/Esc: keep guarding",
            if quit { " and quit" } else { "" }
        ));
    }
    vec![]
}

/// The worker's answers about a watch or a rate measurement. Answers to a watch or a dialog
/// the screen has left are dropped.
pub fn on_watch_response(state: &mut State, response: Response) {
    match response {
        Response::Rated { request, result } => {
            if let Dialog::Offset { suggestion, .. } = &mut state.dialog {
                if matches!(suggestion, Suggestion::Measuring { request: r, .. } if *r == request) {
                    *suggestion = match result {
                        Ok(Some(0)) => Suggestion::Unavailable(format!(
                            "no source sequence moved in {}",
                            humantime::format_duration(crate::engine::run::DEFAULT_SAMPLE)
                        )),
                        Ok(Some(offset)) => Suggestion::Ready(offset),
                        Ok(None) => Suggestion::Unavailable("no source sequence".to_string()),
                        Err(e) => Suggestion::Unavailable(e),
                    };
                }
            }
        }
        Response::WatchRound { request, round } => {
            let Some(watch) = state.watch.as_mut().filter(|w| w.request == request) else {
                return;
            };
            if let Some(observed) = &round.observed {
                // Basic Information shows the status the rounds saw.
                let row = &mut state.instances[watch.index];
                row.observed = observed.clone();
                row.observing = false;
            }
            watch.trouble = None;
            if round.applied > 0 {
                watch.applying_rounds += 1;
                watch.applied += round.applied;
            }
            for refused in round.refusals.iter().rev() {
                watch.refusals.insert(
                    0,
                    format!(
                        "round {}: {}: {}: {}",
                        round.number,
                        shown(&refused.names()),
                        refused.status,
                        shown(&refused.message)
                    ),
                );
            }
            watch.refusals.truncate(50);
            watch.scroll = watch.scroll.min(round.sequences.len().saturating_sub(1));
            watch.last = Some(round);
        }
        Response::WatchTrouble { request, error } => {
            if let Some(watch) = state.watch.as_mut().filter(|w| w.request == request) {
                watch.trouble = Some(error);
            }
        }
        Response::WatchEnded { request, result } => {
            let Some(watch) = state.watch.take_if(|w| w.request == request) else {
                return;
            };
            state.screen = Screen::Task;
            if let Some(task) = state.task.as_mut() {
                task.tab = TaskTab::Basic;
                task.step = INCREMENTAL_WRITE;
            }
            let summary = format!(
                "Keep Sequences Ahead stopped after {} round(s); {} applied {} change(s)",
                watch.last.as_ref().map_or(0, |r| r.number),
                watch.applying_rounds,
                watch.applied
            );
            match result {
                Ok(_) => state.inform(summary),
                Err(e) => state.alert(format!("{summary}: {e}")),
            }
            state.quit |= watch.quit_when_stopped;
        }
        _ => {}
    }
}
