//! Reading one file the user named (`--input`, `--baseline`, `--exemptions`, rules) safely: only
//! regular files are opened, checked with their metadata first so that a FIFO cannot block the
//! run, and no more than the size limit (`--max-input-size`, [`crate::limits::Limits`]) is ever
//! read, so that `/dev/zero` or a file still growing cannot exhaust memory.

use std::fs::{self, File, FileType};
use std::io::{self, Read};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputFileError {
    /// A FIFO, device or socket: reading it could block forever or never end.
    #[error("not a regular file ({kind}); give a file, or save the data to one first")]
    NotRegular { kind: &'static str },
    #[error(
        "larger than the input size limit of {limit} bytes; raise it with --max-input-size if \
         the file is right"
    )]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What a path that is no regular file or folder is, for messages; `None` for files and folders.
pub fn special_kind(file_type: FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Some("a FIFO");
        }
        if file_type.is_char_device() {
            return Some("a character device");
        }
        if file_type.is_block_device() {
            return Some("a block device");
        }
        if file_type.is_socket() {
            return Some("a socket");
        }
    }
    (!file_type.is_file() && !file_type.is_dir()).then_some("not a file")
}

/// Opens `path` (following symbolic links) when it is a regular file no larger than `limit`;
/// what it holds is then read through [`Bounded`].
pub fn open(path: &Path, limit: u64) -> Result<Bounded<File>, InputFileError> {
    check(&fs::metadata(path)?, limit)?;
    let file = File::open(path)?;
    // The path may have been replaced between the check and the open.
    check(&file.metadata()?, limit)?;
    Ok(Bounded {
        inner: file,
        left: limit,
        limit,
    })
}

fn check(metadata: &fs::Metadata, limit: u64) -> Result<(), InputFileError> {
    if let Some(kind) = special_kind(metadata.file_type()) {
        return Err(InputFileError::NotRegular { kind });
    }
    if metadata.is_dir() {
        return Err(InputFileError::NotRegular { kind: "a folder" });
    }
    if metadata.len() > limit {
        return Err(InputFileError::TooLarge { limit });
    }
    Ok(())
}

/// Reads a whole regular file of at most `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, InputFileError> {
    let mut file = open(path, limit)?;
    let size = file.inner.metadata().map_or(0, |m| m.len());
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(into_input_error)?;
    Ok(bytes)
}

/// Reads a whole regular file of at most `limit` bytes as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, InputFileError> {
    String::from_utf8(read(path, limit)?).map_err(|_| {
        InputFileError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "the file is not UTF-8 text",
        ))
    })
}

/// The [`InputFileError`] inside an I/O error from [`Bounded`], or the I/O error itself.
pub fn into_input_error(err: io::Error) -> InputFileError {
    err.downcast::<InputFileError>()
        .unwrap_or_else(InputFileError::Io)
}

/// A reader that fails, rather than reads on, once more than `limit` bytes have come.
pub struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the limit is asked for, to tell "exactly the limit" from "more".
        let want = usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX);
        let len = buf.len().min(want);
        let n = self.inner.read(buf.get_mut(..len).unwrap_or_default())?;
        let n_u64 = u64::try_from(n).unwrap_or(u64::MAX);
        if n_u64 > self.left {
            return Err(io::Error::other(InputFileError::TooLarge {
                limit: self.limit,
            }));
        }
        self.left -= n_u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        fs::write(&path, b"0123456789").unwrap();
        for (limit, ok) in [(10, true), (100, true), (9, false), (1, false)] {
            let got = read(&path, limit);
            match (got, ok) {
                (Ok(bytes), true) => assert_eq!(bytes, b"0123456789"),
                (Err(InputFileError::TooLarge { limit: l }), false) => assert_eq!(l, limit),
                (other, _) => panic!("limit {limit}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_growing_or_endless_stream_stops_at_the_limit() {
        let mut reader = Bounded {
            inner: io::repeat(0),
            left: 1000,
            limit: 1000,
        };
        let mut bytes = Vec::new();
        let err = reader.read_to_end(&mut bytes).unwrap_err();
        assert!(matches!(
            into_input_error(err),
            InputFileError::TooLarge { limit: 1000 }
        ));
        assert!(bytes.len() <= 1000, "{}", bytes.len());
    }

    #[cfg(unix)]
    #[test]
    fn devices_fifos_and_folders_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for (path, kind) in [
            (Path::new("/dev/zero"), "a character device"),
            (fifo.as_path(), "a FIFO"),
            (dir.path(), "a folder"),
        ] {
            match read(path, 1 << 20) {
                Err(InputFileError::NotRegular { kind: got }) => assert_eq!(got, kind),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
    }
}
