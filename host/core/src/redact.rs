//! Secrets taken out of text before it leaves the host. Every text derived
//! from a function's logs or an event — a rule's finding, the AI's answer, a
//! smoke test's error, the prompt's sample lines, a notice — goes through
//! [`redact`] before it is written to DynamoDB, published to SNS, sent to
//! Bedrock or logged. Redaction comes before any clipping: half a secret is
//! still half a secret, and once cut it no longer matches.
//!
//! The shapes are the well-known ones (the same facts gitleaks' and
//! trufflehog's published rules list): cloud and SaaS token prefixes, private
//! key blocks, JSON web tokens, credentials in URLs, `Authorization` headers,
//! and any value whose key names a secret (`password=`, `"client_secret":`,
//! `access_token=`…). What does not look like a secret passes unchanged.

use std::sync::LazyLock;

use regex::{Captures, Regex, RegexSet};

/// What a redacted secret becomes (with its kind: `[REDACTED-AWS-KEY]`).
pub const MARK: &str = "[REDACTED]";

/// Key names whose value is a secret whatever it looks like (part of a key:
/// `db_password`, `X-Api-Key`, `oauth_client_secret` count).
const SECRET_KEYS: &str = "password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|authorization|credential|session[_-]?key|signature";

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // A private key block, to its END line or to the end of the text
        // (a block cut by a log line's end is still a key).
        (
            r"-----BEGIN[A-Z0-9 _-]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 _-]*PRIVATE KEY(?: BLOCK)?-----|\z)",
            "[REDACTED-PRIVATE-KEY]",
        ),
        // AWS access key ids: their prefixes are distinctive enough to go
        // without word boundaries, so a key glued to other text (`\nAKIA…`
        // JSON-escaped, `AKIA…Runtime.Error`) is still taken.
        (
            r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AROA|AIDA|AGPA|ANPA|ANVA|AIPA)[A-Z0-9]{16}",
            "[REDACTED-AWS-KEY]",
        ),
        // GitHub tokens (classic and fine-grained).
        (
            r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b|\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
            "[REDACTED-GITHUB-TOKEN]",
        ),
        // GitLab personal access tokens.
        (r"\bglpat-[A-Za-z0-9_-]{20,}\b", "[REDACTED-GITLAB-TOKEN]"),
        // Slack tokens and incoming webhooks.
        (
            r"\bxox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9_/]+",
            "[REDACTED-SLACK-TOKEN]",
        ),
        // Stripe secret and restricted keys.
        (
            r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b",
            "[REDACTED-STRIPE-KEY]",
        ),
        // Google API keys.
        (r"\bAIza[0-9A-Za-z_-]{35}\b", "[REDACTED-GOOGLE-KEY]"),
        // npm, PyPI and OpenAI-style keys.
        (
            r"\bnpm_[A-Za-z0-9]{36}\b|\bpypi-[A-Za-z0-9_-]{50,}\b|\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}\b",
            "[REDACTED-TOKEN]",
        ),
        // JSON web tokens.
        (
            r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
            "[REDACTED-JWT]",
        ),
        // `Authorization: Bearer …` / `Basic …`.
        (
            r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=_-]{8,}",
            "[REDACTED-CREDENTIALS]",
        ),
    ]
    .into_iter()
    .map(|(pattern, with)| (Regex::new(pattern).expect("a valid pattern"), with))
    .collect()
});

/// `scheme://user:password@host`: the user and password go.
static URL_CREDENTIALS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^\s/:@]+:[^\s/@]+@").expect("a valid pattern")
});

/// `key=value`, `key: value`, `"key": "value"`, `'key': 'value'` where the
/// key names a secret: the value goes, the key stays (it says what was there).
static KEYED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"(?i)(["']?[A-Za-z0-9_.-]*(?:{SECRET_KEYS})[A-Za-z0-9_.-]*["']?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"',;&}}\]]+)"#
    ))
    .expect("a valid pattern")
});

/// Long unbroken runs of base64 (an AWS secret access key is 40): taken when
/// nothing else named them. Hex digests (git commits, sha256) are left alone.
static OPAQUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Za-z0-9/+]{40}(?:[A-Za-z0-9/+]{0,200})\b").expect("a valid pattern")
});

/// E-mail addresses: personal data, not a secret, but no business of a model
/// or a notice.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b").expect("a valid pattern")
});

/// Every shape above in one automaton. Each shape changes only what it
/// matches, so text that none of them matches (most text) leaves
/// [`redact_plain`] unchanged: one scan tells, instead of one per shape.
static ANY: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(PATTERNS.iter().map(|(pattern, _)| pattern.as_str()).chain([
        URL_CREDENTIALS.as_str(),
        KEYED.as_str(),
        OPAQUE.as_str(),
        EMAIL.as_str(),
    ]))
    .expect("valid patterns")
});

