//! Alibaba Cloud's credentials chain against local stand-ins for STS, the ECS metadata service
//! and a credentials URI (tests/dts/fake_dts.py, on loopback): each request judged with the
//! official Python SDK's own signer, each answer parsed by the SDK's own providers first, and
//! the temporary credentials issued then checked by the DTS stand-in on every DTS call (an
//! expired one refused, as the service refuses it).

mod common;
use common::dts::{FakeDts, KEY_ID, SECRET};
use common::Pair;
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const ROLE: &str = "acs:ram::1234:role/seqsync-dts";
const OIDC_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.oidc-token-from-the-kubelet";

fn job(id: &str) -> Value {
    json!({
        "DtsJobId": id, "DtsInstanceID": format!("{id}-i"), "DtsJobName": format!("{id} name"),
        "Status": "Synchronizing",
        "MigrationMode": { "StructureInitialization": true, "DataInitialization": true, "DataSynchronization": true },
        "DataSynchronizationStatus": { "Status": "Catched", "Percent": "0", "Progress": "0" },
        "SourceEndpoint": { "EngineName": "POSTGRESQL", "Ip": "127.0.0.1", "Port": "1", "DatabaseName": "s", "Region": "cn-hangzhou", "InstanceType": "OTHER" },
        "DestinationEndpoint": { "EngineName": "POSTGRESQL", "Ip": "127.0.0.1", "Port": "1", "DatabaseName": "d", "Region": "cn-hangzhou", "InstanceType": "OTHER" },
    })
}

fn scenario(extra: Value) -> Value {
    let mut scenario = json!({
        "jobs": { "cn-hangzhou": { "SYNC": [job("dtsj-cred")] } },
        "metadata": { "role": "jump-host-role", "imdsv2": true },
        "sts": { "oidc_token": OIDC_TOKEN },
    });
    for (k, v) in extra.as_object().unwrap() {
        scenario[k] = v.clone();
    }
    scenario
}

/// `seqsync instances --format json` with only `env` as credentials (HOME is the test's).
fn instances(
    pair: &Pair,
    config: &Path,
    env: &[(&str, &str)],
) -> (i32, Vec<Value>, String, Duration) {
    let mut cmd = pair.command(&[
        "--config",
        config.to_str().unwrap(),
        "instances",
        "--format",
        "json",
    ]);
    for var in [
        "ACCESS_KEY_ID",
        "ACCESS_KEY_SECRET",
        "SECURITY_TOKEN",
        "PROFILE",
        "ROLE_ARN",
        "OIDC_PROVIDER_ARN",
        "OIDC_TOKEN_FILE",
        "CREDENTIALS_URI",
        "ECS_METADATA",
        "ECS_METADATA_DISABLED",
        "CREDENTIALS_FILE",
        "IMDSV1_DISABLED",
    ] {
        cmd.env_remove(format!("ALIBABA_CLOUD_{var}"));
    }
    cmd.envs(env.iter().copied());
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{stderr}"));
    let list = json["instances"].as_array().cloned().unwrap_or_default();
    (out.status.code().unwrap_or(-1), list, stderr, took)
}

fn write(pair: &Pair, path: &str, text: &str) -> String {
    let path = pair.dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// What a case is, how its files are laid out, its environment, and the source it must name.
type Case<'a> = (
    &'a str,
    Box<dyn Fn() + 'a>,
    Vec<(&'a str, &'a str)>,
    &'a str,
);

