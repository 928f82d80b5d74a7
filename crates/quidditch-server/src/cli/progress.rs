//! A progress indicator on stderr for slow steps (compiling, uploading a Python UDF that the
//! server compiles for minutes). On a terminal: a spinner with the elapsed time; otherwise
//! (logs, CI): one line at the start, a line every 10 s, and one at the end.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    started: Instant,
    message: String,
}

impl Progress {
    pub fn start(message: impl Into<String>) -> Progress {
        let message = message.into();
        let done = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let tty = std::io::stderr().is_terminal();
        if !tty {
            eprintln!("{message}…");
        }
        let thread = {
            let done = done.clone();
            let message = message.clone();
            std::thread::spawn(move || {
                const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                let mut frame = 0usize;
                let mut last_line = Instant::now();
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    let elapsed = started.elapsed().as_secs_f64();
                    if tty {
                        eprint!("\r{} {message} ({elapsed:.1}s)", FRAMES[frame % FRAMES.len()]);
                        let _ = std::io::stderr().flush();
                        frame += 1;
                    } else if last_line.elapsed() >= Duration::from_secs(10) {
                        eprintln!("  … still {message} ({elapsed:.0}s)");
                        last_line = Instant::now();
                    }
                }
                if tty {
                    eprint!("\r\x1b[2K");
                }
            })
        };
        Progress { done, thread: Some(thread), started, message }
    }

    /// Stops the indicator and prints how long the step took.
    pub fn finish(mut self, ok: bool) {
        self.stop();
        let outcome = if ok { "done" } else { "failed" };
        eprintln!("{} {outcome} in {:.1}s", self.message, self.started.elapsed().as_secs_f64());
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}
