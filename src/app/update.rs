//! `update(&mut State, Msg) -> Vec<Effect>`: every key and every answer from the worker, pure.

use super::dialog::on_dialog_key;
use super::keys::{ctrl, edit, navigate};
use super::msg::{Effect, ExportFormat, Msg, Response};
use super::state::{
    Dialog, InstanceRow, Message, OffsetPurpose, Results, Screen, State, TaskTab, TaskView,
    INCREMENTAL_WRITE, STEPS,
};
use super::watching::{on_watch_key, on_watch_response, open_margin, open_offset};
use crate::engine::instance::{Status, TaskKind};
use crate::engine::run::Level;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

/// Ticks between live refreshes of the instances' status (ticks are 250 ms).
pub const REFRESH_TICKS: u64 = 40;

/// The effects to run at start: observe every instance. The first frame does not wait for them.
pub fn init(state: &State) -> Vec<Effect> {
    let mut effects = vec![Effect::Recover {
        instances: state.instances.iter().map(|r| r.instance.clone()).collect(),
    }];
    effects.extend(observe_all(state));
    effects
}

/// Every configured instance is observed on its own; DTS jobs are listed again, all at once
/// (one request per region and tab, not one per job: DTS limits how often it is asked).
fn observe_all(state: &State) -> Vec<Effect> {
    let mut effects: Vec<Effect> = state
        .instances
        .iter()
        .enumerate()
        .filter(|(_, row)| row.instance.dts.is_none())
        .map(|(index, row)| Effect::Observe {
            index,
            instance: Box::new(row.instance.clone()),
        })
        .collect();
    if state.discovers {
        effects.push(Effect::Discover);
    }
    effects
}

pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) if key.kind == KeyEventKind::Release => vec![],
        Msg::Key(key) => on_key(state, key),
        Msg::Tick => {
            state.ticks += 1;
            // A watch reads its task's status every round; the results screen holds still.
            let idle = matches!(state.dialog, Dialog::None)
                && !matches!(state.screen, Screen::Results | Screen::Watch);
            if idle && state.ticks % REFRESH_TICKS == 0 {
                observe_all(state)
            } else {
                vec![]
            }
        }
        Msg::Worker(response) => on_response(state, response),
    }
}

fn on_response(state: &mut State, response: Response) -> Vec<Effect> {
    match response {
        Response::Discovered { found, problems } => {
            for (instance, observed) in found {
                let row = InstanceRow {
                    instance,
                    observed,
                    observing: false,
                };
                // A job already listed keeps its place (the selection does not jump).
                match state
                    .instances
                    .iter_mut()
                    .find(|r| r.instance.id == row.instance.id)
                {
                    Some(existing) => *existing = row,
                    None => state.instances.push(row),
                }
            }
            if !problems.is_empty() {
                state.alert(problems.join("; "));
            }
        }
        Response::Observed { index, observed } => {
            if let Some(row) = state.instances.get_mut(index) {
                row.observed = observed;
                row.observing = false;
            }
        }
        Response::Counted { index, result } => {
            if let Some(task) = state.task.as_mut().filter(|t| t.index == index) {
                task.counts = Some(result);
            }
        }
        Response::DataChecked { index, result } => {
            if let Some(task) = state.task.as_mut().filter(|t| t.index == index) {
                task.behind = Some(result);
            }
        }
        Response::History { index, result } => {
            if let Some(task) = state.task.as_mut().filter(|t| t.index == index) {
                task.history = Some(result);
                task.history_selected = 0;
            }
        }
        Response::Planned {
            request,
            result,
            notices,
        } => {
            if let Dialog::Planning {
                request: r,
                setting,
            } = state.dialog
            {
                if r == request {
                    let trouble = notices.iter().any(|n| n.level == Level::Trouble);
                    let mut said: Vec<String> = notices.into_iter().map(|n| n.text).collect();
                    match result {
                        Ok(choice) => {
                            state.dialog = Dialog::Preview {
                                request,
                                choice,
                                setting,
                                scroll: 0,
                            };
                            state.message = (!said.is_empty()).then(|| Message {
                                text: said.join(" | "),
                                error: trouble,
                            });
                        }
                        Err(e) => {
                            state.dialog = Dialog::None;
                            said.push(format!("planning failed: {e}"));
                            state.alert(said.join(" | "));
                        }
                    }
                }
            }
        }
        Response::Progress {
            request,
            done,
            total,
        } => {
            if let Dialog::Applying {
                request: r,
                done: d,
                total: t,
                ..
            } = &mut state.dialog
            {
                if *r == request {
                    *d = done;
                    *t = total;
                }
            }
        }
        Response::Applied {
            request,
            run_id,
            outcome,
            error,
            rows,
        } => {
            if matches!(state.dialog, Dialog::Applying { request: r, .. } if r == request) {
                state.dialog = Dialog::None;
                let mut results = Results::new(run_id, outcome, error, rows);
                results.repair = state.repair_request.take() == Some(request);
                state.results = Some(results);
                state.screen = Screen::Results;
                state.message = None;
            }
        }
        Response::ApplyRefused { request, error: e } => {
            if matches!(state.dialog, Dialog::Applying { request: r, .. } if r == request) {
                state.dialog = Dialog::None;
                state.alert(e);
            }
        }
        Response::Recovered { messages, trouble } if !messages.is_empty() => {
            state.message = Some(Message {
                text: messages.join(" | "),
                error: trouble,
            });
        }
        Response::Recovered { .. } => {}
        Response::Exported { result } => match result {
            Ok(path) => state.inform(format!("exported to {}", path.display())),
            Err(e) => state.alert(format!("export failed: {e}")),
        },
        watching @ (Response::WatchRound { .. }
        | Response::WatchTrouble { .. }
        | Response::WatchEnded { .. }
        | Response::Rated { .. }) => on_watch_response(state, watching),
    }
    vec![]
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if ctrl(&key, 'c') {
        state.quit = true;
        return vec![];
    }
    if state.help {
        if matches!(
            key.code,
            KeyCode::Char('?') | KeyCode::Esc | KeyCode::Char('q')
        ) {
            state.help = false;
        }
        return vec![];
    }
    if !matches!(state.dialog, Dialog::None) {
        return on_dialog_key(state, key);
    }
    let typing = match state.screen {
        Screen::Instances => state.filtering,
        Screen::Results => state.results.as_ref().is_some_and(|r| r.filtering),
        Screen::Task | Screen::Watch => false,
    };
    if typing {
        on_filter_key(state, key);
        return vec![];
    }
    match key.code {
        KeyCode::Char('?') => {
            state.help = true;
            return vec![];
        }
        KeyCode::Char('q') if state.screen != Screen::Watch => {
            state.quit = true;
            return vec![];
        }
        _ => {}
    }
    match state.screen {
        Screen::Watch => on_watch_key(state, key),
        Screen::Instances => on_instances_key(state, key),
        Screen::Task => on_task_key(state, key),
        Screen::Results => on_results_key(state, key),
    }
}

