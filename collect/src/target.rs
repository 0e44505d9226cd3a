//! What to collect: hosts as (pool, name, URI), from the command line or a hosts file, with the
//! URI checked (no password) and its credential-free form for the metadata.

use serde::Deserialize;

/// One host to collect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The pool folder it goes in.
    pub pool: String,
    /// Its name in the inventory (`POOL/NAME.xml`).
    pub name: String,
    /// The URI libvirt connects to.
    pub uri: String,
    /// The URI without user name and query parameters ([`check_uri`]), for the metadata and
    /// the messages.
    pub shown_uri: String,
}

/// Checks a libvirt URI (`driver[+transport]://[user@][host][:port]/[path][?params]`): one with
/// a password in it is refused (credentials are never written, and a password on the command
/// line is already exposed). Returns the URI as written in the metadata: scheme, host, port and
/// path, without user name, query (`keyfile=`, `command=`, …) or fragment.
pub fn check_uri(uri: &str) -> Result<String, String> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(format!("'{uri}': not a libvirt URI (expected driver[+transport]://[host]/path)"));
    };
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return Err(format!("'{uri}': not a libvirt URI (bad scheme '{scheme}')"));
    }
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            if userinfo.contains(':') {
                let user = userinfo.split(':').next().unwrap_or("");
                return Err(format!(
                    "{scheme}://{user}:…@{host}{path}: a URI with a password is refused (credentials are never \
                     written and a password on a command line is exposed); use ssh keys, TLS certificates or SASL"
                ));
            }
            host
        }
        None => authority,
    };
    if uri.split(['?', '#']).skip(1).any(|q| q.split('&').any(|kv| kv.to_ascii_lowercase().starts_with("password"))) {
        return Err(format!("{scheme}://{host}{path}: a URI with a password parameter is refused"));
    }
    Ok(format!("{scheme}://{host}{path}"))
}

/// A host or pool name usable as a file name in the layout, or why not.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let bad = if name.is_empty() {
        Some("is empty")
    } else if name.starts_with('.') {
        Some("starts with '.' (hidden: the inventory reader passes over it)")
    } else if name.contains(['/', '\\', '\0']) || name.chars().any(char::is_control) {
        Some("contains '/', '\\' or a control character")
    } else if what == "host" && (name.ends_with(".domcaps") || name.ends_with(".meta")) {
        Some("ends with .domcaps or .meta (the suffixes of a host's other files)")
    } else {
        None
    };
    bad.map_or(Ok(()), |b| Err(format!("{what} name '{name}' {b}")))
}

