use super::*;

struct Home(PathBuf);

impl Home {
    fn new(tag: &str) -> Home {
        let dir = std::env::temp_dir().join(format!("seqsync-cred-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Home(dir)
    }

    fn write(&self, path: &str, text: &str) -> &Home {
        let path = self.0.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    fn env(&self, vars: &[(&str, &str)]) -> Environment {
        Environment {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            home: Some(self.0.clone()),
        }
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CLI: &str = r#"{"current": "work", "profiles": [
    {"name": "default", "mode": "AK", "access_key_id": "AKd", "access_key_secret": "Sd"},
    {"name": "work", "mode": "StsToken", "access_key_id": "STS.k", "access_key_secret": "Sw", "sts_token": "tok"},
    {"name": "role", "mode": "RamRoleArn", "access_key_id": "AKr", "access_key_secret": "Sr", "ram_role_arn": "acs:ram::1:role/dba", "ram_session_name": "night"},
    {"name": "chain", "mode": "ChainableRamRoleArn", "source_profile": "role", "ram_role_arn": "acs:ram::1:role/next"},
    {"name": "loop", "mode": "ChainableRamRoleArn", "source_profile": "loop", "ram_role_arn": "acs:ram::1:role/x"},
    {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "jump-host"},
    {"name": "oidc", "mode": "OIDC", "ram_role_arn": "acs:ram::1:role/k8s", "oidc_provider_arn": "acs:ram::1:oidc-provider/ack", "oidc_token_file": "/var/run/token"},
    {"name": "sso", "mode": "CloudSSO"}
]}"#;

fn names(links: &[Link]) -> Vec<String> {
    links.iter().map(|l| l.name.clone()).collect()
}

#[test]
fn the_chain_is_the_sdks_order() {
    let home = Home::new("order");
    home.write(".aliyun/config.json", CLI).write(
        ".alibabacloud/credentials.ini",
        "[default]\ntype = ecs_ram_role\nrole_name = from-ini\n",
    );
    let everything = home.env(&[
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "AKenv"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "Senv"),
        ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/oidc"),
        (
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "acs:ram::1:oidc-provider/p",
        ),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/t"),
        ("ALIBABA_CLOUD_CREDENTIALS_URI", "http://127.0.0.1:1/creds"),
    ]);
    let links = chain(None, &everything).unwrap();
    let said = names(&links);
    let order = [
        "environment variables",
        "OIDC role",
        "aliyun CLI profile 'work'",
        "[default] (ecs_ram_role)",
        "ECS instance RAM role",
        "credentials URI",
    ];
    assert_eq!(said.len(), order.len(), "{said:?}");
    for (name, expected) in said.iter().zip(order) {
        assert!(
            name.starts_with(expected) || name.contains(expected),
            "{said:?}"
        );
    }
    // Nothing is a secret in a link's name.
    assert!(!said.join(" ").contains("Senv"));
    let quiet = home.env(&[
        ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"),
        ("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true"),
    ]);
    assert_eq!(
        names(&chain(None, &quiet).unwrap()).len(),
        1,
        "only the credentials file"
    );
}

#[test]
fn every_cli_mode_becomes_its_provider() {
    let home = Home::new("modes");
    home.write(".aliyun/config.json", CLI);
    let env = home.env(&[]);
    let provider = |name: &str| chain(Some(name), &env).map(|mut l| l.remove(0).provider);
    assert!(
        matches!(provider("default").unwrap(), Provider::Static(c) if c.security_token.is_none())
    );
    assert!(
        matches!(provider("work").unwrap(), Provider::Static(c) if c.security_token.as_deref() == Some("tok"))
    );
    match provider("role").unwrap() {
        Provider::RamRole {
            base,
            role_arn,
            session_name,
            ..
        } => {
            assert_eq!(
                (role_arn.as_str(), session_name.as_str()),
                ("acs:ram::1:role/dba", "night")
            );
            assert!(matches!(*base, Provider::Static(c) if c.access_key_id == "AKr"));
        }
        other => panic!("{other:?}"),
    }
    match provider("chain").unwrap() {
        Provider::RamRole { base, role_arn, .. } => {
            assert_eq!(role_arn, "acs:ram::1:role/next");
            assert!(
                matches!(*base, Provider::RamRole { ref role_arn, .. } if role_arn == "acs:ram::1:role/dba")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(provider("ecs").unwrap(), Provider::EcsRole { role: Some(r), imds_v1: true } if r == "jump-host")
    );
    assert!(
        matches!(provider("oidc").unwrap(), Provider::Oidc { role_arn, .. } if role_arn == "acs:ram::1:role/k8s")
    );
    let e = provider("loop").unwrap_err();
    assert!(e.contains("circle"), "{e}");
    let e = provider("sso").unwrap_err();
    assert!(
        e.contains("mode CloudSSO") && e.contains("RamRoleArn"),
        "{e}"
    );
    let e = provider("nope").unwrap_err();
    assert!(e.contains("no profile 'nope'"), "{e}");
}

#[test]
fn the_credentials_file_by_type_and_a_bad_line_by_number() {
    let home = Home::new("ini");
    home.write(
        ".alibabacloud/credentials",
        "[default]\ntype = ram_role_arn\naccess_key_id = AK\naccess_key_secret = S\nrole_arn = acs:ram::1:role/r\n[other]\ntype = oidc_role_arn\nrole_arn = a\noidc_provider_arn = b\noidc_token_file_path = /t\n",
    );
    let link = files::credentials_file(&home.env(&[])).unwrap().unwrap();
    assert!(
        matches!(link.provider, Provider::RamRole { .. }),
        "{link:?}"
    );
    let link = files::credentials_file(&home.env(&[("ALIBABA_CLOUD_PROFILE", "other")]))
        .unwrap()
        .unwrap();
    assert!(matches!(link.provider, Provider::Oidc { .. }), "{link:?}");
    home.write(
        ".alibabacloud/credentials",
        "[default]\naccess_key_secret\n",
    );
    let e = files::credentials_file(&home.env(&[])).unwrap_err();
    assert!(
        e.contains("line 2") && !e.contains("access_key_secret\n"),
        "{e}"
    );
}

#[test]
fn a_malformed_cli_file_names_line_and_key_never_the_value() {
    let home = Home::new("malformed");
    home.write(
        ".aliyun/config.json",
        "{\"current\": \"work\", \"profiles\": [\n  {\"name\": \"work\", \"mode\": \"AK\",\n   \"access_key_id\": \"AK1\", \"access_key_secret\": [\"sk-leaked-4711\"]}\n]}",
    );
    let e = chain(None, &home.env(&[])).unwrap_err();
    assert!(!e.contains("sk-leaked-4711"), "{e}");
    assert!(
        e.contains("line 3") && e.contains("profiles[0].access_key_secret: expected a string"),
        "{e}"
    );
}

#[test]
fn debug_never_shows_the_secret() {
    let c = Credentials {
        access_key_id: "AK".into(),
        access_key_secret: "very-secret".into(),
        security_token: Some("token-secret".into()),
    };
    let shown = format!("{:?}", Provider::Static(c));
    assert!(
        !shown.contains("very-secret") && !shown.contains("token-secret"),
        "{shown}"
    );
}

#[test]
fn the_v1_signature_is_hmac_sha1_over_the_encoded_sorted_query() {
    // Alibaba Cloud's published example for the RPC signature V1 (the ECS DescribeRegions
    // request signed with the secret "testsecret").
    let query: std::collections::BTreeMap<String, String> = [
        ("AccessKeyId", "testid"),
        ("Action", "DescribeRegions"),
        ("Format", "XML"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2016-02-23T12:46:24Z"),
        ("Version", "2014-05-26"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        crate::engine::dts::sign::rpc_signature("GET", &query, "testsecret"),
        "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    );
}
