//! Names on the aggregate endpoint `/mcp`: `{server}__{name}` for tools and prompts, made
//! valid (at most 64 characters of `[A-Za-z0-9_-]`) and unique by a deterministic
//! shortening; and the matching of a resource URI against a server's URI templates. Pure
//! functions, no state.

use std::collections::HashMap;

/// Longest name a client accepts (the limit of the model providers' tool names).
pub const MAX_LEN: usize = 64;

/// Between the server's name and the tool's.
pub const SEPARATOR: &str = "__";

/// Characters outside `[A-Za-z0-9_-]` become `_`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a (64 bits) of the server's and the item's original names: defined by its
/// algorithm, so stable across daemon restarts, builds and platforms (std's hasher and
/// foldhash promise none of that).
fn stable_hash(server: &str, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in server
        .as_bytes()
        .iter()
        .chain(&[0u8])
        .chain(name.as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The plain name: `{server}__{name}`, sanitized (may be too long or shared).
fn plain(server: &str, name: &str) -> String {
    format!("{}{SEPARATOR}{}", sanitize(server), sanitize(name))
}

/// The shortened name: a prefix of the plain one, `_`, and 8 hex digits of the originals'
/// hash (`salt` > 0 only after a clash of hashes, which 32 bits make rare).
fn hashed(server: &str, name: &str, salt: u32) -> String {
    let p = plain(server, name);
    let h = stable_hash(server, name).wrapping_add(u64::from(salt)) & 0xffff_ffff;
    let keep = MAX_LEN - 9;
    // `p` is ASCII after sanitizing, so any byte index is a char boundary.
    let prefix = &p[..p.len().min(keep)];
    format!("{prefix}_{h:08x}")
}

/// The client-facing name of every `(server, name)` pair: the plain name when it is valid
/// and no other pair has it; otherwise (too long, or shared: then by every pair that shares
/// it, so no pair "wins" by order) the hashed name, its hash bumped past a name already
/// given. The pairs are sorted first, so the result depends on the set of pairs only.
pub fn assign(pairs: &[(String, String)]) -> HashMap<(String, String), String> {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    pairs.dedup();
    let mut count: HashMap<String, usize> = HashMap::new();
    for (s, n) in &pairs {
        *count.entry(plain(s, n)).or_default() += 1;
    }
    let mut out = HashMap::with_capacity(pairs.len());
    let mut taken = std::collections::HashSet::new();
    let mut rest = vec![];
    for (s, n) in pairs {
        let p = plain(&s, &n);
        if p.len() <= MAX_LEN && count.get(&p) == Some(&1) {
            taken.insert(p.clone());
            out.insert((s, n), p);
        } else {
            rest.push((s, n));
        }
    }
    for (s, n) in rest {
        let mut salt = 0;
        let mut name = hashed(&s, &n, salt);
        while taken.contains(&name) {
            salt += 1;
            name = hashed(&s, &n, salt);
        }
        taken.insert(name.clone());
        out.insert((s, n), name);
    }
    out
}

/// Whether `uri` is an instance of the RFC 6570 `template`. Lenient on purpose: it only
/// decides which server a URI goes to, so an expression matches any non-empty run of
/// characters (a `{?query}` or `{&more}` expression any run, empty too); literals must
/// match exactly.
pub fn template_matches(template: &str, uri: &str) -> bool {
    enum Part<'a> {
        Lit(&'a str),
        Expr { may_be_empty: bool },
    }
    let mut parts = vec![];
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        if open > 0 {
            parts.push(Part::Lit(&rest[..open]));
        }
        let expr = &rest[open + 1..open + close];
        parts.push(Part::Expr {
            may_be_empty: expr.starts_with(['?', '&']),
        });
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest));
    }
    fn go(parts: &[Part<'_>], s: &str) -> bool {
        let Some((first, more)) = parts.split_first() else {
            return s.is_empty();
        };
        match first {
            Part::Lit(l) => s.strip_prefix(l).is_some_and(|r| go(more, r)),
            Part::Expr { may_be_empty } => {
                let min = usize::from(!may_be_empty);
                (min..=s.len())
                    .filter(|i| s.is_char_boundary(*i))
                    .any(|i| go(more, &s[i..]))
            }
        }
    }
    go(&parts, uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(s, n)| (s.to_string(), n.to_string()))
            .collect()
    }

    fn name_of(m: &HashMap<(String, String), String>, s: &str, n: &str) -> String {
        m[&(s.to_string(), n.to_string())].clone()
    }

    #[test]
    fn short_names_are_the_prefixed_name() {
        let m = assign(&pairs(&[
            ("time", "get_current_time"),
            ("everything", "echo"),
        ]));
        assert_eq!(
            name_of(&m, "time", "get_current_time"),
            "time__get_current_time"
        );
        assert_eq!(name_of(&m, "everything", "echo"), "everything__echo");
    }

    #[test]
    fn other_characters_become_underscores() {
        let m = assign(&pairs(&[("my.server", "fetch/url"), ("s", "héllo wörld")]));
        assert_eq!(
            name_of(&m, "my.server", "fetch/url"),
            "my_server__fetch_url"
        );
        // One `_` per character, not per byte.
        assert_eq!(name_of(&m, "s", "héllo wörld"), "s__h_llo_w_rld");
        assert!(m.values().all(|n| valid(n)));
    }

    #[test]
    fn long_names_are_shortened_with_a_stable_hash() {
        let tool = "a".repeat(80);
        let m = assign(&pairs(&[("server", &tool)]));
        let n = name_of(&m, "server", &tool);
        assert_eq!(n.len(), MAX_LEN);
        assert!(valid(&n), "{n}");
        assert!(n.starts_with("server__aaaa"), "{n}");
        // Pinned: the hash is part of the names clients store, across restarts and builds.
        assert_eq!(n, hashed("server", &tool, 0));
        assert_eq!(
            &n[MAX_LEN - 8..],
            format!("{:08x}", stable_hash("server", &tool) & 0xffff_ffff)
        );
        assert_eq!(
            stable_hash("time", "get_current_time"),
            0x181f_4b80_f70f_602e
        );
        let unicode = "ツール".repeat(30);
        let m = assign(&pairs(&[("s", &unicode)]));
        assert!(valid(&name_of(&m, "s", &unicode)));
    }

    #[test]
    fn names_that_collide_are_all_hashed_and_distinct() {
        // `a.b` and `a_b` both sanitize to `a_b`; `x__y`/`z` and `x`/`y__z` both give `x__y__z`.
        let set = pairs(&[
            ("s", "a.b"),
            ("s", "a_b"),
            ("x__y", "z"),
            ("x", "y__z"),
            ("s", "c"),
        ]);
        let m = assign(&set);
        let mut names: Vec<&String> = m.values().collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 5, "{m:?}");
        assert!(m.values().all(|n| valid(n)));
        assert_ne!(name_of(&m, "s", "a.b"), "s__a_b");
        assert_ne!(name_of(&m, "s", "a_b"), "s__a_b");
        assert!(name_of(&m, "s", "a.b").starts_with("s__a_b_"));
        assert_eq!(name_of(&m, "s", "c"), "s__c");
    }

    #[test]
    fn names_do_not_depend_on_order() {
        let mut set = pairs(&[
            ("s", "a.b"),
            ("s", "a_b"),
            ("t", &"x".repeat(70)),
            ("t", &"x".repeat(71)),
            ("u", "plain"),
        ]);
        let first = assign(&set);
        set.reverse();
        assert_eq!(first, assign(&set));
        set.swap(0, 3);
        assert_eq!(first, assign(&set));
    }

    #[test]
    fn a_hashed_name_never_takes_a_plain_one() {
        let long = "y".repeat(70);
        let taken = hashed("s", &long, 0);
        // Another pair whose plain name is exactly that hashed name.
        let (srv, tool) = taken.split_once(SEPARATOR).unwrap_or_default();
        let m = assign(&pairs(&[("s", &long), (srv, tool)]));
        assert_eq!(name_of(&m, srv, tool), taken);
        assert_ne!(name_of(&m, "s", &long), taken);
        assert!(valid(&name_of(&m, "s", &long)));
    }

    #[test]
    fn templates_match_their_instances() {
        assert!(template_matches(
            "test://static/resource/{id}",
            "test://static/resource/7"
        ));
        assert!(!template_matches(
            "test://static/resource/{id}",
            "test://static/resource/"
        ));
        assert!(!template_matches(
            "test://static/resource/{id}",
            "test://other/7"
        ));
        assert!(template_matches("file:///{+path}", "file:///a/b/c.txt"));
        assert!(template_matches("api://items{?page,limit}", "api://items"));
        assert!(template_matches(
            "api://items{?page,limit}",
            "api://items?page=2"
        ));
        assert!(template_matches("user://{id}/profile", "user://ü/profile"));
        assert!(!template_matches(
            "user://{id}/profile",
            "user://1/settings"
        ));
    }
}