fn on_filter_key(state: &mut State, key: KeyEvent) {
    let (input, filtering) = match state.screen {
        Screen::Results => {
            let r = state.results.as_mut().expect("results screen has results");
            (&mut r.filter, &mut r.filtering)
        }
        _ => (&mut state.filter, &mut state.filtering),
    };
    match key.code {
        KeyCode::Esc => {
            input.reset();
            *filtering = false;
        }
        KeyCode::Enter | KeyCode::Down | KeyCode::Up => *filtering = false,
        _ => {
            edit(input, &key);
        }
    }
    match state.screen {
        Screen::Results => state.results.as_mut().expect("results").refresh(),
        _ => state.selected = 0,
    }
}

fn on_instances_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let visible = state.visible_instances();
    if navigate(&mut state.selected, visible.len(), &key, 10) {
        return vec![];
    }
    match key.code {
        KeyCode::Tab | KeyCode::Left | KeyCode::Right | KeyCode::Char('h') | KeyCode::Char('l') => {
            state.tab = match state.tab {
                TaskKind::Synchronization => TaskKind::Migration,
                TaskKind::Migration => TaskKind::Synchronization,
            };
            state.selected = 0;
        }
        KeyCode::Char('r') => {
            let regions = state.regions();
            state.region = match &state.region {
                None => regions.first().cloned(),
                Some(current) => regions
                    .iter()
                    .position(|r| r == current)
                    .and_then(|p| regions.get(p + 1).cloned()),
            };
            state.selected = 0;
        }
        KeyCode::Char('/') => state.filtering = true,
        KeyCode::Esc if !state.filter.value().is_empty() => {
            state.filter.reset();
            state.selected = 0;
        }
        KeyCode::F(5) | KeyCode::Char('R') => {
            state.inform("refreshing status…".to_string());
            return observe_all(state);
        }
        KeyCode::Enter => {
            if let Some(&index) = visible.get(state.selected) {
                return open_task(state, index);
            }
        }
        _ => {}
    }
    vec![]
}

fn open_task(state: &mut State, index: usize) -> Vec<Effect> {
    state.task = Some(TaskView {
        index,
        step: INCREMENTAL_WRITE,
        tab: TaskTab::Basic,
        counts: None,
        behind: None,
        history: None,
        history_selected: 0,
        basic_scroll: 0,
    });
    state.screen = Screen::Task;
    state.message = None;
    refresh_task(state)
}

fn refresh_task(state: &State) -> Vec<Effect> {
    let Some(row) = state.current() else {
        return vec![];
    };
    let index = state.task.as_ref().expect("a task").index;
    let mut effects = vec![
        Effect::Observe {
            index,
            instance: Box::new(row.instance.clone()),
        },
        Effect::Count {
            index,
            instance: Box::new(row.instance.clone()),
        },
    ];
    // After cutover: the one screen where "a repair is needed" matters, read when it opens.
    if matches!(
        row.observed.status,
        Status::Finished | Status::Failed | Status::NotStarted
    ) {
        effects.push(Effect::CheckData {
            index,
            instance: Box::new(row.instance.clone()),
        });
    }
    effects
}

