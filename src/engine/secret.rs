//! Keeping passwords off screens, logs, the journal and error messages.

const MASK: &str = "****";

/// A connection string as it may be shown: any password replaced by `****`.
/// Handles URLs (`postgresql://user:pw@host/db?password=pw`) and libpq key=value strings.
pub fn mask_password(conninfo: &str) -> String {
    let trimmed = conninfo.trim();
    if let Some(scheme_end) = trimmed.find("://") {
        mask_url(trimmed, scheme_end + 3)
    } else {
        mask_key_value(trimmed)
    }
}

fn mask_url(url: &str, authority_start: usize) -> String {
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = url[..authority_start].to_string();
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push(':');
                    out.push_str(MASK);
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[authority_end..];
    match tail.find('?') {
        Some(q) => {
            out.push_str(&tail[..=q]);
            let params: Vec<String> = tail[q + 1..]
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _))
                        if k.eq_ignore_ascii_case("password")
                            || k.eq_ignore_ascii_case("sslpassword") =>
                    {
                        format!("{k}={MASK}")
                    }
                    _ => p.to_string(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

fn mask_key_value(conninfo: &str) -> String {
    // libpq values may be single-quoted with backslash escapes; mask the whole value.
    let mut out = String::with_capacity(conninfo.len());
    let mut rest = conninfo;
    while let Some(pos) = find_password_key(rest) {
        out.push_str(&rest[..pos]);
        let after_key = &rest[pos..];
        let eq = after_key.find('=').expect("key found with =");
        out.push_str(&after_key[..=eq]);
        let raw_value = &after_key[eq + 1..];
        let value = raw_value.trim_start();
        out.push_str(&raw_value[..raw_value.len() - value.len()]);
        let (_, value_len) = libpq_value(value);
        out.push_str(MASK);
        rest = &value[value_len.min(value.len())..];
    }
    out.push_str(rest);
    out
}

/// One value of a libpq `key=value` string, starting at `text`: (the value unquoted, bytes
/// used). Values are bare up to white space, or single-quoted with backslash escapes.
pub fn libpq_value(text: &str) -> (String, usize) {
    let Some(quoted) = text.strip_prefix('\'') else {
        let end = text.find(char::is_whitespace).unwrap_or(text.len());
        return (text[..end].to_string(), end);
    };
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '\'' if !escaped => return (value, 1 + i + 1),
            c => {
                value.push(c);
                escaped = false;
            }
        }
    }
    (value, text.len())
}

fn find_password_key(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("password") {
        let mut start = from + found;
        // sslpassword, an encrypted key's passphrase, is as secret as password.
        if lower[..start].ends_with("ssl") {
            start -= 3;
        }
        let boundary = start == 0 || lower.as_bytes()[start - 1].is_ascii_whitespace();
        let after = lower[from + found + "password".len()..].trim_start();
        if boundary && after.starts_with('=') {
            return Some(start);
        }
        from = from + found + "password".len();
    }
    None
}

/// Replaces every occurrence of a known secret in a text, as a last line of defence for
/// messages built from server or library errors.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 3)
        .fold(text.to_string(), |acc, s| acc.replace(s, MASK))
}

/// The password a password file (`~/.pgpass`, `passfile`, `$PGPASSFILE`) gives for a
/// connection, as libpq reads it: `host:port:database:user:password` lines, `*` matching
/// anything, `\:` and `\\` escaped, the first match winning. Like libpq, a file readable by
/// group or others is ignored, and the returned warning says so.
pub fn pgpass_password(
    path: &std::path::Path,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> (Option<String>, Option<String>) {
    let Ok(metadata) = std::fs::metadata(path) else {
        return (None, None);
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            return (
                None,
                Some(format!(
                    "ignoring {}: it is readable by group or others; chmod 0600 it",
                    path.display()
                )),
            );
        }
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return (None, None);
    };
    let port = port.to_string();
    let wanted = [host, port.as_str(), database, user];
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = fields[..4]
            .iter()
            .zip(wanted)
            .all(|(field, value)| field == "*" || field == value);
        if matches {
            return (Some(fields[4..].join(":")), None);
        }
    }
    (None, None)
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("one field").push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            _ => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_match_like_libpq() {
        let fields = split_pgpass_line(r"db\:host:5432:*:dba:pa\:ss:word");
        assert_eq!(fields, vec!["db:host", "5432", "*", "dba", "pa:ss:word"]);
        let dir = std::env::temp_dir().join(format!("seqsync-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:*:nope\nh:5433:orders:dba:first\n*:*:*:dba:second\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let lookup = |h, p, d, u| pgpass_password(&file, h, p, d, u);
        assert_eq!(
            lookup("h", 5433, "orders", "dba").0.as_deref(),
            Some("first")
        );
        assert_eq!(lookup("x", 1, "y", "dba").0.as_deref(), Some("second"));
        assert_eq!(lookup("x", 1, "y", "other").0, None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let (password, warning) = lookup("h", 5433, "orders", "dba");
            assert_eq!(password, None);
            assert!(warning.unwrap().contains("chmod 0600"));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn masks_url_userinfo_and_query_password() {
        assert_eq!(
            mask_password("postgresql://dba:s3cr3t@src:5432/orders?sslmode=require"),
            "postgresql://dba:****@src:5432/orders?sslmode=require"
        );
        assert_eq!(
            mask_password("postgres://dba@h/db?password=s3cr3t&sslmode=disable"),
            "postgres://dba@h/db?password=****&sslmode=disable"
        );
        assert_eq!(
            mask_password("postgresql://h:5432/db"),
            "postgresql://h:5432/db"
        );
        // An @ inside the password must not leak its tail.
        assert_eq!(
            mask_password("postgresql://u:p@ss@h/db"),
            "postgresql://u:****@h/db"
        );
    }

    #[test]
    fn masks_key_value_passwords_quoted_or_not() {
        assert_eq!(
            mask_password("host=h password=s3cr3t dbname=d"),
            "host=h password=**** dbname=d"
        );
        assert_eq!(
            mask_password("host=h password = 'a b\\' c' user=u"),
            "host=h password = **** user=u"
        );
        assert_eq!(
            mask_password("host=h user=password"),
            "host=h user=password"
        );
        assert_eq!(
            mask_password("host=h sslkey=k.pem sslpassword='pass phrase' sslmode=require"),
            "host=h sslkey=k.pem sslpassword=**** sslmode=require"
        );
        assert_eq!(
            mask_password("postgresql://h/db?sslpassword=s3cr3t&sslcert=c.pem"),
            "postgresql://h/db?sslpassword=****&sslcert=c.pem"
        );
    }

    #[test]
    fn scrub_removes_known_secrets() {
        assert_eq!(scrub("failed for s3cr3t!", &["s3cr3t"]), "failed for ****!");
    }
}
