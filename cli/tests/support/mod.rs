//! Running the built `eventstream` binary from the CLI's tests.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_eventstream");

/// Runs the binary with `args` (and `stdin`, if given): `(exit code, stdout, stderr)`.
pub fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        // A command that fails before reading its input closes the pipe early.
        if let Err(e) = pipe.write_all(input.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    drop(child.stdin.take());
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait");
    (
        status.code().expect("exit code"),
        String::from_utf8(stdout).expect("utf-8"),
        String::from_utf8(stderr).expect("utf-8"),
    )
}

/// The stdout of the binary run with `args`, which must succeed quietly
/// (exit 0, nothing on stderr).
pub fn run_ok(args: &[&str]) -> String {
    let (code, out, err) = run(args, None);
    assert_eq!((code, err.as_str()), (0, ""), "{args:?}");
    out
}

/// A file `name` with `content` under the temp dir, unique to this process,
/// removed when the returned path is dropped.
pub fn temp(name: &str, content: &str) -> Temp {
    let path = std::env::temp_dir().join(format!("eventstream-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, content).expect("write temp file");
    Temp(path.to_string_lossy().into_owned())
}

/// The path of a file [`temp`] wrote; dropping it removes the file.
pub struct Temp(String);

impl std::ops::Deref for Temp {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Temp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        // Already gone is fine: nothing else may be left behind.
        let _ = std::fs::remove_file(&self.0);
    }
}
