//! Log level detection for captured lines: structured markers first, then words.
//!
//! [`detect`] runs on every stderr/stdout line, so the common path allocates nothing (only a
//! line with ANSI escapes is copied, to strip them; only a line starting with `{` is parsed
//! as JSON, and then only the level fields' values are kept). The result is one of `error`,
//! `warn`, `info`, `debug`, plus the level text as the line wrote it (`WARNING`, `warn`,
//! `E`, `50`, `ERR`, `Error`), when it wrote one. Names map as: trace/verbose/silly/fine →
//! `debug`; notice/http → `info`; fatal/critical/crit/panic/emergency/alert/severe → `error`.
//!
//! The line is first stripped of ANSI CSI sequences (`\x1b[31m`…) and trimmed. Then, in
//! order, the first rule that answers wins:
//!
//! 1. **JSON.** A line starting with `{` that parses as a JSON object: the first of the
//!    fields `level`, `severity`, `lvl`, `levelname`, `log.level` (or `log: {level}`), `@l`,
//!    `loglevel`, `@level` (keys case-insensitive) holding a known name (any case; winston's
//!    `http`/`verbose`/`silly` included) or, for `level`/`lvl`, a pino/bunyan number (10
//!    trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal; ranges between). A JSON object
//!    without such a field is `info` — words inside JSON values are never looked at
//!    (`{"msg":"0 errors"}`, a JSON-RPC `"error"` member). An unknown level text is kept as
//!    the original with level `info`. A line that does not parse goes on to the next rules.
//! 2. **logfmt.** `level=`, `lvl=`, `severity=`, `loglevel=`, `log.level=` anywhere in the
//!    line (key at a boundary, value bare or `"quoted"`) with a known name: logrus text,
//!    Go `slog`, zerolog/logfmt.
//! 3. **Prefixes.** The head of the line is read token by token (whitespace-separated;
//!    `[…]` is one token): timestamps (`2026-01-01T00:00:00.000Z`, `2026-01-01 00:00:00,123`,
//!    `2026/01/01`, `12:00AM`, `+0000`), bracketed or parenthesised tags (`[12:00:01]`,
//!    `[main]`, `(node:1234)`) and separators (`-`, `|`, `---`) are skipped; after a
//!    timestamp up to two free-form tokens (a logger name) are too. The first label wins:
//!    - `[ERROR]`, `[warn]`, `[ INFO ]` (any case), `[2026-… ERROR my_crate]` (env_logger:
//!      uppercase level after the time), `[I 240101 12:00:00 web:1]` / `[W]` (tornado letters);
//!    - `ERROR:`, `Warning:`, `info:`, `WARNING:root:msg`, `INFO:     Started…` (uvicorn),
//!      `error[E0308]:` (rustc), `panic:` (Go), `fail:`/`dbug:` (.NET) — any case before any
//!      free-form token, uppercase or Capitalised after one (`- name - ERROR - msg`);
//!    - a bare uppercase level word: `WARN msg`, Rust tracing `…Z  WARN target: msg`, Java
//!      `… 12:00:00.000  WARN 1234 --- [main]`, loguru `… | INFO     | …`, zerolog console
//!      `INF`/`WRN`/`ERR`/`DBG`, logrus TTY `WARN[0000]`; after a timestamp also the common
//!      lowercase/Capitalised ones (`12:00:01 info msg`);
//!    - at the very start only: glog/klog `E0101 12:00:00.000 …` (`I`/`W`/`E`/`F`, original
//!      is the letter), npm's `npm WARN`/`npm warn`/`npm ERR!` (original `ERR`)/`npm error`/
//!      `npm notice`/`npm verb`…, `Traceback (most recent call last):` and
//!      `thread '…' panicked at` (error, no original).
//!
//!    Some names (`ALERT`, `FINE`, `INF`, `WRN`, `DBG`) count only in uppercase, so prose such as
//!    `Alert: new version` is not a label.
//! 4. **Words**, case-insensitive, at word boundaries (`_` and non-ASCII are word
//!    characters, so `terror`, `mirror`, `error_count` do not match): `error(s)`, `failed`,
//!    `failure(s)`, `fatal`, `exception(s)`, `panicked` → error; `warning(s)`, `warn`,
//!    `deprecated`, `deprecation` → warn; an identifier ending in `Error`/`Exception`/
//!    `Warning` followed by `:` (`TypeError:`, `java.lang.IllegalStateException:`,
//!    `DeprecationWarning:`) → error/warn. Any error word wins over warn words. Not counted:
//!    - the "0 errors" family: preceded by `0`/`no`/`zero`/`without`/`non`/`never`
//!      (directly, or across one filler like `no new errors`, `0 tests failed`), or
//!      followed by `0`/`none`/`null`/`nil`/`false` (optionally after `:`/`=`:
//!      `errors: 0`, `Errors: none`), or by `-free`; `errorless` is another word;
//!    - path and dotted parts: a word after `/`, `\` or `.`, or before `/`, `\` or
//!      `.x` (`mcp/error.py`, `uvicorn.error`, `/api/errors`).
//!
//!    Word matches carry no original: the word is not a level label.
//! 5. Otherwise `info`.
//!
//! The detector sees one line at a time, so continuation lines are judged on their own:
//! a JS stack frame (`    at Object.<anonymous> (…)`), a Python `  File "…", line 3` or a
//! Go `goroutine 1 [running]:` stays `info` even though it follows an error line.
//!
//! MCP `notifications/message` levels go through [`from_mcp`] instead.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