/// Terminal colour and cursor sequences (`ESC [ … letter`): coloured logs
/// glue them to what follows (`\x1b[31mghp_…`), where they would hide a
/// secret from the word boundaries below.
/// The final byte is any of `@`–`~` but `[`: a mark (`[REDACTED…`) after an
/// escape is never read as one.
static ANSI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[ -/]*[@-Z\\-~]").expect("a valid pattern"));

/// `text` with every secret-looking string replaced, and how many were.
///
/// What is left of text with terminal sequences is read once more without
/// them: when that finds more, the text goes on without them (a secret
/// outweighs the colours); otherwise the sequences stay, for
/// [`crate::text::clean`] to show.
pub fn redact(text: &str) -> (String, usize) {
    // Without an escape character there is no terminal sequence to hide a
    // secret from the shapes: one scan says whether there is anything to do.
    if !text.contains('\u{1b}') && !ANY.is_match(text) {
        return (text.to_owned(), 0);
    }
    redact_every_shape(text)
}

/// [`redact`] without its first scan: each shape in turn.
fn redact_every_shape(text: &str) -> (String, usize) {
    let (out, found) = redact_plain(text);
    if ANSI.is_match(&out) {
        let (bare, more) = redact_plain(&ANSI.replace_all(&out, ""));
        if more > 0 {
            return (bare, found + more);
        }
    }
    (out, found)
}

