use super::*;
use proptest::prelude::{prop_oneof, Just, Strategy};

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seqsync-config-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seqsync.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Pieces a config file is made of, good and bad, for the fuzzing below.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"5s\"".to_string()),
        Just("\"0s\"".to_string()),
        Just("\"\"".to_string()),
        Just("-1".to_string()),
        Just("10000".to_string()),
        Just("99999999999999999999".to_string()),
        Just("\"postgresql://u:p@h/db\"".to_string()),
        Just("\"oracle\"".to_string()),
        Just("\"postgresql\"".to_string()),
        Just("[\"schema\", \"full-data\"]".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("true".to_string()),
        "\"[^\"\\\\\n]{0,12}\"",
        "-?[0-9]{1,22}",
    ]
}

fn setting(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    (proptest::sample::select(keys), value()).prop_map(|(k, v)| format!("{k} = {v}"))
}

/// A file shaped like a config (a [defaults] table, then instances), with each value drawn
/// from good and bad ones, and now and then a line of noise.
fn config_text() -> impl Strategy<Value = String> {
    let defaults = proptest::collection::vec(
        setting(&[
            "offset",
            "lock_timeout",
            "statement_timeout",
            "connect_timeout",
            "journal",
        ]),
        0..5,
    );
    let good_instance = Just(
        "id = \"x\"\nsource.engine = \"postgresql\"\nsource.url = \"postgresql://h/db\"\n\
         destination.engine = \"postgresql\"\ndestination.url = \"postgresql://h2/db\""
            .to_string(),
    );
    let instance = (
        proptest::option::of(good_instance),
        proptest::collection::vec(
            setting(&[
                "id",
                "name",
                "kind",
                "status",
                "phase",
                "topology",
                "steps",
                "subscription",
                "region",
                "source.engine",
                "source.url",
                "source.password_env",
                "destination.engine",
                "destination.url",
                "destination.name_case",
                "source.owners",
                "source.name_case",
            ]),
            0..4,
        ),
    )
        .prop_map(|(good, extra)| {
            let mut lines = vec!["[[instances]]".to_string()];
            lines.extend(good);
            lines.extend(extra);
            lines.join("\n")
        });
    (
        defaults,
        proptest::collection::vec(instance, 0..3),
        proptest::option::weighted(0.1, "[^\n]{0,30}"),
    )
        .prop_map(|(defaults, instances, noise)| {
            let mut text = format!("[defaults]\n{}\n", defaults.join("\n"));
            for i in instances {
                text.push_str(&i);
                text.push('\n');
            }
            text.extend(noise);
            text
        })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

    /// Whatever a config file holds, loading it never panics; what loads is valid, and what
    /// does not says which file.
    #[test]
    fn any_config_file_loads_valid_settings_or_names_the_file(
        text in config_text()
    ) {
        let path = write("fuzz", &text);
        match load_with_env(Some(&path), HashMap::new()) {
            Ok(s) => {
                proptest::prop_assert!(s.offset.is_none_or(|o| o.get() >= 0));
                proptest::prop_assert!(!s.timeouts.connect.is_zero());
                proptest::prop_assert!(!s.timeouts.statement.is_zero());
                proptest::prop_assert!(!s.timeouts.lock.is_zero());
                let mut ids = HashSet::new();
                for i in &s.instances {
                    proptest::prop_assert!(!i.id.trim().is_empty());
                    proptest::prop_assert!(ids.insert(i.id.clone()));
                    proptest::prop_assert!(check_pair(i.source.engine, i.destination.engine).is_ok());
                    proptest::prop_assert!(!i.destination.url.trim().is_empty());
                }
            }
            Err(e) => {
                let prefix = format!("config error in {}", path.display());
                proptest::prop_assert!(e.starts_with(&prefix), "{}", e);
            }
        }
    }
}

const GOOD: &str = r#"
[defaults]
offset = 10000
lock_timeout = "2s"

[[instances]]
id = "dts-orders"
name = "orders cutover"
source      = { engine = "postgresql", url = "postgresql://dba@src/orders", password_env = "SRC_PW" }
destination = { engine = "polardb-pg", url = "postgresql://dba@dst/orders" }
"#;

