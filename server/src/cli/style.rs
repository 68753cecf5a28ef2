//! Terminal output: colour only where a terminal is attached (and `NO_COLOR` is not
//! set, unless `--color always`), progress lines on stderr only when it is a terminal.
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    /// When stdout is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// How to paint text.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
    progress: bool,
}

impl Style {
    /// The style for this process's stdout and stderr.
    pub fn detect(choice: ColorChoice) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Self {
            color,
            progress: std::io::stderr().is_terminal(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Bold.
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    /// Dim.
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    /// Red (problems).
    pub fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    /// Green (all well).
    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    /// Yellow (warnings).
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    /// Cyan (keys, names).
    pub fn cyan(&self, t: &str) -> String {
        self.paint("36", t)
    }

    /// Rewrites the progress line on stderr (nothing when stderr is not a terminal).
    pub fn progress(&self, text: &str) {
        if self.progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{text}");
            let _ = err.flush();
        }
    }

    /// Clears the progress line.
    pub fn progress_done(&self) {
        if self.progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// Prints rows as aligned columns (the header bold).
pub fn table(style: &Style, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == cells.len() {
                    c.clone()
                } else {
                    format!("{c:<width$}", width = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!(
        "{}",
        style.bold(&line(header.iter().map(|h| h.to_string()).collect()))
    );
    for row in rows {
        println!("{}", line(row.clone()));
    }
}
