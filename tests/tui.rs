//! The TUI without a terminal: key flows replayed on `State` (asserting the effects sent to
//! the worker and the screen reached), and insta snapshots of every screen at 80×24 and 120×40.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use seqsync::app::msg::{Effect, ExportFormat, Msg, Response};
use seqsync::app::state::{Counts, Dialog, Screen, State, TaskTab};
use seqsync::app::update::{init, update};
use seqsync::engine::instance::{
    Endpoint, Instance, Observed, Phase, Status, Step, TaskKind, Topology,
};
use seqsync::engine::journal::{JournalEntry, JournalEvent};
use seqsync::engine::model::{Engine, Matched, PlanRow, RowStatus};
use seqsync::engine::offset::Offset;
use seqsync::engine::select::{Choice, Selection};

fn offset(value: i64) -> Offset {
    Offset::new(value).unwrap()
}
use seqsync::ui::{view, Theme};

fn endpoint(engine: Engine, url: &str) -> Endpoint {
    Endpoint::new(engine, url)
}

fn instance(id: &str, kind: TaskKind, status: Status, phase: Phase) -> Instance {
    Instance {
        id: id.to_string(),
        name: format!("{id} cutover"),
        kind,
        region: Some(
            if id.starts_with('b') {
                "us-east"
            } else {
                "eu-central"
            }
            .to_string(),
        ),
        topology: Topology::OneWay,
        subscription: None,
        slot: None,
        declared_status: Some(status),
        declared_phase: Some(phase),
        steps: vec![Step::Schema, Step::FullData, Step::Incremental],
        source: endpoint(
            Engine::Postgresql,
            "postgresql://dba:s3cret@src.example:5432/orders",
        ),
        destination: endpoint(
            Engine::PolardbPg,
            "postgresql://dba@dst.example:5432/orders",
        ),
        dts: None,
        selection: Default::default(),
    }
}