/// A target for a URI given on the command line: pool `pool`, named by the URI's host
/// (`localhost` for a local URI).
pub fn target_of_uri(uri: &str, pool: &str) -> Result<Target, String> {
    let shown = check_uri(uri)?;
    let authority = shown.split_once("://").map_or("", |(_, r)| r.split('/').next().unwrap_or(""));
    let host = if authority.starts_with('[') {
        authority.split(']').next().unwrap_or("").trim_start_matches('[').to_string()
    } else {
        authority.split(':').next().unwrap_or("").to_string()
    };
    let name = if host.is_empty() { "localhost".to_string() } else { host };
    check_name("pool", pool)?;
    check_name("host", &name).map_err(|e| format!("{uri}: {e}"))?;
    Ok(Target { pool: pool.to_string(), name, uri: uri.to_string(), shown_uri: shown })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostsToml {
    host: Vec<HostToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostToml {
    pool: String,
    name: String,
    uri: String,
}

/// A hosts file: TOML (`[[host]]` tables with `pool`, `name`, `uri`) or a plain list, one host a
/// line as `POOL NAME URI` (blank lines and `#` comments passed over). The error starts with
/// `line:column: ` (after which the caller puts the file's name first).
pub fn parse_hosts(text: &str) -> Result<Vec<Target>, String> {
    let is_toml = text.lines().any(|l| l.trim_start().starts_with("[[host]]"));
    let mut out: Vec<(usize, Target)> = Vec::new();
    if is_toml {
        let t: HostsToml = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            format!("{line}:{col}: {}", e.message())
        })?;
        let mut line = 0;
        for h in t.host {
            // Line of the `uri` of this host, for messages: the n-th `uri` key.
            line = text
                .lines()
                .enumerate()
                .skip(line)
                .find(|(_, l)| l.trim_start().starts_with("uri"))
                .map_or(line, |x| x.0 + 1);
            let t = make(&h.pool, &h.name, &h.uri).map_err(|e| format!("{line}:1: {e}"))?;
            out.push((line, t));
        }
    } else {
        for (n, l) in text.lines().enumerate() {
            let l = l.split('#').next().unwrap_or("").trim();
            if l.is_empty() {
                continue;
            }
            let fields: Vec<&str> = l.split_whitespace().collect();
            let [pool, name, uri] = fields[..] else {
                return Err(format!("{}:1: expected POOL NAME URI, found {} field(s)", n + 1, fields.len()));
            };
            out.push((n + 1, make(pool, name, uri).map_err(|e| format!("{}:1: {e}", n + 1))?));
        }
    }
    if out.is_empty() {
        return Err("1:1: no hosts (expected [[host]] tables or lines POOL NAME URI)".into());
    }
    for (i, (line, t)) in out.iter().enumerate() {
        if let Some((first, _)) = out[..i].iter().find(|(_, o)| o.pool == t.pool && o.name == t.name) {
            return Err(format!("{line}:1: host {}/{} again (first on line {first})", t.pool, t.name));
        }
    }
    Ok(out.into_iter().map(|x| x.1).collect())
}

fn make(pool: &str, name: &str, uri: &str) -> Result<Target, String> {
    check_name("pool", pool)?;
    check_name("host", name)?;
    let shown = check_uri(uri)?;
    Ok(Target { pool: pool.into(), name: name.into(), uri: uri.into(), shown_uri: shown })
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    (before.matches('\n').count() + 1, before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_lose_credentials_and_passwords_are_refused() {
        assert_eq!(
            check_uri("qemu+ssh://root@host7:2222/system?keyfile=/k&no_verify=1").unwrap(),
            "qemu+ssh://host7:2222/system"
        );
        assert_eq!(check_uri("qemu:///system").unwrap(), "qemu:///system");
        assert_eq!(check_uri("test:///default").unwrap(), "test:///default");
        let e = check_uri("qemu+tcp://root:s3cret@host7/system").unwrap_err();
        assert!(e.contains("password is refused") && !e.contains("s3cret"), "{e}");
        assert!(check_uri("qemu+ssh://h/system?password=x").is_err());
        assert!(check_uri("not a uri").is_err());
    }

    #[test]
    fn targets_from_uris_and_files() {
        let t = target_of_uri("qemu+ssh://root@host7/system", "web").unwrap();
        assert_eq!((t.pool.as_str(), t.name.as_str()), ("web", "host7"));
        assert_eq!(target_of_uri("qemu:///system", "p").unwrap().name, "localhost");
        let plain = parse_hosts("# fleet\nweb h1 qemu+ssh://h1/system\n\ndb h2 qemu:///system # local\n").unwrap();
        assert_eq!(plain.len(), 2);
        assert_eq!(plain[1].name, "h2");
        let toml = parse_hosts("[[host]]\npool = \"web\"\nname = \"h1\"\nuri = \"test:///default\"\n").unwrap();
        assert_eq!(toml[0].uri, "test:///default");
        assert!(parse_hosts("web h1\n").unwrap_err().starts_with("1:1: expected POOL NAME URI"));
        assert!(parse_hosts("a b test:///default\na b test:///default\n")
            .unwrap_err()
            .starts_with("2:1: host a/b again"));
        assert!(parse_hosts("a .b test:///default\n").unwrap_err().contains("starts with '.'"));
        assert!(parse_hosts("[[host]]\npool = 1\n").unwrap_err().starts_with("2:8: "));
    }
}
