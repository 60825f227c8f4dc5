//! The real binary as a child process, for tests that signal it or the server under it.

use std::path::Path;
use std::time::{Duration, Instant};

/// A `tunebench run` in a child process. Dropped before it was waited for (the test failed
/// midway), it gets SIGTERM: the run reverts what it applied instead of measuring on.
pub struct Run {
    child: Option<tokio::process::Child>,
    pid: i32,
}

/// `tunebench run SCENARIO --out OUT EXTRA...`, stdout and stderr captured.
pub fn spawn_run(scenario: &Path, out: &Path, extra: &[&str]) -> Run {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap() as i32;
    Run {
        child: Some(child),
        pid,
    }
}

impl Run {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal` to `pid` (the run itself, or the server it measures), then waits at
    /// most two minutes for the run to exit: how long that took, its exit code, its stderr.
    pub async fn after_signal(mut self, pid: i32, signal: i32) -> (Duration, Option<i32>, String) {
        let child = self.child.take().unwrap();
        let sent = Instant::now();
        // SAFETY: signals the test's own child, or a server of the test stack.
        assert_eq!(
            unsafe { libc::kill(pid, signal) },
            0,
            "kill({pid}, {signal})"
        );
        let o = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("the run exits after the signal")
            .unwrap();
        (
            sent.elapsed(),
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.child.is_some() {
            // SAFETY: signals a child process this test started and has not reaped.
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
        }
    }
}

/// The process id in the first line of a pid file (a server's, in the stack's cache).
pub fn pid_in(file: &Path) -> i32 {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
