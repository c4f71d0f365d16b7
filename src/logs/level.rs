//! Log level detection: structured markers first, then words at word boundaries.

/// A detected level: one of `error`, `warn`, `info`, `debug`, and the level text as the
/// line wrote it, when it wrote one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub level: &'static str,
    pub original: Option<String>,
}

/// The level of one line.
pub fn detect(message: &str) -> Detected {
    let lower = message.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let negated = |i: usize| i > 0 && matches!(words[i - 1], "0" | "no" | "zero" | "without");
    for (i, w) in words.iter().enumerate().take(4) {
        let level = match *w {
            "error" | "err" | "fatal" | "critical" | "crit" | "panic" | "emergency" | "alert" => {
                "error"
            }
            "warn" | "warning" => "warn",
            "debug" | "trace" => "debug",
            "info" | "notice" => "info",
            _ => continue,
        };
        if !negated(i) {
            return Detected {
                level,
                original: Some(w.to_string()),
            };
        }
    }
    for (i, w) in words.iter().enumerate() {
        if matches!(
            *w,
            "error" | "exception" | "traceback" | "fatal" | "panicked"
        ) && !negated(i)
        {
            return Detected {
                level: "error",
                original: None,
            };
        }
    }
    Detected {
        level: "info",
        original: None,
    }
}

/// MCP `notifications/message` levels (RFC 5424) mapped to ours.
pub fn from_mcp(level: &str) -> &'static str {
    match level {
        "debug" => "debug",
        "info" | "notice" => "info",
        "warning" => "warn",
        _ => "error",
    }
}
