//! The command line's one error: exit code 2, one line on stderr. The I/O and simulator errors convert
//! into it here (`From`); other library errors with the file they belong to where they are read
//! (`CliError::file`). The libraries' APIs keep their own typed errors.

use cpufleet_io::IoError;
use cpufleet_sim::SimError;
use std::fmt;
use std::path::Path;

/// An error of the command line: exit code 2, one line on stderr.
#[derive(Debug)]
pub struct CliError {
    /// The line printed.
    pub message: String,
}

impl CliError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        CliError { message: message.into() }
    }
    /// An error about `path` (`path: message`).
    pub fn file(path: &Path, message: impl fmt::Display) -> Self {
        CliError { message: format!("{}: {message}", path.display()) }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A command's result.
pub type CliResult<T> = Result<T, CliError>;

/// A file or stream error (`cpufleet-io`, `cpufleet-stream`): its line as it is.
impl From<IoError> for CliError {
    fn from(e: IoError) -> CliError {
        CliError { message: e.message }
    }
}

/// A simulator error: a read error's line as it is, any other as the simulator words it.
impl From<SimError> for CliError {
    fn from(e: SimError) -> CliError {
        match e {
            SimError::Read(e) => e.into(),
            e => CliError::new(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpufleet_sim::Source;

    #[test]
    fn library_errors_keep_their_line() {
        let src = Source { label: "f.toml", text: "a = 1\nbé = \"x\"\n" };
        assert_eq!(CliError::from(src.error(Some(11..14), "bad")).message, "f.toml: 2:5: bad");
        let read = cpufleet_io::IoError::file(Path::new("x.xml"), "1:1: empty file");
        assert_eq!(CliError::from(SimError::from(read.clone())).message, "x.xml: 1:1: empty file");
        assert_eq!(CliError::from(read).message, "x.xml: 1:1: empty file");
    }
}