/// Lines PgDn moves Basic Information by, and the most it scrolls (far past any real content).
const BASIC_PAGE: usize = 8;
const BASIC_MOST: usize = 400;

fn on_task_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let task = state.task.as_mut().expect("the task screen has a task");
    match key.code {
        KeyCode::Esc | KeyCode::Backspace => {
            state.task = None;
            state.screen = Screen::Instances;
            state.message = None;
        }
        // In the History tab the arrows choose a run; Tab goes back to choosing steps.
        KeyCode::Up | KeyCode::Char('k') if task.tab == TaskTab::History => {
            task.history_selected = task.history_selected.saturating_sub(1)
        }
        KeyCode::Down | KeyCode::Char('j') if task.tab == TaskTab::History => {
            let runs = task
                .history
                .as_ref()
                .and_then(|h| h.as_ref().ok())
                .map_or(0, Vec::len);
            task.history_selected = (task.history_selected + 1).min(runs.saturating_sub(1));
        }
        // The view stops at the last line, wherever PgDn went: PgUp goes back to the top, so
        // there is never an overshoot to undo.
        KeyCode::PageDown if task.tab == TaskTab::Basic => {
            task.basic_scroll = (task.basic_scroll + BASIC_PAGE).min(BASIC_MOST)
        }
        KeyCode::PageUp | KeyCode::Home if task.tab == TaskTab::Basic => task.basic_scroll = 0,
        KeyCode::Up | KeyCode::Char('k') => task.step = task.step.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => task.step = (task.step + 1).min(STEPS.len() - 1),
        KeyCode::Char('u') if task.tab == TaskTab::History => {
            let selected = task
                .history
                .as_ref()
                .and_then(|h| h.as_ref().ok())
                .and_then(|runs| runs.get(task.history_selected));
            match selected.filter(|e| e.undoable()) {
                Some(entry) => {
                    state.dialog = Dialog::ConfirmUndo {
                        run_id: entry.run_id.clone(),
                        when: entry.at.clone(),
                        sequences: entry.updated(),
                    };
                    state.message = None;
                }
                None => state.alert(
                    "only a run that was applied can be undone: select an 'applied' entry"
                        .to_string(),
                ),
            }
        }
        KeyCode::Tab | KeyCode::Left | KeyCode::Right | KeyCode::Char('h') | KeyCode::Char('l')
            if task.step == INCREMENTAL_WRITE =>
        {
            task.tab = match task.tab {
                TaskTab::Basic => TaskTab::History,
                TaskTab::History => TaskTab::Basic,
            };
            if task.tab == TaskTab::History {
                let index = task.index;
                let instance_id = state.instances[index].instance.id.clone();
                return vec![Effect::History { index, instance_id }];
            }
        }
        KeyCode::Char('R') | KeyCode::F(5) => return refresh_task(state),
        KeyCode::Char('s') => return open_offset(state, OffsetPurpose::Sync),
        KeyCode::Char('w') => return open_offset(state, OffsetPurpose::Watch),
        KeyCode::Char('r') => return open_margin(state),
        _ => {}
    }
    vec![]
}

fn on_results_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let instance_id = state
        .current()
        .map(|r| r.instance.id.clone())
        .unwrap_or_default();
    let results = state
        .results
        .as_mut()
        .expect("the results screen has results");
    if navigate(&mut results.selected, results.visible.len(), &key, 20) {
        return vec![];
    }
    match key.code {
        KeyCode::Esc | KeyCode::Enter | KeyCode::Char('c') => {
            state.results = None;
            state.screen = Screen::Task;
            if let Some(task) = state.task.as_mut() {
                task.tab = TaskTab::Basic;
                task.step = INCREMENTAL_WRITE;
            }
            return refresh_task(state);
        }
        // Straight to this run in History, where `u` undoes it.
        KeyCode::Char('H') => {
            state.results = None;
            state.screen = Screen::Task;
            let task = state.task.as_mut().expect("results come from a task");
            task.tab = TaskTab::History;
            task.step = INCREMENTAL_WRITE;
            task.history_selected = 0;
            let index = task.index;
            return vec![Effect::History {
                index,
                instance_id: state.instances[index].instance.id.clone(),
            }];
        }
        KeyCode::Char('/') => results.filtering = true,
        KeyCode::Char('o') => {
            results.sort = results.sort.next();
            results.refresh();
        }
        KeyCode::Char('e') | KeyCode::Char('E') => {
            let format = if key.code == KeyCode::Char('e') {
                ExportFormat::Csv
            } else {
                ExportFormat::Json
            };
            let extension = if format == ExportFormat::Csv {
                "csv"
            } else {
                "json"
            };
            return vec![Effect::Export {
                path: format!("seqsync-{}.{extension}", results.run_id).into(),
                format,
                run_id: results.run_id.clone(),
                instance_id,
                rows: results.rows.clone(),
            }];
        }
        _ => {}
    }
    vec![]
}