const ERROR: &str = "error";
const WARN: &str = "warn";
const INFO: &str = "info";
const DEBUG: &str = "debug";

/// A detected level: one of `error`, `warn`, `info`, `debug`, and the level text as the
/// line wrote it, when it wrote one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub level: &'static str,
    pub original: Option<String>,
}

impl Detected {
    fn new(level: &'static str, original: &str) -> Detected {
        Detected {
            level,
            original: Some(original.to_string()),
        }
    }

    fn plain(level: &'static str) -> Detected {
        Detected {
            level,
            original: None,
        }
    }
}

/// The level of one line.
pub fn detect(message: &str) -> Detected {
    let clean = strip_ansi(message);
    let line = clean.trim();
    if line.starts_with('{')
        && let Some(found) = json_level(line)
    {
        return found;
    }
    if let Some(found) = logfmt_level(line) {
        return found;
    }
    if let Some(found) = prefix_level(line) {
        return found;
    }
    word_level(line)
}

/// MCP `notifications/message` levels (RFC 5424: debug, info, notice, warning, error,
/// critical, alert, emergency) mapped to ours; case-insensitive, other level names we know
/// (`warn`, `fatal`, `trace`…) map as in [`detect`], anything else is `info`.
pub fn from_mcp(level: &str) -> &'static str {
    structured_name(level.trim()).unwrap_or(INFO)
}

// ---------------------------------------------------------------------------------------
// Level names.

/// Where a name counts as a level outside structured fields (JSON, logfmt).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Head {
    /// In any case: `[warn]`, `Error:`.
    Any,
    /// Only written in uppercase: `ALERT`, `INF`; `Alert:` is prose.
    Upper,
    /// Only in structured fields (`http`, `silly`).
    Never,
}

const NAMES: &[(&str, &str, Head)] = &[
    ("error", ERROR, Head::Any),
    ("err", ERROR, Head::Any),
    ("fatal", ERROR, Head::Any),
    ("critical", ERROR, Head::Any),
    ("crit", ERROR, Head::Any),
    ("panic", ERROR, Head::Any),
    ("emergency", ERROR, Head::Any),
    ("emerg", ERROR, Head::Any),
    ("severe", ERROR, Head::Any),
    ("fail", ERROR, Head::Any),
    ("alert", ERROR, Head::Upper),
    ("ftl", ERROR, Head::Upper),
    ("pnc", ERROR, Head::Upper),
    ("warn", WARN, Head::Any),
    ("warning", WARN, Head::Any),
    ("wrn", WARN, Head::Upper),
    ("info", INFO, Head::Any),
    ("notice", INFO, Head::Any),
    ("information", INFO, Head::Any),
    ("inf", INFO, Head::Upper),
    ("informational", INFO, Head::Never),
    ("http", INFO, Head::Never),
    ("default", INFO, Head::Never),
    ("debug", DEBUG, Head::Any),
    ("dbug", DEBUG, Head::Any),
    ("trace", DEBUG, Head::Any),
    ("trce", DEBUG, Head::Any),
    ("verbose", DEBUG, Head::Any),
    ("dbg", DEBUG, Head::Upper),
    ("trc", DEBUG, Head::Upper),
    ("fine", DEBUG, Head::Upper),
    ("finer", DEBUG, Head::Upper),
    ("finest", DEBUG, Head::Upper),
    ("silly", DEBUG, Head::Never),
];

fn lookup(name: &str) -> Option<(&'static str, Head)> {
    NAMES
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, level, head)| (level, head))
}

/// A level name in a structured field: every name, any case.
fn structured_name(name: &str) -> Option<&'static str> {
    lookup(name).map(|(level, _)| level)
}

/// A level name as a label in the line's head, respecting [`Head`].
fn header_name(name: &str) -> Option<&'static str> {
    match lookup(name)? {
        (level, Head::Any) => Some(level),
        (level, Head::Upper) if is_upper(name) => Some(level),
        _ => None,
    }
}

/// The names that also count bare in lower or title case, right after a timestamp.
fn is_common_name(name: &str) -> bool {
    [
        "error", "warn", "warning", "info", "debug", "trace", "fatal", "notice", "critical",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name))
}

/// pino/bunyan numbering: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
fn pino(n: f64) -> &'static str {
    if n >= 50.0 {
        ERROR
    } else if n >= 40.0 {
        WARN
    } else if n >= 30.0 {
        INFO
    } else {
        DEBUG
    }
}

/// All letters uppercase, and at least one letter.
fn is_upper(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_alphabetic()) && !s.bytes().any(|b| b.is_ascii_lowercase())
}

/// `Error`, `Warning`: one uppercase letter, then lowercase.
fn is_capitalized(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_uppercase()) && bytes.all(|b| b.is_ascii_lowercase())
}

fn starts_with_ci(s: &[u8], prefix: &str) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

// ---------------------------------------------------------------------------------------
// ANSI.

/// Removes CSI sequences (`ESC [ params final`) and other escapes (`ESC ( B`); borrows when the
/// line has no escape.
fn strip_ansi(s: &str) -> Cow<'_, str> {
    if !s.as_bytes().contains(&0x1b) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        rest = if let Some(csi) = after.strip_prefix('[') {
            match csi.bytes().position(|b| (0x40..=0x7e).contains(&b)) {
                Some(end) => &csi[end + 1..],
                None => "",
            }
        } else {
            // ESC, intermediates (`(`, `#`…), one final character: `ESC ( B`, `ESC =`.
            let after = after.trim_start_matches(|c: char| (' '..='/').contains(&c));
            let mut chars = after.chars();
            chars.next();
            chars.as_str()
        };
    }
    out.push_str(rest);
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------------------
// 1. JSON.