fn scene() -> State {
    let mut two_way = instance(
        "billing",
        TaskKind::Synchronization,
        Status::Running,
        Phase::Incremental,
    );
    two_way.topology = Topology::TwoWay;
    let instances = vec![
        instance(
            "orders",
            TaskKind::Synchronization,
            Status::Running,
            Phase::Incremental,
        ),
        instance(
            "audit",
            TaskKind::Synchronization,
            Status::Paused,
            Phase::Incremental,
        ),
        instance(
            "copying",
            TaskKind::Synchronization,
            Status::Running,
            Phase::FullData,
        ),
        two_way,
        instance(
            "hr",
            TaskKind::Migration,
            Status::Failed,
            Phase::Incremental,
        ),
    ];
    let mut state = State::new(
        instances,
        Some(offset(10_000)),
        "Config: ./seqsync.toml.".into(),
    );
    // Every instance observed (declared status), as the worker would answer.
    for (index, row) in state.instances.clone().iter().enumerate() {
        update(
            &mut state,
            Msg::Worker(Response::Observed {
                index,
                observed: Observed::declared(&row.instance),
            }),
        );
    }
    state
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn chr(c: char) -> Msg {
    key(KeyCode::Char(c))
}

fn press(state: &mut State, keys: &[Msg]) -> Vec<Effect> {
    keys.iter().flat_map(|k| update(state, k.clone())).collect()
}

fn rows() -> Vec<PlanRow> {
    let row = |name: &str, source, before, target, status| PlanRow {
        schema: "public".into(),
        name: name.into(),
        source_value: source,
        destination_before: before,
        target,
        destination_after: None,
        status,
        message: String::new(),
        destination_oid: None,
        source_name: None,
        matched: Default::default(),
        source_key: None,
    };
    vec![
        row(
            "orders_id_seq",
            Some(12_345),
            Some(1),
            Some(22_345),
            RowStatus::Update,
        ),
        row(
            "items_id_seq",
            Some(500),
            Some(10_501),
            Some(10_500),
            RowStatus::Unchanged,
        ),
        row(
            "refund_no",
            Some(-40),
            Some(-1),
            Some(-10_040),
            RowStatus::Update,
        ),
        row(
            "ticket_no",
            Some(30_000),
            Some(1),
            Some(40_000),
            RowStatus::OutOfRange,
        ),
        row(
            "legacy_seq",
            Some(7),
            None,
            None,
            RowStatus::MissingInDestination,
        ),
    ]
}

fn applied(rows: &[PlanRow]) -> Vec<PlanRow> {
    rows.iter()
        .cloned()
        .map(|mut r| {
            if r.status == RowStatus::Update {
                r.status = RowStatus::Updated;
                r.destination_after = r.target;
            } else {
                r.destination_after = r.destination_before;
            }
            r
        })
        .collect()
}

/// Opens "orders", asks for a plan, and returns its request id.
fn plan_orders(state: &mut State) -> u64 {
    let effects = press(state, &[key(KeyCode::Enter), chr('s'), key(KeyCode::Enter)]);
    let plan = effects
        .iter()
        .find_map(|e| match e {
            Effect::Plan {
                request,
                offset,
                instance,
            } => Some((*request, *offset, instance.id.clone())),
            _ => None,
        })
        .expect("a plan request");
    assert_eq!((plan.1.get(), plan.2.as_str()), (10_000, "orders"));
    plan.0
}

#[test]
fn startup_observes_every_instance_without_waiting() {
    let state = State::new(
        vec![instance(
            "orders",
            TaskKind::Synchronization,
            Status::Running,
            Phase::Incremental,
        )],
        None,
        String::new(),
    );
    assert!(state.instances[0].observing);
    let effects = init(&state);
    assert!(matches!(
        &effects[..],
        [Effect::Recover { instances }, Effect::Observe { index: 0, .. }] if instances.len() == 1
    ));
}

#[test]
fn what_the_start_settled_is_shown_and_trouble_is_an_error() {
    let mut state = task_scene();
    update(
        &mut state,
        Msg::Worker(Response::Recovered {
            messages: vec![],
            trouble: false,
        }),
    );
    assert!(state.message.is_none(), "nothing interrupted: nothing said");
    update(
        &mut state,
        Msg::Worker(Response::Recovered {
            messages: vec!["run r was interrupted while applying, part-way".into()],
            trouble: true,
        }),
    );
    let message = state.message.as_ref().expect("a message");
    assert!(message.error && message.text.contains("part-way"));
}

/// A run as History lists it: its counts in the summary, no rows.
fn journal_entry(run_id: &str, event: JournalEvent, updated: usize) -> JournalEntry {
    let mut rows = applied(&rows());
    rows.truncate(updated);
    let summary = seqsync::engine::model::summarize(&rows)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    JournalEntry {
        run_id: run_id.into(),
        event,
        at: "2026-11-26T04:10:02.120Z".into(),
        user: "dba".into(),
        host: "h".into(),
        instance: "orders".into(),
        source: String::new(),
        destination: String::new(),
        offset: 10_000,
        allow_lower: false,
        undo_of: None,
        margin: None,
        backend: None,
        message: String::new(),
        summary,
        rows: vec![],
        locked: vec![],
        selection: Default::default(),
    }
}

#[test]
fn history_selects_a_run_and_undoes_only_an_applied_one_after_confirmation() {
    let mut state = task_scene();
    let effects = press(&mut state, &[key(KeyCode::Tab)]);
    assert!(matches!(&effects[..], [Effect::History { index: 0, .. }]));
    update(
        &mut state,
        Msg::Worker(Response::History {
            index: 0,
            result: Ok(vec![
                journal_entry("planned", JournalEvent::Plan, 0),
                journal_entry("done", JournalEvent::Applied, 2),
            ]),
        }),
    );
    // A plan changed nothing: nothing to undo.
    assert!(press(&mut state, &[chr('u')]).is_empty());
    assert!(matches!(state.dialog, Dialog::None));
    assert!(state
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("only a run that was applied"));
    // ↓ selects the applied run (and stays on the last), the step does not move.
    press(&mut state, &[key(KeyCode::Down), key(KeyCode::Down)]);
    let task = state.task.as_ref().unwrap();
    assert_eq!((task.history_selected, task.step), (1, 2));
    assert!(press(&mut state, &[chr('u')]).is_empty(), "asks first");
    assert!(matches!(&state.dialog, Dialog::ConfirmUndo { run_id, .. } if run_id == "done"));
    snap("confirm_undo", &state);
    // n backs out; y sends the undo to the worker and shows its progress.
    press(&mut state, &[chr('n')]);
    assert!(matches!(state.dialog, Dialog::None));
    press(&mut state, &[chr('u')]);
    let effects = press(&mut state, &[chr('y')]);
    let request = match &effects[..] {
        [Effect::Undo {
            request, run_id, ..
        }] if run_id == "done" => *request,
        other => panic!("{other:?}"),
    };
    let updated = journal_entry("done", JournalEvent::Applied, 2).updated();
    assert!(updated > 0);
    assert!(
        matches!(state.dialog, Dialog::Applying { request: r, total, .. } if r == request && total == updated)
    );
    // A refusal (a sequence used since) is a message, and nothing else happens.
    update(
        &mut state,
        Msg::Worker(Response::ApplyRefused {
            request,
            error: "undo of run done refused, nothing changed; 1 sequence(s) cannot go back".into(),
        }),
    );
    assert!(matches!(state.dialog, Dialog::None));
    assert!(state.message.as_ref().unwrap().error);
}

#[test]
fn the_happy_path_from_list_to_results_and_back() {
    let mut state = scene();
    let effects = press(&mut state, &[key(KeyCode::Enter)]);
    assert_eq!(state.screen, Screen::Task);
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::Count { index: 0, .. })));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::Observe { index: 0, .. })));
    press(&mut state, &[chr('s')]);
    match &state.dialog {
        Dialog::Offset { input, error, .. } => {
            assert_eq!(input.value(), "10000", "prefilled from the config");
            assert!(error.is_none());
        }
        other => panic!("offset dialog expected, got {other:?}"),
    }
    let effects = press(&mut state, &[key(KeyCode::Enter)]);
    let request = match &effects[..] {
        [Effect::Plan {
            request, offset, ..
        }] if offset.get() == 10_000 => *request,
        other => panic!("{other:?}"),
    };
    assert!(matches!(state.dialog, Dialog::Planning { .. }));
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request,
            notices: vec![],
            result: Ok(Choice::new(rows(), Default::default())),
        }),
    );
    assert!(matches!(state.dialog, Dialog::Preview { .. }));
    let effects = press(&mut state, &[chr('y')]);
    assert_eq!(
        effects,
        vec![Effect::Apply {
            request,
            selection: Default::default()
        }]
    );
    match state.dialog {
        Dialog::Applying { total, .. } => assert_eq!(total, 2, "two update rows"),
        ref other => panic!("{other:?}"),
    }
    update(
        &mut state,
        Msg::Worker(Response::Progress {
            request,
            done: 1,
            total: 2,
        }),
    );
    assert!(matches!(state.dialog, Dialog::Applying { done: 1, .. }));
    update(
        &mut state,
        Msg::Worker(Response::Applied {
            request,
            run_id: "run-1".into(),
            outcome: "applied".into(),
            error: None,
            rows: applied(&rows()),
        }),
    );
    assert_eq!(state.screen, Screen::Results);
    let results = state.results.as_ref().unwrap();
    assert_eq!(results.count(RowStatus::Updated), 2);
    // The results say the run and how to undo it, and name what was left alone by reason.
    let screen = render(&state, 80, 24);
    assert!(
        screen.contains("run run-1 · to undo it: H (History, then u)"),
        "{screen}"
    );
    assert!(
        !screen.contains("not applied") && screen.contains("left alone: "),
        "{screen}"
    );
    let mut to_history = state.clone();
    let effects = press(&mut to_history, &[chr('H')]);
    assert_eq!(to_history.screen, Screen::Task);
    assert_eq!(to_history.task.as_ref().unwrap().tab, TaskTab::History);
    assert!(
        matches!(&effects[..], [Effect::History { instance_id, .. }] if instance_id == "orders"),
        "{effects:?}"
    );

    let effects = press(&mut state, &[chr('e')]);
    match &effects[..] {
        [Effect::Export {
            format: ExportFormat::Csv,
            path,
            rows,
            ..
        }] => {
            assert_eq!(path.to_str(), Some("seqsync-run-1.csv"));
            assert_eq!(rows.len(), 5);
        }
        other => panic!("{other:?}"),
    }
    let effects = press(&mut state, &[key(KeyCode::Esc)]);
    assert_eq!(
        state.screen,
        Screen::Task,
        "Close returns to Basic Information"
    );
    assert_eq!(state.task.as_ref().unwrap().tab, TaskTab::Basic);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Count { .. })),
        "counts refreshed"
    );
}

#[test]
fn a_stale_plan_never_overwrites_a_newer_one() {
    let mut state = scene();
    let first = plan_orders(&mut state);
    let effects = press(&mut state, &[key(KeyCode::Esc)]);
    assert_eq!(effects, vec![Effect::Discard { request: first }]);
    let effects = press(&mut state, &[chr('s'), key(KeyCode::Enter)]);
    let second = match &effects[..] {
        [Effect::Rates { .. }, Effect::Plan { request, .. }] => *request,
        other => panic!("{other:?}"),
    };
    assert_ne!(first, second);
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request: first,
            notices: vec![],
            result: Ok(Choice::new(vec![], Default::default())),
        }),
    );
    assert!(matches!(state.dialog, Dialog::Planning { request, .. } if request == second));
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request: second,
            notices: vec![],
            result: Ok(Choice::new(rows(), Default::default())),
        }),
    );
    assert!(matches!(state.dialog, Dialog::Preview { request, .. } if request == second));
}

