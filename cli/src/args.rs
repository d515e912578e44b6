//! The one argument parser of every command, and its input reader.
//!
//! Each command declares a [`Spec`]: its name, its help text (with an
//! example), the options that take a value and the flags. [`parse`] prints
//! the help for `-h`/`--help` (exit 0) and the message and help for a usage
//! mistake (exit 2), so every command answers alike.
//!
//! Hand-written rather than clap: the commands need positionals, flags,
//! repeatable `--x V`/`--x=V` options and `--`, nothing more, and this is
//! about 100 lines with no dependency. Measured (release, opt-level 3):
//! clap 4.6 with derive adds about 600 KB to the binary (+20% on 3.1 MB),
//! about 0.15 ms to every start (1.05 -> 1.2 ms), and a dependency tree to
//! build, and it would word every usage message differently.

use std::io::Read;

use crate::EXIT_USAGE;

/// What a command accepts.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The command as printed before its messages: `"triggers check"`.
    pub command: &'static str,
    /// The command's `--help`, with an example.
    pub help: &'static str,
    /// Options that take a value (`--relay URL` or `--relay=URL`); may repeat.
    pub valued: &'static [&'static str],
    /// Options that take none.
    pub flags: &'static [&'static str],
}

impl Spec {
    /// Prints `msg` and the help on stderr; returns the usage exit code.
    pub fn usage(&self, msg: &str) -> u8 {
        eprintln!("eventstream {}: {msg}\n\n{}", self.command, self.help);
        EXIT_USAGE
    }

    /// Prints `msg` on stderr without the help (an I/O problem, not a
    /// mistake in the command line); returns the usage exit code.
    pub fn fail(&self, msg: &str) -> u8 {
        eprintln!("eventstream {}: {msg}", self.command);
        EXIT_USAGE
    }
}

/// Parsed arguments of one command.
#[derive(Debug, Default)]
pub struct Args {
    /// Positional arguments, in order (`-` counts as one).
    pub positional: Vec<String>,
    values: Vec<(&'static str, String)>,
    flags: Vec<&'static str>,
}

/// Parses `args` against `spec`. `Err(code)` means the command is done: the
/// help was printed (0) or a usage mistake was (2).
pub fn parse(args: &[String], spec: &Spec) -> Result<Args, u8> {
    parse_quiet(args, spec).map_err(|stop| match stop {
        Stop::Help => {
            print!("{}", spec.help);
            0
        }
        Stop::Usage(msg) => spec.usage(&msg),
    })
}

/// Why parsing stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Help,
    Usage(String),
}

fn parse_quiet(args: &[String], spec: &Spec) -> Result<Args, Stop> {
    // Help wins wherever it is, so that `cmd --wrong --help` still helps.
    if args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-h" || a == "--help")
    {
        return Err(Stop::Help);
    }
    let mut out = Args::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            out.positional.extend(it.by_ref().cloned());
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v)),
            _ => (a.as_str(), None),
        };
        if let Some(&k) = spec.valued.iter().find(|k| **k == name) {
            let v = match inline {
                Some(v) => v.to_owned(),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Stop::Usage(format!("{k} needs a value")))?,
            };
            out.values.push((k, v));
        } else if let Some(&f) = spec.flags.iter().find(|f| **f == a) {
            out.flags.push(f);
        } else if a.starts_with('-') && a != "-" {
            return Err(Stop::Usage(format!("unknown option {a}")));
        } else {
            out.positional.push(a.clone());
        }
    }
    Ok(out)
}

/// [`parse`] for a command that takes exactly one FILE (`-`: stdin), and
/// reads it: `(args, file, text)`.
pub fn parse_with_file(argv: &[String], spec: &Spec) -> Result<(Args, String, String), u8> {
    let args = parse(argv, spec)?;
    let [file] = args.positional.as_slice() else {
        return Err(spec.usage("expected exactly one FILE"));
    };
    let text = read_text(file).map_err(|e| spec.fail(&e))?;
    let file = file.clone();
    Ok((args, file, text))
}

impl Args {
    /// The last value of option `name` (a later one overrides).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of option `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// True when flag `name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }
}

/// The bytes of a file, or of stdin for `-`; the error names the input.
pub fn read_input(path: &str) -> Result<Vec<u8>, String> {
    let read = if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf).map(|_| buf)
    } else {
        std::fs::read(path)
    };
    read.map_err(|e| {
        let name = if path == "-" { "stdin" } else { path };
        format!("cannot read {name}: {e}")
    })
}

/// [`read_input`] as UTF-8 text.
pub fn read_text(path: &str) -> Result<String, String> {
    String::from_utf8(read_input(path)?).map_err(|e| {
        let name = if path == "-" { "stdin" } else { path };
        format!(
            "cannot read {name}: not UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        command: "test",
        help: "help\n",
        valued: &["--trigger", "--relay"],
        flags: &["--strict"],
    };

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn positionals_flags_and_repeated_values() {
        let a = parse_quiet(
            &s(&[
                "f.json",
                "--trigger",
                "a",
                "-",
                "--trigger=b",
                "--strict",
                "--relay",
                "x",
                "--relay=y",
            ]),
            &SPEC,
        )
        .expect("parses");
        assert_eq!(a.positional, ["f.json", "-"]);
        assert_eq!(a.all("--trigger"), ["a", "b"]);
        assert_eq!(a.get("--relay"), Some("y"), "the last value wins");
        assert_eq!(a.get("--nothing"), None);
        assert!(a.has("--strict"));
        assert!(!a.has("--summary"));
    }

    #[test]
    fn mistakes_and_help() {
        let err = |v: &[&str]| parse_quiet(&s(v), &SPEC).err();
        assert_eq!(
            err(&["--nope"]),
            Some(Stop::Usage("unknown option --nope".into()))
        );
        assert_eq!(err(&["-x"]), Some(Stop::Usage("unknown option -x".into())));
        assert_eq!(
            err(&["--strict=1"]),
            Some(Stop::Usage("unknown option --strict=1".into()))
        );
        assert_eq!(
            err(&["--trigger"]),
            Some(Stop::Usage("--trigger needs a value".into()))
        );
        assert_eq!(err(&["a", "-h"]), Some(Stop::Help));
        assert_eq!(err(&["--bogus", "--help"]), Some(Stop::Help));
    }

    #[test]
    fn a_double_dash_ends_the_options() {
        let a = parse_quiet(&s(&["--", "--help", "-x"]), &SPEC).expect("parses");
        assert_eq!(a.positional, ["--help", "-x"]);
        // A value may look like an option.
        let a = parse_quiet(&s(&["--trigger", "--strict"]), &SPEC).expect("parses");
        assert_eq!(a.all("--trigger"), ["--strict"]);
        assert!(!a.has("--strict"));
    }
}