/// Keys whose value is a level, in order of preference; matched case-insensitively.
const JSON_KEYS: [&str; 8] = [
    "level",
    "severity",
    "lvl",
    "levelname",
    "log.level",
    "@l",
    "loglevel",
    "@level",
];
/// Where `{"log": {"level": …}}` (ECS, nested) is kept: with `log.level`.
const NESTED_LOG_SLOT: usize = 4;

/// Whether the key at this index may hold a pino/bunyan number.
fn numeric_key(index: usize) -> bool {
    matches!(JSON_KEYS[index], "level" | "lvl")
}

enum JsonValue {
    Text(String),
    /// As written, and its value.
    Number(String, f64),
}

/// The level fields' values, indexed like [`JSON_KEYS`].
type JsonFields = [Option<JsonValue>; JSON_KEYS.len()];

fn json_level(line: &str) -> Option<Detected> {
    let mut de = serde_json::Deserializer::from_str(line);
    let fields = (&mut de).deserialize_map(FieldsVisitor).ok()?;
    de.end().ok()?;
    let mut unknown: Option<&str> = None;
    for (index, value) in fields.iter().enumerate() {
        match value {
            Some(JsonValue::Text(text)) => {
                let text = text.trim();
                if let Some(level) = structured_name(text) {
                    return Some(Detected::new(level, text));
                }
                if numeric_key(index)
                    && !text.is_empty()
                    && text.bytes().all(|b| b.is_ascii_digit())
                    && let Ok(n) = text.parse::<u32>()
                {
                    return Some(Detected::new(pino(f64::from(n)), text));
                }
                if unknown.is_none() && !text.is_empty() && text.len() <= 32 {
                    unknown = Some(text);
                }
            }
            Some(JsonValue::Number(text, n)) if numeric_key(index) => {
                return Some(Detected::new(pino(*n), text));
            }
            _ => {}
        }
    }
    Some(match unknown {
        Some(text) => Detected::new(INFO, text),
        None => Detected::plain(INFO),
    })
}

/// A key of the top-level object (or of a nested `log` object), matched without allocating.
enum JsonKey {
    Level(usize),
    Log,
    Other,
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = JsonKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<JsonKey, E> {
        Ok(
            if let Some(index) = JSON_KEYS.iter().position(|k| k.eq_ignore_ascii_case(key)) {
                JsonKey::Level(index)
            } else if key.eq_ignore_ascii_case("log") {
                JsonKey::Log
            } else {
                JsonKey::Other
            },
        )
    }
}

impl<'de> de::Deserialize<'de> for JsonKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JsonKey, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

/// The top-level object: keeps the first value of each level key, skips everything else.
struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = JsonFields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonFields, A::Error> {
        let mut fields: JsonFields = [const { None }; JSON_KEYS.len()];
        while let Some(key) = map.next_key::<JsonKey>()? {
            let (slot, in_log) = match key {
                JsonKey::Level(index) => (index, false),
                JsonKey::Log => (NESTED_LOG_SLOT, true),
                JsonKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let value = map.next_value_seed(ValueSeed { in_log })?;
            if fields[slot].is_none() {
                fields[slot] = value;
            }
        }
        Ok(fields)
    }
}