#[test]
fn a_failed_plan_is_a_message_and_the_app_goes_on() {
    let mut state = scene();
    let request = plan_orders(&mut state);
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request,
            notices: vec![],
            result: Err("source: cannot connect to postgresql://dba:****@src/orders".into()),
        }),
    );
    assert!(matches!(state.dialog, Dialog::None));
    let message = state.message.as_ref().unwrap();
    assert!(message.error && message.text.contains("cannot connect"));
    assert!(!state.quit);
}

#[test]
fn cancelling_an_apply_asks_the_worker_to_roll_back() {
    let mut state = scene();
    let request = plan_orders(&mut state);
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request,
            notices: vec![],
            result: Ok(Choice::new(rows(), Default::default())),
        }),
    );
    press(&mut state, &[key(KeyCode::Enter)]);
    let effects = press(&mut state, &[key(KeyCode::Esc)]);
    assert_eq!(effects, vec![Effect::Cancel { request }]);
    assert!(matches!(
        state.dialog,
        Dialog::Applying {
            cancelling: true,
            ..
        }
    ));
    assert!(
        press(&mut state, &[key(KeyCode::Esc)]).is_empty(),
        "one cancel is enough"
    );
    update(
        &mut state,
        Msg::Worker(Response::Applied {
            request,
            run_id: "run-2".into(),
            outcome: "rolled-back".into(),
            error: Some("cancelled by the operator; nothing was applied".into()),
            rows: rows(),
        }),
    );
    assert_eq!(state.results.as_ref().unwrap().outcome, "rolled-back");
}

#[test]
fn backing_out_of_the_preview_changes_nothing() {
    let mut state = scene();
    let request = plan_orders(&mut state);
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request,
            notices: vec![],
            result: Ok(Choice::new(rows(), Default::default())),
        }),
    );
    let effects = press(&mut state, &[chr('n')]);
    assert_eq!(effects, vec![Effect::Discard { request }]);
    assert!(state
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("nothing was changed"));
}

fn open_and_sync(state: &mut State, id: &str) {
    let index = state
        .visible_instances()
        .iter()
        .position(|&i| state.instances[i].instance.id == id)
        .unwrap();
    state.selected = index;
    press(state, &[key(KeyCode::Enter), chr('s')]);
}

#[test]
fn refusals_each_say_why_and_paused_is_allowed() {
    let mut state = scene();
    open_and_sync(&mut state, "billing");
    assert!(matches!(state.dialog, Dialog::None));
    assert!(state
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("two-way synchronization is not supported"));

    let mut state = scene();
    open_and_sync(&mut state, "copying");
    assert!(matches!(state.dialog, Dialog::None));
    assert!(state
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("full-data phase"));

    let mut state = scene();
    open_and_sync(&mut state, "audit");
    assert!(
        matches!(state.dialog, Dialog::Offset { .. }),
        "paused is allowed"
    );

    let mut state = scene();
    press(&mut state, &[key(KeyCode::Tab)]);
    assert_eq!(
        state.visible_instances().len(),
        1,
        "the migration tab lists hr only"
    );
    press(&mut state, &[key(KeyCode::Enter), chr('s')]);
    assert!(state
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("the task is failed"));

    let mut odd = instance(
        "odd",
        TaskKind::Synchronization,
        Status::Running,
        Phase::Incremental,
    );
    odd.source.engine = Engine::Oracle;
    odd.destination.engine = Engine::Postgresql;
    let mut state = State::new(vec![odd.clone()], None, String::new());
    update(
        &mut state,
        Msg::Worker(Response::Observed {
            index: 0,
            observed: Observed::declared(&odd),
        }),
    );
    press(&mut state, &[key(KeyCode::Enter), chr('s')]);
    assert!(state
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("unsupported pair oracle → postgresql"));

    // Not before the status is known.
    let mut state = State::new(
        vec![instance(
            "new",
            TaskKind::Synchronization,
            Status::Running,
            Phase::Incremental,
        )],
        None,
        String::new(),
    );
    press(&mut state, &[key(KeyCode::Enter), chr('s')]);
    assert!(state
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("still being read"));
}

#[test]
fn a_bad_offset_is_shown_as_typed_and_never_sent() {
    let mut state = scene();
    press(&mut state, &[key(KeyCode::Enter), chr('s')]);
    let mut keys = vec![Msg::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    ))];
    keys.extend("-5".chars().map(chr));
    press(&mut state, &keys);
    match &state.dialog {
        Dialog::Offset { error: Some(e), .. } => assert!(e.contains("must not be negative"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(press(&mut state, &[key(KeyCode::Enter)]).is_empty());
    press(
        &mut state,
        &[key(KeyCode::Backspace), key(KeyCode::Backspace), chr('x')],
    );
    assert!(
        matches!(&state.dialog, Dialog::Offset { error: Some(e), .. } if e.contains("whole number"))
    );
    press(&mut state, &[key(KeyCode::Backspace), chr('7')]);
    assert!(matches!(&state.dialog, Dialog::Offset { error: None, .. }));
    let effects = press(&mut state, &[key(KeyCode::Enter)]);
    assert!(matches!(&effects[..], [Effect::Plan { offset, .. }] if offset.get() == 7));
}

#[test]
fn list_keys_filter_switch_tabs_regions_help_and_quit() {
    let mut state = scene();
    assert_eq!(state.visible_instances().len(), 4);
    press(
        &mut state,
        &[chr('/'), chr('a'), chr('u'), key(KeyCode::Enter)],
    );
    assert_eq!(state.visible_instances().len(), 1, "filtered to audit");
    press(&mut state, &[key(KeyCode::Esc)]);
    assert_eq!(state.visible_instances().len(), 4, "Esc clears the filter");
    press(&mut state, &[chr('r')]);
    assert_eq!(state.region.as_deref(), Some("eu-central"));
    assert_eq!(state.visible_instances().len(), 3);
    press(&mut state, &[chr('r'), chr('r')]);
    assert_eq!(state.region, None, "all regions again");
    press(&mut state, &[chr('j'), chr('j'), chr('k')]);
    assert_eq!(state.selected, 1);
    press(&mut state, &[chr('?')]);
    assert!(state.help);
    press(&mut state, &[chr('q')]);
    assert!(!state.quit && !state.help, "q closes the help first");
    press(&mut state, &[chr('q')]);
    assert!(state.quit);
    let mut state = scene();
    press(&mut state, &[key(KeyCode::Enter), chr('s')]);
    update(
        &mut state,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(state.quit, "Ctrl-C quits even in a dialog");
}

#[test]
fn the_list_refreshes_itself_while_idle() {
    let mut state = scene();
    let mut effects = vec![];
    for _ in 0..seqsync::app::update::REFRESH_TICKS {
        effects.extend(update(&mut state, Msg::Tick));
    }
    assert_eq!(
        effects
            .iter()
            .filter(|e| matches!(e, Effect::Observe { .. }))
            .count(),
        5
    );
}

// ---- snapshots ----

fn render(state: &State, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| view(f, state, Theme { color: false }))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol())
            .collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn snap(name: &str, state: &State) {
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(state, w, h));
    }
}

fn task_scene() -> State {
    task_scene_with(None)
}

