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
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={MASK}"),
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
        let value_len = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            let mut end = quoted.len();
            for (i, c) in quoted.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '\'' if !escaped => {
                        end = i + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            1 + end
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        out.push_str(MASK);
        rest = &value[value_len.min(value.len())..];
    }
    out.push_str(rest);
    out
}

fn find_password_key(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("password") {
        let start = from + found;
        let boundary = start == 0 || lower.as_bytes()[start - 1].is_ascii_whitespace();
        let after = lower[start + "password".len()..].trim_start();
        if boundary && after.starts_with('=') {
            return Some(start);
        }
        from = start + "password".len();
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn scrub_removes_known_secrets() {
        assert_eq!(scrub("failed for s3cr3t!", &["s3cr3t"]), "failed for ****!");
    }
}
