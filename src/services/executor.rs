//! The ops executor (`OPS_EXECUTOR_CMD`): one `sh -c` child per task with a
//! clean environment (no hoss secrets), the task JSON `hoss ops` hands it on
//! stdin, a timeout, and stdout read as the result summary (or a JSON
//! `{"summary", "cost_cents"}`). `hoss ops` runs it; `hoss check` asks
//! whether it would start.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MAX_OUTPUT: usize = 64 * 1024;

/// The environment the executor runs in: no hoss secrets.
#[allow(
    clippy::disallowed_methods,
    reason = "passes the process's PATH, HOME and LANG through to the child; no setting is read"
)]
fn clean_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear()
        .envs(std::env::vars_os().filter(|(k, _)| k == "PATH" || k == "HOME" || k == "LANG"))
}

/// Why `cmd` could not run, checked the way `ops` runs it (`sh -c`, the
/// same environment): a shell syntax error, or a first word that is no
/// builtin and no executable on PATH. `None` when it would start.
pub fn problem(cmd: &str) -> Option<String> {
    let run = |script: &str, arg: &str| {
        clean_env(Command::new("sh").arg("-c").arg(script).arg("sh").arg(arg))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    // `sh -n` parses without running anything.
    match clean_env(Command::new("sh").arg("-n").arg("-c").arg(cmd))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Err(e) => return Some(format!("cannot start sh: {e}")),
        Ok(s) if !s.success() => {
            return Some("is not a valid shell command (sh -n rejects it)".into());
        }
        Ok(_) => {}
    }
    // The first word that is not a `NAME=value` assignment.
    let is_assignment = |w: &str| w.contains('=') && !w.starts_with('/');
    let first = cmd
        .split(|c: char| c.is_whitespace() || ";&|<>()".contains(c))
        .find(|w| !w.is_empty() && !is_assignment(w))?;
    let found = run("command -v -- \"$1\" >/dev/null", first).is_ok_and(|s| s.success());
    (!found).then(|| format!("{first:?} is not a command on PATH or an executable file"))
}

/// Runs the executor for one task (`input`, the task as JSON, on its
/// stdin): `Ok((summary, cost_cents))` on exit 0. The child gets a clean
/// environment (no hoss secrets).
pub fn execute(
    cmd: &str,
    task_id: i64,
    input: &str,
    timeout: Duration,
) -> std::result::Result<(String, Option<i64>), String> {
    let task_id = task_id.to_string();
    shell(
        cmd,
        "executor",
        &[("HOSS_TASK_ID", &task_id)],
        input,
        timeout,
    )
    .map(|out| summarize(&out))
}

/// Runs `sh -c cmd` in the clean environment plus `env`, with `input` on
/// its stdin, killed after `timeout`: its stdout (at most 64 KiB) on exit
/// 0, else why not (`what` names the child in the reason; the tail of its
/// stderr is kept, its stdout never is).
pub fn shell(
    cmd: &str,
    what: &str,
    env: &[(&str, &str)],
    input: &str,
    timeout: Duration,
) -> std::result::Result<String, String> {
    let mut child = clean_env(Command::new("sh").arg("-c").arg(cmd))
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the {what}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = Reader::spawn(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = Reader::spawn(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("lost the {what}: {e}")),
        }
    };
    // What the child wrote is in the pipe by now; a helper it left running
    // in the background may hold the pipe open for ever, so its end is
    // awaited only briefly.
    let stdout = out.finish(OUTPUT_GRACE);
    let stderr = err.finish(OUTPUT_GRACE);
    if !status.success() {
        let tail: String = stderr
            .trim()
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(format!(
            "{what} exited with {status}: {}",
            crate::log::one_line(&tail)
        ));
    }
    Ok(stdout)
}

/// How long the output of an exited child may still take to arrive.
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// A pipe read to its end (at most 64 KiB) on its own thread.
struct Reader {
    read: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Reader {
    fn spawn(pipe: Option<Box<dyn Read + Send>>) -> Reader {
        let read = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let sink = read.clone();
        std::thread::spawn(move || {
            if let Some(mut p) = pipe {
                let mut chunk = [0u8; 8192];
                loop {
                    match p.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let mut buf = sink.lock().unwrap_or_else(|e| e.into_inner());
                            let room = MAX_OUTPUT.saturating_sub(buf.len());
                            buf.extend_from_slice(&chunk[..n.min(room)]);
                        }
                    }
                }
            }
            let _ = tx.send(());
        });
        Reader { read, done }
    }

    /// What was read once the pipe ends, or after `grace` whatever has
    /// arrived by then.
    fn finish(self, grace: Duration) -> String {
        let _ = self.done.recv_timeout(grace);
        let buf = self.read.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// `{"summary": "...", "cost_cents": 123}` or plain text.
fn summarize(stdout: &str) -> (String, Option<i64>) {
    let text = stdout.trim();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && let Some(summary) = v.get("summary").and_then(|s| s.as_str())
    {
        let cost = v
            .get("cost_cents")
            .and_then(|c| c.as_i64())
            .filter(|c| *c >= 0);
        return (short(summary), cost);
    }
    (short(text), None)
}

fn short(text: &str) -> String {
    text.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    #[test]
    fn a_background_helper_holding_stdout_does_not_hold_the_caller() {
        let start = Instant::now();
        let out = super::shell(
            "echo token-1; sleep 30 &",
            "test",
            &[],
            "",
            Duration::from_secs(10),
        );
        assert_eq!(out.as_deref().map(str::trim), Ok("token-1"));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let big = super::shell(
            "head -c 200000 /dev/zero",
            "test",
            &[],
            "",
            Duration::from_secs(10),
        );
        assert_eq!(big.map(|s| s.len()), Ok(super::MAX_OUTPUT));
    }

    #[test]
    fn executor_output_is_read_as_json_or_text() {
        assert_eq!(
            super::summarize(r#"{"summary":"ok","cost_cents":250}"#),
            ("ok".into(), Some(250))
        );
        assert_eq!(super::summarize(" all done \n"), ("all done".into(), None));
        assert_eq!(
            super::summarize(r#"{"summary":"x","cost_cents":-1}"#),
            ("x".into(), None)
        );
    }
}