/// Basic Information of the first instance, counted, with `guard` holding its guard lock.
fn task_scene_with(guard: Option<String>) -> State {
    let mut state = scene();
    press(&mut state, &[key(KeyCode::Enter)]);
    update(
        &mut state,
        Msg::Worker(Response::Counted {
            index: 0,
            result: Ok(Counts {
                source: 120,
                destination: 118,
                guard,
            }),
        }),
    );
    state
}

#[test]
fn basic_information_names_the_guard_holder_and_keeps_the_actions_on_screen() {
    let state = task_scene_with(Some(
        "server process 4242 (seqsync/0.1.0 (guard on jump-1\u{1b}[2J), role seqsync)".into(),
    ));
    let screen = render(&state, 80, 24);
    assert!(screen.contains("Guard"), "{screen}");
    assert!(
        screen.contains("process 4242 (seqsync/0.1.0 (guard on"),
        "{screen}"
    );
    assert!(
        !screen.contains('\u{1b}'),
        "the holder's name is shown escaped"
    );
    assert!(screen.contains("Synchronize Sequence (s)"), "{screen}");
    assert!(
        !render(&task_scene(), 80, 24).contains("Guard"),
        "no guard, no line"
    );
}

#[test]
fn snapshots_of_every_screen() {
    let state = scene();
    snap("instances", &state);
    assert!(!render(&state, 80, 24).contains("s3cret"));

    let mut copying = scene();
    copying.selected = 2;
    press(&mut copying, &[key(KeyCode::Enter)]);
    snap("task_refused", &copying);

    let state = task_scene();
    snap("task_basic", &state);
    assert!(
        !render(&state, 120, 40).contains("s3cret"),
        "passwords are masked"
    );

    let mut history = task_scene();
    press(&mut history, &[key(KeyCode::Tab)]);
    let entry = |event, at: &str| JournalEntry {
        run_id: "r".into(),
        event,
        at: at.into(),
        user: "dba".into(),
        host: "h".into(),
        instance: "orders".into(),
        source: String::new(),
        destination: String::new(),
        offset: 10_000,
        allow_lower: false,
        undo_of: None,
        margin: None,
        backend: None,
        message: String::new(),
        summary: [
            ("updated".to_string(), 2usize),
            ("unchanged".to_string(), 1),
        ]
        .into(),
        rows: vec![],
        locked: vec![],
        selection: Default::default(),
    };
    update(
        &mut history,
        Msg::Worker(Response::History {
            index: 0,
            result: Ok(vec![
                entry(JournalEvent::Applied, "2026-11-26T04:10:02.120Z"),
                entry(JournalEvent::Plan, "2026-11-26T04:09:55.010Z"),
            ]),
        }),
    );
    snap("task_history", &history);

    let mut offset = task_scene();
    press(&mut offset, &[chr('s')]);
    snap("offset_dialog", &offset);
    press(&mut offset, &[chr('x')]);
    snap("offset_dialog_error", &offset);

    let mut planning = task_scene();
    press(&mut planning, &[chr('s'), key(KeyCode::Enter)]);
    snap("planning", &planning);

    let request = match planning.dialog {
        Dialog::Planning { request, .. } => request,
        _ => unreachable!(),
    };
    let mut preview = planning.clone();
    update(
        &mut preview,
        Msg::Worker(Response::Planned {
            request,
            notices: vec![],
            result: Ok(Choice::new(rows(), Default::default())),
        }),
    );
    snap("preview", &preview);

    let mut applying = preview.clone();
    press(&mut applying, &[chr('y')]);
    update(
        &mut applying,
        Msg::Worker(Response::Progress {
            request,
            done: 1,
            total: 2,
        }),
    );
    snap("applying", &applying);

    let mut results = applying.clone();
    update(
        &mut results,
        Msg::Worker(Response::Applied {
            request,
            run_id: "20261126T041002120Z-42".into(),
            outcome: "applied".into(),
            error: None,
            rows: applied(&rows()),
        }),
    );
    snap("results", &results);

    let mut rolled_back = applying.clone();
    update(
        &mut rolled_back,
        Msg::Worker(Response::Applied {
            request,
            run_id: "r".into(),
            outcome: "rolled-back".into(),
            error: Some("locking destination sequences: lock timeout; nothing was applied".into()),
            rows: rows(),
        }),
    );
    snap("results_rolled_back", &rolled_back);
    assert!(
        render(&rolled_back, 80, 24).contains("\nnothing was applied\n"),
        "a failure's reason wraps, it is not cut"
    );
    let mut long_failure = applying.clone();
    update(
        &mut long_failure,
        Msg::Worker(Response::Applied {
            request,
            run_id: "r".into(),
            outcome: "rollback-incomplete".into(),
            error: Some(format!(
                "could not restore {}",
                "public.a_sequence_name, ".repeat(40)
            )),
            rows: rows(),
        }),
    );
    let screen = render(&long_failure, 80, 24);
    let headline: Vec<&str> = screen
        .lines()
        .skip(1)
        .take_while(|l| !l.contains(" updated · "))
        .collect();
    assert_eq!(headline.len(), 4, "at most four lines: {screen}");
    assert!(headline[3].ends_with('…'), "{screen}");
    assert!(
        screen.contains("SEQUENCE"),
        "the rows stay on screen: {screen}"
    );

    let mut help = scene();
    press(&mut help, &[chr('?')]);
    snap("help", &help);
}

#[test]
fn results_render_only_the_visible_rows_of_a_huge_run() {
    let mut state = scene();
    let request = plan_orders(&mut state);
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request,
            notices: vec![],
            result: Ok(Choice::new(vec![], Default::default())),
        }),
    );
    press(&mut state, &[key(KeyCode::Enter)]);
    let many: Vec<PlanRow> = (0..100_000)
        .map(|i| PlanRow {
            schema: "public".into(),
            name: format!("s{i:06}").into(),
            source_value: Some(i),
            destination_before: Some(1),
            target: Some(i + 10),
            destination_after: Some(i + 10),
            status: RowStatus::Updated,
            message: String::new(),
            destination_oid: None,
            source_name: None,
            matched: Default::default(),
            source_key: None,
        })
        .collect();
    update(
        &mut state,
        Msg::Worker(Response::Applied {
            request,
            run_id: "big".into(),
            outcome: "applied".into(),
            error: None,
            rows: many,
        }),
    );
    press(&mut state, &[key(KeyCode::End)]);
    let text = render(&state, 80, 24);
    assert!(text.contains("s099999"), "{text}");
    assert!(!text.contains("s000000"));
    press(
        &mut state,
        &[
            chr('/'),
            chr('5'),
            chr('0'),
            chr('0'),
            chr('0'),
            chr('0'),
            key(KeyCode::Enter),
        ],
    );
    assert_eq!(state.results.as_ref().unwrap().visible.len(), 1);
}

