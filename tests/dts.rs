//! DTS as an instance source, against a local endpoint that judges every request with the
//! official Alibaba Cloud Python SDK (tests/dts/fake_dts.py: its V3 signer recomputes each
//! signature, its response models parse each answer), and `sync --instance <DtsJobId>` against
//! real PostgreSQL clusters at the job's endpoints.

mod common;
use common::dts::{python, script, FakeDts, KEYS, KEY_ID, SECRET};
use common::tmux::Tmux;
use common::Pair;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn endpoint(engine: &str, url: &str) -> Value {
    // postgresql://user:password@host:port/db → the job's Ip, Port and DatabaseName.
    let url = url.trim_start_matches("postgresql://");
    let rest = url.split_once('@').map_or(url, |(_, r)| r);
    let (host_port, db) = rest.split_once('/').unwrap();
    let (host, port) = host_port.split_once(':').unwrap();
    json!({ "EngineName": engine, "Ip": host, "Port": port, "DatabaseName": db,
            "Region": "cn-hangzhou", "InstanceType": "OTHER" })
}

fn job(id: &str, status: &str, incremental_step: &str) -> Value {
    json!({
        "DtsJobId": id,
        "DtsInstanceID": format!("{id}-instance"),
        "DtsJobName": format!("{id} name"),
        "Status": status,
        "MigrationMode": { "StructureInitialization": true, "DataInitialization": true, "DataSynchronization": true },
        "DataSynchronizationStatus": { "Status": incremental_step, "Percent": "0", "Progress": "0" },
        "SourceEndpoint": endpoint("POSTGRESQL", "postgresql://h:5432/src"),
        "DestinationEndpoint": endpoint("PolarDB_PG", "postgresql://h:5432/dst"),
    })
}