/// A level field's value: a string or a number; anything else is skipped. With `in_log`,
/// the value of a `log` key: only an object's `level` member counts.
struct ValueSeed {
    in_log: bool,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Option<JsonValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<JsonValue>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Option<JsonValue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<JsonValue>, E> {
        Ok((!self.in_log).then(|| JsonValue::Text(s.to_string())))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<JsonValue>, E> {
        Ok((!self.in_log).then(|| JsonValue::Number(n.to_string(), n as f64)))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Option<JsonValue>, E> {
        Ok((!self.in_log).then(|| JsonValue::Number(n.to_string(), n as f64)))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Option<JsonValue>, E> {
        Ok((!self.in_log).then(|| JsonValue::Number(n.to_string(), n)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<JsonValue>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<JsonValue>, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<JsonValue>, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<JsonValue>, A::Error> {
        if !self.in_log {
            return IgnoredAny.visit_map(map).map(|_| None);
        }
        let mut found = None;
        while let Some(key) = map.next_key::<JsonKey>()? {
            if matches!(key, JsonKey::Level(0)) && found.is_none() {
                found = map.next_value_seed(ValueSeed { in_log: false })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

// ---------------------------------------------------------------------------------------
// 2. logfmt.

const LOGFMT_KEYS: [&str; 5] = ["level", "lvl", "severity", "loglevel", "log.level"];

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

fn logfmt_level(line: &str) -> Option<Detected> {
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(offset) = line[from..].find('=') {
        let eq = from + offset;
        from = eq + 1;
        let head = &bytes[..eq];
        let keyed = LOGFMT_KEYS.iter().any(|key| {
            let start = head.len().wrapping_sub(key.len());
            head.len() >= key.len()
                && head[start..].eq_ignore_ascii_case(key.as_bytes())
                && (start == 0 || !is_key_byte(head[start - 1]))
        });
        if !keyed {
            continue;
        }
        let rest = &line[eq + 1..];
        let value = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next().unwrap_or(""),
            None => rest
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or("")
                .trim_end_matches([',', ';']),
        };
        if let Some(level) = structured_name(value) {
            return Some(Detected::new(level, value));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// 3. Prefixes.

/// Tokens read from the head of a line at most.
const HEAD_TOKENS: usize = 8;
/// Free-form tokens (a logger name) skipped after a timestamp at most.
const HEAD_NAMES: usize = 2;

fn prefix_level(line: &str) -> Option<Detected> {
    if line.starts_with("Traceback (most recent call last)")
        || (line.starts_with("thread '") && line.contains("' panicked at"))
    {
        return Some(Detected::plain(ERROR));
    }
    let mut pos = 0;
    let mut timed = false;
    let mut names = 0;
    for index in 0..HEAD_TOKENS {
        let Some((token, next)) = next_token(line, pos) else {
            break;
        };
        if index == 0 {
            if token == "npm" {
                return npm_level(&line[next..]);
            }
            if let Some(found) = glog_level(token, &line[next..]) {
                return Some(found);
            }
        }
        if let Some(found) = label(token, timed, names == 0) {
            return Some(found);
        }
        if let Some(inner) = bracketed(token) {
            let mut parts = inner.split_ascii_whitespace().peekable();
            if parts.peek().is_some() && parts.all(is_timestamp) {
                timed = true;
            }
        } else if is_timestamp(token) {
            timed = true;
        } else if !is_separator(token) && !is_parenthesized(token) {
            // Free-form: a logger name after a timestamp, else the message has begun.
            if !timed || names == HEAD_NAMES {
                break;
            }
            names += 1;
        }
        pos = next;
    }
    None
}

/// The next token from `pos`: a `[…]` group, or a run of non-whitespace; and where it ends.
fn next_token(line: &str, pos: usize) -> Option<(&str, usize)> {
    let bytes = line.as_bytes();
    let start = pos + bytes[pos..].iter().position(|b| !b.is_ascii_whitespace())?;
    if bytes[start] == b'['
        && let Some(close) = bytes[start..].iter().position(|&b| b == b']')
    {
        let end = start + close + 1;
        return Some((&line[start..end], end));
    }
    let end = bytes[start..]
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .map_or(bytes.len(), |n| start + n);
    Some((&line[start..end], end))
}

fn bracketed(token: &str) -> Option<&str> {
    token.strip_prefix('[')?.strip_suffix(']')
}

/// `WARN[0000]` → `WARN`, `error[E0308]` → `error`.
fn strip_bracket_suffix(s: &str) -> &str {
    match s.find('[') {
        Some(open) if open > 0 && s.ends_with(']') => &s[..open],
        _ => s,
    }
}

/// `2026-01-01T00:00:00.000Z`, `00:00:00,123`, `2026/01/01`, `12:00AM`, `+0000`.
fn is_timestamp(token: &str) -> bool {
    let token = token
        .strip_suffix("AM")
        .or_else(|| token.strip_suffix("PM"))
        .unwrap_or(token);
    let mut digits = 0;
    let mut separators = 0;
    for b in token.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'-' | b':' | b'/' => separators += 1,
            b'.' | b',' | b'T' | b'Z' | b'+' => {}
            _ => return false,
        }
    }
    digits >= 2 && (separators > 0 || token.starts_with('+'))
}

/// `(node:1234)`, `(1234)`.
fn is_parenthesized(token: &str) -> bool {
    token.starts_with('(') && token.ends_with(')')
}

/// `-`, `|`, `---`, `::`.
fn is_separator(token: &str) -> bool {
    token.len() <= 3 && token.bytes().all(|b| b.is_ascii_punctuation())
}

/// A level label token. `timed`: a timestamp came before; `clean`: no free-form token did.
fn label(token: &str, timed: bool, clean: bool) -> Option<Detected> {
    if let Some(inner) = bracketed(token) {
        return bracket_label(inner);
    }
    if let Some(colon) = token.find(':') {
        let head = strip_bracket_suffix(&token[..colon]);
        let level = header_name(head)?;
        return (clean || is_upper(head) || is_capitalized(head))
            .then(|| Detected::new(level, head));
    }
    let word = strip_bracket_suffix(token);
    let level = header_name(word)?;
    (is_upper(word) || (timed && clean && is_common_name(word))).then(|| Detected::new(level, word))
}

/// `[ERROR]`, `[ warn ]`, `[2026-01-01T00:00:00Z ERROR my_crate]`, `[I 240101 12:00:00 x]`.
fn bracket_label(inner: &str) -> Option<Detected> {
    let mut parts = inner
        .split_ascii_whitespace()
        .skip_while(|part| is_timestamp(part));
    let first = parts.next()?;
    let second = parts.next();
    if let Some(level) = header_name(first)
        && (second.is_none() || is_upper(first))
    {
        return Some(Detected::new(level, first));
    }
    if first.len() == 1
        && second.is_none_or(|s| s.starts_with(|c: char| c.is_ascii_digit()))
        && let Some(level) = letter_level(first.as_bytes()[0])
    {
        return Some(Detected::new(level, first));
    }
    None
}

/// glog/klog/tornado single letters.
fn letter_level(letter: u8) -> Option<&'static str> {
    match letter {
        b'E' | b'F' | b'C' => Some(ERROR),
        b'W' => Some(WARN),
        b'I' => Some(INFO),
        b'D' => Some(DEBUG),
        _ => None,
    }
}

/// glog/klog: `E0101 12:00:00.000000 1234 file.go:12] msg`.
fn glog_level(token: &str, rest: &str) -> Option<Detected> {
    let bytes = token.as_bytes();
    let time = rest.trim_start().as_bytes();
    if bytes.len() == 5
        && matches!(bytes[0], b'I' | b'W' | b'E' | b'F')
        && bytes[1..].iter().all(u8::is_ascii_digit)
        && time.len() >= 3
        && time[..2].iter().all(u8::is_ascii_digit)
        && time[2] == b':'
    {
        return letter_level(bytes[0]).map(|level| Detected::new(level, &token[..1]));
    }
    None
}

/// `npm WARN deprecated …`, `npm ERR! code E404`, `npm error …`, `npm notice …`.
fn npm_level(rest: &str) -> Option<Detected> {
    let (word, _) = next_token(rest, 0)?;
    let word = word.strip_suffix('!').unwrap_or(word);
    let level = match word.to_ascii_lowercase().as_str() {
        "err" | "error" => ERROR,
        "warn" | "warning" => WARN,
        "notice" | "info" | "http" => INFO,
        "verb" | "verbose" | "sill" | "silly" | "timing" => DEBUG,
        _ => return None,
    };
    Some(Detected::new(level, word))
}

// ---------------------------------------------------------------------------------------
// 4. Words.

const ERROR_WORDS: [&str; 9] = [
    "error",
    "errors",
    "failed",
    "failure",
    "failures",
    "fatal",
    "exception",
    "exceptions",
    "panicked",
];
const WARN_WORDS: [&str; 5] = ["warning", "warnings", "warn", "deprecated", "deprecation"];
/// Words that negate a following error/warn word: "0 errors", "no errors", "non-fatal".
const NEGATORS: [&str; 6] = ["0", "no", "zero", "without", "non", "never"];
/// Words that may stand between a negator and its word: "no new errors", "0 tests failed".
const FILLERS: [&str; 20] = [
    "any",
    "new",
    "more",
    "other",
    "further",
    "known",
    "fatal",
    "critical",
    "serious",
    "type",
    "syntax",
    "lint",
    "compile",
    "compilation",
    "runtime",
    "test",
    "tests",
    "check",
    "checks",
    "unhandled",
];
/// Words after an error/warn word (optionally past `:`/`=`) that negate it: "errors: 0".
const ZEROES: [&str; 4] = ["none", "null", "nil", "false"];

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn word_level(line: &str) -> Detected {
    let bytes = line.as_bytes();
    let mut warned = false;
    let mut prev: Option<(usize, usize)> = None;
    let mut prev2: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < bytes.len() {
        if !is_word_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_word_byte(bytes[i]) {
            i += 1;
        }
        let word = &line[start..i];
        let level = if let Some(level) = class_level(word, bytes.get(i).copied()) {
            Some(level)
        } else if let Some(level) = word_kind(word) {
            (!embedded(bytes, start, i) && !negated(line, start, i, prev, prev2)).then_some(level)
        } else {
            None
        };
        match level {
            Some(ERROR) => return Detected::plain(ERROR),
            Some(_) => warned = true,
            None => {}
        }
        prev2 = prev;
        prev = Some((start, i));
    }
    Detected::plain(if warned { WARN } else { INFO })
}

fn word_kind(word: &str) -> Option<&'static str> {
    if word.len() > 11 {
        return None;
    }
    if ERROR_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word)) {
        Some(ERROR)
    } else if WARN_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word)) {
        Some(WARN)
    } else {
        None
    }
}

/// `TypeError:`, `IllegalStateException:`, `DeprecationWarning:`.
fn class_level(word: &str, next: Option<u8>) -> Option<&'static str> {
    if next != Some(b':') {
        return None;
    }
    [("Error", ERROR), ("Exception", ERROR), ("Warning", WARN)]
        .into_iter()
        .find(|(suffix, _)| word.len() > suffix.len() && word.ends_with(suffix))
        .map(|(_, level)| level)
}

/// Part of a path or dotted name: `mcp/error.py`, `uvicorn.error`, `/api/errors`.
fn embedded(bytes: &[u8], start: usize, end: usize) -> bool {
    let before = start.checked_sub(1).map(|i| bytes[i]);
    let after = bytes.get(end).copied();
    matches!(before, Some(b'/' | b'\\' | b'.'))
        || matches!(after, Some(b'/' | b'\\'))
        || (after == Some(b'.') && bytes.get(end + 1).is_some_and(|&b| is_word_byte(b)))
}

/// The "0 errors" family.
fn negated(
    line: &str,
    start: usize,
    end: usize,
    prev: Option<(usize, usize)>,
    prev2: Option<(usize, usize)>,
) -> bool {
    let bytes = line.as_bytes();
    if starts_with_ci(&bytes[end..], "-free") {
        return true;
    }
    // Followed by a zero: "errors: 0", "Errors: none", "error=nil".
    let mut j = end;
    while bytes.get(j).is_some_and(|&b| b == b' ' || b == b'\t') {
        j += 1;
    }
    if matches!(bytes.get(j), Some(b':' | b'=')) {
        j += 1;
        while bytes.get(j).is_some_and(|&b| b == b' ' || b == b'\t') {
            j += 1;
        }
    }
    let rest = &bytes[j.min(bytes.len())..];
    let word_len = rest.iter().take_while(|&&b| is_word_byte(b)).count();
    let next_word = &rest[..word_len];
    let decimal =
        rest.get(word_len) == Some(&b'.') && rest.get(word_len + 1).is_some_and(u8::is_ascii_digit);
    if (next_word == b"0" && !decimal)
        || ZEROES
            .iter()
            .any(|z| next_word.eq_ignore_ascii_case(z.as_bytes()))
    {
        return true;
    }
    // Preceded by a negator: "0 errors", "no errors", "non-fatal", "no new errors".
    let adjacent = |from: usize, to: usize| {
        from < to
            && bytes[from..to]
                .iter()
                .all(|&b| matches!(b, b' ' | b'\t' | b'-'))
    };
    let is_in = |list: &[&str], (s, e): (usize, usize)| {
        list.iter().any(|w| w.eq_ignore_ascii_case(&line[s..e]))
    };
    if let Some(p) = prev
        && adjacent(p.1, start)
    {
        if is_in(&NEGATORS, p) {
            return true;
        }
        if is_in(&FILLERS, p)
            && let Some(q) = prev2
            && adjacent(q.1, p.0)
            && is_in(&NEGATORS, q)
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: &str = ERROR;
    const W: &str = WARN;
    const I: &str = INFO;
    const D: &str = DEBUG;

    /// (line, level, original as written).
    const CASES: &[(&str, &str, Option<&str>)] = &[
        // MCP servers' own startup lines.
        ("Secure MCP Filesystem Server running on stdio", I, None),
        ("Starting default (STDIO) server...", I, None),
        ("Allowed directories: [ '/tmp' ]", I, None),
        ("GitHub MCP Server running on stdio", I, None),
        ("Knowledge Graph MCP Server running on stdio", I, None),
        // Python logging: default, custom formats, uvicorn, FastMCP/rich, loguru, Flask.
        ("WARNING:root:disk almost full", W, Some("WARNING")),
        (
            "ERROR:mcp.server.lowlevel.server:Error processing request",
            E,
            Some("ERROR"),
        ),
        (
            "INFO:mcp.server.lowlevel.server:Processing request of type ListToolsRequest",
            I,
            Some("INFO"),
        ),
        (
            "DEBUG:asyncio:Using selector: EpollSelector",
            D,
            Some("DEBUG"),
        ),
        (
            "2026-01-01 00:00:00,123 - mcp.server - ERROR - failed to start",
            E,
            Some("ERROR"),
        ),
        (
            "2026-01-01 00:00:00,123 - uvicorn.error - INFO - Application startup complete.",
            I,
            Some("INFO"),
        ),
        (
            "2026-01-01 00:00:00,123 WARNING my_server Slow tool call",
            W,
            Some("WARNING"),
        ),
        (
            "2026-01-01 00:00:00,123 [CRITICAL] db: connection pool exhausted",
            E,
            Some("CRITICAL"),
        ),
        (
            "[2026-01-01 00:00:00,123] WARNING in app: Config file missing",
            W,
            Some("WARNING"),
        ),
        ("INFO:     Started server process [1234]", I, Some("INFO")),
        (
            "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",
            I,
            Some("INFO"),
        ),
        (
            "WARNING:  Invalid HTTP request received.",
            W,
            Some("WARNING"),
        ),
        ("ERROR:    Exception in ASGI application", E, Some("ERROR")),
        (
            "[01/01/26 12:00:00] INFO     Starting MCP server 'demo' with transport 'stdio'",
            I,
            Some("INFO"),
        ),
        (
            "                    WARNING  Tool 'x' already exists",
            W,
            Some("WARNING"),
        ),
        (
            "2026-01-01 12:00:00.000 | ERROR    | __main__:main:12 - boom",
            E,
            Some("ERROR"),
        ),
        (
            "[I 240101 12:00:00 web:2271] 200 GET /api (127.0.0.1) 1.00ms",
            I,
            Some("I"),
        ),
        ("Traceback (most recent call last):", E, None),
        (
            "ValueError: invalid literal for int() with base 10: 'x'",
            E,
            None,
        ),
        (
            "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='x', port=443)",
            E,
            None,
        ),
        (
            "  File \"/usr/lib/python3/site-packages/mcp/error.py\", line 3, in <module>",
            I,
            None,
        ),
        // Node: pino / bunyan numeric levels, winston, npm, plain errors.
        (
            r#"{"level":30,"time":1735689600000,"pid":1,"hostname":"h","msg":"listening"}"#,
            I,
            Some("30"),
        ),
        (
            r#"{"level":40,"time":1735689600000,"msg":"slow request"}"#,
            W,
            Some("40"),
        ),
        (
            r#"{"level":50,"time":1735689600000,"msg":"request failed"}"#,
            E,
            Some("50"),
        ),
        (r#"{"level":60,"msg":"out of memory"}"#, E, Some("60")),
        (r#"{"level":20,"msg":"cache miss"}"#, D, Some("20")),
        (r#"{"level":10,"msg":"enter handler"}"#, D, Some("10")),
        (
            r#"{"name":"app","hostname":"h","pid":1,"level":40,"msg":"slow","time":"2026-01-01T00:00:00.000Z","v":0}"#,
            W,
            Some("40"),
        ),
        (
            r#"{"level":"info","message":"Server started","timestamp":"2026-01-01T00:00:00.000Z"}"#,
            I,
            Some("info"),
        ),
        (
            r#"{"message":"Deprecated option","level":"warn"}"#,
            W,
            Some("warn"),
        ),
        (
            r#"{"level":"error","message":"Unhandled rejection"}"#,
            E,
            Some("error"),
        ),
        (
            r#"{"level":"http","message":"GET /health 200"}"#,
            I,
            Some("http"),
        ),
        (
            r#"{"level":"verbose","message":"payload"}"#,
            D,
            Some("verbose"),
        ),
        (r#"{"level":"silly","message":"tick"}"#, D, Some("silly")),
        (r#"{"msg":"0 errors"}"#, I, None),
        (
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#,
            I,
            None,
        ),
        (
            r#"{"severity":"ERROR","message":"quota exceeded"}"#,
            E,
            Some("ERROR"),
        ),
        (
            r#"{"levelname": "WARNING", "name": "mcp", "message": "retrying"}"#,
            W,
            Some("WARNING"),
        ),
        (
            r#"{"@timestamp":"2026-01-01T00:00:00Z","log.level":"error","message":"x"}"#,
            E,
            Some("error"),
        ),
        (
            r#"{"log":{"level":"warn","logger":"x"},"message":"y"}"#,
            W,
            Some("warn"),
        ),
        (
            r#"{"@t":"2026-01-01T00:00:00Z","@mt":"Disk low","@l":"Warning"}"#,
            W,
            Some("Warning"),
        ),
        (r#"{"Level":"Error","Message":"x"}"#, E, Some("Error")),
        ("{not json, an error}", E, None),
        (
            "npm WARN deprecated inflight@1.0.6: This module is not supported",
            W,
            Some("WARN"),
        ),
        (
            "npm warn deprecated glob@7.2.3: Glob versions prior to v9 are no longer supported",
            W,
            Some("warn"),
        ),
        ("npm ERR! code E404", E, Some("ERR")),
        ("npm error code ENOENT", E, Some("error")),
        (
            "npm notice New major version of npm available! 10.0.0 -> 11.0.0",
            I,
            Some("notice"),
        ),
        ("Error: Cannot find module 'express'", E, Some("Error")),
        (
            "TypeError: Cannot read properties of undefined (reading 'x')",
            E,
            None,
        ),
        ("Uncaught ReferenceError: x is not defined", E, None),
        ("    at Object.<anonymous> (/app/index.js:1:1)", I, None),
        (
            "(node:1234) [DEP0040] DeprecationWarning: The `punycode` module is deprecated.",
            W,
            None,
        ),
        (
            "(node:1234) Warning: Setting the NODE_TLS_REJECT_UNAUTHORIZED environment variable",
            W,
            Some("Warning"),
        ),
        ("info: Server listening on port 3000", I, Some("info")),
        (
            "error: connect ECONNREFUSED 127.0.0.1:5432",
            E,
            Some("error"),
        ),
        ("[12:00:01.000] WARN (1234): slow query", W, Some("WARN")),
        // Rust: tracing (plain and ANSI-coloured), env_logger, panics, rustc.
        (
            "2026-01-01T00:00:00.000000Z  WARN mcp_manager::health: probe timed out",
            W,
            Some("WARN"),
        ),
        (
            "2026-01-01T00:00:00.000000Z ERROR request{id=1}: mcp_manager: boom",
            E,
            Some("ERROR"),
        ),
        (
            "2026-01-01T00:00:00.000000Z DEBUG hyper::proto: flushed 12 bytes",
            D,
            Some("DEBUG"),
        ),
        (
            "2026-01-01T00:00:00.000000Z TRACE mio::poll: registering",
            D,
            Some("TRACE"),
        ),
        (
            "2026-01-01T00:00:00.000000Z  INFO mcp_manager: 0 errors",
            I,
            Some("INFO"),
        ),
        (
            "\x1b[2m2026-01-01T00:00:00.000000Z\x1b[0m \x1b[33m WARN\x1b[0m \x1b[2mmy_crate\x1b[0m\x1b[2m:\x1b[0m low disk",
            W,
            Some("WARN"),
        ),
        (
            "\x1b[2m2026-01-01T00:00:00.000000Z\x1b[0m \x1b[31mERROR\x1b[0m \x1b[2mmy_crate\x1b[0m: failed",
            E,
            Some("ERROR"),
        ),
        (
            "  INFO my_crate: listening on 127.0.0.1:3000",
            I,
            Some("INFO"),
        ),
        (
            "[2026-01-01T00:00:00Z ERROR my_crate] msg",
            E,
            Some("ERROR"),
        ),
        (
            "[2026-01-01T00:00:00Z INFO  my_crate::server] listening",
            I,
            Some("INFO"),
        ),
        ("thread 'main' panicked at src/main.rs:2:5:", E, None),
        ("error[E0308]: mismatched types", E, Some("error")),
        ("warning: unused variable: `x`", W, Some("warning")),
        // Go: log, logrus (text and TTY), slog, zerolog, glog, panics.
        ("2026/01/01 12:00:00 Server listening on :8080", I, None),
        ("2026/01/01 12:00:00 mirror of terror complete", I, None),
        (
            "time=\"2026-01-01T00:00:00Z\" level=warning msg=\"disk almost full\"",
            W,
            Some("warning"),
        ),
        (
            "time=2026-01-01T00:00:00.000Z level=ERROR msg=\"dial failed\" err=timeout",
            E,
            Some("ERROR"),
        ),
        ("level=\"info\" msg=\"0 errors\"", I, Some("info")),
        ("lvl=error msg=boom", E, Some("error")),
        ("severity=ERROR component=db", E, Some("ERROR")),
        ("WARN[0000] config file not found", W, Some("WARN")),
        ("12:00AM WRN slow handler", W, Some("WRN")),
        (
            "E0101 12:00:00.000000    1234 main.go:42] failed to connect",
            E,
            Some("E"),
        ),
        (
            "W0101 12:00:00.000000    1234 main.go:42] retrying",
            W,
            Some("W"),
        ),
        (
            "I0101 12:00:00.000000    1234 main.go:42] started",
            I,
            Some("I"),
        ),
        (
            "panic: runtime error: index out of range [5] with length 3",
            E,
            Some("panic"),
        ),
        ("goroutine 1 [running]:", I, None),
        // Java / .NET.
        (
            "2026-01-01 12:00:00.000  WARN 1234 --- [main] c.e.App : Deprecated config key",
            W,
            Some("WARN"),
        ),
        (
            "2026-01-01 12:00:00.000 ERROR 1234 --- [main] c.e.App : Startup failed",
            E,
            Some("ERROR"),
        ),
        (
            "12:00:00.000 [main] INFO  c.e.App - Started App in 1.2 seconds",
            I,
            Some("INFO"),
        ),
        ("Caused by: java.lang.IllegalStateException: boom", E, None),
        (
            "fail: Microsoft.AspNetCore.Server.Kestrel[13]",
            E,
            Some("fail"),
        ),
        (
            "warn: Microsoft.AspNetCore.DataProtection[60]",
            W,
            Some("warn"),
        ),
        // Brackets, ANSI-coloured levels, plain prefixes.
        ("[ERROR] could not open config", E, Some("ERROR")),
        ("[warn] cache is cold", W, Some("warn")),
        ("[ INFO ] ready", I, Some("INFO")),
        ("[12:00:01] [DEBUG] tick", D, Some("DEBUG")),
        ("[my-server] Error: bad input", E, Some("Error")),
        (
            "\x1b[31mERROR\x1b[39m: database unreachable",
            E,
            Some("ERROR"),
        ),
        ("\x1b[1m\x1b[33m[WARN]\x1b[0m slow", W, Some("WARN")),
        ("WARN retrying in 5s", W, Some("WARN")),
        ("WARNING: This is a development server.", W, Some("WARNING")),
        ("FATAL: password authentication failed", E, Some("FATAL")),
        ("Trace: reached handler", D, Some("Trace")),
        ("Alert: a new version is available", I, None),
        // Words.
        ("Connection to upstream failed, retrying", E, None),
        ("Unhandled exception in tool call", E, None),
        ("The `foo` option is deprecated", W, None),
        ("Compiled with warnings.", W, None),
        ("3 errors and 2 warnings", E, None),
        ("Tests: 2 failed, 10 passed", E, None),
        ("request error=\"connection refused\"", E, None),
        ("Loaded handlers from /srv/errors/index.js", I, None),
        // The "0 errors" family.
        ("0 errors", I, None),
        ("no errors found", I, None),
        ("error_count=0", I, None),
        ("errors: 0", I, None),
        ("0 failed", I, None),
        ("Finished without errors", I, None),
        ("Build is error-free", I, None),
        ("errorless run", I, None),
        ("Errors: none", I, None),
        ("0 warnings", I, None),
        ("Found 0 errors. Watching for file changes.", I, None),
        ("Tests: 0 failed, 12 passed", I, None),
        (
            "Compiled successfully with 0 errors and 0 warnings",
            I,
            None,
        ),
        ("non-fatal: ignoring stale lock", I, None),
        ("no new warnings", I, None),
        ("errors: 0, warnings: 3", W, None),
        ("error=nil", I, None),
        ("The terror of the mirror", I, None),
    ];

    #[test]
    fn table() {
        let mut failures = Vec::new();
        for &(line, level, original) in CASES {
            let got = detect(line);
            let want = Detected {
                level,
                original: original.map(str::to_string),
            };
            if got != want {
                failures.push(format!("{line:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(CASES.len() >= 45);
    }

    #[test]
    fn mcp_levels() {
        for (name, want) in [
            ("debug", D),
            ("info", I),
            ("notice", I),
            ("warning", W),
            ("error", E),
            ("critical", E),
            ("alert", E),
            ("emergency", E),
        ] {
            assert_eq!(from_mcp(name), want, "{name}");
            assert_eq!(from_mcp(&name.to_ascii_uppercase()), want, "{name}");
        }
        assert_eq!(from_mcp("warn"), W);
        assert_eq!(from_mcp("something-else"), I);
    }

    #[test]
    fn ansi_stripping() {
        assert_eq!(strip_ansi("plain"), Cow::Borrowed("plain"));
        assert_eq!(strip_ansi("\x1b[1;31mred\x1b[0m ok\x1b[K"), "red ok");
        assert_eq!(strip_ansi("cut \x1b[31"), "cut ");
        assert_eq!(strip_ansi("é\x1b(Bé"), "éé");
    }

    #[test]
    fn odd_lines() {
        for line in [
            "", " ", "{", "{}", "[", "[]", "npm", "=", "level=", "\x1b", "é=é", "[é] é:",
        ] {
            let _ = detect(line);
        }
        assert_eq!(detect("{}"), Detected::plain(INFO));
        assert_eq!(
            detect(r#"{"level":"custom"}"#),
            Detected::new(INFO, "custom")
        );
        assert_eq!(detect(r#"{"level":"50"}"#), Detected::new(ERROR, "50"));
        assert_eq!(
            detect(r#"{"level":null,"severity":"warn"}"#),
            Detected::new(WARN, "warn")
        );
        assert_eq!(detect(r#"{"level":45.5}"#), Detected::new(WARN, "45.5"));
    }
}