#[test]
fn hostile_names_in_the_preview_leave_the_frame_whole() {
    let mut state = scene();
    let request = plan_orders(&mut state);
    let hostile = [
        "clear\u{1b}[2Jscreen",
        "title\u{1b}]0;owned\u{7}",
        "csi\u{9b}31m",
        "two\nlines",
        "evil\u{202e}gpj",
        "表表表表表表表表表表表表表表表表表表表表表",
    ];
    let rows: Vec<PlanRow> = hostile
        .iter()
        .map(|name| PlanRow {
            schema: "public".into(),
            name: (*name).into(),
            source_value: Some(5),
            destination_before: Some(1),
            target: Some(105),
            destination_after: None,
            status: RowStatus::Update,
            message: "moved \u{1b}[1Aup".into(),
            destination_oid: None,
            source_name: None,
            matched: Default::default(),
            source_key: None,
        })
        .collect();
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request,
            notices: vec![],
            result: Ok(Choice::new(rows, Default::default())),
        }),
    );
    state.message = Some(seqsync::app::state::Message {
        text: "server says \u{1b}]0;owned\u{7} and \u{9b}2J".into(),
        error: true,
    });
    for (w, h) in [(80, 24), (120, 40)] {
        let frame = render(&state, w, h);
        assert!(
            !frame
                .chars()
                .any(|c| c != '\n' && seqsync::engine::text::is_control(c)),
            "{frame:?}"
        );
        // Every bordered line still has its right border in the last cell (one symbol per
        // cell here; a wide character's second cell is a space), so no name pushed the border
        // or split a row.
        for line in frame.lines().filter(|l| l.starts_with('│')) {
            assert_eq!(line.chars().count(), w as usize, "{line}");
            assert!(line.ends_with('│'), "{line}");
        }
        assert_eq!(frame.matches(" update│").count(), hostile.len(), "{frame}");
        assert!(frame.contains("\\x1b[2J"), "{frame}");
        assert!(frame.contains("server says \\x1b]0;owned\\x07"), "{frame}");
    }
    snap("preview_hostile", &state);
}

// ---- Keep Sequences Ahead ----

/// A round as the worker reports it: two sequences, one moved this round.
fn watch_round(number: u64, applied: usize) -> Box<seqsync::engine::run::Round> {
    use seqsync::engine::run::{Round, Watched};
    use seqsync::engine::watch::Headroom;
    let watched = |name: &str, source: i64, next: i64, rate: Option<f64>, moved: Option<u64>| {
        let minutes = rate
            .filter(|r| *r > 0.0)
            .map(|r| (next - source) as f64 / r / 60.0);
        Watched {
            row: PlanRow {
                schema: "public".into(),
                name: name.into(),
                source_value: Some(source),
                destination_before: Some(next),
                target: Some(next),
                destination_after: None,
                status: RowStatus::Unchanged,
                message: String::new(),
                destination_oid: None,
                source_name: None,
                matched: Default::default(),
                source_key: None,
            },
            offset: 10_000,
            rate,
            headroom: Some(Headroom {
                schema: "public".into(),
                name: name.into(),
                ids: next - source,
                minutes,
            }),
            changed_in: moved,
        }
    };
    let mut behind = watched("legacy_id_seq", 900, 500, None, None);
    behind.row.status = RowStatus::BehindData;
    behind.headroom = None;
    behind.row.message = "public.legacy.id already holds 12000".into();
    Box::new(Round {
        number,
        at: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000),
        took: std::time::Duration::from_millis(42),
        read: 3,
        full: true,
        changed: 1,
        applied,
        run_id: (applied > 0).then(|| "20261126T030000000Z-7".to_string()),
        sequences: vec![
            watched("orders_id_seq", 52_000, 62_000, Some(20.0), Some(number)),
            watched("lookup_id_seq", 12, 10_012, Some(0.0), None),
            behind.clone(),
        ],
        refusals: if number == 1 {
            vec![behind.row]
        } else {
            vec![]
        },
        observed: None,
    })
}