fn seqsync(
    pair: &Pair,
    config: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = pair.command(&[&["--config", config.to_str().unwrap()], args].concat());
    cmd.env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
        .env_remove("ALIBABA_CLOUD_PROFILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `instances --format json`: the instances, and stderr. Exit 0 exactly when nothing went
/// unanswered, else 3 with each place in `unanswered` (checked against stderr's lines).
fn listed(pair: &Pair, config: &Path, env: &[(&str, &str)]) -> (Vec<Value>, String) {
    let out = seqsync(pair, config, &["instances", "--format", "json"], env);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let unanswered = json["unanswered"].as_array().unwrap();
    let expected = if unanswered.is_empty() { 0 } else { 3 };
    assert_eq!(out.status.code(), Some(expected), "{stderr}");
    for u in unanswered {
        assert!(
            stderr.contains(u["error"].as_str().unwrap()),
            "{u} {stderr}"
        );
    }
    (json["instances"].as_array().unwrap().clone(), stderr)
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {list:#?}"))
}

fn mapping_scenario() -> Value {
    let mut sync = vec![
        job("dtsj-running", "Synchronizing", "Catched"),
        job("dtsj-paused", "Suspending", "Migrating"),
        {
            let mut j = job("dtsj-full", "Initializing", "NotStarted");
            j["DataInitializationStatus"] = json!({ "Status": "Migrating" });
            j
        },
        {
            let mut j = job("dtsj-schema", "Initializing", "NotStarted");
            j["StructureInitializationStatus"] = json!({ "Status": "Migrating" });
            j
        },
        job("dtsj-failed", "Failed", "Failed"),
        job("dtsj-finished", "Finished", "Finished"),
        job("dtsj-weird", "Locked", "Catched"),
    ];
    let mut two_way = job("dtsj-twoway", "Synchronizing", "Catched");
    two_way["ReverseJob"] = json!({ "DtsJobId": "dtsj-twoway-reverse", "Status": "Synchronizing" });
    sync.push(two_way);
    let mut mysql = job("dtsj-mysql", "Synchronizing", "Catched");
    mysql["SourceEndpoint"]["EngineName"] = json!("MySQL");
    sync.push(mysql);
    let mut rds = job("dtsj-rds", "Synchronizing", "Catched");
    rds["DestinationEndpoint"] =
        json!({ "EngineName": "PostgreSQL", "InstanceID": "pgm-123", "InstanceType": "RDS" });
    sync.push(rds);
    // Enough jobs for two pages of 30.
    let words = [
        "Synchronizing",
        "Suspending",
        "NotStarted",
        "PreCheckPass",
        "PrecheckFailed",
    ];
    for n in sync.len()..35 {
        sync.push(job(
            &format!("dtsj-{n:02}"),
            words[n % words.len()],
            "Catched",
        ));
    }
    let mut no_incremental = job("dtsm-noinc", "Migrating", "NotStarted");
    no_incremental["MigrationMode"]["DataSynchronization"] = json!(false);
    json!({ "jobs": {
        "cn-hangzhou": { "SYNC": sync },
        "ap-southeast-1": { "MIGRATION": [job("dtsm-inc", "Migrating", "Migrating"), no_incremental] }
    }})
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_of_every_region_and_page_map_as_the_readme_says() {
    let pair = Pair::new("dts_mapping").await;
    let fake = FakeDts::start(&pair.dir, mapping_scenario());
    let config = pair.write_config(&fake.config(""));
    let (list, stderr) = listed(&pair, &config, &KEYS);
    assert_eq!(
        list.len(),
        37,
        "35 sync jobs over two pages and 2 migrations: {stderr}"
    );
    let expect = |id: &str, status: &str, phase: &str, allowed: bool| {
        let i = find(&list, id);
        assert_eq!(
            (
                i["status"].as_str(),
                i["phase"].as_str(),
                i["synchronize_sequence"].as_bool()
            ),
            (Some(status), Some(phase), Some(allowed)),
            "{i:#}"
        );
        i.clone()
    };
    let running = expect("dtsj-running", "running", "incremental", true);
    assert_eq!(running["name"], "dtsj-running name");
    assert_eq!(running["region"], "cn-hangzhou");
    assert_eq!(running["kind"], "synchronization");
    assert_eq!(running["source"]["engine"], "postgresql");
    assert_eq!(running["destination"]["engine"], "polardb-pg");
    expect("dtsj-paused", "paused", "incremental", true);
    expect("dtsj-full", "not-started", "full-data", false);
    expect("dtsj-schema", "not-started", "schema-migration", false);
    expect("dtsj-failed", "failed", "unknown", false);
    expect("dtsj-finished", "finished", "unknown", false);
    let weird = expect("dtsj-weird", "unknown", "incremental", false);
    assert!(
        weird["note"].as_str().unwrap().contains("status Locked"),
        "{weird:#}"
    );
    let two_way = expect("dtsj-twoway", "running", "incremental", false);
    assert_eq!(two_way["topology"], "two-way");
    assert!(
        two_way["reason"].as_str().unwrap().contains("two-way"),
        "{two_way:#}"
    );
    let mysql = expect("dtsj-mysql", "running", "incremental", false);
    assert_eq!(mysql["source"]["engine"], "MySQL");
    assert!(
        mysql["reason"]
            .as_str()
            .unwrap()
            .contains("unsupported pair MySQL → polardb-pg"),
        "{mysql:#}"
    );
    let rds = expect("dtsj-rds", "running", "incremental", false);
    assert!(
        rds["reason"]
            .as_str()
            .unwrap()
            .contains("(a RDS instance, pgm-123)"),
        "{rds:#}"
    );
    let migration = expect("dtsm-inc", "running", "incremental", true);
    assert_eq!(
        (migration["kind"].as_str(), migration["region"].as_str()),
        (Some("migration"), Some("ap-southeast-1"))
    );
    let no_inc = expect("dtsm-noinc", "running", "unknown", false);
    assert!(
        no_inc["reason"]
            .as_str()
            .unwrap()
            .contains("no incremental step"),
        "{no_inc:#}"
    );

    let pages: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r["query"]["RegionId"] == "cn-hangzhou" && r["query"]["JobType"] == "SYNC")
        .map(|r| r["query"]["PageNumber"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(pages, ["1", "2"], "every page is followed, no more");

    // The plan of a refused job says why, with the exit code of a refusal.
    let out = seqsync(
        &pair,
        &config,
        &["plan", "--instance", "dtsj-full", "--offset", "10"],
        &KEYS,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("full-data phase"), "{stderr}");

    // A completing entry whose id matches no job is said, not silently unused; one that
    // matches is not.
    let typo = pair.write_config(&fake.config(
        "\n[[instances]]\nid = \"dtsj-runing\"\nsource = { user = \"reader\" }\n\
         \n[[instances]]\nid = \"dtsj-running\"\nsource = { user = \"reader\" }\n",
    ));
    let (list, stderr) = listed(&pair, &typo, &KEYS);
    assert_eq!(list.len(), 37);
    assert!(
        stderr.contains("config entry 'dtsj-runing' completes no DTS job")
            && !stderr.contains("'dtsj-running'"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_or_missing_key_is_one_line_per_region_and_never_shown() {
    let pair = Pair::new("dts_keys").await;
    let fake = FakeDts::start(&pair.dir, mapping_scenario());
    let config = pair.write_config(&fake.config(""));
    let wrong = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-secret-4711"),
    ];
    let (list, stderr) = listed(&pair, &config, &wrong);
    assert!(list.is_empty(), "{list:#?}");
    assert_eq!(
        stderr.matches("SignatureDoesNotMatch").count(),
        4,
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-secret-4711"), "{stderr}");
    assert!(stderr.contains("DTS cn-hangzhou (synchronization): SignatureDoesNotMatch: Specified signature is not matched"), "{stderr}");

    let unknown = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIunknown"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
    ];
    let (_, stderr) = listed(&pair, &config, &unknown);
    assert!(stderr.contains("InvalidAccessKeyId.NotFound"), "{stderr}");

    let (_, stderr) = listed(&pair, &config, &[]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID"),
        "{stderr}"
    );
    let log = std::fs::read_to_string(pair.log_file()).unwrap_or_default();
    assert!(
        !log.contains(SECRET) && !log.contains("not-the-secret"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_retried_and_a_silent_endpoint_does_not_hold_the_list() {
    let pair = Pair::new("dts_throttle").await;
    let mut scenario = mapping_scenario();
    scenario["throttle_first"] = json!(3);
    let fake = FakeDts::start(&pair.dir, scenario.clone());
    let config = pair.write_config(&fake.config(""));
    let (list, stderr) = listed(&pair, &config, &KEYS);
    assert_eq!(list.len(), 37, "{stderr}");
    assert!(!stderr.contains("Throttling"), "{stderr}");
    assert!(
        fake.requests().len() >= 3 + 5,
        "the throttled requests were made again"
    );

    scenario["silent"] = json!(true);
    fake.set(scenario);
    let started = Instant::now();
    let (list, stderr) = listed(&pair, &config, &KEYS);
    let took = started.elapsed();
    assert!(list.is_empty());
    assert!(
        took < Duration::from_secs(5),
        "connect timeout 2s + 1s, took {took:?}"
    );
    assert!(stderr.contains("no answer within 3s"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sts_token_and_a_cli_profile_are_used_as_the_sdks_use_them() {
    let pair = Pair::new("dts_creds").await;
    let mut scenario = mapping_scenario();
    scenario["keys"] = json!({ "STS.fakeid": "sts-secret", "LTAIprofile": "profile-secret" });
    scenario["tokens"] = json!({ "STS.fakeid": "the-token" });
    let fake = FakeDts::start(&pair.dir, scenario);
    let config = pair.write_config(&fake.config(""));
    let sts = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.fakeid"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sts-secret"),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "the-token"),
    ];
    let (list, stderr) = listed(&pair, &config, &sts);
    assert_eq!(list.len(), 37, "{stderr}");
    let (list, stderr) = listed(&pair, &config, &sts[..2]);
    assert!(
        list.is_empty() && stderr.contains("InvalidSecurityToken"),
        "{stderr}"
    );

    std::fs::create_dir_all(pair.dir.join(".aliyun")).unwrap();
    std::fs::write(
        pair.dir.join(".aliyun/config.json"),
        json!({ "current": "work", "profiles": [
            { "name": "work", "mode": "AK", "access_key_id": "LTAIprofile", "access_key_secret": "profile-secret" },
            { "name": "sts", "mode": "StsToken", "access_key_id": "STS.fakeid", "access_key_secret": "sts-secret", "sts_token": "the-token" }
        ]})
        .to_string(),
    )
    .unwrap();
    let (list, stderr) = listed(&pair, &config, &[]);
    assert_eq!(list.len(), 37, "the current profile: {stderr}");
    let named = pair.write_config(&fake.config("profile = \"sts\"\n"));
    let (list, stderr) = listed(&pair, &named, &[]);
    assert_eq!(list.len(), 37, "the named StsToken profile: {stderr}");
}

/// The endpoint's judge is itself checked: the official SDK as a client is accepted, and the
/// same SDK with a wrong secret is refused.
#[test]
fn the_judge_accepts_the_official_sdk_and_refuses_a_wrong_secret() {
    let dir = std::env::temp_dir().join(format!("seqsync-dts-judge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = FakeDts::start(&dir, mapping_scenario());
    let call = |secret: &str| -> Value {
        let out = Command::new(python())
            .arg(script())
            .args([
                "sdk-call",
                &format!("127.0.0.1:{}", fake.port),
                KEY_ID,
                secret,
                "cn-hangzhou",
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let ids = call(SECRET);
    assert_eq!(ids.as_array().map(Vec::len), Some(30), "{ids}");
    assert_eq!(call("wrong")["code"], "SignatureDoesNotMatch");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_instance_dts_job_applies_or_refuses_as_the_job_says() {
    let pair = Pair::new("dts_sync").await;
    pair.both("CREATE SEQUENCE orders_id_seq;").await;
    pair.source()
        .await
        .batch_execute("SELECT setval('orders_id_seq', 500)")
        .await
        .unwrap();
    let live = |status: &str| {
        let mut j = job("dtsj-live", status, "Catched");
        j["SourceEndpoint"] = endpoint("PostgreSQL", &pair.source_url);
        j["DestinationEndpoint"] = endpoint("PostgreSQL", &pair.destination_url);
        json!({ "jobs": { "cn-hangzhou": { "SYNC": [j] } } })
    };
    let fake = FakeDts::start(&pair.dir, live("Synchronizing"));
    // DTS returns no password: the config's entry with the job's id completes it.
    let config = pair.write_config(&fake.config(
        "\n[[instances]]\nid = \"dtsj-live\"\n\
         source      = { user = \"postgres\", password_env = \"SEQSYNC_TEST_PASSWORD\" }\n\
         destination = { user = \"postgres\", password_env = \"SEQSYNC_TEST_PASSWORD\" }\n",
    ));
    let sync = |offset: &str| {
        seqsync(
            &pair,
            &config,
            &[
                "sync",
                "--instance",
                "dtsj-live",
                "--offset",
                offset,
                "--yes",
            ],
            &KEYS,
        )
    };
    let out = sync("100");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let states = pair.destination_states().await;
    assert_eq!(
        states,
        vec![("public.orders_id_seq".to_string(), 599, true)],
        "500 + 100 is next"
    );

    fake.set(live("Suspending"));
    assert_eq!(sync("200").status.code(), Some(0), "paused is allowed");

    fake.set(live("Failed"));
    let out = sync("300");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the task is failed"), "{stderr}");
    assert_eq!(
        pair.destination_states().await,
        vec![("public.orders_id_seq".to_string(), 699, true)],
        "a refused sync changes nothing"
    );
    let details = fake
        .requests()
        .iter()
        .filter(|r| r["action"] == "DescribeDtsJobDetail")
        .count();
    assert!(details >= 3, "each sync asked DTS for the job's state now");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tui_lists_dts_jobs_and_says_when_dts_refuses() {
    let pair = Pair::new("dts_tui").await;
    let fake = FakeDts::start(&pair.dir, mapping_scenario());
    let config = pair.write_config(&fake.config(""));
    let keys =
        format!("ALIBABA_CLOUD_ACCESS_KEY_ID={KEY_ID} ALIBABA_CLOUD_ACCESS_KEY_SECRET='{SECRET}'");
    let tui = Tmux::start(
        "dts-tui",
        &pair.tui_command(&config, &keys, "sleep 30"),
        100,
        30,
    );
    let screen = tui.wait_for("dtsj-running name", 15);
    let line = screen.lines().find(|l| l.contains("dtsj-running")).unwrap();
    assert!(
        line.contains("running") && line.contains("incremental"),
        "{screen}"
    );
    assert!(
        screen.contains("MySQL → polardb-pg"),
        "DTS's own engine word: {screen}"
    );
    tui.keys(&["q"]);

    let wrong =
        format!("ALIBABA_CLOUD_ACCESS_KEY_ID={KEY_ID} ALIBABA_CLOUD_ACCESS_KEY_SECRET=wrong");
    let tui = Tmux::start(
        "dts-tui-rejected",
        &pair.tui_command(&config, &wrong, "sleep 30"),
        100,
        30,
    );
    let screen = tui.wait_for("SignatureDoesNotMatch", 15);
    assert!(
        !screen.contains("wrong"),
        "the secret is not shown: {screen}"
    );
    tui.keys(&["q"]);
}
