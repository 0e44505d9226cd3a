//! File I/O for the command line: bounded reads with clear errors, atomic writes.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Default largest input file, in bytes (`--max-input-bytes`).
pub const DEFAULT_MAX_INPUT: u64 = 1 << 30;

/// A file or stream operation that failed: one line naming the file and the reason (the command
/// line's `CliError` wraps it: exit code 2, that line on stderr).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoError {
    /// The line: `FILE: reason`, or the reason alone where no file is involved (stdout).
    pub message: String,
}

impl IoError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        IoError { message: message.into() }
    }
    /// An error about `path` (`path: message`).
    pub fn file(path: &Path, message: impl fmt::Display) -> Self {
        IoError { message: format!("{}: {message}", path.display()) }
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of an [`IoError`]-failing operation.
pub type IoResult<T> = Result<T, IoError>;

impl std::error::Error for IoError {}

/// Why a bounded read failed; `Display` is the reason as the command line words it (after
/// `FILE: `).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The operating system's refusal (missing, permission, …), as [`io_reason`] words it.
    Io(String),
    Directory,
    /// The file's size (from its metadata) is above the limit.
    TooLarge {
        size: u64,
        limit: u64,
    },
    /// The file grew past the limit while read.
    GrewPastLimit {
        limit: u64,
    },
    Empty,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(m) => f.write_str(m),
            ReadError::Directory => f.write_str("is a directory, expected a file"),
            ReadError::TooLarge { size, limit } => {
                write!(f, "file of {size} bytes exceeds the input limit of {limit} bytes")
            }
            ReadError::GrewPastLimit { limit } => write!(f, "file exceeds the input limit of {limit} bytes"),
            ReadError::Empty => f.write_str("1:1: empty file"),
        }
    }
}

/// Reads a whole file, refusing directories, missing files and files above `max_bytes` (without
/// reading them: memory stays bounded).
pub fn read_file(path: &Path, max_bytes: u64) -> IoResult<Vec<u8>> {
    read_bounded(path, max_bytes).map_err(|e| IoError::file(path, e))
}

/// [`read_file`] with a typed error (for callers that keep the path and the reason apart).
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
    let io = |e: std::io::Error| ReadError::Io(io_reason(&e));
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(ReadError::Directory);
    }
    if meta.len() > max_bytes {
        return Err(ReadError::TooLarge { size: meta.len(), limit: max_bytes });
    }
    let f = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::with_capacity(meta.len() as usize);
    // Take one byte more than allowed so that a file growing while read is still caught.
    f.take(max_bytes + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > max_bytes {
        return Err(ReadError::GrewPastLimit { limit: max_bytes });
    }
    if buf.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(buf)
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Writes `content` to `path` atomically: a temporary file in the same directory, then rename.
pub fn write_atomic(path: &Path, content: &[u8]) -> IoResult<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| IoError::file(path, "not a file name"))?;
    let tmp: PathBuf = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(IoError::file(path, format!("cannot write: {}", io_reason(&e))));
    }
    Ok(())
}

/// Writes to stdout, treating a closed pipe as success.
pub fn print_stdout(s: &str) -> IoResult<()> {
    write_stdout(|out| out.write_all(s.as_bytes()))
}

/// Writes to stdout through a buffer with `write` (output too large to build in memory first),
/// then flushes; a closed pipe (`| head`) is not an error, as in [`print_stdout`].
pub fn write_stdout(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> IoResult<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match write(&mut out).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(IoError::new(format!("stdout: {e}"))),
    }
}

/// One input named on the command line: a file, or standard input (`-`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Stdin,
}

impl Input {
    /// The path errors and answers name (`-` for standard input).
    pub fn path(&self) -> &Path {
        match self {
            Input::File(p) => p,
            Input::Stdin => Path::new("-"),
        }
    }
}