#[test]
fn keep_ahead_takes_the_suggested_offset_runs_rounds_and_stops_after_the_round() {
    use seqsync::app::state::{OffsetPurpose, Suggestion};
    let mut state = task_scene();
    let effects = press(&mut state, &[chr('w')]);
    let rates = match &effects[..] {
        [Effect::Rates { request, instance }] if instance.id == "orders" => *request,
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        &state.dialog,
        Dialog::Offset {
            purpose: OffsetPurpose::Watch,
            suggestion: Suggestion::Measuring { .. },
            ..
        }
    ));
    // A countdown says when the suggestion comes and what Tab will do with it.
    let screen = render(&state, 80, 24);
    assert!(
        screen.contains("measuring rates: suggestion in 10s, Tab uses it"),
        "{screen}"
    );
    for _ in 0..8 {
        update(&mut state, Msg::Tick);
    }
    let screen = render(&state, 80, 24);
    assert!(screen.contains("suggestion in 8s"), "{screen}");
    // Typing goes on while the rates are measured; a stale answer is dropped.
    press(&mut state, &[key(KeyCode::Backspace), chr('5')]);
    update(
        &mut state,
        Msg::Worker(Response::Rated {
            request: rates + 100,
            result: Ok(Some(1)),
        }),
    );
    assert!(matches!(
        &state.dialog,
        Dialog::Offset {
            suggestion: Suggestion::Measuring { .. },
            ..
        }
    ));
    update(
        &mut state,
        Msg::Worker(Response::Rated {
            request: rates,
            result: Ok(Some(18_000)),
        }),
    );
    match &state.dialog {
        Dialog::Offset {
            input, suggestion, ..
        } => {
            assert_eq!(input.value(), "10005", "the operator's typing is kept");
            assert_eq!(*suggestion, Suggestion::Ready(18_000));
        }
        other => panic!("{other:?}"),
    }
    snap("offset_suggestion", &state);
    press(&mut state, &[key(KeyCode::Tab)]);
    let effects = press(&mut state, &[key(KeyCode::Enter)]);
    let request = match &effects[..] {
        [Effect::Watch {
            request,
            offset,
            interval,
            instance,
        }] if offset.get() == 18_000 && instance.id == "orders" => {
            assert_eq!(
                *interval,
                std::time::Duration::from_secs(30),
                "the default interval"
            );
            *request
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(state.screen, Screen::Watch);
    update(
        &mut state,
        Msg::Worker(Response::WatchRound {
            request,
            round: watch_round(1, 2),
        }),
    );
    update(
        &mut state,
        Msg::Worker(Response::WatchTrouble {
            request: request + 1,
            error: "x".into(),
        }),
    );
    let watch = state.watch.as_ref().unwrap();
    assert_eq!((watch.applied, watch.applying_rounds), (2, 1));
    assert!(
        watch.trouble.is_none(),
        "another watch's trouble is not this one's"
    );
    assert!(
        watch.refusals[0].contains("legacy_id_seq: behind-data"),
        "{:?}",
        watch.refusals
    );
    update(
        &mut state,
        Msg::Worker(Response::WatchRound {
            request,
            round: watch_round(2, 0),
        }),
    );
    snap("watch", &state);
    let frame = render(&state, 80, 24);
    assert!(
        frame.contains("behind-data"),
        "a refused row says so in words:\n{frame}"
    );

    // Esc asks first; n keeps guarding, y stops after the round under way.
    assert!(press(&mut state, &[key(KeyCode::Esc)]).is_empty());
    assert!(
        render(&state, 80, 24).contains("Stop keeping sequences ahead?"),
        "{}",
        render(&state, 80, 24)
    );
    assert!(
        press(&mut state, &[chr('n')]).is_empty(),
        "n keeps guarding"
    );
    assert!(!state.watch.as_ref().unwrap().stopping);
    assert!(press(&mut state, &[key(KeyCode::Esc)]).is_empty());
    let effects = press(&mut state, &[chr('y')]);
    assert_eq!(effects, vec![Effect::StopWatch { request }]);
    assert!(
        press(&mut state, &[key(KeyCode::Esc)]).is_empty(),
        "asked once"
    );
    assert_eq!(
        state.screen,
        Screen::Watch,
        "the round under way finishes first"
    );
    update(
        &mut state,
        Msg::Worker(Response::WatchEnded {
            request,
            result: Ok(2),
        }),
    );
    assert_eq!(state.screen, Screen::Task);
    let message = state.message.as_ref().unwrap();
    assert!(
        !message.error && message.text.contains("stopped after 2 round(s)"),
        "{}",
        message.text
    );
    assert!(!state.quit);
}

#[test]
fn keep_ahead_is_refused_like_synchronize_and_a_watch_that_stops_itself_says_why() {
    let mut copying = scene();
    copying.selected = 2;
    press(&mut copying, &[key(KeyCode::Enter)]);
    assert!(press(&mut copying, &[chr('w')]).is_empty());
    assert!(matches!(copying.dialog, Dialog::None));
    assert!(copying
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("Keep Sequences Ahead is unavailable"));

    let mut state = task_scene();
    press(&mut state, &[chr('w')]);
    let effects = press(&mut state, &[key(KeyCode::Enter)]);
    let request = match &effects[..] {
        [Effect::Watch { request, .. }] => *request,
        other => panic!("{other:?}"),
    };
    // q asks, then stops first (never in the middle of a round), then quits.
    assert!(press(&mut state, &[chr('q')]).is_empty());
    assert_eq!(
        press(&mut state, &[chr('y')]),
        vec![Effect::StopWatch { request }]
    );
    assert!(!state.quit);
    update(
        &mut state,
        Msg::Worker(Response::WatchEnded {
            request,
            result: Err(
                "Keep Sequences Ahead stopped for instance orders: the task is finished".into(),
            ),
        }),
    );
    assert!(state.message.as_ref().unwrap().error);
    assert!(state.quit);
}

/// The preview's rows chosen by keys: space leaves the row under the cursor out (and puts it
/// back), `a` leaves every row out or puts them all back; the confirmation counts only what
/// will change, and the apply carries the choice to the worker.
#[test]
fn the_preview_chooses_rows_by_keys_and_applies_only_the_chosen() {
    let mut state = scene();
    let request = plan_orders(&mut state);
    let mut planned = rows();
    planned[4].source_key = Some(seqsync::engine::model::SourceKey::Other(Box::new((
        "hr".into(),
        "LEGACY_SEQ".into(),
    ))));
    planned[2].matched = Matched::Column("public.refunds.id".into());
    planned[2].source_name = Some("public.refund_seq".into());
    // The config left legacy_seq out already.
    let config = Selection::new(vec![], vec!["public.legacy_*".into()]).unwrap();
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request,
            notices: vec![],
            result: Ok(Choice::new(planned, config)),
        }),
    );
    let statuses = |state: &State| match &state.dialog {
        Dialog::Preview { choice, .. } => choice
            .rows()
            .iter()
            .map(|r| r.status.name())
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        statuses(&state),
        vec!["update", "unchanged", "update", "out-of-range", "excluded"]
    );
    // Leave orders_id_seq (row 0) out: one change left.
    press(&mut state, &[chr(' ')]);
    assert_eq!(statuses(&state)[0], "excluded");
    assert!(render(&state, 100, 30).contains("Apply 1 change(s)?"));
    snap("preview_chosen", &state);
    // The row under the cursor says how it was paired.
    press(&mut state, &vec![key(KeyCode::Down); 2]);
    let screen = render(&state, 100, 30);
    assert!(
        screen.contains(
            "public.refund_no ← public.refund_seq: update — matched through public.refunds.id"
        ),
        "{screen}"
    );
    // Down to legacy_seq and put it back in, against the config.
    press(&mut state, &vec![key(KeyCode::Down); 2]);
    press(&mut state, &[chr(' ')]);
    assert_eq!(statuses(&state)[4], "missing-in-destination");
    // Everything out, then everything back.
    press(&mut state, &[chr('a')]);
    assert!(statuses(&state).iter().all(|s| *s == "excluded"));
    assert!(render(&state, 100, 30).contains("Nothing to change."));
    press(&mut state, &[chr('a')]);
    assert_eq!(
        statuses(&state),
        vec![
            "update",
            "unchanged",
            "update",
            "out-of-range",
            "missing-in-destination"
        ]
    );
    // orders_id_seq out again, then apply: the worker gets that choice, the gauge one change.
    press(&mut state, &[key(KeyCode::Home), chr(' ')]);
    let effects = press(&mut state, &[key(KeyCode::Enter)]);
    let [Effect::Apply {
        request: applied,
        selection,
    }] = &effects[..]
    else {
        panic!("{effects:?}")
    };
    assert_eq!(*applied, request);
    assert_eq!(selection.by_hand.get("public.orders_id_seq"), Some(&false));
    assert_eq!(selection.exclude, vec!["public.legacy_*".to_string()]);
    match state.dialog {
        Dialog::Applying { total, .. } => assert_eq!(total, 1),
        ref other => panic!("{other:?}"),
    }
}

/// The list of `instances`, each observed as its config declares it.
fn observed_as_declared(instances: Vec<Instance>) -> State {
    let mut state = State::new(instances.clone(), None, String::new());
    for (index, inst) in instances.iter().enumerate() {
        update(
            &mut state,
            Msg::Worker(Response::Observed {
                index,
                observed: Observed::declared(inst),
            }),
        );
    }
    state
}

/// The STATUS and PHASE columns are as wide as their longest word on screen.
#[test]
fn long_status_and_phase_words_are_never_cut() {
    let instances = vec![
        instance(
            "orders",
            TaskKind::Migration,
            Status::NotStarted,
            Phase::SchemaMigration,
        ),
        instance(
            "audit",
            TaskKind::Migration,
            Status::Running,
            Phase::Incremental,
        ),
    ];
    let mut state = observed_as_declared(instances);
    press(&mut state, &[key(KeyCode::Tab)]);
    for width in [80, 100] {
        let screen = render(&state, width, 24);
        assert!(
            screen.contains("not-started") && screen.contains("schema-migration"),
            "{width} columns:\n{screen}"
        );
    }
}

