//! A small argument parser: positionals, flags and repeatable valued options.

/// Parsed arguments of one command.
#[derive(Debug, Default)]
pub struct Args {
    /// Positional arguments, in order (`-` counts as one).
    pub positional: Vec<String>,
    values: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Args {
    /// Parses `args`: `valued` options take a value (`--x V` or `--x=V`),
    /// `flags` take none; `--` ends the options.
    pub fn parse(args: &[String], valued: &[&str], flags: &[&str]) -> Result<Args, String> {
        let mut out = Args::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                out.positional.extend(it.by_ref().cloned());
                break;
            }
            if let Some((k, v)) = a.split_once('=').filter(|(k, _)| valued.contains(k)) {
                out.values.push((k.to_owned(), v.to_owned()));
            } else if valued.contains(&a.as_str()) {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                out.values.push((a.clone(), v.clone()));
            } else if flags.contains(&a.as_str()) {
                out.flags.push(a.clone());
            } else if a.starts_with('-') && a != "-" {
                return Err(format!("unknown option {a}"));
            } else {
                out.positional.push(a.clone());
            }
        }
        Ok(out)
    }

    /// Every value of option `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// True when flag `name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn positionals_flags_and_repeated_values() {
        let a = Args::parse(
            &s(&["f.json", "--trigger", "a", "-", "--trigger=b", "--strict"]),
            &["--trigger"],
            &["--strict"],
        )
        .expect("parses");
        assert_eq!(a.positional, ["f.json", "-"]);
        assert_eq!(a.all("--trigger"), ["a", "b"]);
        assert!(a.has("--strict"));
        assert_eq!(
            Args::parse(&s(&["--nope"]), &[], &[]).err().as_deref(),
            Some("unknown option --nope")
        );
        assert_eq!(
            Args::parse(&s(&["--trigger"]), &["--trigger"], &[])
                .err()
                .as_deref(),
            Some("--trigger needs a value")
        );
    }
}
