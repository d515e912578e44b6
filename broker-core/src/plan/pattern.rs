//! `pattern`: a regex-lite regular expression, with a fast path for the
//! simple patterns plans mostly hold (`^p-[0-9]{4}$`, `^https?://`, `^/`).
//!
//! regex-lite keeps the relay's wasm small (about 60 KB, where `regex`
//! costs about 990 KB) but matches with a PikeVM: about 220 ns per match on
//! the corpus's short strings, more than the whole check of an event is
//! allowed. A pattern made only of ASCII atoms (literals, `[...]` classes of
//! ASCII characters and ranges, `\d \w \s`), each repeated a fixed or
//! bounded number of times (`{n}`, `{n,m}`, `?`), optionally ended by one
//! atom with `+` or `*`, between an optional `^` and `$`, denotes a finite
//! set of byte sequences (plus that tail), so it is matched here by trying
//! each count at each start: exactly what the regex matches (a differential
//! test checks this against regex-lite), in a few ns. Anything else goes to
//! regex-lite.

/// At most this many combinations of counts are tried per start position.
const MAX_COMBINATIONS: u32 = 64;

/// A compiled `pattern`.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    source: String,
    how: How,
}

#[derive(Debug, Clone)]
enum How {
    Simple(Simple),
    Regex(regex_lite::Regex),
}

impl Pattern {
    /// Compiles `source` (regex-lite's syntax, with bounds on its size).
    pub(super) fn new(source: &str) -> Result<Pattern, regex_lite::Error> {
        // Compiled by regex-lite in every case, so that both paths accept
        // exactly the same patterns and word the same errors.
        let regex = regex_lite::RegexBuilder::new(source)
            .size_limit(1 << 16)
            .nest_limit(32)
            .build()?;
        let how = match Simple::parse(source) {
            Some(s) => How::Simple(s),
            None => How::Regex(regex),
        };
        Ok(Pattern {
            source: source.to_owned(),
            how,
        })
    }

    /// True when the pattern matches somewhere in `s` (anchor it with `^`
    /// and `$` to match the whole value), as in JSON Schema.
    pub(super) fn is_match(&self, s: &str) -> bool {
        match &self.how {
            How::Simple(p) => p.is_match(s.as_bytes()),
            How::Regex(r) => r.is_match(s),
        }
    }

    /// The pattern as written.
    pub(super) fn as_str(&self) -> &str {
        &self.source
    }

    #[cfg(test)]
    fn is_simple(&self) -> bool {
        matches!(self.how, How::Simple(_))
    }
}

/// A set of ASCII bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Set(u128);