/// A long instance name is cut with an ellipsis; a long id is never cut (the pair column gives
/// way first), at 80 and 100 columns.
#[test]
fn long_names_end_in_an_ellipsis_and_ids_are_never_cut() {
    let mut long_name = instance(
        "billing",
        TaskKind::Synchronization,
        Status::Paused,
        Phase::Incremental,
    );
    long_name.name = "billing (paused for the quarter-end freeze, resume after sign-off)".into();
    let long_id = instance(
        "dtsj-archive-eu-central-1-nightly-full-copy-0042",
        TaskKind::Synchronization,
        Status::Running,
        Phase::FullData,
    );
    for (instances, long) in [(vec![long_name], "name"), (vec![long_id], "id")] {
        let state = observed_as_declared(instances);
        for width in [80, 100] {
            let screen = render(&state, width, 24);
            let line = screen.lines().find(|l| l.starts_with("> ")).unwrap();
            if long == "id" {
                assert!(
                    line.contains("> dtsj-archive-eu-central-1-nightly-full-copy-0042 "),
                    "{width} columns:\n{screen}"
                );
                assert!(
                    line.contains("running") && line.contains("full-data"),
                    "{line}"
                );
            } else {
                assert!(
                    line.contains("billing (paused") && line.contains('…'),
                    "{width} columns:\n{screen}"
                );
                assert!(
                    line.contains("paused") && line.contains("incremental"),
                    "{line}"
                );
            }
        }
    }
}

/// Basic Information at 80×24 and 120×40 with a 60-character host, a 63-byte database and an
/// unreachable instance's long reason: the database and the id are there whole, a cut host
/// ends in its domain with `…` in the middle, and the actions stay on screen.
#[test]
fn basic_information_never_cuts_what_will_be_changed() {
    let host = "db-primary-0042-replica-a.orders.eu-central-1.rds.example.io";
    assert_eq!(host.len(), 60);
    let database = format!("orders_{}", "x".repeat(56));
    assert_eq!(database.len(), 63);
    let mut far = instance(
        "dtsj-far-away",
        TaskKind::Synchronization,
        Status::Unknown,
        Phase::Unknown,
    );
    far.destination = endpoint(
        Engine::PolardbPg,
        &format!("postgresql://dba:s3cret@{host}:5432/{database}"),
    );
    let state = observed_as_declared(vec![far.clone()]);
    let mut state = state;
    let note = format!(
        "cannot connect to postgresql://dba:****@{host}:5432/{database}: no answer within 5s — \
         is host \"{host}\", port 5432 reachable from here (a firewall or security group), and \
         is the server up and not overloaded?"
    );
    update(
        &mut state,
        Msg::Worker(Response::Observed {
            index: 0,
            observed: Observed {
                note,
                ..Observed::declared(&far)
            },
        }),
    );
    press(&mut state, &[key(KeyCode::Enter)]);
    for (w, h) in [(80, 24), (120, 40)] {
        let screen = render(&state, w, h);
        // The Destination value, its wrapped lines joined: the database is all there.
        let value: String = screen
            .lines()
            .skip_while(|l| !l.contains("Destination"))
            .take_while(|l| !l.contains("Status"))
            .map(|l| {
                let inner = l.rsplit("││").next().unwrap_or(l).trim_end_matches('│');
                inner.get(13..).unwrap_or("").trim_end().to_string()
            })
            .collect();
        assert!(value.contains(&database), "{w}×{h}: {value}\n{screen}");
        assert!(
            value.contains(&format!("{host}:5432")) || value.contains('…'),
            "{value}"
        );
        assert!(
            screen.contains("dtsj-far-away") || screen.contains("far-away cutover"),
            "{screen}"
        );
        assert!(
            screen.contains("[ Synchronize Sequence ]  [ Keep Sequences Ahead ]")
                && screen.contains("unavailable: see ✗ below"),
            "the actions stay on screen at {w}×{h}:\n{screen}"
        );
        assert!(!screen.contains("s3cret"));
        // Said once: at 120×40 it is on screen whole; at 80×24 what does not fit is below.
        let said = screen.matches("no answer within 5s").count();
        assert!(said <= 1 && (said == 1 || w == 80), "{said}×:\n{screen}");
    }
    // At 80×24 the rest is one PgDn away, and the panel's edges say where there is more.
    let top = render(&state, 80, 24);
    assert!(top.contains("↓ more below: PgDn"), "{top}");
    assert!(!top.contains("not overloaded?"), "{top}");
    for _ in 0..10 {
        press(&mut state, &[key(KeyCode::PageDown)]);
    }
    let bottom = render(&state, 80, 24);
    assert!(
        bottom.contains("not overloaded?"),
        "the end of the reason: {bottom}"
    );
    assert!(
        bottom.contains("↑ more above: PgUp goes to the top"),
        "{bottom}"
    );
    assert!(!bottom.contains("more below"), "{bottom}");
    press(&mut state, &[key(KeyCode::PageUp)]);
    assert_eq!(
        render(&state, 80, 24),
        top,
        "one PgUp, however far PgDn went"
    );
}

/// A plan with nothing to change says what Enter does in one place (box and footer agree:
/// it records), and an `ahead` row's story says the TUI never lowers and the CLI can.
#[test]
fn nothing_to_change_and_ahead_rows_say_what_happens_next() {
    let mut state = scene();
    let request = plan_orders(&mut state);
    let mut ahead = rows().remove(0);
    ahead.status = RowStatus::Ahead;
    ahead.message =
        "the destination is already past the target; lowering it could re-issue ids".into();
    let mut unchanged = rows().remove(1);
    unchanged.status = RowStatus::Unchanged;
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request,
            notices: vec![],
            result: Ok(Choice::new(vec![ahead, unchanged], Default::default())),
        }),
    );
    assert!(matches!(state.dialog, Dialog::Preview { .. }));
    for (w, h) in [(80, 24), (120, 40)] {
        let screen = render(&state, w, h);
        assert!(
            screen.contains("Nothing to change.  Enter/y: record that in the journal"),
            "{screen}"
        );
        let footer = screen.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
        assert!(
            footer.contains("Enter / y record") && !footer.contains("apply"),
            "{footer}"
        );
        let flat = screen
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(flat.contains("the TUI never lowers a sequence"), "{screen}");
    }
}

/// What a repair plans after cutover: rows set from the data, one left alone, one refused.
fn repair_rows() -> Vec<PlanRow> {
    let row = |name: &str, before, target, status, message: &str| PlanRow {
        schema: "public".into(),
        name: name.into(),
        source_value: None,
        destination_before: before,
        target,
        destination_after: None,
        status,
        message: message.into(),
        destination_oid: None,
        source_name: None,
        matched: Default::default(),
        source_key: None,
    };
    vec![
        row(
            "orders_id_seq",
            Some(1_001),
            Some(52_201),
            RowStatus::Update,
            "public.orders.id holds 51200; next value 52201 keeps 1000 id(s) free past it",
        ),
        row(
            "empty_id_seq",
            Some(1),
            None,
            RowStatus::Unchanged,
            "public.empty.id is empty: left alone",
        ),
        row(
            "tight_seq",
            Some(1),
            Some(1_901),
            RowStatus::OutOfRange,
            "public.tight.id holds 900; next value 1901 keeps 1000 id(s) free past it, outside the sequence's MINVALUE..MAXVALUE (integer) 1..1500: a smaller margin, or a wider type",
        ),
    ]
}