#[tokio::test(flavor = "multi_thread")]
async fn every_source_of_the_chain_lists_jobs_and_is_named_never_its_secret() {
    let pair = Pair::new("dts_chain").await;
    let fake = FakeDts::start(&pair.dir, scenario(json!({ "keys": { KEY_ID: SECRET } })));
    let config = pair.write_config(&fake.config(""));
    let token_file = write(&pair, "oidc-token", OIDC_TOKEN);
    let uri = format!("http://127.0.0.1:{}/credentials", fake.port);
    let cli = |profile: Value| {
        write(&pair, ".aliyun/config.json", &json!({ "current": "this", "profiles": [
            profile,
            { "name": "base", "mode": "RamRoleArn", "access_key_id": KEY_ID, "access_key_secret": SECRET, "ram_role_arn": ROLE },
        ]}).to_string());
    };
    let cases: Vec<Case> = vec![
        (
            "the ECS instance's RAM role (IMDSv2)",
            Box::new(|| {}),
            vec![],
            "ECS instance RAM role",
        ),
        (
            "an OIDC role from the environment",
            Box::new(|| {}),
            vec![
                ("ALIBABA_CLOUD_ROLE_ARN", ROLE),
                (
                    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                    "acs:ram::1234:oidc-provider/ack",
                ),
                ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", &token_file),
            ],
            "OIDC role acs:ram::1234:role/seqsync-dts",
        ),
        (
            "CLI RamRoleArn",
            Box::new(|| {
                cli(json!({ "name": "this", "mode": "RamRoleArn",
            "access_key_id": KEY_ID, "access_key_secret": SECRET, "ram_role_arn": ROLE }))
            }),
            vec![],
            "aliyun CLI profile 'this' (RamRoleArn)",
        ),
        (
            "CLI ChainableRamRoleArn: a role assumed with a role's credentials",
            Box::new(|| {
                cli(json!({
            "name": "this", "mode": "ChainableRamRoleArn", "source_profile": "base", "ram_role_arn": ROLE }))
            }),
            vec![],
            "aliyun CLI profile 'this' (ChainableRamRoleArn)",
        ),
        (
            "CLI EcsRamRole",
            Box::new(|| {
                cli(json!({ "name": "this", "mode": "EcsRamRole",
            "ram_role_name": "jump-host-role" }))
            }),
            vec![],
            "aliyun CLI profile 'this' (EcsRamRole)",
        ),
        (
            "CLI OIDC",
            Box::new(|| {
                cli(
                    json!({ "name": "this", "mode": "OIDC", "ram_role_arn": ROLE,
            "oidc_provider_arn": "acs:ram::1234:oidc-provider/ack", "oidc_token_file": token_file }),
                )
            }),
            vec![],
            "aliyun CLI profile 'this' (OIDC)",
        ),
        (
            "the SDKs' credentials file",
            Box::new(|| {
                let _ = std::fs::remove_file(pair.dir.join(".aliyun/config.json"));
                write(&pair, ".alibabacloud/credentials.ini", &format!(
                "[default]\ntype = ram_role_arn\naccess_key_id = {KEY_ID}\naccess_key_secret = {SECRET}\nrole_arn = {ROLE}\n"));
            }),
            vec![],
            "[default] (ram_role_arn)",
        ),
        (
            "a credentials URI",
            Box::new(|| {
                let _ = std::fs::remove_file(pair.dir.join(".alibabacloud/credentials.ini"));
            }),
            vec![
                ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"),
                ("ALIBABA_CLOUD_CREDENTIALS_URI", &uri),
            ],
            "credentials URI",
        ),
    ];
    for (what, prepare, env, named) in cases {
        prepare();
        let (code, list, stderr, _) = instances(&pair, &config, &env);
        assert_eq!(code, 0, "{what}: {stderr}");
        assert_eq!(list.len(), 1, "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("DTS credentials from {named}")),
            "{what}: {stderr}"
        );
        assert!(
            !stderr.contains(SECRET) && !stderr.contains("issued-secret"),
            "{what}: {stderr}"
        );
    }
    let log = fake.requests();
    let token_first = log
        .iter()
        .position(|r| r["service"] == "/latest/api/token")
        .unwrap();
    let credentials = log
        .iter()
        .position(|r| r["service"] == "/latest/meta-data/ram/security-credentials/jump-host-role")
        .unwrap();
    assert!(
        token_first < credentials && log[credentials]["imds_token"] == true,
        "IMDSv2 first"
    );
    let assumed = log.iter().filter(|r| r["action"] == "AssumeRole").count();
    assert!(
        assumed >= 4,
        "RamRoleArn, the chain's two, the file's: {assumed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_role_is_one_line_and_a_silent_metadata_service_does_not_hold_the_list() {
    let pair = Pair::new("dts_refused").await;
    let refused =
        |metadata: Value| scenario(json!({ "sts": { "refuse": [ROLE] }, "metadata": metadata }));
    let fake = FakeDts::start(&pair.dir, refused(Value::Null));
    let config = pair.write_config(&fake.config(""));
    write(&pair, ".aliyun/config.json", &json!({ "current": "this", "profiles": [
        { "name": "this", "mode": "RamRoleArn", "access_key_id": KEY_ID, "access_key_secret": SECRET, "ram_role_arn": ROLE },
    ]}).to_string());
    let (code, list, stderr, _) = instances(&pair, &config, &[]);
    assert_eq!((code, list.len()), (3, 0), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("NoPermission"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one line, not one per region and tab: {stderr}"
    );
    assert!(
        lines[0].contains(ROLE) && !lines[0].contains(SECRET),
        "{stderr}"
    );

    std::fs::remove_file(pair.dir.join(".aliyun/config.json")).unwrap();
    fake.set(scenario(
        json!({ "metadata": { "role": "r", "silent": true } }),
    ));
    let (code, list, stderr, took) = instances(&pair, &config, &[]);
    assert_eq!((code, list.len()), (3, 0), "{stderr}");
    assert!(
        stderr.contains("no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID"),
        "{stderr}"
    );
    assert!(stderr.contains("no answer in time"), "{stderr}");
    // The metadata service's patience is 2 s; the list does not wait for it a second time.
    assert!(took < Duration::from_secs(15), "the list waited {took:?}");
}

/// A watch of one instance (`--instance`) and the guard (`--all`, which lists DTS again every
/// second here) each outlive credentials that live 6 s: refreshed before they expire, DTS never
/// sees an expired token, and no round fails.
#[tokio::test(flavor = "multi_thread")]
async fn a_watch_outlives_its_credentials_they_are_refreshed_and_no_round_fails() {
    outlives_its_credentials(
        "dts_refresh",
        &["--instance", "dtsj-live", "--yes", "--format", "json"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guard_outlives_its_credentials_they_are_refreshed_and_no_round_fails() {
    outlives_its_credentials(
        "dts_refresh_guard",
        &["--all", "--relist-every", "1s", "--log-format", "json"],
    )
    .await;
}

async fn outlives_its_credentials(name: &str, how: &[&str]) {
    let pair = Pair::new(name).await;
    pair.both("CREATE SEQUENCE orders_id_seq;").await;
    let mut live = job("dtsj-live");
    let endpoint = |url: &str| {
        let rest = url
            .trim_start_matches("postgresql://")
            .split_once('@')
            .unwrap()
            .1;
        let (host_port, db) = rest.split_once('/').unwrap();
        let (host, port) = host_port.split_once(':').unwrap();
        json!({ "EngineName": "POSTGRESQL", "Ip": host, "Port": port, "DatabaseName": db, "Region": "cn-hangzhou", "InstanceType": "OTHER" })
    };
    live["SourceEndpoint"] = endpoint(&pair.source_url);
    live["DestinationEndpoint"] = endpoint(&pair.destination_url);
    // Credentials that live 6 s, a watch that asks DTS every second for 20 s.
    let fake = FakeDts::start(
        &pair.dir,
        scenario(json!({
            "jobs": { "cn-hangzhou": { "SYNC": [live] } },
            "credential_seconds": 6,
        })),
    );
    let config = pair.write_config(&fake.config(
        "\n[[instances]]\nid = \"dtsj-live\"\n\
         source      = { user = \"postgres\", password_env = \"SEQSYNC_TEST_PASSWORD\" }\n\
         destination = { user = \"postgres\", password_env = \"SEQSYNC_TEST_PASSWORD\" }\n",
    ));
    let mut cmd = pair.command(&[
        "--config",
        config.to_str().unwrap(),
        "watch",
        "--offset",
        "100",
        "--interval",
        "1s",
    ]);
    cmd.args(how);
    for var in [
        "ACCESS_KEY_ID",
        "ACCESS_KEY_SECRET",
        "SECURITY_TOKEN",
        "PROFILE",
    ] {
        cmd.env_remove(format!("ALIBABA_CLOUD_{var}"));
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap())
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_secs(20));
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    let events = reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let rounds = events.iter().filter(|e| e["event"] == "round").count();
    // The guard also says when it lists and guards; a warning or an error must not come. A
    // watch of one instance says nothing but its rounds.
    let guard = how.contains(&"--all");
    let troubles: Vec<&Value> = events
        .iter()
        .filter(|e| match guard {
            true => e["level"] == "warn" || e["level"] == "error",
            false => e["event"] != "round",
        })
        .collect();
    assert!(rounds >= 8, "{rounds} rounds: {stderr}");
    assert!(
        troubles.is_empty(),
        "no round failed: {troubles:?} {stderr}"
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    let log = fake.requests();
    let fetched = log
        .iter()
        .filter(|r| r["service"] == "/latest/meta-data/ram/security-credentials/jump-host-role")
        .count();
    assert!(
        fetched >= 3,
        "credentials refreshed before they expired: fetched {fetched} times"
    );
    let refused: Vec<&Value> = log.iter().filter(|r| r.get("refused").is_some()).collect();
    assert!(
        refused.is_empty(),
        "DTS never saw an expired token: {refused:?}"
    );
}

/// The live service may send `DtsJobDirection = Forward` on a one-way job. The refusal names
/// that field; a config entry may assert one-way for such a job (shown with a warning), never
/// for one with a reverse task.
#[tokio::test(flavor = "multi_thread")]
async fn a_forward_direction_names_its_evidence_and_yields_only_to_an_asserted_one_way() {
    let pair = Pair::new("dts_forward").await;
    let mut forward = job("dtsj-forward");
    forward["DtsJobDirection"] = json!("Forward");
    let mut reverse = job("dtsj-reverse");
    reverse["DtsJobDirection"] = json!("Forward");
    reverse["ReverseJob"] = json!({ "DtsJobId": "dtsj-reverse-back", "Status": "Synchronizing" });
    let fake = FakeDts::start(
        &pair.dir,
        scenario(json!({ "keys": { KEY_ID: SECRET },
                         "jobs": { "cn-hangzhou": { "SYNC": [forward, reverse] } } })),
    );
    let keys = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
    ];
    let find = |list: &[Value], id: &str| list.iter().find(|i| i["id"] == id).unwrap().clone();

    let plain = pair.write_config(&fake.config(""));
    let (code, list, stderr, _) = instances(&pair, &plain, &keys);
    assert_eq!(code, 0, "{stderr}");
    let refused = find(&list, "dtsj-forward");
    assert_eq!(refused["synchronize_sequence"], false, "{refused}");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("DtsJobDirection = Forward"),
        "the evidence is named: {refused}"
    );

    let asserted = pair.write_config(&fake.config(
        "\n[[instances]]\nid = \"dtsj-forward\"\ntopology = \"one-way\"\n\
         \n[[instances]]\nid = \"dtsj-reverse\"\ntopology = \"one-way\"\n",
    ));
    let (code, list, stderr, _) = instances(&pair, &asserted, &keys);
    assert_eq!(code, 0, "{stderr}");
    let allowed = find(&list, "dtsj-forward");
    assert_eq!(allowed["synchronize_sequence"], true, "{allowed}");
    assert!(
        allowed["note"]
            .as_str()
            .unwrap()
            .contains("warning: one-way because the config asserts"),
        "{allowed}"
    );
    let still = find(&list, "dtsj-reverse");
    assert_eq!(
        still["synchronize_sequence"], false,
        "a reverse task wins: {still}"
    );
    assert!(
        still["note"].as_str().unwrap().contains("reverse task"),
        "{still}"
    );
}

/// The metadata service's answers are untrusted too: a redirect (which would carry the IMDSv2
/// token, or the role's name, elsewhere) is refused and its target receives nothing; an endless
/// answer is cut at 64 KiB.
#[tokio::test(flavor = "multi_thread")]
async fn a_redirecting_or_endless_metadata_service_is_refused() {
    let pair = Pair::new("dts_hostile_imds").await;
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let target = format!("http://{}/stolen", trap.local_addr().unwrap());
    let fake = FakeDts::start(
        &pair.dir,
        scenario(json!({ "metadata": { "role": "r", "redirect": target } })),
    );
    let config = pair.write_config(&fake.config(""));
    let (code, _, stderr, _) =
        instances(&pair, &config, &[("ALIBABA_CLOUD_IMDSV1_DISABLED", "true")]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("redirect"), "{stderr}");
    assert!(
        trap.accept().is_err(),
        "the redirect's target received nothing"
    );

    fake.set(scenario(
        json!({ "metadata": { "role": "r", "huge": 50_000_000 } }),
    ));
    let (code, _, stderr, _) = instances(&pair, &config, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("over 64 KiB"), "{stderr}");
}