impl Set {
    fn byte(b: u8) -> Set {
        Set(1 << b)
    }
    fn range(lo: u8, hi: u8) -> Set {
        (lo..=hi).fold(Set::default(), |s, b| s.or(Set::byte(b)))
    }
    fn or(self, o: Set) -> Set {
        Set(self.0 | o.0)
    }
    fn has(self, b: u8) -> bool {
        b < 128 && self.0 & (1 << b) != 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Atom {
    set: Set,
    min: u32,
    max: u32,
}

#[derive(Debug, Clone)]
struct Simple {
    start: bool,
    end: bool,
    atoms: Vec<Atom>,
    /// A last atom with `+` (at least 1) or `*` (at least 0), unbounded.
    tail: Option<(Set, usize)>,
}

impl Simple {
    /// The simple form of `p`, when it has one.
    fn parse(p: &str) -> Option<Simple> {
        let mut b = p.as_bytes();
        let start = b.first() == Some(&b'^');
        if start {
            b = &b[1..];
        }
        // A final `$` not escaped (an even number of `\` before it).
        let end = b.last() == Some(&b'$')
            && b[..b.len() - 1]
                .iter()
                .rev()
                .take_while(|c| **c == b'\\')
                .count()
                % 2
                == 0;
        if end {
            b = &b[..b.len() - 1];
        }
        let (mut atoms, mut tail, mut combos) = (Vec::new(), None, 1u32);
        let mut i = 0;
        while i < b.len() {
            if tail.is_some() {
                return None; // `+` or `*` only on the last atom
            }
            let (set, next) = atom(b, i)?;
            i = next;
            let (min, max) = match b.get(i) {
                Some(b'?') => {
                    i += 1;
                    (0, 1)
                }
                Some(b'+' | b'*') => {
                    tail = Some((set, usize::from(b[i] == b'+')));
                    i += 1;
                    if matches!(b.get(i), Some(b'?' | b'+')) {
                        return None; // lazy or possessive: leave it to regex-lite
                    }
                    continue;
                }
                Some(b'{') => {
                    let close = i + b[i..].iter().position(|c| *c == b'}')?;
                    let inner = std::str::from_utf8(&b[i + 1..close]).ok()?;
                    i = close + 1;
                    let (lo, hi) = match inner.split_once(',') {
                        None => (inner, inner),
                        Some((lo, hi)) => (lo, hi),
                    };
                    let digits = |s: &str| {
                        (!s.is_empty() && s.len() <= 3 && s.bytes().all(|c| c.is_ascii_digit()))
                            .then(|| s.parse::<u32>().ok())
                            .flatten()
                    };
                    let (lo, hi) = (digits(lo)?, digits(hi)?);
                    if lo > hi {
                        return None;
                    }
                    (lo, hi)
                }
                _ => (1, 1),
            };
            if matches!(b.get(i), Some(b'?' | b'+' | b'*' | b'{')) {
                return None; // lazy, possessive or stacked repetition
            }
            combos = combos.saturating_mul(max - min + 1);
            if combos > MAX_COMBINATIONS {
                return None;
            }
            atoms.push(Atom { set, min, max });
        }
        Some(Simple {
            start,
            end,
            atoms,
            tail,
        })
    }

    fn is_match(&self, s: &[u8]) -> bool {
        let last = if self.start { 0 } else { s.len() };
        (0..=last).any(|at| self.match_at(s, at, 0))
    }

    /// Whether atoms `k..` (and the tail, and `$`) match from `at`.
    fn match_at(&self, s: &[u8], at: usize, k: usize) -> bool {
        let Some(a) = self.atoms.get(k) else {
            let rest = &s[at..];
            return match self.tail {
                None => !self.end || rest.is_empty(),
                Some((set, min)) => {
                    let run = rest.iter().take_while(|c| set.has(**c)).count();
                    run >= min && (!self.end || run == rest.len())
                }
            };
        };
        let run = s[at..]
            .iter()
            .take(a.max as usize)
            .take_while(|c| a.set.has(**c))
            .count();
        (a.min as usize..=run)
            .rev()
            .any(|n| self.match_at(s, at + n, k + 1))
    }
}

/// The atom at `b[i]`: its set and the index after it; `None` when it is
/// not one of the simple ones.
fn atom(b: &[u8], i: usize) -> Option<(Set, usize)> {
    match b[i] {
        b'\\' => Some((escape(*b.get(i + 1)?)?, i + 2)),
        b'[' => class(b, i + 1),
        b'.' | b'+' | b'*' | b'?' | b'(' | b')' | b'|' | b']' | b'{' | b'}' | b'^' | b'$' => None,
        c if c.is_ascii_graphic() || c == b' ' => Some((Set::byte(c), i + 1)),
        _ => None,
    }
}

/// `\c`: a Perl class (ASCII in regex-lite) or escaped punctuation.
fn escape(c: u8) -> Option<Set> {
    match c {
        b'd' => Some(Set::range(b'0', b'9')),
        b'w' => Some(
            Set::range(b'0', b'9')
                .or(Set::range(b'A', b'Z'))
                .or(Set::range(b'a', b'z'))
                .or(Set::byte(b'_')),
        ),
        b's' => Some(
            [b'\t', b'\n', 0x0b, 0x0c, b'\r', b' ']
                .into_iter()
                .fold(Set::default(), |s, c| s.or(Set::byte(c))),
        ),
        // `\<` and `\>` are word boundaries in regex-lite.
        b'<' | b'>' => None,
        c if c.is_ascii_punctuation() => Some(Set::byte(c)),
        _ => None,
    }
}

/// A `[...]` class of ASCII characters, ranges and `\d \w \s`, from just
/// after its `[`: no negation, nesting or set operations.
fn class(b: &[u8], mut i: usize) -> Option<(Set, usize)> {
    let mut set = Set::default();
    let first = i;
    loop {
        let c = *b.get(i)?;
        match c {
            b']' if i > first => return Some((set, i + 1)),
            b'^' if i == first => return None,
            b'[' | b']' => return None,
            b'&' | b'-' | b'~' if b.get(i + 1) == Some(&c) => return None,
            b'\\' => {
                let e = *b.get(i + 1)?;
                if !(e.is_ascii_punctuation() || matches!(e, b'd' | b'w' | b's'))
                    || matches!(e, b'<' | b'>')
                {
                    return None;
                }
                set = set.or(escape(e)?);
                i += 2;
            }
            c if c.is_ascii_graphic() || c == b' ' => {
                // A range `a-z`; a `-` first or last is itself.
                if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_some_and(|n| *n != b']') {
                    let hi = *b.get(i + 2)?;
                    if hi == b'\\' || hi == b'[' || !(hi.is_ascii_graphic() || hi == b' ') || hi < c
                    {
                        return None;
                    }
                    set = set.or(Set::range(c, hi));
                    i += 3;
                } else {
                    set = set.or(Set::byte(c));
                    i += 1;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_plans_patterns_take_the_fast_path() {
        for p in [
            "^/",
            "^https?://",
            "^p-[0-9]{4}$",
            "^SKU-[A-Z]{3}-[0-9]{5}$",
            "^o-[0-9a-z]+$",
            "^[A-Z]{2}$",
            r"^\d{3,5}-\w+$",
            r"\.",
            "",
        ] {
            assert!(Pattern::new(p).unwrap().is_simple(), "{p}");
        }
        for p in [
            "^(a|b)$",
            "^a.c$",
            "[^a]",
            "a+b",
            "^é$",
            r"\bx",
            "[[:alpha:]]",
            "a{2,}",
            "a??",
            "(?i)x",
        ] {
            assert!(!Pattern::new(p).unwrap().is_simple(), "{p}");
        }
        let p = Pattern::new("^p-[0-9]{4}$").unwrap();
        assert!(p.is_match("p-0191") && !p.is_match("p-191") && !p.is_match("xp-0191"));
        assert!(Pattern::new("^https?://").unwrap().is_match("http://a"));
        assert!(!Pattern::new("^o-[a-z]+$").unwrap().is_match("o-"));
        assert!(Pattern::new("o-[a-z]*").unwrap().is_match("xo-"));
        assert!(Pattern::new("^$").unwrap().is_match(""));
        assert!(Pattern::new(r"a\$").unwrap().is_match("xa$y"));
    }

    /// Atoms of the simple form, and a few that are not, as pattern text.
    fn atom_text() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "a", "b", "-", "/", r"\.", r"\d", r"\w", r"\s", "é", "."
            ])
            .prop_map(str::to_owned),
            prop::sample::select(vec!["[ab]", "[a-c0-9]", "[-a]", "[a-]", r"[\d.]", "[^a]"])
                .prop_map(str::to_owned),
        ]
    }

    fn quantifier() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "", "?", "{2}", "{0,2}", "{1,3}", "+", "*"])
    }

    fn pattern() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            prop::collection::vec((atom_text(), quantifier()), 0..5),
            any::<bool>(),
        )
            .prop_map(|(start, atoms, end)| {
                let mut p = String::from(if start { "^" } else { "" });
                for (a, q) in atoms {
                    p.push_str(&a);
                    p.push_str(q);
                }
                if end {
                    p.push('$');
                }
                p
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// The fast path says exactly what regex-lite says.
        #[test]
        fn the_fast_path_agrees_with_regex_lite(
            p in pattern(),
            s in "[ab0-9./\\- \\n_éA]{0,8}",
        ) {
            let compiled = Pattern::new(&p).unwrap();
            let regex = regex_lite::Regex::new(&p).unwrap();
            prop_assert_eq!(compiled.is_match(&s), regex.is_match(&s), "{} on {:?}", p, s);
        }
    }
}