#[test]
fn reads_instances_and_defaults() {
    let s = load(Some(&write("good", GOOD))).unwrap();
    assert_eq!(s.offset.map(Offset::get), Some(10_000));
    assert_eq!(s.timeouts.lock, Duration::from_secs(2));
    assert_eq!(s.timeouts.statement, Duration::from_secs(30));
    let i = s.instance("dts-orders").unwrap();
    assert_eq!(i.destination.engine, Engine::PolardbPg);
    assert_eq!(i.source.password_env.as_deref(), Some("SRC_PW"));
    assert!(s
        .instance("nope")
        .unwrap_err()
        .contains("known instances: dts-orders"));
}

#[test]
fn instance_words_are_validated_and_defaulted() {
    let s = load(Some(&write("words", GOOD))).unwrap();
    let i = s.instance("dts-orders").unwrap();
    assert_eq!(i.kind, TaskKind::Synchronization);
    assert_eq!(i.topology, Topology::OneWay);
    assert_eq!(
        i.steps,
        vec![Step::Schema, Step::FullData, Step::Incremental]
    );
    assert_eq!(i.declared_status, None);
    let declared = GOOD.replace(
        "name = \"orders cutover\"",
        "kind = \"migration\"\nstatus = \"Paused\"\nphase = \"incremental\"\nsteps = [\"schema\", \"full\"]",
    );
    let s = load(Some(&write("declared", &declared))).unwrap();
    let i = s.instance("dts-orders").unwrap();
    assert_eq!(
        (i.kind, i.declared_status, i.declared_phase),
        (
            TaskKind::Migration,
            Some(Status::Paused),
            Some(Phase::Incremental)
        )
    );
    assert_eq!(i.steps, vec![Step::Schema, Step::FullData]);
    for (key, bad) in [
        ("status", "stopped"),
        ("phase", "cdc"),
        ("topology", "three-way"),
        ("kind", "copy"),
    ] {
        let text = GOOD.replace("name = \"orders cutover\"", &format!("{key} = \"{bad}\""));
        let e = load(Some(&write(key, &text))).unwrap_err();
        assert!(
            e.contains(&format!("'dts-orders': {key}: '{bad}' is not one of")),
            "{e}"
        );
    }
}

#[test]
fn the_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/seqsync.example.toml");
    let s = load(Some(&example)).unwrap();
    assert!(!s.instances.is_empty());
}

#[test]
fn environment_overrides_file_values() {
    let path = write("env", GOOD);
    let env = HashMap::from([
        (
            "SEQSYNC_DEFAULTS__STATEMENT_TIMEOUT".to_string(),
            "7s".to_string(),
        ),
        (
            "SEQSYNC_DEFAULTS__LOCK_TIMEOUT".to_string(),
            "250ms".to_string(),
        ),
    ]);
    let s = load_with_env(Some(&path), env).unwrap();
    assert_eq!(s.timeouts.statement, Duration::from_secs(7));
    assert_eq!(
        s.timeouts.lock,
        Duration::from_millis(250),
        "env beats the file"
    );
}