/// The inputs of a command, in order: each argument a file, a directory (all `*.xml` directly
/// inside it, sorted by name) or `-` (standard input, at most once). An empty directory is an
/// error: a command never answers for nothing.
pub fn gather_inputs(args: &[PathBuf]) -> IoResult<Vec<Input>> {
    let mut out = Vec::new();
    let mut stdin_seen = false;
    for arg in args {
        if arg.as_os_str() == "-" {
            if stdin_seen {
                return Err(IoError::new("standard input ('-') can be given only once"));
            }
            stdin_seen = true;
            out.push(Input::Stdin);
        } else if arg.is_dir() {
            let entries = std::fs::read_dir(arg).map_err(|e| IoError::file(arg, io_reason(&e)))?;
            let mut files: Vec<PathBuf> = Vec::new();
            for entry in entries {
                let path = entry.map_err(|e| IoError::file(arg, io_reason(&e)))?.path();
                if path.extension().is_some_and(|x| x == "xml") && !path.is_dir() {
                    files.push(path);
                }
            }
            if files.is_empty() {
                return Err(IoError::file(arg, "directory holds no *.xml file"));
            }
            files.sort();
            out.extend(files.into_iter().map(Input::File));
        } else {
            out.push(Input::File(arg.clone()));
        }
    }
    Ok(out)
}

/// Reads an input whole, bounded like [`read_file`] (standard input too), and refuses content
/// that is not XML at all (its first character, after blanks, is not `<`) with a position.
pub fn read_input(input: &Input, max_bytes: u64) -> IoResult<Vec<u8>> {
    let bytes = read_input_any(input, max_bytes)?;
    if let Some((line, col)) = not_xml(&bytes) {
        return Err(IoError::file(input.path(), format!("{line}:{col}: {NOT_XML}")));
    }
    Ok(bytes)
}

/// Reads an input whole, bounded like [`read_file`] (standard input too), whatever it holds
/// (commands that also take text, such as `/proc/cpuinfo`).
pub fn read_input_any(input: &Input, max_bytes: u64) -> IoResult<Vec<u8>> {
    match input {
        Input::File(p) => read_file(p, max_bytes),
        Input::Stdin => {
            let path = input.path();
            let mut buf = Vec::new();
            std::io::stdin()
                .lock()
                .take(max_bytes + 1)
                .read_to_end(&mut buf)
                .map_err(|e| IoError::file(path, io_reason(&e)))?;
            if buf.len() as u64 > max_bytes {
                return Err(IoError::file(path, format!("input exceeds the input limit of {max_bytes} bytes")));
            }
            if buf.is_empty() {
                return Err(IoError::file(path, "1:1: empty file"));
            }
            Ok(buf)
        }
    }
}

/// What a file that is not XML at all is told.
pub const NOT_XML: &str = "is not XML: expected a libvirt CPU document such as `virsh capabilities`";

/// Where content that cannot be XML shows it (line and column of its first character after a
/// byte-order mark and blanks, when that is not `<`); None for anything that may be XML
/// (including only blanks: the XML reader words that).
pub fn not_xml(bytes: &[u8]) -> Option<(u32, u32)> {
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let at = body.iter().position(|b| !b" \t\r\n".contains(b))?;
    if body[at] == b'<' {
        return None;
    }
    let before = &body[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    let col = (at - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)) as u32 + 1;
    Some((line, col))
}

/// Checks an output path before any work starts: not a directory, and its parent directory
/// exists and is writable (a file is created and removed there to know).
pub fn check_output_path(path: &Path) -> IoResult<()> {
    if path.is_dir() {
        return Err(IoError::file(path, "is a directory, expected an output file"));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(IoError::file(path, format!("cannot write: directory {} does not exist", dir.display())));
    }
    let name = path.file_name().ok_or_else(|| IoError::file(path, "not a file name"))?;
    let probe = dir.join(format!(".{}.{}.probe", name.to_string_lossy(), std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(IoError::file(path, format!("cannot write in {}: {}", dir.display(), io_reason(&e)))),
    }
}

/// Checks an output directory before any work starts: a directory that is writable, or a
/// path that can be created (its nearest existing ancestor is a writable directory).
pub fn check_output_dir(path: &Path) -> IoResult<()> {
    if path.is_dir() {
        return check_output_path(&path.join("x"));
    }
    if path.exists() {
        return Err(IoError::file(path, "is not a directory"));
    }
    let mut base = path;
    while let Some(parent) = base.parent().filter(|p| !p.as_os_str().is_empty()) {
        if parent.exists() {
            break;
        }
        base = parent;
    }
    check_output_path(base)
}
