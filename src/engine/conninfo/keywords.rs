//! libpq's connection keywords (PostgreSQL 18's list), their environment variables, and what
//! seqsync does with each. A keyword seqsync cannot honour is refused by name, never dropped.

#[derive(Debug, PartialEq, Eq)]
pub enum Support {
    Honoured,
    /// Refused with the reason; from the environment only a warning (a variable set for the
    /// DBA's other tools should not stop seqsync when the server never needs it).
    Refused(&'static str),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Keyword {
    pub name: &'static str,
    pub env: Option<&'static str>,
    pub support: Support,
}

const fn honoured(name: &'static str, env: Option<&'static str>) -> Keyword {
    Keyword {
        name,
        env,
        support: Support::Honoured,
    }
}

const fn refused(name: &'static str, env: Option<&'static str>, why: &'static str) -> Keyword {
    Keyword {
        name,
        env,
        support: Support::Refused(why),
    }
}

const GSS: &str =
    "seqsync has no GSSAPI/Kerberos: use password, SCRAM or certificate authentication";

pub static KEYWORDS: &[Keyword] = &[
    honoured("service", Some("PGSERVICE")),
    honoured("user", Some("PGUSER")),
    honoured("password", Some("PGPASSWORD")),
    honoured("passfile", Some("PGPASSFILE")),
    honoured("channel_binding", Some("PGCHANNELBINDING")),
    honoured("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    honoured("dbname", Some("PGDATABASE")),
    honoured("host", Some("PGHOST")),
    honoured("hostaddr", Some("PGHOSTADDR")),
    honoured("port", Some("PGPORT")),
    honoured("client_encoding", Some("PGCLIENTENCODING")),
    honoured("options", Some("PGOPTIONS")),
    honoured("application_name", Some("PGAPPNAME")),
    honoured("fallback_application_name", None),
    honoured("keepalives", None),
    honoured("keepalives_idle", None),
    honoured("keepalives_interval", None),
    honoured("keepalives_count", None),
    honoured("tcp_user_timeout", None),
    honoured("sslmode", Some("PGSSLMODE")),
    honoured("sslnegotiation", Some("PGSSLNEGOTIATION")),
    honoured("sslcompression", Some("PGSSLCOMPRESSION")),
    honoured("sslcert", Some("PGSSLCERT")),
    honoured("sslkey", Some("PGSSLKEY")),
    honoured("sslcertmode", Some("PGSSLCERTMODE")),
    honoured("sslpassword", None),
    honoured("sslrootcert", Some("PGSSLROOTCERT")),
    honoured("sslcrl", Some("PGSSLCRL")),
    honoured("sslcrldir", Some("PGSSLCRLDIR")),
    honoured("sslsni", Some("PGSSLSNI")),
    honoured("ssl_min_protocol_version", Some("PGSSLMINPROTOCOLVERSION")),
    honoured("ssl_max_protocol_version", Some("PGSSLMAXPROTOCOLVERSION")),
    honoured("gssencmode", Some("PGGSSENCMODE")),
    honoured("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
    honoured("load_balance_hosts", Some("PGLOADBALANCEHOSTS")),
    refused(
        "require_auth",
        Some("PGREQUIREAUTH"),
        "seqsync cannot restrict the server's authentication method yet; use channel_binding=require to insist on SCRAM",
    ),
    refused(
        "replication",
        None,
        "seqsync needs a normal session, not a replication connection",
    ),
    refused(
        "requirepeer",
        Some("PGREQUIREPEER"),
        "seqsync cannot check the server process's user on a Unix socket",
    ),
    refused("krbsrvname", Some("PGKRBSRVNAME"), GSS),
    refused("gsslib", Some("PGGSSLIB"), GSS),
    refused("gssdelegation", Some("PGGSSDELEGATION"), GSS),
    refused(
        "min_protocol_version",
        Some("PGMINPROTOCOLVERSION"),
        "seqsync speaks protocol 3.0 only",
    ),
    refused(
        "max_protocol_version",
        Some("PGMAXPROTOCOLVERSION"),
        "seqsync speaks protocol 3.0 only",
    ),
    refused(
        "scram_client_key",
        None,
        "seqsync does not take SCRAM keys; give the password",
    ),
    refused(
        "scram_server_key",
        None,
        "seqsync does not take SCRAM keys; give the password",
    ),
    refused("oauth_issuer", None, "seqsync has no OAuth login"),
    refused("oauth_client_id", None, "seqsync has no OAuth login"),
    refused("oauth_client_secret", None, "seqsync has no OAuth login"),
    refused("oauth_scope", None, "seqsync has no OAuth login"),
];

pub fn keyword(name: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| k.name == name)
}