#[test]
fn repair_from_data_takes_a_validated_margin_on_a_failed_task_and_says_repaired() {
    let mut state = scene();
    let running = press(&mut state, &[key(KeyCode::Enter)]);
    assert!(
        !running
            .iter()
            .any(|e| matches!(e, Effect::CheckData { .. })),
        "a running task's data is not read: {running:?}"
    );
    press(&mut state, &[key(KeyCode::Esc)]);
    let effects = press(&mut state, &[key(KeyCode::Tab), key(KeyCode::Enter)]);
    // A failed task: whether its destination needs a repair is read as the screen opens.
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::CheckData { index: 4, .. })),
        "{effects:?}"
    );
    update(
        &mut state,
        Msg::Worker(Response::DataChecked {
            index: 4,
            result: Ok(2),
        }),
    );
    assert!(render(&state, 80, 24).contains("✗ 2 sequence(s) behind their data; r repairs"));
    let row = state.current().expect("the failed migration is open");
    assert_eq!(row.instance.id, "hr");
    assert!(row.refusal().is_some(), "Synchronize Sequence is refused");
    assert!(render(&state, 80, 24).contains("[ Repair from Data (r) ]"));
    assert!(
        press(&mut state, &[chr('r')]).is_empty(),
        "nothing is read yet"
    );
    snap("repair_margin", &state);

    // Validated as typed; a bad margin is never sent.
    let mut keys = vec![key(KeyCode::Backspace); 4];
    keys.extend([chr('-'), chr('5')]);
    press(&mut state, &keys);
    assert!(render(&state, 80, 24).contains("must not be negative"));
    assert!(press(&mut state, &[key(KeyCode::Enter)]).is_empty());
    let mut keys = vec![key(KeyCode::Backspace); 2];
    keys.extend("2_000".chars().map(chr));
    press(&mut state, &keys);
    assert!(render(&state, 80, 24).contains("✓ a valid margin"));
    let effects = press(&mut state, &[key(KeyCode::Enter)]);
    let request = match effects.as_slice() {
        [Effect::Repair {
            request,
            instance,
            margin: 2_000,
            offset,
        }] => {
            assert_eq!(instance.id, "hr");
            assert_eq!(offset.get(), 10_000, "the config's offset for the source");
            *request
        }
        other => panic!("one repair request: {other:?}"),
    };
    assert!(render(&state, 80, 24).contains("margin 2000; nothing is changed yet"));

    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request,
            result: Ok(Choice::new(repair_rows(), Default::default())),
            notices: vec![],
        }),
    );
    snap("repair_preview", &state);
    assert!(render(&state, 80, 24).contains("Repair from Data — margin 2000"));
    let effects = press(&mut state, &[key(KeyCode::Enter)]);
    assert!(matches!(effects.as_slice(), [Effect::Apply { request: r, .. }] if *r == request));
    update(
        &mut state,
        Msg::Worker(Response::Applied {
            request,
            run_id: "r-repair".into(),
            outcome: "applied".into(),
            error: None,
            rows: applied(&repair_rows()),
        }),
    );
    assert_eq!(state.screen, Screen::Results);
    let screen = render(&state, 80, 24);
    assert!(
        screen.contains("Repaired · run r-repair"),
        "the results say what ran: {screen}"
    );
    // A sync afterwards is a sync again.
    assert!(state.repair_request.is_none());
}

/// PostgreSQL's longest names (63 bytes, schema and sequence) on the preview, the results and
/// Keep Sequences Ahead: rows stay one line each inside the frame, cut with `…`, and the
/// selected row's detail says the whole name.
#[test]
fn names_of_63_bytes_keep_every_screen_whole_and_the_selected_name_readable() {
    let schema = format!("s{}", "c".repeat(62));
    let name = |i: usize| format!("n{i}{}", "q".repeat(61));
    assert_eq!((schema.len(), name(1).len()), (63, 63));
    let long = |(i, mut r): (usize, PlanRow)| {
        r.schema = schema.as_str().into();
        r.name = name(i).into();
        r
    };
    let whole = |state: &State, what: &str| {
        for (w, h) in [(80, 24), (120, 40)] {
            let frame = render(state, w, h);
            for line in frame.lines().filter(|l| l.starts_with('│')) {
                assert_eq!(line.chars().count(), w as usize, "{what} {w}×{h}: {line}");
            }
            let folded: String = frame.split_whitespace().collect::<Vec<_>>().join("");
            let folded = folded.replace('│', "");
            assert!(
                folded.contains(&format!("{schema}.{}", name(0))),
                "{what} {w}×{h}: the selected row's name is readable whole:\n{frame}"
            );
            assert!(
                folded.contains("matchedbyschemaandname"),
                "{what} {w}×{h}: and its story, to the end:\n{frame}"
            );
        }
    };
    let mut state = scene();
    let request = plan_orders(&mut state);
    let planned: Vec<PlanRow> = rows().into_iter().enumerate().map(long).collect();
    update(
        &mut state,
        Msg::Worker(Response::Planned {
            request,
            notices: vec![],
            result: Ok(Choice::new(planned.clone(), Default::default())),
        }),
    );
    whole(&state, "preview");
    snap("preview_long_names", &state);
    press(&mut state, &[key(KeyCode::Enter)]);
    update(
        &mut state,
        Msg::Worker(Response::Applied {
            request,
            run_id: "20261128T030000000Z-9".into(),
            outcome: "applied".into(),
            error: None,
            rows: applied(&planned),
        }),
    );
    whole(&state, "results");
    snap("results_long_names", &state);

    let mut round = watch_round(2, 1);
    for (i, watched) in round.sequences.iter_mut().enumerate() {
        watched.row = long((i, watched.row.clone()));
        if let Some(h) = watched.headroom.as_mut() {
            h.schema = schema.as_str().into();
            h.name = name(i).into();
        }
    }
    let mut watching = task_scene();
    let mut view = seqsync::app::state::WatchView::new(
        7,
        0,
        offset(10_000),
        std::time::Duration::from_secs(5),
    );
    view.last = Some(round);
    watching.watch = Some(view);
    watching.screen = Screen::Watch;
    for (w, h) in [(80, 24), (120, 40)] {
        let frame = render(&watching, w, h);
        for line in frame.lines() {
            assert!(line.chars().count() <= w as usize, "watch {w}×{h}: {line}");
        }
        assert!(frame.contains('…'), "long names are cut with …:\n{frame}");
    }
    snap("watch_long_names", &watching);
}
