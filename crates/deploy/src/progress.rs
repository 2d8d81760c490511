//! Progress on stderr: a bar on a terminal, plain lines otherwise, nothing with `--json`.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A redrawn bar (stderr is a terminal).
    Bar,
    /// One line per phase and per change (CI logs).
    Lines,
    /// Nothing (machine-readable output).
    Quiet,
}

#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    label: String,
    total: usize,
    done: usize,
    drawn: bool,
}

const WIDTH: usize = 30;

impl Progress {
    /// Picks the mode from `--json` and whether stderr is a terminal.
    pub fn auto(json: bool) -> Progress {
        let mode = if json {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        Progress::new(mode)
    }

    pub fn new(mode: Mode) -> Progress {
        Progress {
            mode,
            state: Mutex::new(State::default()),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Starts a phase of `total` steps.
    pub fn phase(&self, label: &str, total: usize) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.label = label.to_string();
        s.total = total;
        s.done = 0;
        match self.mode {
            Mode::Bar => draw(&mut s),
            Mode::Lines => eprintln!("{label}: {total} to do"),
            Mode::Quiet => {}
        }
    }

    pub fn tick(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.done += 1;
        if self.mode == Mode::Bar {
            draw(&mut s);
        }
    }

    /// Ends the phase.
    pub fn finish(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match self.mode {
            Mode::Bar => {
                if s.drawn {
                    draw(&mut s);
                    eprintln!();
                    s.drawn = false;
                }
            }
            Mode::Lines => eprintln!("{}: {} of {} done", s.label, s.done, s.total),
            Mode::Quiet => {}
        }
    }

    /// A message line (a change applied, a warning), kept clear of the bar.
    pub fn line(&self, text: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match self.mode {
            Mode::Bar => {
                let redraw = s.drawn;
                if redraw {
                    eprint!("\r\x1b[2K");
                }
                eprintln!("{text}");
                if redraw {
                    draw(&mut s);
                }
            }
            Mode::Lines => eprintln!("{text}"),
            Mode::Quiet => {}
        }
    }
}

fn draw(s: &mut State) {
    let filled = (s.done * WIDTH).checked_div(s.total).unwrap_or(WIDTH);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r\x1b[2K{} [{}{}] {}/{}",
        s.label,
        "#".repeat(filled.min(WIDTH)),
        ".".repeat(WIDTH - filled.min(WIDTH)),
        s.done,
        s.total
    );
    let _ = err.flush();
    s.drawn = true;
}
