//! Credentials never printed or stored: URLs are shown with their password and password-like
//! query parameters masked, and every secret a scenario resolves is registered so that error
//! text from a driver (which may quote a URL or a header) is scrubbed before anyone sees it.

use std::sync::Mutex;

/// Query parameters whose value is masked (case-insensitive substring of the key).
const SECRET_KEYS: [&str; 6] = ["password", "passwd", "pwd", "secret", "token", "key"];

/// The password-like parameters sqlx's PostgreSQL driver understands; it logs the others.
pub const PG_SECRET_PARAMS: &[&str] = &["password", "sslkey", "ssl-key"];

static REGISTERED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret (and its percent-decoded form) so [`scrub`] hides it from any text.
pub fn register(secret: &str) {
    // Very short values would mask ordinary words in messages; they are still masked in
    // URLs and never serialized.
    let mut forms = vec![secret.to_string(), percent_decode(secret)];
    forms.retain(|s| s.chars().count() >= 4);
    if let Ok(mut r) = REGISTERED.lock() {
        for f in forms {
            if !r.contains(&f) {
                r.push(f);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        r.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every registered secret replaced by `***` where it stands as a token of its
/// own (not inside a longer word: a password `tunebench` leaves `tunebench_docs` alone).
pub fn scrub(text: &str) -> String {
    let Ok(r) = REGISTERED.lock() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for s in r.iter() {
        out = replace_tokens(&out, s);
    }
    out
}

fn replace_tokens(text: &str, secret: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(i) = text[pos..].find(secret) {
        let (at, end) = (pos + i, pos + i + secret.len());
        let glued_before = word(text[..at].chars().next_back()) && word(secret.chars().next());
        let glued_after = word(text[end..].chars().next()) && word(secret.chars().next_back());
        let alone = !(glued_before || glued_after);
        out.push_str(&text[pos..at]);
        out.push_str(if alone { "***" } else { secret });
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

/// The secrets in a URL: the password of its userinfo and the values of password-like query
/// parameters, as written.
pub fn url_secrets(url: &str) -> Vec<String> {
    let parts = split(url);
    let mut out: Vec<String> = parts.password.map(str::to_string).into_iter().collect();
    out.extend(
        parts
            .secret_values
            .iter()
            .map(|r| url[r.clone()].to_string()),
    );
    out.retain(|s| !s.is_empty());
    out
}

/// `url` with its password and every password-like query value replaced by `***`, whatever
/// characters they hold (`/`, `@`, `:`, `%`, `#`, non-ASCII). Over-masking is preferred to
/// showing a fragment of a secret.
pub fn redact_url(url: &str) -> String {
    let parts = split(url);
    let mut masks: Vec<std::ops::Range<usize>> = parts.secret_values;
    if let Some(p) = parts.password_at {
        masks.push(p);
    }
    masks.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(url.len());
    let mut pos = 0;
    for m in masks {
        if m.start < pos {
            continue;
        }
        out.push_str(&url[pos..m.start]);
        out.push_str("***");
        pos = m.end;
    }
    out.push_str(&url[pos..]);
    out
}

/// The password a URL carries (its userinfo's, else a `password=` parameter's), decoded, for
/// handing to another client through its environment (never its arguments).
pub fn url_password(url: &str) -> Option<String> {
    let parts = split(url);
    if let Some(p) = parts.password {
        return Some(percent_decode(p));
    }
    let start = url.find("://").map_or(0, |i| i + 3);
    secret_params(url, start)
        .into_iter()
        .find(|p| p.key == "password")
        .map(|p| percent_decode(&url[p.value]))
}

struct Parts<'a> {
    password: Option<&'a str>,
    password_at: Option<std::ops::Range<usize>>,
    secret_values: Vec<std::ops::Range<usize>>,
}

fn split(url: &str) -> Parts<'_> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let secret_values = query_secrets(url, start);
    // The userinfo ends at the last `@` before the first secret parameter: a password may
    // hold `/`, `?`, `#` and `@` itself, a host never holds `@`.
    let limit = secret_values.first().map_or(url.len(), |r| {
        url[..r.start].rfind(['?', '&', ';']).unwrap_or(r.start)
    });
    let mut password_at = None;
    if url.get(start..).is_some()
        && let Some(at) = url[start..limit.max(start)].rfind('@')
    {
        let userinfo = &url[start..start + at];
        if let Some(colon) = userinfo.find(':') {
            password_at = Some(start + colon + 1..start + at);
        }
    }
    Parts {
        password: password_at.clone().map(|r| &url[r]),
        password_at,
        secret_values,
    }
}

/// Byte ranges of the values of password-like parameters. A value runs to the next `&` that
/// starts another `name=` (so a password holding `&` is masked whole) or to the end.
fn query_secrets(url: &str, from: usize) -> Vec<std::ops::Range<usize>> {
    secret_params(url, from)
        .into_iter()
        .map(|p| p.value)
        .collect()
}

/// A password-like `key=value` parameter: where its delimiter (`?`, `&` or `;`) is, its
/// key (decoded, lowercase) and its value.
struct SecretParam {
    delimiter: usize,
    key: String,
    value: std::ops::Range<usize>,
}

/// `url` without the password-like parameters whose key is not in `keep`: a driver that does
/// not know a parameter may log it, value and all (sqlx warns "ignoring unrecognized connect
/// parameter key=sslpassword value=...").
pub fn strip_secret_params(url: &str, keep: &[&str]) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let mut out = url.to_string();
    for p in secret_params(url, start).iter().rev() {
        if keep.contains(&p.key.as_str()) {
            continue;
        }
        out.replace_range(p.delimiter..p.value.end, "");
        if url.as_bytes()[p.delimiter] == b'?' && out[p.delimiter..].starts_with('&') {
            out.replace_range(p.delimiter..p.delimiter + 1, "?");
        }
    }
    out
}

fn secret_params(url: &str, from: usize) -> Vec<SecretParam> {
    let mut out = Vec::new();
    let bytes = url.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        if matches!(bytes[i], b'?' | b'&' | b';') {
            let key_start = i + 1;
            let key_end = url[key_start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '%'))
                .map_or(url.len(), |e| key_start + e);
            if key_end > key_start && bytes.get(key_end) == Some(&b'=') {
                let key = percent_decode(&url[key_start..key_end]).to_lowercase();
                let value_start = key_end + 1;
                let value_end = next_param(url, value_start);
                if SECRET_KEYS.iter().any(|k| key.contains(k)) {
                    out.push(SecretParam {
                        delimiter: i,
                        key,
                        value: value_start..value_end,
                    });
                    i = value_end;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

fn next_param(url: &str, from: usize) -> usize {
    let mut pos = from;
    while let Some(amp) = url[pos..].find('&') {
        let at = pos + amp;
        let rest = &url[at + 1..];
        let name_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        if name_len > 0 && rest[name_len..].starts_with('=') {
            return at;
        }
        pos = at + 1;
    }
    url.len()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_password_is_decoded_from_userinfo_or_parameter() {
        assert_eq!(
            url_password("postgres://u:p%40ss%2Fw@h:5432/db").as_deref(),
            Some("p@ss/w")
        );
        assert_eq!(
            url_password("postgres://u@h/db?sslmode=disable&password=s%26cr").as_deref(),
            Some("s&cr")
        );
        assert_eq!(url_password("postgres://u@h/db"), None);
    }

    #[test]
    fn passwords_with_any_character_are_masked() {
        for (url, want) in [
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://h:5432/db", "postgres://h:5432/db"),
            ("postgres://u:pa/ss@h/db", "postgres://u:***@h/db"),
            ("postgres://u:p@s:s#w?/rd@h:1/db", "postgres://u:***@h:1/db"),
            ("postgres://u:p%40ss%2Fwörd@h/db", "postgres://u:***@h/db"),
            ("postgres://u:@h/db", "postgres://u:***@h/db"),
            (
                "postgres://h/db?sslmode=require&PassWord=a&b=c",
                "postgres://h/db?sslmode=require&PassWord=***&b=c",
            ),
            (
                "postgres://h/db?sslpassword=x@y#z",
                "postgres://h/db?sslpassword=***",
            ),
            (
                "postgres://u:p@h/db?password=q&x",
                "postgres://u:***@h/db?password=***",
            ),
            (
                "http://h:6334?api_key=K3y&timeout=5",
                "http://h:6334?api_key=***&timeout=5",
            ),
            ("http://h:1/x?token=t", "http://h:1/x?token=***"),
            ("not a url", "not a url"),
            ("", ""),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn unknown_secret_parameters_are_stripped_for_drivers() {
        let keep = ["password", "sslkey"];
        for (url, want) in [
            (
                "postgres://h/db?sslpassword=x&sslmode=disable",
                "postgres://h/db?sslmode=disable",
            ),
            (
                "postgres://h/db?sslmode=disable&token=t&password=p",
                "postgres://h/db?sslmode=disable&password=p",
            ),
            (
                "postgres://h/db?secret=a&b=c&api_key=k",
                "postgres://h/db?b=c",
            ),
            ("postgres://u:p@h/db", "postgres://u:p@h/db"),
        ] {
            assert_eq!(strip_secret_params(url, &keep), want, "{url}");
        }
    }

    #[test]
    fn registered_secrets_are_scrubbed_from_any_text() {
        register("Zq9-unique-p@ss/w%23rd");
        let text =
            "error connecting to postgres://u:Zq9-unique-p@ss/w%23rd@h (Zq9-unique-p@ss/w#rd)";
        let out = scrub(text);
        assert!(!out.contains("Zq9"), "{out}");
        register("tunebench-pw");
        assert_eq!(
            scrub("pw tunebench-pw, schema tunebench-pw_x"),
            "pw ***, schema tunebench-pw_x"
        );
    }
}