#[test]
fn errors_name_the_file_the_instance_and_the_key() {
    let bad_engine = GOOD.replace("polardb-pg", "mysql");
    let e = load(Some(&write("engine", &bad_engine))).unwrap_err();
    assert!(
        e.contains("seqsync.toml")
            && e.contains("'dts-orders'")
            && e.contains("destination.engine"),
        "{e}"
    );
    let bad_pair = GOOD.replace(
        "\"postgresql\", url = \"postgresql://dba@src",
        "\"oracle\", url = \"postgresql://dba@src",
    );
    let e = load(Some(&write("pair", &bad_pair))).unwrap_err();
    assert!(e.contains("unsupported pair oracle → polardb-pg"), "{e}");
    let bad_duration = GOOD.replace("\"2s\"", "\"two seconds\"");
    let e = load(Some(&write("duration", &bad_duration))).unwrap_err();
    assert!(e.contains("lock_timeout"), "{e}");
    let duplicate = format!("{GOOD}{}", &GOOD[GOOD.find("[[instances]]").unwrap()..]);
    let e = load(Some(&write("dup", &duplicate))).unwrap_err();
    assert!(e.contains("unique"), "{e}");
    let unknown_key = GOOD.replace("name = \"orders cutover\"", "nmae = \"x\"");
    let e = load(Some(&write("unknown", &unknown_key))).unwrap_err();
    assert!(e.contains("nmae"), "{e}");
    let e = load(Some(Path::new("/nonexistent/seqsync.toml"))).unwrap_err();
    assert!(e.contains("does not exist"), "{e}");
    let bad_glob = GOOD.replace(
        "name = \"orders cutover\"",
        "name = \"orders cutover\"\nexclude = [\"public.[audit\"]",
    );
    let e = load(Some(&write("glob", &bad_glob))).unwrap_err();
    assert!(
        e.contains("'dts-orders'") && e.contains("exclude pattern 'public.[audit'"),
        "{e}"
    );
}

#[test]
fn an_instance_keeps_its_include_and_exclude_lists() {
    let chosen = GOOD.replace(
        "name = \"orders cutover\"",
        "name = \"orders cutover\"\ninclude = [\"public.*\"]\nexclude = [\"public.audit_*\", \"public.é?\"]",
    );
    let s = load(Some(&write("chosen", &chosen))).unwrap();
    let selection = &s.instance("dts-orders").unwrap().selection;
    assert_eq!(selection.include, vec!["public.*"]);
    assert_eq!(selection.exclude, vec!["public.audit_*", "public.é?"]);
}

#[test]
fn dts_entries_complete_jobs_and_are_refused_without_dts() {
    let partial =
        "[[instances]]\nid = \"dtsj1\"\nsource = { user = \"r\", password_env = \"P\" }\n\
                   destination = { sslmode = \"require\" }\n";
    let e = load(Some(&write("dts-none", partial))).unwrap_err();
    assert!(e.contains("source.engine is missing"), "{e}");

    let with_dts = format!("[dts]\nregions = [\"cn-hangzhou\"]\n{partial}{GOOD}");
    let s = load(Some(&write("dts-partial", &with_dts))).unwrap();
    let dts = s.dts.as_ref().unwrap();
    assert_eq!(dts.endpoint, "https://dts.aliyuncs.com");
    assert_eq!(
        s.instances.len(),
        1,
        "only the complete entry is an instance of its own"
    );
    let overlay = s.overlays.iter().find(|o| o.id == "dtsj1").unwrap();
    assert_eq!(overlay.source.user.as_deref(), Some("r"));
    assert_eq!(overlay.destination.sslmode.as_deref(), Some("require"));

    let e = load(Some(&write("dts-noregion", "[dts]\nregions = []\n"))).unwrap_err();
    assert!(e.contains("[dts] regions: name at least one region"), "{e}");
    let e = load(Some(&write(
        "dts-endpoint",
        "[dts]\nregions = [\"x\"]\nendpoint = \"dts.aliyuncs.com\"\n",
    )))
    .unwrap_err();
    assert!(
        e.contains("expected a URL such as https://dts.aliyuncs.com"),
        "{e}"
    );
}

#[test]
fn a_slot_is_read_on_a_postgresql_source_only() {
    let oracle = "[[instances]]\nid = \"o\"\nslot = \"s\"\n\
                  source = { engine = \"oracle\", url = \"//ora:1521/X\" }\n\
                  destination = { engine = \"polardb-oracle\", url = \"postgresql://d/x\" }\n";
    let e = load(Some(&write("slot-oracle", oracle))).unwrap_err();
    assert!(
        e.contains("slot: a replication slot is read on a PostgreSQL-protocol source"),
        "{e}"
    );
    let pg = GOOD.replace("name = \"orders cutover\"", "slot = \"cdc\"");
    let s = load(Some(&write("slot-pg", &pg))).unwrap();
    assert_eq!(s.instances[0].slot.as_deref(), Some("cdc"));
}
