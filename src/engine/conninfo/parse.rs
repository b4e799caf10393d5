//! A connection string as libpq reads it, URL or `key=value`, into keyword/value pairs in the
//! order written (a later pair wins). Keywords are checked against libpq's list here, so a typo
//! is an error at once, as it is in psql.

use super::keywords::{keyword, Keyword};

/// `(keyword, value)` pairs of a connection string.
pub type Pairs = Vec<(&'static Keyword, String)>;

pub fn parse(conninfo: &str) -> Result<Pairs, String> {
    let trimmed = conninfo.trim();
    for scheme in ["postgresql://", "postgres://"] {
        if let Some(rest) = trimmed.strip_prefix(scheme) {
            return parse_url(rest);
        }
    }
    parse_key_values(trimmed)
}

fn known(name: &str, url: bool) -> Result<&'static Keyword, String> {
    keyword(name).ok_or_else(|| match url {
        true => format!("invalid URI query parameter: \"{name}\""),
        false => format!("invalid connection option \"{name}\""),
    })
}

/// libpq's `key = value` form: values bare up to white space or single-quoted, `\` escaping
/// the next character in both.
fn parse_key_values(text: &str) -> Result<Pairs, String> {
    let mut pairs = vec![];
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            name.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "missing \"=\" after \"{name}\" in connection info string"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err("unterminated quoted string in connection info string".into())
                    }
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                match c {
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        }
        pairs.push((known(&name, false)?, value));
    }
}

/// `postgresql://[user[:password]@][host[:port][,…]][/dbname][?key=value&…]`, every part
/// percent-decoded, as libpq's `conninfo_uri_parse_options` reads it.
fn parse_url(rest: &str) -> Result<Pairs, String> {
    let mut pairs: Pairs = vec![];
    let mut push = |name: &str, value: String| -> Result<(), String> {
        pairs.push((known(name, true)?, value));
        Ok(())
    };
    let mut rest = rest;
    // Credentials end at the first '@' before any '/': a password with '@' must be encoded.
    if let Some(at) = rest
        .find(['@', '/'])
        .filter(|&i| rest.as_bytes()[i] == b'@')
    {
        let credentials = &rest[..at];
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (credentials, None),
        };
        if !user.is_empty() {
            push("user", decode(user)?)?;
        }
        if let Some(password) = password {
            push("password", decode(password)?)?;
        }
        rest = &rest[at + 1..];
    }
    let mut hosts = vec![];
    let mut ports = vec![];
    loop {
        let (host, after) = if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').ok_or_else(|| {
                "end of string reached when looking for matching \"]\" in IPv6 host address in URI"
                    .to_string()
            })?;
            if end == 0 {
                return Err("IPv6 host address may not be empty in URI".into());
            }
            (&inner[..end], &inner[end + 1..])
        } else {
            let end = rest.find([':', '/', '?', ',']).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        hosts.push(decode(host)?);
        rest = after;
        if let Some(after) = rest.strip_prefix(':') {
            let end = after.find(['/', '?', ',']).unwrap_or(after.len());
            ports.push(decode(&after[..end])?);
            rest = &after[end..];
        } else {
            ports.push(String::new());
        }
        match rest.strip_prefix(',') {
            Some(after) => rest = after,
            None => break,
        }
    }
    if !rest.is_empty() && !rest.starts_with(['/', '?']) {
        return Err(format!(
            "unexpected character \"{}\" in URI",
            rest.chars().next().unwrap_or_default()
        ));
    }
    if hosts.iter().any(|h| !h.is_empty()) || hosts.len() > 1 {
        push("host", hosts.join(","))?;
    }
    if ports.iter().any(|p| !p.is_empty()) {
        push("port", ports.join(","))?;
    }
    if let Some(after) = rest.strip_prefix('/') {
        let end = after.find('?').unwrap_or(after.len());
        if end > 0 {
            push("dbname", decode(&after[..end])?)?;
        }
        rest = &after[end..];
    }
    if let Some(query) = rest.strip_prefix('?') {
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = param.split_once('=').ok_or_else(|| {
                format!("missing key/value separator \"=\" in URI query parameter: \"{param}\"")
            })?;
            let (name, value) = (decode(name)?, decode(value)?);
            // libpq's one alias, kept for JDBC's sake.
            if name == "ssl" && value == "true" {
                push("sslmode", "require".into())?;
            } else {
                push(&name, value)?;
            }
        }
    }
    Ok(pairs)
}

fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoded token: \"{text}\""))?;
            if hex == 0 {
                return Err(format!(
                    "forbidden value %00 in percent-encoded value: \"{text}\""
                ));
            }
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent-encoded value is not UTF-8: \"{text}\""))
}