fn redact_plain(text: &str) -> (String, usize) {
    let mut text = text.to_owned();
    let mut count = 0;
    for (pattern, with) in PATTERNS.iter() {
        let n = pattern.find_iter(&text).count();
        if n > 0 {
            count += n;
            text = pattern.replace_all(&text, *with).into_owned();
        }
    }
    let n = URL_CREDENTIALS.find_iter(&text).count();
    if n > 0 {
        count += n;
        text = URL_CREDENTIALS
            .replace_all(&text, format!("${{1}}{MARK}@"))
            .into_owned();
    }
    let mut keyed = 0;
    text = KEYED
        .replace_all(&text, |c: &Captures| {
            let value = &c[2];
            // Already taken by a pattern above: counted there.
            if value.contains("[REDACTED") {
                return c[0].to_owned();
            }
            keyed += 1;
            let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'');
            match quote {
                Some(q) => format!("{}{q}{MARK}{q}", &c[1]),
                None => format!("{}{MARK}", &c[1]),
            }
        })
        .into_owned();
    count += keyed;
    for pattern in [&*OPAQUE, &*EMAIL] {
        let found: Vec<_> = pattern
            .find_iter(&text)
            .filter(|m| !is_hex(m.as_str()))
            .map(|m| m.range())
            .collect();
        for range in found.into_iter().rev() {
            text.replace_range(range, MARK);
            count += 1;
        }
    }
    // An escape character left just before a mark would read as the start
    // of a terminal sequence (`ESC [ R…`) and eat it on the next pass:
    // found by the fuzzing campaign. It was part of what was hidden.
    if count > 0 {
        text = text.replace("\u{1b}[REDACTED", "[REDACTED");
    }
    (text, count)
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line per shape: (the line, the secret that must not survive it).
    /// The values are made up in each service's published format.
    const SECRETS: &[(&str, &str)] = &[
        ("key AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
        // Found by the fuzzing campaign: a colour code glued to the key.
        (
            "\u{1b}[31mAKIAIOSFODNN7EXAMPLE\u{1b}[0m",
            "AKIAIOSFODNN7EXAMPLE",
        ),
        (
            "\u{1b}[32mghp_abcdefghijklmnopqrstuvwxyz0123456789\u{1b}[0m",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        ),
        (
            "\"password\": \"\u{1b}AKIAIOSFODNN7EXAMPLE\"",
            "AKIAIOSFODNN7EXAMPLE",
        ),
        // The same: a cursor sequence eats the key's first letter, and a
        // colour code hides the URL's boundary.
        (
            "\u{1b}[AKIAIOSFODNN7EXAMPLE\u{1b}[31mhttps://user:pw@host/",
            "user:pw",
        ),
        (
            "AKIAIOSFODNN7EXAMPLERuntime.OutOfMemory",
            "AKIAIOSFODNN7EXAMPLE",
        ),
        ("\\nAKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("temporary ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
        (
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI",
        ),
        (
            "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY alone",
            "wJalrXUtnFEMI",
        ),
        (r#"{"password": "hunter2!x", "user": "a"}"#, "hunter2"),
        (r#"{"password":"p\"q","user":"a"}"#, "p\\\"q"),
        ("login password=correct-horse user=x", "correct-horse"),
        ("db_password: s3cr3t-value", "s3cr3t-value"),
        ("access_token=ya29.a0AfH6SMBx3", "ya29.a0AfH6SMBx3"),
        ("refresh_token=1//0gLx9-abcdef", "1//0gLx9-abcdef"),
        (
            "client_secret=GOCSPX-1234567890abcdef",
            "GOCSPX-1234567890abcdef",
        ),
        (r#"{'api_key': 'k-1234567890', 'n': 1}"#, "k-1234567890"),
        ("X-Api-Key: 0123456789abcdefXYZ", "0123456789abcdefXYZ"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7V1\n-----END RSA PRIVATE KEY-----",
            "MIIEpAIBAAKCAQEA7V1",
        ),
        (
            "key: -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA (cut",
            "b3BlbnNzaC1rZXktdjEAAAAA",
        ),
        (
            "connecting to postgres://orders:Sup3rS3cret@db.internal:5432/orders",
            "Sup3rS3cret",
        ),
        (
            "GET https://deploy:tok123456@git.example.com/repo.git",
            "tok123456",
        ),
        (
            "token ghp_16C7e42F292c6912E7710c838347Ae178B4a used",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        ),
        (
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF",
            "github_pat_11ABCDEFG",
        ),
        ("glpat-xxxxXXXXxxxxXXXXxxxx", "glpat-xxxxXXXXxxxxXXXXxxxx"),
        (
            "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "xoxb-123456789012",
        ),
        (
            "posting to https://hooks.slack.com/services/T000/B000/XXXXXXXX",
            "T000/B000/XXXXXXXX",
        ),
        (
            "charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ),
        (
            "rk_test_51H8abcdefghijklmnop",
            "rk_test_51H8abcdefghijklmnop",
        ),
        (
            "maps key AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
            "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
        ),
        (
            "npm_abcdefghijklmnopqrstuvwxyz0123456789 set",
            "npm_abcdefghijklmnopqrstuvwxyz0123456789",
        ),
        (
            "openai sk-proj-abcdefghijklmnopqrstuvwxyz0123456789AB",
            "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789AB",
        ),
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        (
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "dXNlcjpwYXNzd29yZA==",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sflKxwRJSMeKKF2QT4fwpM",
            "eyJzdWIiOiIxMjMifQ",
        ),
        ("mail ops@example.com now", "ops@example.com"),
    ];

    #[test]
    fn every_secret_shape_is_redacted() {
        for (line, secret) in SECRETS {
            let (clean, n) = redact(line);
            assert!(!clean.contains(secret), "{secret} survived: {clean}");
            assert!(n >= 1, "no redaction counted in {clean}");
            assert!(clean.contains("[REDACTED"), "{clean}");
            assert_eq!(redact(&clean).1, 0, "a second pass finds more in {clean:?}");
        }
    }

    #[test]
    fn ordinary_lines_pass_unchanged() {
        for line in [
            "REPORT RequestId: 3fea1d09-0404-4289-a419-d9f9fc44b590\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB",
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
            "commit 3b18e512dba79e4c8300dd08aeb37f8e728b8dad deployed",
            "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "Task timed out after 3.00 seconds",
            "max_tokens reached after 12 tries",
        ] {
            assert_eq!(redact(line), (line.to_owned(), 0), "{line}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        /// The one-scan shortcut never lets through what the shapes, each
        /// in turn, would have taken: text made of secrets, their near
        /// misses, separators and noise.
        #[test]
        fn the_first_scan_changes_nothing(
            parts in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(SECRETS.iter().map(|(l, _)| *l).collect::<Vec<_>>())
                        .prop_map(str::to_owned),
                    proptest::sample::select(SECRETS.iter().map(|(_, s)| *s).collect::<Vec<_>>())
                        .prop_map(|s| s[..s.len() / 2].to_owned()),
                    proptest::sample::select(vec![
                        " ", "=", ":", "\"", "'", "@", "://", "\u{1b}[31m", "-----", "\n", "token", "AKIA", "eyJ",
                    ])
                    .prop_map(str::to_owned),
                    "[ -~]{0,24}",
                ],
                0..8,
            )
        ) {
            let text = parts.concat();
            prop_assert_eq!(redact(&text), redact_every_shape(&text));
        }
    }

    #[test]
    fn a_redacted_text_redacts_to_itself() {
        for (line, _) in SECRETS {
            let (once, _) = redact(line);
            let (twice, n) = redact(&once);
            assert_eq!(once, twice);
            assert_eq!(n, 0, "{once}");
        }
    }
}
